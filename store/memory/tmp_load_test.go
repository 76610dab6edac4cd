package memory

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func TestTmpLoad1M(t *testing.T) {
	ctx := context.Background()
	// Pre-build the input so that only the store is measured.
	batches := make([][]store.Update, 1000)
	for b := range batches {
		batch := make([]store.Update, 1000)
		for j := range batch {
			i := b*1000 + j
			batch[j] = store.Update{Op: store.OpTouch, Relationship: tuple.Relationship{
				Resource: tuple.Object{Type: "document", ID: fmt.Sprint(i * 7919 % 1000003)},
				Relation: []string{"viewer", "editor", "owner"}[i%3],
				Subject:  tuple.Subject{Type: "user", ID: fmt.Sprint(i % 5000)},
			}}
		}
		batches[b] = batch
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	s := New()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(0, &ru0)
	start := time.Now()
	for _, b := range batches {
		if _, err := s.Write(ctx, nil, b); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	syscall.Getrusage(0, &ru1)
	t.Logf("load cpu: user %v sys %v", time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()), time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano()))
	batches = nil
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	t.Logf("load: %v, heap delta %d MB", el, (int64(m1.HeapAlloc)-int64(m0.HeapAlloc))>>20)
	start = time.Now()
	rev, _ := s.HeadRevision(ctx)
	n := 0
	s.Snapshot(ctx, func(tuple.Relationship) error { n++; return nil })
	t.Logf("snapshot of %d: %v", n, time.Since(start))
	start = time.Now()
	got, _ := s.Read(ctx, rev, store.Filter{ResourceType: "document", Relation: "owner"}, store.Page{Limit: 1000})
	t.Logf("read page of %d: %v", len(got), time.Since(start))
	start = time.Now()
	got, _ = s.Read(ctx, rev, store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "42"}}, store.Page{})
	t.Logf("read subject (%d): %v", len(got), time.Since(start))
	start = time.Now()
	got, _ = s.Read(ctx, rev, store.Filter{Subject: &store.SubjectFilter{Type: "user"}}, store.Page{Limit: 10})
	t.Logf("read subject type page (%d): %v", len(got), time.Since(start))
	start = time.Now()
	nn, _ := s.GC(ctx, time.Now())
	t.Logf("GC (%d): %v", nn, time.Since(start))
	runtime.KeepAlive(s)
}
