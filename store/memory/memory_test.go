package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/memory"
	"github.com/gatehouse-dev/gatehouse/store/storetest"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
}

func TestStore_Clock(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := memory.New(memory.WithClock(func() time.Time { return now }))
	defer s.Close()
	ctx := context.Background()
	exp := now.Add(time.Minute)
	r := tuple.MustParse("document:1#viewer@user:a")
	r.Expiration = &exp
	if _, err := s.Write(ctx, nil, []store.Update{{Op: store.OpCreate, Relationship: r}}); err != nil {
		t.Fatal(err)
	}
	// Not yet expired by the store's clock: CREATE must fail.
	if _, err := s.Write(ctx, nil, []store.Update{{Op: store.OpCreate, Relationship: r}}); err == nil {
		t.Fatal("CREATE over a relationship that has not expired succeeded")
	}
	now = now.Add(time.Hour)
	if _, err := s.Write(ctx, nil, []store.Update{{Op: store.OpCreate, Relationship: r}}); err != nil {
		t.Fatalf("CREATE over a relationship expired by the store's clock: %v", err)
	}
	v, err := s.ReadSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteSchema(ctx, "definition user {}"); err != nil {
		t.Fatal(err)
	}
	if v, err = s.ReadSchema(ctx); err != nil || !v.Timestamp.Equal(now) {
		t.Fatalf("schema timestamp = %v (%v), want the store clock %v", v.Timestamp, err, now)
	}
}

// BenchmarkStore_BulkWrite writes b.N relationships in batches of 1000.
func BenchmarkStore_BulkWrite(b *testing.B) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	batch := make([]store.Update, 0, 1000)
	flush := func() {
		if _, err := s.Write(ctx, nil, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	b.ReportAllocs()
	for i := range b.N {
		batch = append(batch, store.Update{Op: store.OpTouch, Relationship: tuple.Relationship{
			Resource: tuple.Object{Type: "document", ID: fmt.Sprint(i * 7919 % 1000003)},
			Relation: []string{"viewer", "editor", "owner"}[i%3],
			Subject:  tuple.Subject{Type: "user", ID: fmt.Sprint(i % 5000)},
		}})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// BenchmarkStore_ReadRelation reads one relation of one type out of 300k
// relationships, in pages of 100.
func BenchmarkStore_ReadRelation(b *testing.B) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	for t := range 3 {
		for i := range 100 {
			batch := make([]store.Update, 0, 1000)
			for j := range 1000 {
				batch = append(batch, store.Update{Op: store.OpTouch, Relationship: tuple.Relationship{
					Resource: tuple.Object{Type: []string{"document", "folder", "group"}[t], ID: fmt.Sprint(i*1000 + j)},
					Relation: []string{"viewer", "editor", "owner", "parent", "member"}[j%5],
					Subject:  tuple.Subject{Type: "user", ID: fmt.Sprint(j)},
				}})
			}
			if _, err := s.Write(ctx, nil, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	rev, _ := s.HeadRevision(ctx)
	f := store.Filter{ResourceType: "folder", Relation: "owner"}
	b.ResetTimer()
	for range b.N {
		got, err := s.Read(ctx, rev, f, store.Page{Limit: 100})
		if err != nil || len(got) != 100 {
			b.Fatal(len(got), err)
		}
	}
}
