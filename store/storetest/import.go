package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// importTests cover store.Importer; every gatehouse store implements it.
func importTests() []test {
	return []test{
		{"Implemented", func(t *testing.T, s store.Store) { importer(t, s) }},
		{"CreatesInOneRevision", testImportCreates},
		{"ExistingFailsWhole", testImportExisting},
		{"ReplacesExpired", testImportOverExpired},
		{"DuplicateInImport", testImportDuplicate},
		{"Large", testImportLarge},
	}
}

func importer(t *testing.T, s store.Store) store.Importer {
	t.Helper()
	im, ok := s.(store.Importer)
	if !ok {
		t.Fatalf("%T does not implement store.Importer", s)
	}
	return im
}

func testImportCreates(t *testing.T, s store.Store) {
	before := write(t, s, touch("document:0#viewer@user:zed")...)
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond).UTC()
	in := []tuple.Relationship{
		withCaveat(rel("document:1#viewer@user:alice"), "limits", map[string]any{"n": 2.5, "tags": []any{"a", true, nil}}),
		withExpiration(rel("document:2#viewer@group:eng#member"), exp),
		rel("document:3#viewer@user:*"),
	}
	rev, err := importer(t, s).Import(context.Background(), in)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if rev <= before {
		t.Fatalf("Import returned revision %d, want > %d", rev, before)
	}
	wantHead(t, s, rev)
	wantSet(t, "Read after Import", readAll(t, s, rev, store.Filter{}), append([]tuple.Relationship{rel("document:0#viewer@user:zed")}, in...))
	wantSet(t, "Read before Import", readAll(t, s, before, store.Filter{}), rels("document:0#viewer@user:zed"))
	cs := collectChanges(t, s, before, rev)
	if len(cs) != 1 {
		t.Fatalf("Import produced %d changes, want 1", len(cs))
	}
	wantChange(t, cs[0], rev, updates(store.OpTouch, in...)...)
}

func testImportExisting(t *testing.T, s store.Store) {
	rev := write(t, s, touch("document:2#viewer@user:bob")...)
	in := rels("document:1#viewer@user:alice", "document:2#viewer@user:bob", "document:3#viewer@user:carol")
	_, err := importer(t, s).Import(context.Background(), in)
	var ae *store.AlreadyExistsError
	if !errors.As(err, &ae) {
		t.Fatalf("Import over an existing relationship: error = %v (%T), want *store.AlreadyExistsError", err, err)
	}
	if ae.Relationship.Key() != in[1].Key() {
		t.Fatalf("AlreadyExistsError names %s, want %s", ae.Relationship, in[1])
	}
	wantHead(t, s, rev)
	wantRels(t, "after failed Import", readHead(t, s), rels("document:2#viewer@user:bob"))
}

func testImportOverExpired(t *testing.T, s store.Store) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	write(t, s, updates(store.OpTouch, withExpiration(rel("document:1#viewer@user:alice"), past))...)
	rev, err := importer(t, s).Import(context.Background(), rels("document:1#viewer@user:alice"))
	if err != nil {
		t.Fatalf("Import over an expired relationship: %v (expired relationships are absent to writes)", err)
	}
	wantRels(t, "after Import over expired", readAll(t, s, rev, store.Filter{}), rels("document:1#viewer@user:alice"))
}

func testImportDuplicate(t *testing.T, s store.Store) {
	_, err := importer(t, s).Import(context.Background(), rels("document:1#viewer@user:alice", "document:2#viewer@user:bob", "document:1#viewer@user:alice"))
	wantErrIs(t, "Import with a key twice", err, store.ErrInvalidUpdate)
	wantHead(t, s, 0)
	wantRels(t, "after failed Import", readHead(t, s), nil)
}

func testImportLarge(t *testing.T, s store.Store) {
	const n = 25000
	in := make([]tuple.Relationship, n)
	for i := range in {
		in[i] = rel(fmt.Sprintf("document:d%05d#viewer@user:u%d", i, i%97))
	}
	rev, err := importer(t, s).Import(context.Background(), in)
	if err != nil {
		t.Fatalf("Import of %d: %v", n, err)
	}
	got := readAll(t, s, rev, store.Filter{})
	wantRels(t, "Read after a large Import", got, in)
	var count int
	if _, err := s.Snapshot(context.Background(), func(tuple.Relationship) error { count++; return nil }, nil); err != nil || count != n {
		t.Fatalf("Snapshot after a large Import: %d relationships, %v; want %d", count, err, n)
	}
}
