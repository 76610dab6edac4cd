package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func writeTests() []test {
	return []test{
		{"Create", testCreate},
		{"CreateExisting", testCreateExisting},
		{"CreateOverExpired", testCreateOverExpired},
		{"TouchReplacesCaveatAndExpiration", testTouchReplaces},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"DeleteThenCreate", testDeleteThenCreate},
		{"AtomicOnFailure", testAtomicOnFailure},
		{"DuplicateKeyInBatch", testDuplicateKeyInBatch},
		{"SubjectRelationIsPartOfKey", testSubjectRelationIsPartOfKey},
		{"InvalidOp", testInvalidOp},
		{"EmptyBatchCreatesRevision", testEmptyBatch},
		{"LargeBatch", testLargeBatch},
		{"RevisionsStrictlyIncrease", testRevisionsIncrease},
		{"DeepCopy", testDeepCopy},
	}
}

func testCreate(t *testing.T, s store.Store) {
	wantHead(t, s, 0)
	rev := write(t, s, create("document:1#viewer@user:alice")...)
	if rev <= 0 {
		t.Fatalf("first Write returned revision %d, want > 0", rev)
	}
	wantHead(t, s, rev)
	wantRels(t, "Read at head", readAll(t, s, rev, store.Filter{}), rels("document:1#viewer@user:alice"))
}

func testCreateExisting(t *testing.T, s store.Store) {
	a := withCaveat(rel("document:1#viewer@user:alice"), "first", map[string]any{"n": 1.0})
	rev := write(t, s, updates(store.OpCreate, a)...)

	again := withCaveat(rel("document:1#viewer@user:alice"), "second", nil)
	_, err := s.Write(context.Background(), nil, concat(create("document:2#viewer@user:bob"), updates(store.OpCreate, again)))
	wantErrIs(t, "CREATE of an existing relationship", err, store.ErrAlreadyExists)
	var ae *store.AlreadyExistsError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not a *store.AlreadyExistsError", err, err)
	}
	if ae.Relationship.Key() != a.Key() {
		t.Fatalf("AlreadyExistsError names %s, want %s", ae.Relationship, a)
	}
	wantHead(t, s, rev)
	wantRels(t, "after failed CREATE", readAll(t, s, rev, store.Filter{}), []tuple.Relationship{a})
}

func testCreateOverExpired(t *testing.T, s store.Store) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	write(t, s, updates(store.OpTouch, withExpiration(rel("document:1#viewer@user:alice"), past))...)
	rev, err := s.Write(context.Background(), nil, create("document:1#viewer@user:alice"))
	if err != nil {
		t.Fatalf("CREATE over an expired relationship: %v (expired relationships are absent to writes)", err)
	}
	wantRels(t, "after CREATE over expired", readAll(t, s, rev, store.Filter{}), rels("document:1#viewer@user:alice"))
}

func testTouchReplaces(t *testing.T, s store.Store) {
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Microsecond).UTC()
	caveated := withExpiration(withCaveat(rel("document:1#viewer@user:alice"), "ip_allowlist", map[string]any{"cidr": "10.0.0.0/8"}), exp)
	r1 := write(t, s, updates(store.OpTouch, caveated)...)
	wantRels(t, "after first TOUCH", readAll(t, s, r1, store.Filter{}), []tuple.Relationship{caveated})

	r2 := write(t, s, touch("document:1#viewer@user:alice")...)
	wantRels(t, "after TOUCH without caveat or expiration", readAll(t, s, r2, store.Filter{}), rels("document:1#viewer@user:alice"))

	other := withCaveat(rel("document:1#viewer@user:alice"), "weekday", map[string]any{"day": "mon"})
	r3 := write(t, s, updates(store.OpTouch, other)...)
	wantRels(t, "after TOUCH with another caveat", readAll(t, s, r3, store.Filter{}), []tuple.Relationship{other})

	wantRels(t, "Read at the first revision", readAll(t, s, r1, store.Filter{}), []tuple.Relationship{caveated})
	wantRels(t, "Read at the second revision", readAll(t, s, r2, store.Filter{}), rels("document:1#viewer@user:alice"))
}

func testDeleteIdempotent(t *testing.T, s store.Store) {
	r0 := write(t, s, touch("document:1#viewer@user:bob")...)
	r1 := write(t, s, del("document:1#viewer@user:alice")...)
	if r1 <= r0 {
		t.Fatalf("DELETE of an absent relationship returned revision %d, want > %d", r1, r0)
	}
	r2 := write(t, s, del("document:1#viewer@user:bob")...)
	r3 := write(t, s, del("document:1#viewer@user:bob")...)
	if r3 <= r2 {
		t.Fatalf("second DELETE returned revision %d, want > %d", r3, r2)
	}
	wantRels(t, "after DELETEs", readAll(t, s, r3, store.Filter{}), nil)
}

func testDeleteThenCreate(t *testing.T, s store.Store) {
	write(t, s, create("document:1#viewer@user:alice")...)
	write(t, s, del("document:1#viewer@user:alice")...)
	rev, err := s.Write(context.Background(), nil, create("document:1#viewer@user:alice"))
	if err != nil {
		t.Fatalf("CREATE after DELETE: %v", err)
	}
	wantRels(t, "after re-CREATE", readAll(t, s, rev, store.Filter{}), rels("document:1#viewer@user:alice"))
}

func testAtomicOnFailure(t *testing.T, s store.Store) {
	rev := write(t, s, touch("document:x#viewer@user:x", "document:gone#viewer@user:x")...)
	tests := []struct {
		name    string
		pre     []store.Precondition
		updates []store.Update
		want    error
	}{
		{
			name:    "last CREATE exists",
			updates: concat(touch("document:1#viewer@user:a"), del("document:gone#viewer@user:x"), create("document:2#viewer@user:a", "document:x#viewer@user:x")),
			want:    store.ErrAlreadyExists,
		},
		{
			name:    "last update invalid",
			updates: concat(touch("document:1#viewer@user:a"), del("document:gone#viewer@user:x"), []store.Update{{Op: store.Op(42), Relationship: rel("document:3#viewer@user:a")}}),
			want:    store.ErrInvalidUpdate,
		},
		{
			name:    "last update duplicates the first",
			updates: concat(touch("document:1#viewer@user:a"), del("document:gone#viewer@user:x"), touch("document:1#viewer@user:a")),
			want:    store.ErrInvalidUpdate,
		},
		{
			name:    "precondition fails",
			pre:     []store.Precondition{{MustExist: true, Filter: store.Filter{ResourceType: "nothing"}}},
			updates: concat(touch("document:1#viewer@user:a"), del("document:gone#viewer@user:x")),
			want:    store.ErrPreconditionFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Write(context.Background(), tt.pre, tt.updates)
			wantErrIs(t, "Write", err, tt.want)
			wantHead(t, s, rev)
			wantRels(t, "after failed Write", readAll(t, s, rev, store.Filter{}), rels("document:gone#viewer@user:x", "document:x#viewer@user:x"))
		})
	}
}

func testDuplicateKeyInBatch(t *testing.T, s store.Store) {
	tests := []struct {
		name    string
		updates []store.Update
	}{
		{"TOUCH then DELETE", concat(touch("document:1#viewer@user:a"), del("document:1#viewer@user:a"))},
		{"TOUCH twice", concat(touch("document:1#viewer@user:a"), updates(store.OpTouch, withCaveat(rel("document:1#viewer@user:a"), "c", nil)))},
		{"CREATE twice", create("document:1#viewer@user:a", "document:2#viewer@user:a", "document:1#viewer@user:a")},
		{"DELETE twice", del("document:1#viewer@user:a", "document:1#viewer@user:a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := head(t, s)
			_, err := s.Write(context.Background(), nil, tt.updates)
			wantErrIs(t, "Write with a key twice", err, store.ErrInvalidUpdate)
			wantHead(t, s, before)
			wantRels(t, "after rejected batch", readHead(t, s), nil)
		})
	}
}

func testSubjectRelationIsPartOfKey(t *testing.T, s store.Store) {
	rev := write(t, s, touch("document:1#viewer@group:eng", "document:1#viewer@group:eng#member", "document:1#viewer@group:eng#admin")...)
	wantRels(t, "keys differing only by subject relation", readAll(t, s, rev, store.Filter{}),
		rels("document:1#viewer@group:eng", "document:1#viewer@group:eng#admin", "document:1#viewer@group:eng#member"))
}

