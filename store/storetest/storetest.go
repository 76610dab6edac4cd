// Package storetest is the conformance suite that every store.Store implementation runs.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// Run runs the conformance suite. newStore must return a new, empty store each
// time it is called; Run closes it when the subtest ends (and some subtests
// close it earlier, so Close must tolerate being called twice). Subtests are
// not parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					s := newStore(t)
					t.Cleanup(func() { _ = s.Close() })
					tt.fn(t, s)
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

type group struct {
	name  string
	tests []test
}

func groups() []group {
	return []group{
		{"Write", writeTests()},
		{"Precondition", preconditionTests()},
		{"DeleteMatching", deleteMatchingTests()},
		{"Read", readTests()},
		{"Snapshot", snapshotTests()},
		{"Changes", changesTests()},
		{"Schema", schemaTests()},
		{"Import", importTests()},
		{"Attributes", attributeTests()},
		{"GC", gcTests()},
		{"Concurrency", concurrencyTests()},
		{"Model", modelTests()},
		{"Close", closeTests()},
	}
}

// waitTimeout bounds every wait for something a store should do promptly. It
// is generous because the race detector on a loaded 2-core machine is slow.
const waitTimeout = 20 * time.Second

var errStop = errors.New("storetest: stop")

func rel(s string) tuple.Relationship { return tuple.MustParse(s) }

func rels(ss ...string) []tuple.Relationship {
	out := make([]tuple.Relationship, len(ss))
	for i, s := range ss {
		out[i] = rel(s)
	}
	return out
}

func withCaveat(r tuple.Relationship, name string, ctx map[string]any) tuple.Relationship {
	r.Caveat = &tuple.Caveat{Name: name, Context: ctx}
	return r
}

func withExpiration(r tuple.Relationship, at time.Time) tuple.Relationship {
	r.Expiration = &at
	return r
}

func updates(op store.Op, rs ...tuple.Relationship) []store.Update {
	out := make([]store.Update, len(rs))
	for i, r := range rs {
		out[i] = store.Update{Op: op, Relationship: r}
	}
	return out
}

func touch(ss ...string) []store.Update  { return updates(store.OpTouch, rels(ss...)...) }
func create(ss ...string) []store.Update { return updates(store.OpCreate, rels(ss...)...) }
func del(ss ...string) []store.Update    { return updates(store.OpDelete, rels(ss...)...) }

func concat(us ...[]store.Update) []store.Update { return slices.Concat(us...) }

// write commits updates and fails the test on error.
func write(t testing.TB, s store.Store, us ...store.Update) store.Revision {
	t.Helper()
	rev, err := s.Write(context.Background(), nil, us)
	if err != nil {
		t.Fatalf("Write(%s): %v", describeUpdates(us), err)
	}
	return rev
}

func head(t testing.TB, s store.Store) store.Revision {
	t.Helper()
	rev, err := s.HeadRevision(context.Background())
	if err != nil {
		t.Fatalf("HeadRevision: %v", err)
	}
	return rev
}

func read(t testing.TB, s store.Store, rev store.Revision, f store.Filter, page store.Page) []tuple.Relationship {
	t.Helper()
	got, err := s.Read(context.Background(), rev, f, page)
	if err != nil {
		t.Fatalf("Read(rev %d, %+v, %+v): %v", rev, f, page, err)
	}
	return got
}

func readAll(t testing.TB, s store.Store, rev store.Revision, f store.Filter) []tuple.Relationship {
	t.Helper()
	return read(t, s, rev, f, store.Page{})
}

func readHead(t testing.TB, s store.Store) []tuple.Relationship {
	t.Helper()
	return readAll(t, s, head(t, s), store.Filter{})
}

// strs renders relationships canonically: key, caveat name and context (JSON
// with sorted keys) and expiration in UTC with nanoseconds.
func strs(rs []tuple.Relationship) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func sortByKey(rs []tuple.Relationship) []tuple.Relationship {
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b tuple.Relationship) int { return store.CompareKeys(a.Key(), b.Key()) })
	return rs
}

// wantRels fails unless got equals want, in order.
func wantRels(t testing.TB, what string, got, want []tuple.Relationship) {
	t.Helper()
	g, w := strs(got), strs(want)
	if !slices.Equal(g, w) {
		t.Fatalf("%s:\n got  %d: %s\n want %d: %s", what, len(g), strings.Join(g, " "), len(w), strings.Join(w, " "))
	}
}

// wantSet fails unless got and want hold the same relationships in any order.
func wantSet(t testing.TB, what string, got, want []tuple.Relationship) {
	t.Helper()
	wantRels(t, what, sortByKey(got), sortByKey(want))
}

func wantErrIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want errors.Is(err, %v)", what, err, target)
	}
}

func wantHead(t testing.TB, s store.Store, want store.Revision) {
	t.Helper()
	if got := head(t, s); got != want {
		t.Fatalf("HeadRevision = %d, want %d", got, want)
	}
}

func describeUpdates(us []store.Update) string {
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = u.Op.String() + " " + u.Relationship.String()
	}
	if len(parts) > 4 {
		parts = append(parts[:4], fmt.Sprintf("... (%d updates)", len(us)))
	}
	return strings.Join(parts, ", ")
}

// collectChanges returns the changes after `after` up to and including the
// first one at or beyond until. It fails if they do not arrive in time.
func collectChanges(t testing.TB, s store.Store, after, until store.Revision) []store.Change {
	t.Helper()
	if until <= after {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var got []store.Change
	err := s.Changes(ctx, after, func(c store.Change) error {
		got = append(got, c)
		if c.Revision >= until {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Changes(after %d) until %d: error = %v after %d changes (want the stream to reach %d)", after, until, err, len(got), until)
	}
	return got
}

// changeRevisions lists the revisions of cs.
func changeRevisions(cs []store.Change) []store.Revision {
	out := make([]store.Revision, len(cs))
	for i, c := range cs {
		out[i] = c.Revision
	}
	return out
}

// describeChange renders the updates of c sorted by key (their order within a
// transaction is not part of the contract), plus its schema if any.
func describeChange(c store.Change) string {
	us := slices.Clone(c.Updates)
	slices.SortStableFunc(us, func(a, b store.Update) int {
		return store.CompareKeys(a.Relationship.Key(), b.Relationship.Key())
	})
	parts := make([]string, 0, len(us)+1)
	for _, u := range us {
		r := u.Relationship
		if u.Op == store.OpDelete {
			// Only the key of a deleted relationship is guaranteed.
			r = tuple.Relationship{Resource: r.Resource, Relation: r.Relation, Subject: r.Subject}
		}
		parts = append(parts, u.Op.String()+" "+r.String())
	}
	if c.Schema != nil {
		parts = append(parts, fmt.Sprintf("SCHEMA %q", *c.Schema))
	}
	return fmt.Sprintf("@%d{%s}", c.Revision, strings.Join(parts, ", "))
}

func wantChange(t testing.TB, got store.Change, rev store.Revision, want ...store.Update) {
	t.Helper()
	w := describeChange(store.Change{Revision: rev, Updates: want})
	if g := describeChange(got); g != w {
		t.Fatalf("change:\n got  %s\n want %s", g, w)
	}
}

func ptr[T any](v T) *T { return &v }

// sleepTick separates commits in time so that their timestamps differ even on
// stores with microsecond clocks.
func sleepTick() { time.Sleep(5 * time.Millisecond) }

// runAsync runs fn in a goroutine and returns a channel with its result.
func runAsync(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func waitErr(t testing.TB, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("%s: did not return within %v", what, waitTimeout)
		return nil
	}
}
