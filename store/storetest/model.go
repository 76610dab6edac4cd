package storetest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func modelTests() []test {
	return []test{
		{"RandomOperations", testModel},
	}
}

// modelGen makes random keys, values and filters over a small key space so that
// operations collide often.
type modelGen struct {
	rng *rand.Rand
	now time.Time
}

var (
	modelTypes     = []string{"document", "folder"}
	modelIDs       = []string{"1", "2", "10", "x"}
	modelRelations = []string{"viewer", "editor"}
	modelSubjects  = []tuple.Subject{{Type: "user", ID: "a"}, {Type: "user", ID: "b"}, {Type: "group", ID: "g", Relation: "member"}, {Type: "group", ID: "g"}}
)

func pick[T any](g *modelGen, xs []T) T { return xs[g.rng.IntN(len(xs))] }

func (g *modelGen) relationship() tuple.Relationship {
	r := tuple.Relationship{
		Resource: tuple.Object{Type: pick(g, modelTypes), ID: pick(g, modelIDs)},
		Relation: pick(g, modelRelations),
		Subject:  pick(g, modelSubjects),
	}
	if g.rng.IntN(3) == 0 {
		r.Caveat = &tuple.Caveat{Name: "c", Context: map[string]any{"n": float64(g.rng.IntN(100)), "l": []any{"x", map[string]any{"y": g.rng.IntN(2) == 0}}}}
	}
	if g.rng.IntN(4) == 0 {
		exp := g.now.Add(time.Duration(1+g.rng.IntN(1000)) * time.Hour).UTC()
		r.Expiration = &exp
	}
	return r
}

func (g *modelGen) filter() store.Filter {
	var f store.Filter
	if g.rng.IntN(3) > 0 {
		f.ResourceType = pick(g, modelTypes)
	}
	switch g.rng.IntN(4) {
	case 0:
		f.ResourceIDs = []string{pick(g, modelIDs), pick(g, modelIDs)}
	case 1:
		f.ResourceIDPrefix = pick(g, []string{"1", "x", "z"})
	}
	if g.rng.IntN(2) == 0 {
		f.Relation = pick(g, modelRelations)
	}
	if g.rng.IntN(2) == 0 {
		sub := pick(g, modelSubjects)
		sf := &store.SubjectFilter{Type: sub.Type}
		if g.rng.IntN(3) > 0 {
			sf.ID = sub.ID
		}
		if g.rng.IntN(2) == 0 {
			sf.Relation = &sub.Relation
		}
		f.Subject = sf
	}
	return f
}

// testModel applies random writes, checked against a map, then checks Read at
// every revision and the change stream replayed from the start.
func testModel(t *testing.T, s store.Store) {
	const steps = 150
	ctx := context.Background()
	g := &modelGen{rng: rand.New(rand.NewPCG(20260101, 7)), now: time.Now().Truncate(time.Second)}
	model := make(map[tuple.Key]tuple.Relationship)
	states := map[store.Revision][]tuple.Relationship{0: nil}
	last := store.Revision(0)
	commit := func(step int, rev store.Revision) {
		t.Helper()
		if rev <= last {
			t.Fatalf("step %d: revision %d not after %d", step, rev, last)
		}
		last = rev
		states[rev] = sortedValues(model)
	}
	anyMatch := func(f store.Filter) bool {
		for _, r := range model {
			if f.Matches(r) {
				return true
			}
		}
		return false
	}

	for step := range steps {
		switch n := g.rng.IntN(20); {
		case n < 14: // a batch of distinct keys, maybe with a precondition
			var us []store.Update
			seen := make(map[tuple.Key]bool)
			for range 1 + g.rng.IntN(6) {
				r := g.relationship()
				if seen[r.Key()] {
					continue
				}
				seen[r.Key()] = true
				us = append(us, store.Update{Op: store.Op(1 + g.rng.IntN(3)), Relationship: r})
			}
			var pre []store.Precondition
			if g.rng.IntN(4) == 0 {
				pre = []store.Precondition{{MustExist: g.rng.IntN(2) == 0, Filter: g.filter()}}
			}
			var want error
			if len(pre) > 0 && anyMatch(pre[0].Filter) != pre[0].MustExist {
				want = store.ErrPreconditionFailed
			}
			for _, u := range us {
				if _, exists := model[u.Relationship.Key()]; want == nil && exists && u.Op == store.OpCreate {
					want = store.ErrAlreadyExists
				}
			}
			rev, err := s.Write(ctx, pre, us)
			if want != nil {
				wantErrIs(t, fmt.Sprintf("step %d: Write(%s)", step, describeUpdates(us)), err, want)
				continue
			}
			if err != nil {
				t.Fatalf("step %d: Write(%s): %v", step, describeUpdates(us), err)
			}
			for _, u := range us {
				if u.Op == store.OpDelete {
					delete(model, u.Relationship.Key())
				} else {
					model[u.Relationship.Key()] = u.Relationship.Clone()
				}
			}
			commit(step, rev)
		case n < 17:
			f := g.filter()
			var match []tuple.Key
			for k, r := range model {
				if f.Matches(r) {
					match = append(match, k)
				}
			}
			rev, deleted, more, err := s.DeleteMatching(ctx, nil, f, 0)
			if err != nil || deleted != len(match) || more {
				t.Fatalf("step %d: DeleteMatching(%+v) = (%d, more %v, %v), want %d deleted", step, f, deleted, more, err, len(match))
			}
			if len(match) == 0 {
				if rev != last {
					t.Fatalf("step %d: DeleteMatching of nothing returned revision %d, want the head %d", step, rev, last)
				}
				continue
			}
			for _, k := range match {
				delete(model, k)
			}
			commit(step, rev)
		case n < 19:
			rev, err := s.WriteSchema(ctx, fmt.Sprintf("definition user%d {}", step))
			if err != nil {
				t.Fatalf("step %d: WriteSchema: %v", step, err)
			}
			commit(step, rev)
		default:
			rev, err := s.Write(ctx, nil, nil)
			if err != nil {
				t.Fatalf("step %d: empty Write: %v", step, err)
			}
			commit(step, rev)
		}
	}

	revs := slices.Sorted(maps.Keys(states))
	for _, rev := range revs {
		want := states[rev]
		wantRels(t, fmt.Sprintf("Read at revision %d", rev), readAll(t, s, rev, store.Filter{}), want)
		for range 3 {
			f := g.filter()
			fw := filterRels(want, f)
			wantRels(t, fmt.Sprintf("Read(%+v) at revision %d", f, rev), readAll(t, s, rev, f), fw)
			if len(fw) > 1 {
				wantRels(t, fmt.Sprintf("paged Read(%+v) at revision %d", f, rev), readPaged(t, s, rev, f, 1+g.rng.IntN(len(fw)-1)), fw)
			}
		}
	}

	replay := make(map[tuple.Key]tuple.Relationship)
	cs := collectChanges(t, s, 0, last)
	if got := changeRevisions(cs); !slices.Equal(got, revs[1:]) {
		t.Fatalf("change revisions %v, want %v", got, revs[1:])
	}
	for _, c := range cs {
		apply(replay, c)
		wantRels(t, fmt.Sprintf("change stream replayed to %d", c.Revision), sortedValues(replay), states[c.Revision])
	}
	_, snap := snapshot(t, s)
	wantSet(t, "Snapshot", snap, states[last])
}
