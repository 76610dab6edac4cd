package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func touches(ss ...string) []store.Update {
	us := make([]store.Update, len(ss))
	for i, s := range ss {
		us[i] = store.Update{Op: store.OpTouch, Relationship: tuple.MustParse(s)}
	}
	return us
}

// checkIndexes verifies that the indexes hold exactly want, each once.
func checkIndexes(t *testing.T, s *Store, want ...string) {
	t.Helper()
	n := 0
	for typ, ti := range s.types {
		n += ti.all.n
		byRel := 0
		for _, x := range ti.byRel {
			byRel += x.n
		}
		if byRel != ti.all.n || ti.all.n == 0 {
			t.Fatalf("type %s: %d entries, %d by relation", typ, ti.all.n, byRel)
		}
	}
	subjects := 0
	for _, es := range s.bySubject {
		subjects += len(es)
	}
	if n != len(want) || subjects != len(want) || len(s.typeNames) != len(s.types) {
		t.Fatalf("indexes hold %d entries, %d by subject, %d type names for %d types; want %d", n, subjects, len(s.typeNames), len(s.types), len(want))
	}
	for _, w := range want {
		k := tuple.MustParse(w).Key()
		if s.lookup(&k) == nil {
			t.Fatalf("%s is not indexed", w)
		}
	}
}

func TestStore_FailedCreateAddsNoEntries(t *testing.T) {
	ctx := context.Background()
	s := New()
	defer s.Close()
	if _, err := s.Write(ctx, nil, touches("document:x#viewer@user:x")); err != nil {
		t.Fatal(err)
	}
	us := append(touches("document:a#viewer@user:a", "folder:b#viewer@user:new"),
		store.Update{Op: store.OpCreate, Relationship: tuple.MustParse("document:x#viewer@user:x")})
	if _, err := s.Write(ctx, nil, us); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("Write = %v, want ErrAlreadyExists", err)
	}
	checkIndexes(t, s, "document:x#viewer@user:x")
}

func TestStore_GCReleasesEntriesAndLog(t *testing.T) {
	ctx := context.Background()
	s := New()
	defer s.Close()
	for _, us := range [][]store.Update{
		touches("document:a#viewer@user:a", "folder:b#viewer@user:b", "document:c#viewer@user:a"),
		{{Op: store.OpDelete, Relationship: tuple.MustParse("document:a#viewer@user:a")}},
		{{Op: store.OpDelete, Relationship: tuple.MustParse("folder:b#viewer@user:b")}},
	} {
		if _, err := s.Write(ctx, nil, us); err != nil {
			t.Fatal(err)
		}
	}
	exp := time.Now().Add(-time.Hour)
	r := tuple.MustParse("group:g#member@user:z")
	r.Expiration = &exp
	if _, err := s.Write(ctx, nil, []store.Update{{Op: store.OpTouch, Relationship: r}}); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, s, "document:a#viewer@user:a", "folder:b#viewer@user:b", "document:c#viewer@user:a", "group:g#member@user:z")
	n, err := s.GC(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("GC = (%d, %v), want 3 removed", n, err)
	}
	checkIndexes(t, s, "document:c#viewer@user:a")
	if len(s.log) != 0 || len(s.expiring) != 0 {
		t.Fatalf("after GC: %d transactions logged, %d expiring versions; want none", len(s.log), len(s.expiring))
	}
	if e := s.lookup(&tuple.Key{Resource: tuple.Object{Type: "document", ID: "c"}, Relation: "viewer", Subject: tuple.Subject{Type: "user", ID: "a"}}); e.latest.prev != nil {
		t.Fatal("a live entry kept history older than every readable revision")
	}
}
