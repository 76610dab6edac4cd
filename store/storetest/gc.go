package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func gcTests() []test {
	return []test{
		{"EmptyStore", testGCEmpty},
		{"RemovesHistoryBeforeCutoff", testGCHistory},
		{"KeepsRevisionsFromCutoff", testGCKeepsRetained},
		{"HeadStaysAvailable", testGCHeadAvailable},
		{"RemovesExpired", testGCExpired},
		{"RemovesExpiredButKeepsOlderVersions", testGCExpiredKeepsHistory},
	}
}

func gc(t testing.TB, s store.Store, before time.Time) int {
	t.Helper()
	n, err := s.GC(context.Background(), before)
	if err != nil {
		t.Fatalf("GC(%v): %v", before, err)
	}
	return n
}

func wantGC(t testing.TB, s store.Store, before time.Time, want int) {
	t.Helper()
	if n := gc(t, s, before); n != want {
		t.Fatalf("GC(%v) removed %d relationship versions, want %d", before, n, want)
	}
}

// commitTimes returns the commit time of each revision up to last, as the
// change stream reports it, and checks they are distinct.
func commitTimes(t testing.TB, s store.Store, last store.Revision) map[store.Revision]time.Time {
	t.Helper()
	out := make(map[store.Revision]time.Time)
	cs := collectChanges(t, s, 0, last)
	for i, c := range cs {
		if i > 0 && !c.Timestamp.After(cs[i-1].Timestamp) {
			t.Fatalf("commits %d and %d have timestamps %v and %v; the GC tests need them distinct", cs[i-1].Revision, c.Revision, cs[i-1].Timestamp, c.Timestamp)
		}
		out[c.Revision] = c.Timestamp
	}
	return out
}

func wantUnavailable(t testing.TB, s store.Store, revs ...store.Revision) {
	t.Helper()
	for _, rev := range revs {
		_, err := s.Read(context.Background(), rev, store.Filter{}, store.Page{})
		wantErrIs(t, fmt.Sprintf("Read at collected revision %d", rev), err, store.ErrRevisionUnavailable)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err = s.Changes(ctx, rev, func(c store.Change) error { return fmt.Errorf("delivered %s", describeChange(c)) })
		cancel()
		wantErrIs(t, fmt.Sprintf("Changes after collected revision %d", rev), err, store.ErrRevisionUnavailable)
	}
}

func testGCEmpty(t *testing.T, s store.Store) {
	wantGC(t, s, time.Now().Add(time.Hour), 0)
	wantRels(t, "Read at revision 0 after GC of an empty store", readAll(t, s, 0, store.Filter{}), nil)
	wantHead(t, s, 0)
}

func testGCHistory(t *testing.T, s store.Store) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	bCaveated := withCaveat(rel("document:b#viewer@user:b"), "c", map[string]any{"x": "y"})
	eCaveated := withCaveat(rel("document:e#viewer@user:e"), "c", nil)
	r1 := write(t, s, concat(touch("document:a#viewer@user:a", "document:b#viewer@user:b", "document:e#viewer@user:e"),
		updates(store.OpTouch, withExpiration(rel("document:c#viewer@user:c"), past)))...)
	sleepTick()
	r2 := write(t, s, concat(del("document:a#viewer@user:a"), updates(store.OpTouch, eCaveated))...)
	sleepTick()
	r3 := write(t, s, updates(store.OpTouch, bCaveated)...)
	sleepTick()
	r4 := write(t, s, concat(touch("document:d#viewer@user:d"), del("document:e#viewer@user:e"))...)
	ts := commitTimes(t, s, r4)

	// Cut at r3's commit: r3 is the oldest revision kept. Removed: a (deleted at
	// r2), b's and e's first versions (replaced at r3 and r2) and c (expired).
	// e's second version, deleted only at r4, stays for reads at r3.
	wantGC(t, s, ts[r3], 4)
	wantUnavailable(t, s, 0, r1, r2)
	wantRels(t, "Read at the oldest kept revision", readAll(t, s, r3, store.Filter{}), []tuple.Relationship{bCaveated, eCaveated})
	wantRels(t, "Read at the head", readAll(t, s, r4, store.Filter{}), []tuple.Relationship{bCaveated, rel("document:d#viewer@user:d")})
	wantHead(t, s, r4)
	cs := collectChanges(t, s, r3, r4)
	if len(cs) != 1 {
		t.Fatalf("changes after %d: revisions %v, want only %d", r3, changeRevisions(cs), r4)
	}
	wantChange(t, cs[0], r4, concat(touch("document:d#viewer@user:d"), del("document:e#viewer@user:e"))...)

	wantGC(t, s, ts[r3], 0)
	wantGC(t, s, ts[r1], 0) // an older cutoff brings nothing back
	wantUnavailable(t, s, r2)
	_, got := snapshot(t, s)
	wantSet(t, "Snapshot after GC", got, []tuple.Relationship{bCaveated, rel("document:d#viewer@user:d")})
}

func testGCKeepsRetained(t *testing.T, s store.Store) {
	aCaveated := withCaveat(rel("document:a#viewer@user:a"), "c", nil)
	r1 := write(t, s, touch("document:a#viewer@user:a")...)
	sleepTick()
	r2 := write(t, s, updates(store.OpTouch, aCaveated)...)
	sleepTick()
	r3 := write(t, s, del("document:a#viewer@user:a")...)
	ts := commitTimes(t, s, r3)

	wantGC(t, s, ts[r1], 0)
	wantUnavailable(t, s, 0)
	wantRels(t, "Read at r1", readAll(t, s, r1, store.Filter{}), rels("document:a#viewer@user:a"))
	wantRels(t, "Read at r2", readAll(t, s, r2, store.Filter{}), []tuple.Relationship{aCaveated})
	wantRels(t, "Read at r3", readAll(t, s, r3, store.Filter{}), nil)
	cs := collectChanges(t, s, r1, r3)
	if got := changeRevisions(cs); len(got) != 2 || got[0] != r2 || got[1] != r3 {
		t.Fatalf("changes after %d: revisions %v, want [%d %d]", r1, got, r2, r3)
	}

	// Cutting at r3 drops both versions of a, which only older revisions see.
	wantGC(t, s, ts[r3], 2)
	wantUnavailable(t, s, r1, r2)
	wantRels(t, "Read at r3", readAll(t, s, r3, store.Filter{}), nil)
}

func testGCHeadAvailable(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.WriteSchema(ctx, "definition user {}"); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	write(t, s, touch("document:a#viewer@user:a")...)
	r2 := write(t, s, del("document:a#viewer@user:a")...)
	r3 := write(t, s, touch("document:b#viewer@user:b")...)

	// A cutoff after every commit keeps only the head.
	wantGC(t, s, time.Now().Add(time.Hour), 1)
	wantUnavailable(t, s, r2)
	wantRels(t, "Read at the head", readAll(t, s, r3, store.Filter{}), rels("document:b#viewer@user:b"))
	r4 := write(t, s, touch("document:c#viewer@user:c")...)
	cs := collectChanges(t, s, r3, r4)
	if len(cs) != 1 {
		t.Fatalf("changes after the collected head: revisions %v, want only %d", changeRevisions(cs), r4)
	}
	wantChange(t, cs[0], r4, touch("document:c#viewer@user:c")...)

	v, err := s.ReadSchema(ctx)
	if err != nil || v.Text != "definition user {}" {
		t.Fatalf("ReadSchema after GC = (%+v, %v)", v, err)
	}
	if h, err := s.SchemaHistory(ctx); err != nil || len(h) != 1 {
		t.Fatalf("SchemaHistory after GC = (%+v, %v), want the one version", h, err)
	}
}

// testGCExpiredKeepsHistory expires a relationship that replaced an older,
// unexpired one: GC removes the expired version but keeps the older one for
// the revisions that still see it.
func testGCExpiredKeepsHistory(t *testing.T, s store.Store) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	r1 := write(t, s, touch("document:x#viewer@user:a", "document:y#viewer@user:a")...)
	sleepTick()
	r2 := write(t, s, updates(store.OpTouch, withExpiration(rel("document:x#viewer@user:a"), past))...)
	ts := commitTimes(t, s, r2)
	wantGC(t, s, ts[r1], 1)
	wantRels(t, "Read before the expiring TOUCH", readAll(t, s, r1, store.Filter{}), rels("document:x#viewer@user:a", "document:y#viewer@user:a"))
	wantRels(t, "Read at the head", readAll(t, s, r2, store.Filter{}), rels("document:y#viewer@user:a"))
}

func testGCExpired(t *testing.T, s store.Store) {
	now := time.Now().Truncate(time.Second)
	soon := withExpiration(rel("document:soon#viewer@user:a"), now.Add(time.Hour).UTC())
	rev := write(t, s, concat(
		updates(store.OpTouch, withExpiration(rel("document:gone#viewer@user:a"), now.Add(-time.Hour).UTC()), soon),
		touch("document:kept#viewer@user:a"))...)

	wantGC(t, s, now, 1)
	wantHead(t, s, rev) // removing expired relationships is not a write
	wantRels(t, "Read after GC", readAll(t, s, rev, store.Filter{}), []tuple.Relationship{rel("document:kept#viewer@user:a"), soon})

	wantGC(t, s, now.Add(2*time.Hour), 1)
	wantHead(t, s, rev)
	wantRels(t, "Read after a later GC", readAll(t, s, rev, store.Filter{}), rels("document:kept#viewer@user:a"))
	_, got := snapshot(t, s)
	wantSet(t, "Snapshot after GC", got, rels("document:kept#viewer@user:a"))

	r2 := write(t, s, create("document:gone#viewer@user:a")...)
	wantRels(t, "Read after re-CREATE", readAll(t, s, r2, store.Filter{}), rels("document:gone#viewer@user:a", "document:kept#viewer@user:a"))
}
