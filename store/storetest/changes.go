package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func snapshotTests() []test {
	return []test{
		{"Empty", testSnapshotEmpty},
		{"LiveSetAtHead", testSnapshotLiveSet},
		{"ConsistentUnderWrites", testSnapshotUnderWrites},
		{"CallbackError", testSnapshotCallbackError},
	}
}

func snapshot(t testing.TB, s store.Store) (store.Revision, []tuple.Relationship) {
	t.Helper()
	var got []tuple.Relationship
	rev, err := s.Snapshot(context.Background(), func(r tuple.Relationship) error {
		got = append(got, r)
		return nil
	}, nil)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return rev, got
}

func testSnapshotEmpty(t *testing.T, s store.Store) {
	rev, got := snapshot(t, s)
	if rev != 0 || len(got) != 0 {
		t.Fatalf("Snapshot of an empty store = (%d, %v), want (0, none)", rev, strs(got))
	}
}

func testSnapshotLiveSet(t *testing.T, s store.Store) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	cav := withCaveat(rel("document:a#viewer@user:a"), "c", map[string]any{"k": []any{"v"}})
	expired := withExpiration(rel("document:e#viewer@user:e"), past)
	write(t, s, touch("document:a#viewer@user:a", "document:b#viewer@user:b", "document:c#viewer@user:c")...)
	write(t, s, del("document:b#viewer@user:b")...)
	write(t, s, updates(store.OpTouch, cav, expired)...)
	h, err := s.WriteSchema(context.Background(), "definition user {}")
	if err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	rev, got := snapshot(t, s)
	if rev != h {
		t.Fatalf("Snapshot revision = %d, want the head %d", rev, h)
	}
	wantSet(t, "Snapshot", got, []tuple.Relationship{cav, rel("document:c#viewer@user:c"), expired})
}

func testSnapshotUnderWrites(t *testing.T, s store.Store) {
	var initial []tuple.Relationship
	for i := range 200 {
		initial = append(initial, rel(fmt.Sprintf("document:%d#viewer@user:u%d", i, i%10)))
	}
	write(t, s, updates(store.OpTouch, initial...)...)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel()
		for i := 0; ctx.Err() == nil; i++ {
			us := concat(touch(fmt.Sprintf("document:%d#viewer@user:new", i)), del(fmt.Sprintf("document:%d#viewer@user:u%d", i%200, i%10)))
			if _, err := s.Write(ctx, nil, us); err != nil && ctx.Err() == nil {
				t.Errorf("concurrent Write: %v", err)
				return
			}
		}
	})
	for range 5 {
		rev, got := snapshot(t, s)
		wantSet(t, fmt.Sprintf("Snapshot at %d against Read at the same revision", rev), got, readAll(t, s, rev, store.Filter{}))
	}
	cancel()
	wg.Wait()
}

func testSnapshotCallbackError(t *testing.T, s store.Store) {
	write(t, s, touch("document:1#viewer@user:a", "document:2#viewer@user:a", "document:3#viewer@user:a")...)
	boom := errors.New("boom")
	calls := 0
	_, err := s.Snapshot(context.Background(), func(tuple.Relationship) error {
		calls++
		return boom
	}, nil)
	wantErrIs(t, "Snapshot with a failing callback", err, boom)
	if calls != 1 {
		t.Fatalf("callback called %d times after returning an error, want 1", calls)
	}
}

func changesTests() []test {
	return []test{
		{"EveryRevisionInOrder", testChangesEveryRevision},
		{"ManyRevisions", testChangesMany},
		{"Resumable", testChangesResumable},
		{"TouchAndDelete", testChangesTouchAndDelete},
		{"WaitsAndWakesOnWrite", testChangesWaitsAndWakes},
		{"StopsOnCancel", testChangesStopsOnCancel},
		{"CallbackError", testChangesCallbackError},
		{"FutureRevision", testChangesFutureRevision},
	}
}

func testChangesEveryRevision(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1 := write(t, s, touch("document:1#viewer@user:a", "document:2#viewer@user:a")...)
	r2 := write(t, s, del("document:9#viewer@user:a")...) // changes nothing
	r3, err := s.WriteSchema(ctx, "definition user {}")
	if err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	r4, _, _, err := s.DeleteMatching(ctx, nil, store.Filter{ResourceType: "document"}, 0)
	if err != nil {
		t.Fatalf("DeleteMatching: %v", err)
	}
	r5 := write(t, s)
	cs := collectChanges(t, s, 0, r5)
	want := []store.Revision{r1, r2, r3, r4, r5}
	if got := changeRevisions(cs); !reflect.DeepEqual(got, want) {
		t.Fatalf("change revisions = %v, want %v (one per committed revision)", got, want)
	}
	wantChange(t, cs[0], r1, touch("document:1#viewer@user:a", "document:2#viewer@user:a")...)
	wantChange(t, cs[1], r2)
	if cs[2].Schema == nil || *cs[2].Schema != "definition user {}" || len(cs[2].Updates) != 0 {
		t.Fatalf("schema change = %s, want only the schema", describeChange(cs[2]))
	}
	wantChange(t, cs[3], r4, del("document:1#viewer@user:a", "document:2#viewer@user:a")...)
	wantChange(t, cs[4], r5)
	for i, c := range cs {
		if c.Timestamp.IsZero() {
			t.Fatalf("change %d has no timestamp", c.Revision)
		}
		if i > 0 && c.Timestamp.Before(cs[i-1].Timestamp) {
			t.Fatalf("change %d at %v is before change %d at %v", c.Revision, c.Timestamp, cs[i-1].Revision, cs[i-1].Timestamp)
		}
	}
}

func testChangesMany(t *testing.T, s store.Store) {
	var want []store.Revision
	for i := range 300 {
		want = append(want, write(t, s, touch(fmt.Sprintf("document:%d#viewer@user:a", i))...))
	}
	cs := collectChanges(t, s, 0, want[len(want)-1])
	if got := changeRevisions(cs); !reflect.DeepEqual(got, want) {
		t.Fatalf("change revisions = %v, want %v", got, want)
	}
	for i, c := range cs {
		wantChange(t, c, want[i], touch(fmt.Sprintf("document:%d#viewer@user:a", i))...)
	}
}

func testChangesResumable(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, touch("document:1#viewer@user:a")...)
	write(t, s, touch("document:2#viewer@user:a")...)
	if _, err := s.WriteSchema(ctx, "definition user {}"); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	write(t, s, del("document:1#viewer@user:a")...)
	write(t, s, touch("document:3#viewer@user:a", "document:4#viewer@user:a")...)
	last := write(t, s, del("document:3#viewer@user:a")...)
	all := collectChanges(t, s, 0, last)
	for i, c := range all[:len(all)-1] {
		got := collectChanges(t, s, c.Revision, last)
		if len(got) != len(all)-i-1 {
			t.Fatalf("resumed after %d: %d changes, want %d", c.Revision, len(got), len(all)-i-1)
		}
		for j, g := range got {
			if w := all[i+1+j]; describeChange(g) != describeChange(w) {
				t.Fatalf("resumed after %d: change %s, want %s", c.Revision, describeChange(g), describeChange(w))
			}
		}
	}
	// Resuming at the head delivers nothing until the next write.
	next := write(t, s, touch("document:5#viewer@user:a")...)
	got := collectChanges(t, s, last, next)
	if len(got) != 1 {
		t.Fatalf("resumed at the old head: revisions %v, want only %d", changeRevisions(got), next)
	}
	wantChange(t, got[0], next, touch("document:5#viewer@user:a")...)
}

func testChangesTouchAndDelete(t *testing.T, s store.Store) {
	exp := time.Now().Add(72 * time.Hour).Truncate(time.Microsecond).UTC()
	first := withExpiration(withCaveat(rel("document:1#viewer@user:a"), "limits", map[string]any{
		"max": 3.0, "tags": []any{"a", map[string]any{"b": nil}},
	}), exp)
	r1 := write(t, s, updates(store.OpCreate, first)...)
	second := withCaveat(rel("document:1#viewer@user:a"), "other", nil)
	r2 := write(t, s, updates(store.OpTouch, second)...)
	r3 := write(t, s, del("document:1#viewer@user:a")...)
	cs := collectChanges(t, s, 0, r3)
	if len(cs) != 3 {
		t.Fatalf("got changes %v, want %d, %d, %d", changeRevisions(cs), r1, r2, r3)
	}
	wantChange(t, cs[0], r1, updates(store.OpTouch, first)...) // CREATE is streamed as TOUCH
	got := cs[0].Updates[0].Relationship
	if !reflect.DeepEqual(got.Caveat.Context, first.Caveat.Context) || !got.Expiration.Equal(exp) {
		t.Fatalf("streamed TOUCH = %s, want %s", got, first)
	}
	wantChange(t, cs[1], r2, updates(store.OpTouch, second)...)
	wantChange(t, cs[2], r3, del("document:1#viewer@user:a")...)
}

func testChangesWaitsAndWakes(t *testing.T, s store.Store) {
	h := write(t, s, touch("document:0#viewer@user:a")...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan store.Change, 10)
	done := runAsync(func() error {
		return s.Changes(ctx, h, func(c store.Change) error {
			got <- c
			return nil
		})
	})
	select {
	case c := <-got:
		t.Fatalf("Changes delivered %s before anything was written", describeChange(c))
	case err := <-done:
		t.Fatalf("Changes returned %v instead of waiting", err)
	case <-time.After(100 * time.Millisecond):
	}
	for i := 1; i <= 3; i++ {
		us := touch(fmt.Sprintf("document:%d#viewer@user:a", i))
		rev := write(t, s, us...)
		select {
		case c := <-got:
			wantChange(t, c, rev, us...)
		case err := <-done:
			t.Fatalf("Changes returned %v instead of delivering revision %d", err, rev)
		case <-time.After(waitTimeout):
			t.Fatalf("Changes did not deliver revision %d within %v", rev, waitTimeout)
		}
	}
	cancel()
	wantErrIs(t, "Changes after cancel", waitErr(t, "Changes after cancel", done), context.Canceled)
}

func testChangesStopsOnCancel(t *testing.T, s store.Store) {
	write(t, s, touch("document:1#viewer@user:a")...)
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(func() error { return s.Changes(ctx, 0, func(store.Change) error { return nil }) })
	time.Sleep(50 * time.Millisecond)
	cancel()
	wantErrIs(t, "Changes after cancel", waitErr(t, "Changes after cancel", done), context.Canceled)

	calls := 0
	err := s.Changes(ctx, 0, func(store.Change) error { calls++; return nil })
	wantErrIs(t, "Changes with a cancelled context", err, context.Canceled)
	if calls != 0 {
		t.Fatalf("Changes with a cancelled context delivered %d changes", calls)
	}

	h := head(t, s)
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	err = waitErr(t, "Changes with a deadline", runAsync(func() error {
		return s.Changes(dctx, h, func(store.Change) error { return nil })
	}))
	wantErrIs(t, "Changes past its deadline", err, context.DeadlineExceeded)
}

func testChangesCallbackError(t *testing.T, s store.Store) {
	write(t, s, touch("document:1#viewer@user:a")...)
	write(t, s, touch("document:2#viewer@user:a")...)
	boom := errors.New("boom")
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := s.Changes(ctx, 0, func(store.Change) error { calls++; return boom })
	wantErrIs(t, "Changes with a failing callback", err, boom)
	if calls != 1 {
		t.Fatalf("callback called %d times after returning an error, want 1", calls)
	}
}

func testChangesFutureRevision(t *testing.T, s store.Store) {
	h := write(t, s, touch("document:1#viewer@user:a")...)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := s.Changes(ctx, h+5, func(c store.Change) error {
		return fmt.Errorf("delivered %s", describeChange(c))
	})
	wantErrIs(t, "Changes after a revision beyond the head", err, store.ErrRevisionUnavailable)
}

func schemaTests() []test {
	return []test{
		{"NoneWritten", testSchemaNone},
		{"WriteReadHistory", testSchemaWriteRead},
	}
}

func testSchemaNone(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, err := s.ReadSchema(ctx)
	if err != nil || v != (store.SchemaVersion{}) {
		t.Fatalf("ReadSchema of an empty store = (%+v, %v), want the zero version", v, err)
	}
	h, err := s.SchemaHistory(ctx)
	if err != nil || len(h) != 0 {
		t.Fatalf("SchemaHistory of an empty store = (%+v, %v), want none", h, err)
	}
}

func testSchemaWriteRead(t *testing.T, s store.Store) {
	ctx := context.Background()
	texts := []string{"definition user {}", "definition user {}\n\ndefinition document {\n\trelation viewer: user\n}", "definition user {} // ✓ unicode"}
	var revs []store.Revision
	for i, text := range texts {
		write(t, s, touch(fmt.Sprintf("document:%d#viewer@user:a", i))...)
		rev, err := s.WriteSchema(ctx, text)
		if err != nil {
			t.Fatalf("WriteSchema: %v", err)
		}
		if len(revs) > 0 && rev <= revs[len(revs)-1] {
			t.Fatalf("WriteSchema revision %d not after %d", rev, revs[len(revs)-1])
		}
		wantHead(t, s, rev)
		revs = append(revs, rev)
		v, err := s.ReadSchema(ctx)
		if err != nil {
			t.Fatalf("ReadSchema: %v", err)
		}
		if v.Text != text || v.Revision != rev || v.Timestamp.IsZero() {
			t.Fatalf("ReadSchema = %+v, want text %q at revision %d with a timestamp", v, text, rev)
		}
	}
	write(t, s, touch("document:x#viewer@user:a")...)
	if v, err := s.ReadSchema(ctx); err != nil || v.Revision != revs[2] || v.Text != texts[2] {
		t.Fatalf("ReadSchema after a relationship write = (%+v, %v), want revision %d", v, err, revs[2])
	}
	h, err := s.SchemaHistory(ctx)
	if err != nil {
		t.Fatalf("SchemaHistory: %v", err)
	}
	if len(h) != 3 {
		t.Fatalf("SchemaHistory has %d versions, want 3", len(h))
	}
	for i, v := range h {
		j := len(texts) - 1 - i
		if v.Text != texts[j] || v.Revision != revs[j] {
			t.Fatalf("SchemaHistory[%d] = %+v, want text %q at revision %d (newest first)", i, v, texts[j], revs[j])
		}
		if i > 0 && v.Timestamp.After(h[i-1].Timestamp) {
			t.Fatalf("SchemaHistory timestamps not newest first: %v after %v", v.Timestamp, h[i-1].Timestamp)
		}
	}
}
