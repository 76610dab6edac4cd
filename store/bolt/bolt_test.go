package bolt_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/bolt"
	"github.com/gatehouse-dev/gatehouse/store/storetest"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func openStore(t testing.TB, path string, opts ...bolt.Option) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// A small GC batch makes the suite's collections span transactions.
		return openStore(t, filepath.Join(t.TempDir(), "gatehouse.db"), bolt.WithGCBatch(2))
	})
}

// dump is everything a store shows, rendered for comparison.
type dump struct {
	Head          store.Revision
	AtHead        []string
	AtOld         []string
	Snapshot      []string
	AttrsAtHead   []string
	AttrsAtOld    []string
	Scan          []string
	ScanPage      []string
	SnapshotAttrs []string
	Schema        store.SchemaVersion
	History       []store.SchemaVersion
	Changes       []string
}

// dumpObjects are the objects whose attributes dumpStore reads.
var dumpObjects = []tuple.Object{{Type: "document", ID: "1"}, {Type: "document", ID: "2"}, {Type: "document", ID: "3"}, {Type: "user", ID: "a"}}

func dumpStore(t *testing.T, s *bolt.Store, old store.Revision) dump {
	t.Helper()
	ctx := context.Background()
	var d dump
	var err error
	if d.Head, err = s.HeadRevision(ctx); err != nil {
		t.Fatalf("HeadRevision: %v", err)
	}
	for _, x := range []struct {
		rev store.Revision
		out *[]string
	}{{d.Head, &d.AtHead}, {old, &d.AtOld}} {
		rs, err := s.Read(ctx, x.rev, store.Filter{}, store.Page{})
		if err != nil {
			t.Fatalf("Read at %d: %v", x.rev, err)
		}
		*x.out = relStrings(rs)
	}
	for _, x := range []struct {
		rev store.Revision
		out *[]string
	}{{d.Head, &d.AttrsAtHead}, {old, &d.AttrsAtOld}} {
		got, err := s.ReadAttributes(ctx, x.rev, dumpObjects)
		if err != nil {
			t.Fatalf("ReadAttributes at %d: %v", x.rev, err)
		}
		for _, o := range dumpObjects {
			if v, ok := got[o]; ok {
				*x.out = append(*x.out, attrString(store.ObjectAttributes{Object: o, Values: v}))
			}
		}
	}
	for _, x := range []struct {
		after string
		limit int
		out   *[]string
	}{{"", 0, &d.Scan}, {"1", 1, &d.ScanPage}} {
		oas, err := s.ScanAttributes(ctx, d.Head, store.AttributeFilter{Type: "document"}, x.after, x.limit)
		if err != nil {
			t.Fatalf("ScanAttributes: %v", err)
		}
		for _, oa := range oas {
			*x.out = append(*x.out, attrString(oa))
		}
	}
	var snap []tuple.Relationship
	rev, err := s.Snapshot(ctx, func(r tuple.Relationship) error { snap = append(snap, r); return nil },
		func(oa store.ObjectAttributes) error {
			d.SnapshotAttrs = append(d.SnapshotAttrs, attrString(oa))
			return nil
		})
	if err != nil || rev != d.Head {
		t.Fatalf("Snapshot = %d, %v; want %d", rev, err, d.Head)
	}
	d.Snapshot = relStrings(snap)
	slices.Sort(d.SnapshotAttrs)
	if d.Schema, err = s.ReadSchema(ctx); err != nil {
		t.Fatalf("ReadSchema: %v", err)
	}
	if d.History, err = s.SchemaHistory(ctx); err != nil {
		t.Fatalf("SchemaHistory: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stop := errors.New("stop")
	err = s.Changes(cctx, 0, func(c store.Change) error {
		d.Changes = append(d.Changes, describeChange(c))
		if c.Revision >= d.Head {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Changes: %v", err)
	}
	return d
}

// attrString renders an object's attributes ("type:id=-" for none).
func attrString(oa store.ObjectAttributes) string {
	if oa.Values == nil {
		return oa.Object.String() + "=-"
	}
	b, err := json.Marshal(oa.Values)
	if err != nil {
		return oa.Object.String() + "=unencodable"
	}
	return oa.Object.String() + "=" + string(b)
}

func relStrings(rs []tuple.Relationship) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func describeChange(c store.Change) string {
	parts := []string{fmt.Sprintf("@%d %s", c.Revision, c.Timestamp.Format(time.RFC3339Nano))}
	for _, u := range c.Updates {
		parts = append(parts, u.Op.String()+" "+u.Relationship.String())
	}
	for _, oa := range c.Attributes {
		parts = append(parts, "ATTRS "+attrString(oa))
	}
	if c.Schema != nil {
		parts = append(parts, fmt.Sprintf("SCHEMA %q", *c.Schema))
	}
	return strings.Join(parts, ", ")
}

func TestStore_Reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "gatehouse.db")
	s := openStore(t, path)
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Fatalf("Stat(%s) = %v, %v; want mode %v", p, fi.Mode(), err, want)
		}
	}
	id := s.ID()
	if len(id) != 32 {
		t.Fatalf("ID() = %q, want 32 hex digits", id)
	}
	exp := time.Date(2031, 7, 8, 9, 10, 11, 123456789, time.FixedZone("X", 3600))
	cav := &tuple.Caveat{Name: "c", Context: map[string]any{"n": 1.5, "l": []any{"x", nil, true, map[string]any{"": -0.25}}, "e": map[string]any{}}}
	r1, err := s.WriteBatch(ctx, store.Batch{
		Updates: []store.Update{
			{Op: store.OpCreate, Relationship: withCaveat(tuple.MustParse("document:1#viewer@user:a"), cav)},
			{Op: store.OpTouch, Relationship: withExpiration(tuple.MustParse("document:2#viewer@group:g#member"), exp)},
			{Op: store.OpTouch, Relationship: tuple.MustParse("document:3#viewer@user:b")},
		},
		Attributes: []store.AttributeUpdate{
			{Op: store.AttrSet, Object: dumpObjects[3], Values: map[string]any{"team": "payments"}},
			{Op: store.AttrSet, Object: dumpObjects[0], Values: map[string]any{"tenant": "acme", "n": 1.0, "tags": []any{"x", nil}}},
			{Op: store.AttrSet, Object: dumpObjects[1], Values: map[string]any{"tenant": "globex"}},
		},
	})
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	if _, err := s.WriteSchema(ctx, "definition user {}"); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	if _, err := s.WriteBatch(ctx, store.Batch{
		Updates: []store.Update{
			{Op: store.OpDelete, Relationship: tuple.MustParse("document:3#viewer@user:b")},
			{Op: store.OpTouch, Relationship: tuple.MustParse("document:1#viewer@user:a")},
		},
		Attributes: []store.AttributeUpdate{
			{Op: store.AttrMerge, Object: dumpObjects[0], Values: map[string]any{"n": nil, "env": "prod"}},
			{Op: store.AttrDelete, Object: dumpObjects[1]},
			{Op: store.AttrSet, Object: dumpObjects[2], Values: map[string]any{"nested": map[string]any{"deep": []any{1.5, true}}}},
		},
	}); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	if _, err := s.WriteSchema(ctx, "definition user {}\ndefinition document {}"); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	before := dumpStore(t, s, r1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, path)
	defer s.Close()
	after := dumpStore(t, s, r1)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after reopening:\n got  %+v\n want %+v", after, before)
	}
	if len(after.AtOld) != 3 || len(after.Changes) != 4 || len(after.History) != 2 {
		t.Fatalf("unexpected contents: %+v", after)
	}
	wantAttrs := dump{
		AttrsAtHead:   []string{`document:1={"env":"prod","tags":["x",null],"tenant":"acme"}`, `document:3={"nested":{"deep":[1.5,true]}}`, `user:a={"team":"payments"}`},
		AttrsAtOld:    []string{`document:1={"n":1,"tags":["x",null],"tenant":"acme"}`, `document:2={"tenant":"globex"}`, `user:a={"team":"payments"}`},
		Scan:          []string{`document:1={"env":"prod","tags":["x",null],"tenant":"acme"}`, `document:3={"nested":{"deep":[1.5,true]}}`},
		ScanPage:      []string{`document:3={"nested":{"deep":[1.5,true]}}`},
		SnapshotAttrs: []string{`document:1={"env":"prod","tags":["x",null],"tenant":"acme"}`, `document:3={"nested":{"deep":[1.5,true]}}`, `user:a={"team":"payments"}`},
	}
	gotAttrs := dump{AttrsAtHead: after.AttrsAtHead, AttrsAtOld: after.AttrsAtOld, Scan: after.Scan, ScanPage: after.ScanPage, SnapshotAttrs: after.SnapshotAttrs}
	if !reflect.DeepEqual(gotAttrs, wantAttrs) {
		t.Fatalf("attributes after reopening:\n got  %+v\n want %+v", gotAttrs, wantAttrs)
	}
	for i, want := range []string{
		`ATTRS document:1={"n":1,"tags":["x",null],"tenant":"acme"}, ATTRS document:2={"tenant":"globex"}, ATTRS user:a={"team":"payments"}`,
		``,
		`ATTRS document:1={"env":"prod","tags":["x",null],"tenant":"acme"}, ATTRS document:2=-, ATTRS document:3={"nested":{"deep":[1.5,true]}}`,
		``,
	} {
		if got := after.Changes[i]; !strings.HasSuffix(got, want) || (want == "" && strings.Contains(got, "ATTRS")) {
			t.Fatalf("change %d after reopening = %s, want it to end with %s", i, got, want)
		}
	}
	if s.ID() != id {
		t.Fatalf("ID after reopening = %q, want %q", s.ID(), id)
	}
	// The caveat context and expiration survive exactly.
	got, err := s.Read(ctx, r1, store.Filter{}, store.Page{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !reflect.DeepEqual(got[0].Caveat, cav) || !got[1].Expiration.Equal(exp) {
		t.Fatalf("read back %v, want caveat %+v and expiration %v", relStrings(got), cav, exp)
	}
	next, err := s.Write(ctx, nil, []store.Update{{Op: store.OpTouch, Relationship: tuple.MustParse("document:4#viewer@user:c")}})
	if err != nil || next != after.Head+1 {
		t.Fatalf("Write after reopening = (%d, %v), want revision %d", next, err, after.Head+1)
	}

	// GC history is kept across a restart too.
	if _, err := s.GC(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openStore(t, path)
	defer s.Close()
	if _, err := s.Read(ctx, r1, store.Filter{}, store.Page{}); !errors.Is(err, store.ErrRevisionUnavailable) {
		t.Fatalf("Read at a collected revision after reopening: %v, want ErrRevisionUnavailable", err)
	}
	if h, err := s.SchemaHistory(ctx); err != nil || len(h) != 2 {
		t.Fatalf("SchemaHistory after GC and reopening = (%v, %v), want 2 versions", h, err)
	}
	head, err := s.HeadRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := s.ReadAttributes(ctx, head, dumpObjects)
	if err != nil || len(got2) != 3 || got2[dumpObjects[1]] != nil {
		t.Fatalf("ReadAttributes after GC and reopening = (%v, %v), want document:1, document:3 and user:a", got2, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// GC left only the newest attribute versions, and no index or log entries.
	for bucket, want := range map[string]int{"attrs": 3, "deadattrs": 0, "attrlog": 0, "dead": 0} {
		if n := countKeys(t, path, bucket); n != want {
			t.Errorf("bucket %s has %d keys after GC, want %d", bucket, n, want)
		}
	}
}

// countKeys returns the number of keys in a bucket of the closed database at path.
func countKeys(t *testing.T, path, bucket string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := -1
	err = db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStore_OpenWithoutAttributeBuckets opens a format-1 file written before
// attributes existed: Open adds the buckets and everything else is kept.
func TestStore_OpenWithoutAttributeBuckets(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := openStore(t, path)
	r1, err := s.Write(ctx, nil, []store.Update{{Op: store.OpTouch, Relationship: tuple.MustParse("document:1#viewer@user:a")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	withBolt(t, path, func(tx *bbolt.Tx) error {
		for _, name := range []string{"attrs", "deadattrs", "attrlog"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})

	s = openStore(t, path)
	defer s.Close()
	rels, err := s.Read(ctx, r1, store.Filter{}, store.Page{})
	if err != nil || len(rels) != 1 {
		t.Fatalf("Read after adding the buckets = (%v, %v), want the relationship", relStrings(rels), err)
	}
	got, err := s.ReadAttributes(ctx, r1, dumpObjects)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadAttributes = (%v, %v), want none", got, err)
	}
	r2, err := s.WriteBatch(ctx, store.Batch{Attributes: []store.AttributeUpdate{{Op: store.AttrSet, Object: dumpObjects[0], Values: map[string]any{"a": "b"}}}})
	if err != nil || r2 != r1+1 {
		t.Fatalf("WriteBatch = (%d, %v), want revision %d", r2, err, r1+1)
	}
	got, err = s.ReadAttributes(ctx, r2, dumpObjects)
	if err != nil || len(got) != 1 || got[dumpObjects[0]]["a"] != "b" {
		t.Fatalf("ReadAttributes = (%v, %v), want document:1's", got, err)
	}
}

func withCaveat(r tuple.Relationship, c *tuple.Caveat) tuple.Relationship {
	r.Caveat = c
	return r
}

func withExpiration(r tuple.Relationship, at time.Time) tuple.Relationship {
	r.Expiration = &at
	return r
}

func TestStore_BadFile(t *testing.T) {
	random := make([]byte, 64<<10)
	_, _ = rand.Read(random)
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want error
	}{
		{"random bytes", func(t *testing.T, path string) { writeFile(t, path, random) }, bolt.ErrNotGatehouse},
		{"empty file", func(t *testing.T, path string) { writeFile(t, path, nil) }, bolt.ErrNotGatehouse},
		{"truncated", func(t *testing.T, path string) {
			s := openStore(t, path)
			var us []store.Update
			for i := range 2000 {
				us = append(us, store.Update{Op: store.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:%d#viewer@user:a", i))})
			}
			if _, err := s.Write(context.Background(), nil, us); err != nil {
				t.Fatal(err)
			}
			s.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The meta pages survive; most pages they point to do not.
			writeFile(t, path, b[:64<<10])
		}, bolt.ErrNotGatehouse},
		{"foreign bbolt file", func(t *testing.T, path string) {
			withBolt(t, path, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("widgets"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
		}, bolt.ErrNotGatehouse},
		{"empty bbolt file", func(t *testing.T, path string) {
			withBolt(t, path, func(*bbolt.Tx) error { return nil })
		}, bolt.ErrNotGatehouse},
		{"newer format", func(t *testing.T, path string) {
			openStore(t, path).Close()
			withBolt(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte{0, 0, 0, 99})
			})
		}, bolt.ErrNewerFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			tt.make(t, path)
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.WithOpenTimeout(100*time.Millisecond))
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want errors.Is(err, %v)", err, tt.want)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(got, want) {
				t.Fatalf("the failed Open changed the file (%v)", rerr)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Fatalf("the failed Open left files behind: %v", entries)
			}
		})
	}

	t.Run("already open", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		s := openStore(t, path)
		defer s.Close()
		start := time.Now()
		s2, err := bolt.Open(path, bolt.WithOpenTimeout(200*time.Millisecond))
		if err == nil {
			s2.Close()
			t.Fatalf("second Open succeeded")
		}
		if !errors.Is(err, bolt.ErrLocked) {
			t.Fatalf("second Open: %v, want ErrLocked", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("second Open took %v", d)
		}
	})
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func withBolt(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkStore_Import(b *testing.B) {
	const n = 100_000
	rels := make([]tuple.Relationship, n)
	for i := range rels {
		// Unsorted input, as an export from another system would be.
		j := (i * 7919) % n
		rels[i] = tuple.MustParse(fmt.Sprintf("document:d%d#viewer@user:u%d", j, j%1000))
	}
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openStore(b, filepath.Join(b.TempDir(), "gatehouse.db"))
		b.StartTimer()
		start := time.Now()
		if _, err := s.Import(context.Background(), rels); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "rels/s")
}

func BenchmarkStore_Write(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "gatehouse.db"))
	defer s.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		us := []store.Update{
			{Op: store.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:d%d#viewer@user:u%d", i, i%100))},
			{Op: store.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:d%d#editor@user:u%d", i, i%100))},
		}
		start := time.Now()
		if _, err := s.Write(ctx, nil, us); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
}

// TestStore_Import pins Import's CREATE semantics, which storetest does not
// cover: it is all or nothing, and an expired relationship (by the store's
// clock) is replaced.
func TestStore_Import(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openStore(t, filepath.Join(t.TempDir(), "gatehouse.db"), bolt.WithClock(func() time.Time { return now }))
	defer s.Close()
	r1, err := s.Write(ctx, nil, []store.Update{
		{Op: store.OpTouch, Relationship: tuple.MustParse("document:live#viewer@user:a")},
		{Op: store.OpTouch, Relationship: withExpiration(tuple.MustParse("document:exp#viewer@user:a"), now.Add(time.Minute))},
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh := []tuple.Relationship{tuple.MustParse("document:z#viewer@user:b"), tuple.MustParse("document:b#viewer@user:b")}

	tests := []struct {
		name string
		rels []tuple.Relationship
		want error
	}{
		{"duplicate key", append(slices.Clone(fresh), fresh[0]), store.ErrInvalidUpdate},
		{"live key", append(slices.Clone(fresh), tuple.MustParse("document:live#viewer@user:a")), store.ErrAlreadyExists},
		{"unexpired key", append(slices.Clone(fresh), tuple.MustParse("document:exp#viewer@user:a")), store.ErrAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Import(ctx, tt.rels); !errors.Is(err, tt.want) {
				t.Fatalf("Import: %v, want errors.Is(err, %v)", err, tt.want)
			}
			if h, _ := s.HeadRevision(ctx); h != r1 {
				t.Fatalf("head %d after a failed Import, want %d", h, r1)
			}
		})
	}

	now = now.Add(time.Hour) // document:exp has expired
	rev, err := s.Import(ctx, append(slices.Clone(fresh), tuple.MustParse("document:exp#viewer@user:a")))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	got, err := s.Read(ctx, rev, store.Filter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"document:b#viewer@user:b", "document:exp#viewer@user:a", "document:live#viewer@user:a", "document:z#viewer@user:b"}
	if !slices.Equal(relStrings(got), want) {
		t.Fatalf("after Import: %v, want %v", relStrings(got), want)
	}
	bySubject, err := s.Read(ctx, rev, store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "b"}}, store.Page{})
	if err != nil || !slices.Equal(relStrings(bySubject), []string{want[0], want[3]}) {
		t.Fatalf("Read by subject after Import = (%v, %v)", relStrings(bySubject), err)
	}
	var changes []store.Change
	stop := errors.New("stop")
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = s.Changes(cctx, r1, func(c store.Change) error { changes = append(changes, c); return stop })
	if len(changes) != 1 || changes[0].Revision != rev || len(changes[0].Updates) != 3 || !changes[0].Timestamp.Equal(now) {
		t.Fatalf("changes after %d: %+v, want one at %d with 3 TOUCHes at %v", r1, changes, rev, now)
	}
}

// TestStore_AttributeModel runs random attribute batches and collections
// against a model of every revision's attributes, with one-entry GC batches,
// and checks that a final collection leaves exactly the newest versions.
func TestStore_AttributeModel(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := openStore(t, path, bolt.WithClock(func() time.Time { return now }), bolt.WithGCBatch(1))
	defer s.Close()
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	objects := []tuple.Object{{Type: "document", ID: "a"}, {Type: "document", ID: "ab"}, {Type: "document", ID: "b"}, {Type: "folder", ID: "a"}}
	keys := []string{"x", "y", "z"}

	type revState struct {
		attrs   map[tuple.Object]string // as attrString renders them
		changes string
	}
	history := []revState{{attrs: map[tuple.Object]string{}}} // by revision
	render := func(oa store.ObjectAttributes) string { return attrString(oa) }
	written, collected := 0, 0 // versions with attributes
	check := func() {
		t.Helper()
		head := store.Revision(len(history) - 1)
		retained := false
		for rev := store.Revision(0); rev <= head; rev++ {
			got, err := s.ReadAttributes(ctx, rev, objects)
			if errors.Is(err, store.ErrRevisionUnavailable) && !retained {
				continue
			}
			if err != nil {
				t.Fatalf("ReadAttributes at %d: %v", rev, err)
			}
			retained = true
			want := history[rev].attrs
			if len(got) != len(want) {
				t.Fatalf("at %d: got %d objects, want %d", rev, len(got), len(want))
			}
			for o, v := range got {
				if g := render(store.ObjectAttributes{Object: o, Values: v}); g != want[o] {
					t.Fatalf("at %d: got %s, want %s", rev, g, want[o])
				}
			}
			after := pick(rng, []string{"", "a", "ab"})
			limit := rng.IntN(3)
			scanned, err := s.ScanAttributes(ctx, rev, store.AttributeFilter{Type: "document"}, after, limit)
			if err != nil {
				t.Fatalf("ScanAttributes at %d: %v", rev, err)
			}
			var wantScan []string
			for _, o := range objects {
				if w, ok := want[o]; ok && o.Type == "document" && o.ID > after && (limit == 0 || len(wantScan) < limit) {
					wantScan = append(wantScan, w)
				}
			}
			var gotScan []string
			for _, oa := range scanned {
				gotScan = append(gotScan, render(oa))
			}
			if !slices.Equal(gotScan, wantScan) {
				t.Fatalf("ScanAttributes at %d after %q limit %d = %v, want %v", rev, after, limit, gotScan, wantScan)
			}
			if rev == head {
				break
			}
			// The change stream from here reproduces every later change.
			var got2 []string
			stop := errors.New("stop")
			err = s.Changes(ctx, rev, func(c store.Change) error {
				var parts []string
				for _, oa := range c.Attributes {
					parts = append(parts, render(oa))
				}
				got2 = append(got2, strings.Join(parts, " "))
				if c.Revision >= head {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Fatalf("Changes after %d: %v", rev, err)
			}
			for i, c := range got2 {
				if want := history[int(rev)+1+i].changes; c != want {
					t.Fatalf("change %d: %s, want %s", int(rev)+1+i, c, want)
				}
			}
		}
	}

	for step := range 200 {
		now = now.Add(time.Second)
		if rng.IntN(8) == 0 {
			cutoff := now.Add(-time.Duration(rng.IntN(20)) * time.Second)
			n, err := s.GC(ctx, cutoff)
			if err != nil {
				t.Fatalf("step %d: GC: %v", step, err)
			}
			collected += n
			check()
			continue
		}
		var b store.Batch
		for range 1 + rng.IntN(3) {
			u := store.AttributeUpdate{Op: store.AttrOp(1 + rng.IntN(3)), Object: pick(rng, objects), Values: map[string]any{}}
			for _, k := range keys {
				switch rng.IntN(3) {
				case 0:
					u.Values[k] = float64(rng.IntN(3))
				case 1:
					if u.Op == store.AttrMerge {
						u.Values[k] = nil
					}
				}
			}
			b.Attributes = append(b.Attributes, u)
		}
		prev := history[len(history)-1].attrs
		changed, _, err := store.ApplyAttributeUpdates(b.Attributes, 0, func(o tuple.Object) (map[string]any, error) {
			v, ok := prev[o]
			if !ok {
				return nil, nil
			}
			var m map[string]any
			return m, json.Unmarshal([]byte(strings.SplitN(v, "=", 2)[1]), &m)
		})
		if err != nil {
			t.Fatal(err)
		}
		rev, err := s.WriteBatch(ctx, b)
		if err != nil || int(rev) != len(history) {
			t.Fatalf("step %d: WriteBatch = (%d, %v), want revision %d", step, rev, err, len(history))
		}
		next := maps.Clone(prev)
		slices.SortFunc(changed, func(a, b store.ObjectAttributes) int {
			return strings.Compare(a.Object.Type+"\x00"+a.Object.ID, b.Object.Type+"\x00"+b.Object.ID)
		})
		var parts []string
		for _, oa := range changed {
			parts = append(parts, render(oa))
			if oa.Values == nil {
				delete(next, oa.Object)
			} else {
				next[oa.Object] = render(oa)
				written++
			}
		}
		history = append(history, revState{attrs: next, changes: strings.Join(parts, " ")})
		if step%10 == 0 {
			check()
		}
	}
	check()
	n, err := s.GC(ctx, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	collected += n
	live := len(history[len(history)-1].attrs)
	if collected != written-live {
		t.Fatalf("GC removed %d attribute versions in all, want %d (%d written, %d live)", collected, written-live, written, live)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for bucket, want := range map[string]int{"attrs": live, "deadattrs": 0, "attrlog": 0} {
		if n := countKeys(t, path, bucket); n != want {
			t.Errorf("bucket %s has %d keys after the last GC, want %d", bucket, n, want)
		}
	}
}

func pick[T any](rng *mathrand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }
