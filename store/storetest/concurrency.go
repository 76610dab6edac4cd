package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func concurrencyTests() []test {
	return []test{
		{"Writers", testConcurrentWriters},
		{"ReadersWritersAndFollower", testConcurrentReadersWriters},
	}
}

// testConcurrentWriters checks that concurrent writers get distinct revisions,
// that the change stream has exactly those revisions with exactly what each
// writer wrote, and that every acknowledged write is present.
func testConcurrentWriters(t *testing.T, s store.Store) {
	const writers, perWriter, schemas = 4, 25, 5
	ctx := context.Background()
	var mu sync.Mutex
	written := make(map[store.Revision]store.Change)
	record := func(c store.Change) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := written[c.Revision]; dup {
			t.Errorf("revision %d returned twice: %s and %s", c.Revision, describeChange(prev), describeChange(c))
		}
		written[c.Revision] = c
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				us := touch(fmt.Sprintf("document:w%d-%d#viewer@user:a", w, i), fmt.Sprintf("document:w%d-%d#editor@user:a", w, i))
				if i > 0 && i%5 == 0 {
					us = append(us, del(fmt.Sprintf("document:w%d-%d#editor@user:a", w, i-1))...)
				}
				rev, err := s.Write(ctx, nil, us)
				if err != nil {
					t.Errorf("writer %d: Write: %v", w, err)
					return
				}
				record(store.Change{Revision: rev, Updates: us})
			}
		})
	}
	wg.Go(func() {
		for i := range schemas {
			text := fmt.Sprintf("definition user%d {}", i)
			rev, err := s.WriteSchema(ctx, text)
			if err != nil {
				t.Errorf("WriteSchema: %v", err)
				return
			}
			record(store.Change{Revision: rev, Schema: &text})
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	revs := make([]store.Revision, 0, len(written))
	for rev := range written {
		revs = append(revs, rev)
	}
	slices.Sort(revs)
	if len(revs) != writers*perWriter+schemas {
		t.Fatalf("%d distinct revisions, want %d", len(revs), writers*perWriter+schemas)
	}
	wantHead(t, s, revs[len(revs)-1])
	cs := collectChanges(t, s, 0, revs[len(revs)-1])
	if got := changeRevisions(cs); !slices.Equal(got, revs) {
		t.Fatalf("change stream revisions %v, want exactly the acknowledged %v", got, revs)
	}
	for _, c := range cs {
		w := written[c.Revision]
		// A DELETE of w%d-%d#editor streams as DELETE; the written TOUCHes as TOUCH.
		if g, want := describeChange(c), describeChange(w); g != want {
			t.Fatalf("change %s, want %s", g, want)
		}
	}
	got := readHead(t, s)
	if want := writers * perWriter * 2; len(got) != want-writers*((perWriter-1)/5) {
		t.Fatalf("head has %d relationships, want %d", len(got), want-writers*((perWriter-1)/5))
	}
	for w := range writers {
		for i := range perWriter {
			k := rel(fmt.Sprintf("document:w%d-%d#viewer@user:a", w, i)).Key()
			if !slices.ContainsFunc(got, func(r tuple.Relationship) bool { return r.Key() == k }) {
				t.Fatalf("acknowledged write of %v is missing", k)
			}
		}
	}
}

// testConcurrentReadersWriters runs writers, repeatable-read checkers and a
// change-stream follower together; the follower's state must equal Read at
// each revision it checks.
func testConcurrentReadersWriters(t *testing.T, s store.Store) {
	const writers, perWriter = 3, 40
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var writersWG, othersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for i := range perWriter {
				k := (w*7 + i) % 20
				us := touch(fmt.Sprintf("document:%d#viewer@user:w%d", k, w))
				if i%3 == 2 {
					us = del(fmt.Sprintf("document:%d#viewer@user:w%d", (k+13)%20, w))
				}
				if _, err := s.Write(ctx, nil, us); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
	}
	for range 2 {
		othersWG.Go(func() {
			for ctx.Err() == nil {
				rev, err := s.HeadRevision(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					t.Errorf("HeadRevision: %v", err)
					return
				}
				f := store.Filter{ResourceType: "document", Subject: &store.SubjectFilter{Type: "user", ID: "w1"}}
				a, err1 := s.Read(ctx, rev, store.Filter{}, store.Page{})
				b, err2 := s.Read(ctx, rev, f, store.Page{})
				c, err3 := s.Read(ctx, rev, store.Filter{}, store.Page{})
				if ctx.Err() != nil {
					return
				}
				if err := errors.Join(err1, err2, err3); err != nil {
					t.Errorf("Read at %d: %v", rev, err)
					return
				}
				if !slices.Equal(strs(a), strs(c)) || !slices.Equal(strs(b), strs(filterRels(a, f))) {
					t.Errorf("reads at revision %d differ:\n %v\n %v\n filtered %v", rev, strs(a), strs(c), strs(b))
					return
				}
			}
		})
	}
	follower := make(map[tuple.Key]tuple.Relationship)
	var followedTo atomic.Int64
	followerDone := runAsync(func() error {
		n := 0
		return s.Changes(ctx, 0, func(c store.Change) error {
			apply(follower, c)
			if n++; n%10 == 0 {
				got, err := s.Read(ctx, c.Revision, store.Filter{}, store.Page{})
				if err != nil {
					return err
				}
				if !slices.Equal(strs(got), strs(sortedValues(follower))) {
					return fmt.Errorf("follower at %d has %v, Read has %v", c.Revision, strs(sortedValues(follower)), strs(got))
				}
			}
			followedTo.Store(int64(c.Revision))
			return nil
		})
	})
	writersWG.Wait()
	final := head(t, s)
	deadline := time.After(waitTimeout)
	for store.Revision(followedTo.Load()) < final {
		select {
		case err := <-followerDone:
			t.Fatalf("follower stopped at %d before the head %d: %v", followedTo.Load(), final, err)
		case <-deadline:
			t.Fatalf("follower reached %d, not the head %d, within %v", followedTo.Load(), final, waitTimeout)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	othersWG.Wait()
	if err := waitErr(t, "follower", followerDone); !errors.Is(err, context.Canceled) {
		t.Fatalf("follower: %v", err)
	}
	wantRels(t, "follower state at the head", sortedValues(follower), readAll(t, s, final, store.Filter{}))
}

// apply applies a change to a follower's map.
func apply(m map[tuple.Key]tuple.Relationship, c store.Change) {
	for _, u := range c.Updates {
		switch u.Op {
		case store.OpTouch:
			m[u.Relationship.Key()] = u.Relationship
		case store.OpDelete:
			delete(m, u.Relationship.Key())
		}
	}
}

func sortedValues(m map[tuple.Key]tuple.Relationship) []tuple.Relationship {
	out := make([]tuple.Relationship, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return sortByKey(out)
}