func testInvalidOp(t *testing.T, s store.Store) {
	for _, op := range []store.Op{0, -1, store.OpDelete + 1} {
		_, err := s.Write(context.Background(), nil, []store.Update{{Op: op, Relationship: rel("document:1#viewer@user:a")}})
		wantErrIs(t, fmt.Sprintf("Write with %v", op), err, store.ErrInvalidUpdate)
	}
	wantHead(t, s, 0)
}

func testEmptyBatch(t *testing.T, s store.Store) {
	r1 := write(t, s, touch("document:1#viewer@user:a")...)
	r2, err := s.Write(context.Background(), nil, nil)
	if err != nil {
		t.Fatalf("empty Write: %v", err)
	}
	if r2 <= r1 {
		t.Fatalf("empty Write returned revision %d, want > %d", r2, r1)
	}
	wantHead(t, s, r2)
}

func testLargeBatch(t *testing.T, s store.Store) {
	var want []tuple.Relationship
	for i := range 1000 {
		want = append(want, rel(fmt.Sprintf("document:%04d#viewer@user:u%d", 999-i, i%7)))
	}
	rev := write(t, s, updates(store.OpCreate, want...)...)
	wantRels(t, "1000 relationships written at once", readAll(t, s, rev, store.Filter{}), sortByKey(want))
}

func testRevisionsIncrease(t *testing.T, s store.Store) {
	ctx := context.Background()
	var revs []store.Revision
	add := func(what string, rev store.Revision, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(revs) > 0 && rev <= revs[len(revs)-1] {
			t.Fatalf("%s returned revision %d, not after %d", what, rev, revs[len(revs)-1])
		}
		revs = append(revs, rev)
		wantHead(t, s, rev)
	}
	for i := range 3 {
		rev, err := s.Write(ctx, nil, touch(fmt.Sprintf("document:%d#viewer@user:a", i)))
		add("Write", rev, err)
		rev, err = s.WriteSchema(ctx, fmt.Sprintf("definition user%d {}", i))
		add("WriteSchema", rev, err)
		rev, _, _, err = s.DeleteMatching(ctx, nil, store.Filter{ResourceType: "document", ResourceIDs: []string{fmt.Sprint(i)}}, 0)
		add("DeleteMatching", rev, err)
	}
}

func testDeepCopy(t *testing.T, s store.Store) {
	ctx := context.Background()
	exp := time.Date(2040, 1, 2, 3, 4, 5, 6000, time.UTC)
	mk := func() tuple.Relationship {
		return withExpiration(withCaveat(rel("document:1#viewer@user:alice"), "nested", map[string]any{
			"outer": map[string]any{"list": []any{1.0, "two", map[string]any{"three": 3.0}}},
		}), exp)
	}
	want := []tuple.Relationship{mk()}
	mutate := func(r tuple.Relationship) {
		r.Caveat.Name = "mutated"
		outer := r.Caveat.Context["outer"].(map[string]any)
		list := outer["list"].([]any)
		list[0] = 99.0
		list[2].(map[string]any)["three"] = "changed"
		outer["added"] = true
		r.Caveat.Context["added"] = "x"
		*r.Expiration = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	}

	in := mk()
	rev := write(t, s, updates(store.OpTouch, in)...)
	mutate(in)
	wantRels(t, "after mutating the written value", readAll(t, s, rev, store.Filter{}), want)

	got := readAll(t, s, rev, store.Filter{})
	mutate(got[0])
	wantRels(t, "after mutating a read value", readAll(t, s, rev, store.Filter{}), want)

	cs := collectChanges(t, s, 0, rev)
	mutate(cs[len(cs)-1].Updates[0].Relationship)
	wantRels(t, "after mutating a changed value", readAll(t, s, rev, store.Filter{}), want)
	wantChange(t, collectChanges(t, s, 0, rev)[0], rev, updates(store.OpTouch, mk())...)

	if _, err := s.Snapshot(ctx, func(r tuple.Relationship) error { mutate(r); return nil }, nil); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	wantRels(t, "after mutating a snapshot value", readAll(t, s, rev, store.Filter{}), want)
}

func preconditionTests() []test {
	return []test{
		{"MustExist", testPreconditionMustExist},
		{"MustNotExist", testPreconditionMustNotExist},
		{"SeesStateBeforeUpdates", testPreconditionBeforeUpdates},
		{"IgnoresExpired", testPreconditionIgnoresExpired},
		{"CheckedInsideTransaction", testPreconditionTransactional},
	}
}

func testPreconditionMustExist(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, touch("document:1#viewer@user:alice")...)
	ok := store.Precondition{MustExist: true, Filter: store.Filter{ResourceType: "document", ResourceIDs: []string{"1"}, Subject: &store.SubjectFilter{Type: "user", ID: "alice"}}}
	rev, err := s.Write(ctx, []store.Precondition{ok}, touch("document:2#viewer@user:bob"))
	if err != nil {
		t.Fatalf("Write with a satisfied MustExist: %v", err)
	}

	miss := store.Precondition{MustExist: true, Filter: store.Filter{ResourceType: "document", ResourceIDs: []string{"1"}, Subject: &store.SubjectFilter{Type: "user", ID: "carol"}}}
	_, err = s.Write(ctx, []store.Precondition{ok, miss}, touch("document:3#viewer@user:bob"))
	wantErrIs(t, "Write with an unsatisfied MustExist", err, store.ErrPreconditionFailed)
	var pe *store.PreconditionError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *store.PreconditionError", err, err)
	}
	if !pe.Precondition.MustExist || pe.Precondition.Filter.Subject == nil || pe.Precondition.Filter.Subject.ID != "carol" {
		t.Fatalf("PreconditionError names %+v, want the failing precondition %+v", pe.Precondition, miss)
	}
	wantHead(t, s, rev)
	wantRels(t, "after failed precondition", readAll(t, s, rev, store.Filter{}), rels("document:1#viewer@user:alice", "document:2#viewer@user:bob"))
}

func testPreconditionMustNotExist(t *testing.T, s store.Store) {
	ctx := context.Background()
	rev := write(t, s, touch("document:1#viewer@user:alice")...)
	match := store.Precondition{Filter: store.Filter{ResourceType: "document", Relation: "viewer"}}
	_, err := s.Write(ctx, []store.Precondition{match}, touch("document:2#viewer@user:bob"))
	wantErrIs(t, "Write with a matched must-not precondition", err, store.ErrPreconditionFailed)
	var pe *store.PreconditionError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *store.PreconditionError", err, err)
	}
	if pe.Precondition.MustExist || pe.Precondition.Filter.Relation != "viewer" {
		t.Fatalf("PreconditionError names %+v, want %+v", pe.Precondition, match)
	}
	wantHead(t, s, rev)

	none := store.Precondition{Filter: store.Filter{ResourceType: "document", Relation: "editor"}}
	rev, err = s.Write(ctx, []store.Precondition{none}, touch("document:2#viewer@user:bob"))
	if err != nil {
		t.Fatalf("Write with an unmatched must-not precondition: %v", err)
	}
	wantRels(t, "after Write", readAll(t, s, rev, store.Filter{}), rels("document:1#viewer@user:alice", "document:2#viewer@user:bob"))
}

func testPreconditionBeforeUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	rev := write(t, s, touch("document:1#viewer@user:alice")...)
	// The relationship the batch deletes still exists for the precondition.
	mustNot := store.Precondition{Filter: store.Filter{ResourceType: "document", ResourceIDs: []string{"1"}}}
	_, err := s.Write(ctx, []store.Precondition{mustNot}, del("document:1#viewer@user:alice"))
	wantErrIs(t, "must-not precondition on a relationship the batch deletes", err, store.ErrPreconditionFailed)
	// The relationship the batch creates does not exist yet.
	must := store.Precondition{MustExist: true, Filter: store.Filter{ResourceType: "document", ResourceIDs: []string{"2"}}}
	_, err = s.Write(ctx, []store.Precondition{must}, touch("document:2#viewer@user:alice"))
	wantErrIs(t, "MustExist precondition on a relationship the batch creates", err, store.ErrPreconditionFailed)
	wantHead(t, s, rev)
	wantRels(t, "after failed Writes", readHead(t, s), rels("document:1#viewer@user:alice"))
}

func testPreconditionIgnoresExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	rev := write(t, s, updates(store.OpTouch, withExpiration(rel("document:1#viewer@user:alice"), past))...)
	f := store.Filter{ResourceType: "document"}
	_, err := s.Write(ctx, []store.Precondition{{MustExist: true, Filter: f}}, touch("folder:1#viewer@user:a"))
	wantErrIs(t, "MustExist met only by an expired relationship", err, store.ErrPreconditionFailed)
	wantHead(t, s, rev)
	if _, err := s.Write(ctx, []store.Precondition{{Filter: f}}, touch("folder:1#viewer@user:a")); err != nil {
		t.Fatalf("must-not precondition matched only by an expired relationship: %v", err)
	}
}

// testPreconditionTransactional races writers that each take a "lock"
// relationship only if nobody holds it: exactly one must win every round.
func testPreconditionTransactional(t *testing.T, s store.Store) {
	const writers, rounds = 6, 5
	for round := range rounds {
		id := fmt.Sprint(round)
		pre := []store.Precondition{{Filter: store.Filter{ResourceType: "lock", ResourceIDs: []string{id}}}}
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start
				_, errs[w] = s.Write(context.Background(), pre, touch(fmt.Sprintf("lock:%s#holder@user:w%d", id, w)))
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrPreconditionFailed):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers passed the must-not precondition, want exactly 1", round, wins)
		}
		if got := readAll(t, s, head(t, s), store.Filter{ResourceType: "lock", ResourceIDs: []string{id}}); len(got) != 1 {
			t.Fatalf("round %d: lock has %d holders: %v", round, len(got), strs(got))
		}
	}
}

func deleteMatchingTests() []test {
	return []test{
		{"DeletesAllMatches", testDeleteMatchingAll},
		{"Limit", testDeleteMatchingLimit},
		{"NothingMatchedCreatesNoRevision", testDeleteMatchingNothing},
		{"Preconditions", testDeleteMatchingPreconditions},
	}
}

func testDeleteMatchingAll(t *testing.T, s store.Store) {
	r0 := write(t, s, touch(
		"document:1#viewer@user:a", "document:1#viewer@user:b", "document:2#viewer@user:a",
		"document:2#editor@user:a", "folder:1#viewer@user:a", "document:3#viewer@user:a#member")...)
	rev, n, more, err := s.DeleteMatching(context.Background(), nil,
		store.Filter{ResourceType: "document", Relation: "viewer", Subject: &store.SubjectFilter{Type: "user", ID: "a", Relation: ptr("")}}, 0)
	if err != nil {
		t.Fatalf("DeleteMatching: %v", err)
	}
	if n != 2 || more || rev <= r0 {
		t.Fatalf("DeleteMatching = (rev %d, %d deleted, more %v), want (> %d, 2, false)", rev, n, more, r0)
	}
	wantRels(t, "after DeleteMatching", readAll(t, s, rev, store.Filter{}),
		rels("document:1#viewer@user:b", "document:2#editor@user:a", "document:3#viewer@user:a#member", "folder:1#viewer@user:a"))
	wantRels(t, "before DeleteMatching", readAll(t, s, r0, store.Filter{}), rels(
		"document:1#viewer@user:a", "document:1#viewer@user:b", "document:2#editor@user:a",
		"document:2#viewer@user:a", "document:3#viewer@user:a#member", "folder:1#viewer@user:a"))
	cs := collectChanges(t, s, r0, rev)
	if len(cs) != 1 {
		t.Fatalf("DeleteMatching produced %d changes, want 1", len(cs))
	}
	wantChange(t, cs[0], rev, del("document:1#viewer@user:a", "document:2#viewer@user:a")...)

	// A filter narrowed only by subject type and relation.
	_, n, more, err = s.DeleteMatching(context.Background(), nil,
		store.Filter{ResourceType: "document", Subject: &store.SubjectFilter{Type: "user", Relation: ptr("member")}}, 0)
	if err != nil || n != 1 || more {
		t.Fatalf("DeleteMatching by subject type and relation = (%d, more %v, %v), want (1, false, nil)", n, more, err)
	}
	wantRels(t, "after DeleteMatching by subject type and relation", readHead(t, s),
		rels("document:1#viewer@user:b", "document:2#editor@user:a", "folder:1#viewer@user:a"))
}

func testDeleteMatchingLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, touch("document:1#viewer@user:a", "document:2#viewer@user:a", "document:3#viewer@user:a",
		"document:4#viewer@user:a", "document:5#viewer@user:a", "document:6#editor@user:a")...)
	f := store.Filter{ResourceType: "document", Relation: "viewer"}
	for _, want := range []struct {
		n, left int
		more    bool
	}{{2, 3, true}, {2, 1, true}, {1, 0, false}} {
		prev := head(t, s)
		rev, n, more, err := s.DeleteMatching(ctx, nil, f, 2)
		if err != nil {
			t.Fatalf("DeleteMatching: %v", err)
		}
		if n != want.n || more != want.more || rev <= prev {
			t.Fatalf("DeleteMatching(limit 2) = (rev %d, %d, more %v), want (> %d, %d, %v)", rev, n, more, prev, want.n, want.more)
		}
		if left := readAll(t, s, rev, f); len(left) != want.left {
			t.Fatalf("after DeleteMatching %d matches left, want %d: %v", len(left), want.left, strs(left))
		}
	}
	wantRels(t, "non-matching relationships", readHead(t, s), rels("document:6#editor@user:a"))

	// Exactly limit matches: all deleted and nothing more remains.
	write(t, s, touch("group:1#member@user:a", "group:2#member@user:a")...)
	_, n, more, err := s.DeleteMatching(ctx, nil, store.Filter{ResourceType: "group"}, 2)
	if err != nil || n != 2 || more {
		t.Fatalf("DeleteMatching of exactly limit matches = (%d, more %v, %v), want (2, false, nil)", n, more, err)
	}
}

func testDeleteMatchingNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	r0 := write(t, s, concat(touch("document:1#viewer@user:a"), updates(store.OpTouch, withExpiration(rel("folder:1#viewer@user:a"), past)))...)
	for _, f := range []store.Filter{
		{ResourceType: "nothing"},
		{ResourceType: "document", Relation: "editor"},
		{ResourceType: "folder"}, // only an expired relationship matches
	} {
		rev, n, more, err := s.DeleteMatching(ctx, nil, f, 0)
		if err != nil {
			t.Fatalf("DeleteMatching(%+v): %v", f, err)
		}
		if rev != r0 || n != 0 || more {
			t.Fatalf("DeleteMatching(%+v) = (rev %d, %d, more %v), want (%d, 0, false)", f, rev, n, more, r0)
		}
		wantHead(t, s, r0)
	}
	r1 := write(t, s, touch("document:2#viewer@user:a")...)
	if cs := collectChanges(t, s, r0, r1); len(cs) != 1 || cs[0].Revision != r1 {
		t.Fatalf("changes after %d = revisions %v, want only %d", r0, changeRevisions(cs), r1)
	}
}

func testDeleteMatchingPreconditions(t *testing.T, s store.Store) {
	ctx := context.Background()
	r0 := write(t, s, touch("document:1#viewer@user:a", "document:2#viewer@user:a")...)
	f := store.Filter{ResourceType: "document"}
	_, _, _, err := s.DeleteMatching(ctx, []store.Precondition{{MustExist: true, Filter: store.Filter{ResourceType: "lock"}}}, f, 0)
	wantErrIs(t, "DeleteMatching with unsatisfied precondition", err, store.ErrPreconditionFailed)
	_, _, _, err = s.DeleteMatching(ctx, []store.Precondition{{Filter: store.Filter{ResourceType: "document", ResourceIDs: []string{"2"}}}}, f, 0)
	wantErrIs(t, "DeleteMatching with matched must-not precondition", err, store.ErrPreconditionFailed)
	wantHead(t, s, r0)
	wantRels(t, "after failed DeleteMatching", readHead(t, s), rels("document:1#viewer@user:a", "document:2#viewer@user:a"))

	_, n, _, err := s.DeleteMatching(ctx, []store.Precondition{{MustExist: true, Filter: store.Filter{ResourceType: "document", ResourceIDs: []string{"2"}}}}, f, 0)
	if err != nil || n != 2 {
		t.Fatalf("DeleteMatching with satisfied precondition = (%d, %v), want (2, nil)", n, err)
	}
}
