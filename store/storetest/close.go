package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func closeTests() []test {
	return []test{
		{"LaterCallsFail", testCloseLaterCalls},
		{"WakesWaitingChanges", testCloseWakesChanges},
	}
}

func testCloseLaterCalls(t *testing.T, s store.Store) {
	ctx := context.Background()
	rev := write(t, s, touch("document:1#viewer@user:a")...)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Write", func() error { _, err := s.Write(ctx, nil, touch("document:2#viewer@user:a")); return err }},
		{"DeleteMatching", func() error { _, _, _, err := s.DeleteMatching(ctx, nil, store.Filter{}, 0); return err }},
		{"HeadRevision", func() error { _, err := s.HeadRevision(ctx); return err }},
		{"Read", func() error { _, err := s.Read(ctx, rev, store.Filter{}, store.Page{}); return err }},
		{"Snapshot", func() error {
			_, err := s.Snapshot(ctx, func(tuple.Relationship) error { return nil }, nil)
			return err
		}},
		{"Changes", func() error {
			ctx, cancel := context.WithTimeout(ctx, waitTimeout)
			defer cancel()
			return s.Changes(ctx, 0, func(store.Change) error { return nil })
		}},
		{"WriteBatch", func() error {
			_, err := s.WriteBatch(ctx, store.Batch{Attributes: []store.AttributeUpdate{{Op: store.AttrSet, Object: obj("document:1"), Values: map[string]any{"a": 1.0}}}})
			return err
		}},
		{"ReadAttributes", func() error { _, err := s.ReadAttributes(ctx, rev, []tuple.Object{obj("document:1")}); return err }},
		{"ScanAttributes", func() error {
			_, err := s.ScanAttributes(ctx, rev, store.AttributeFilter{Type: "document"}, "", 0)
			return err
		}},
		{"WriteSchema", func() error { _, err := s.WriteSchema(ctx, "definition user {}"); return err }},
		{"ReadSchema", func() error { _, err := s.ReadSchema(ctx); return err }},
		{"SchemaHistory", func() error { _, err := s.SchemaHistory(ctx); return err }},
		{"GC", func() error { _, err := s.GC(ctx, time.Now()); return err }},
	}
	for _, c := range calls {
		wantErrIs(t, c.name+" after Close", c.call(), store.ErrClosed)
	}
	_ = s.Close() // a second Close must not panic
}

func testCloseWakesChanges(t *testing.T, s store.Store) {
	h := write(t, s, touch("document:1#viewer@user:a")...)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	delivered := make(chan struct{}, 1)
	done := runAsync(func() error {
		return s.Changes(ctx, h-1, func(store.Change) error {
			delivered <- struct{}{}
			return nil
		})
	})
	select {
	case <-delivered:
	case err := <-done:
		t.Fatalf("Changes returned %v", err)
	case <-time.After(waitTimeout):
		t.Fatalf("Changes did not deliver revision %d", h)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErrIs(t, "waiting Changes after Close", waitErr(t, "Changes after Close", done), store.ErrClosed)
}
