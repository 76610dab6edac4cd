package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func readTests() []test {
	return []test{
		{"Filters", testReadFilters},
		{"OrderByKey", testReadOrder},
		{"Paging", testReadPaging},
		{"PagingStableUnderWrites", testReadPagingStable},
		{"OldRevision", testReadOldRevision},
		{"RevisionBounds", testReadRevisionBounds},
		{"ReturnsExpired", testReadReturnsExpired},
		{"CaveatContextRoundTrip", testCaveatRoundTrip},
		{"ExpirationRoundTrip", testExpirationRoundTrip},
	}
}

// filterData is written, with some history, before the filter tests.
var filterData = []string{
	"document:1#editor@user:alice",
	"document:1#viewer@group:eng",
	"document:1#viewer@group:eng#member",
	"document:1#viewer@user:alice",
	"document:1#viewer@user:bob",
	"document:2#viewer@user:alice",
	"document:20#viewer@user:carol",
	"document:3#owner@user:alice",
	"document:A#viewer@user:alice",
	"folder:1#viewer@user:alice",
	"folder:x#parent@document:1",
	"group:eng#member@group:admins#member",
	"group:eng#member@user:bob",
}

func testReadFilters(t *testing.T, s store.Store) {
	write(t, s, touch(filterData[6:]...)...)
	write(t, s, touch("document:9#viewer@user:alice", "document:1#viewer@user:alice", "group:eng#member@user:zed")...)
	write(t, s, touch(filterData[:6]...)...)
	rev := write(t, s, del("document:9#viewer@user:alice", "group:eng#member@user:zed")...)

	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"empty", store.Filter{}, filterData},
		{"type", store.Filter{ResourceType: "folder"}, []string{"folder:1#viewer@user:alice", "folder:x#parent@document:1"}},
		{"unknown type", store.Filter{ResourceType: "nothing"}, nil},
		{"type and id", store.Filter{ResourceType: "document", ResourceIDs: []string{"2"}}, []string{"document:2#viewer@user:alice"}},
		{"type and ids unsorted with duplicates", store.Filter{ResourceType: "document", ResourceIDs: []string{"3", "2", "3", "missing"}},
			[]string{"document:2#viewer@user:alice", "document:3#owner@user:alice"}},
		{"type and missing id", store.Filter{ResourceType: "document", ResourceIDs: []string{"9"}}, nil},
		{"ids without type", store.Filter{ResourceIDs: []string{"1"}}, []string{
			"document:1#editor@user:alice", "document:1#viewer@group:eng", "document:1#viewer@group:eng#member",
			"document:1#viewer@user:alice", "document:1#viewer@user:bob", "folder:1#viewer@user:alice"}},
		{"type and prefix", store.Filter{ResourceType: "document", ResourceIDPrefix: "2"}, []string{"document:2#viewer@user:alice", "document:20#viewer@user:carol"}},
		{"prefix without type", store.Filter{ResourceIDPrefix: "x"}, []string{"folder:x#parent@document:1"}},
		{"prefix is case sensitive", store.Filter{ResourceType: "document", ResourceIDPrefix: "a"}, nil},
		{"ids and prefix", store.Filter{ResourceType: "document", ResourceIDs: []string{"1", "20"}, ResourceIDPrefix: "2"}, []string{"document:20#viewer@user:carol"}},
		{"type and relation", store.Filter{ResourceType: "document", Relation: "owner"}, []string{"document:3#owner@user:alice"}},
		{"relation without type", store.Filter{Relation: "member"}, []string{"group:eng#member@group:admins#member", "group:eng#member@user:bob"}},
		{"type, id and relation", store.Filter{ResourceType: "document", ResourceIDs: []string{"1"}, Relation: "viewer"}, []string{
			"document:1#viewer@group:eng", "document:1#viewer@group:eng#member", "document:1#viewer@user:alice", "document:1#viewer@user:bob"}},
		{"type, prefix and relation", store.Filter{ResourceType: "document", ResourceIDPrefix: "2", Relation: "viewer"}, []string{"document:2#viewer@user:alice", "document:20#viewer@user:carol"}},
		{"unknown relation", store.Filter{ResourceType: "document", Relation: "nothing"}, nil},
		{"subject type", store.Filter{Subject: &store.SubjectFilter{Type: "group"}}, []string{
			"document:1#viewer@group:eng", "document:1#viewer@group:eng#member", "group:eng#member@group:admins#member"}},
		{"subject", store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "alice"}}, []string{
			"document:1#editor@user:alice", "document:1#viewer@user:alice", "document:2#viewer@user:alice",
			"document:3#owner@user:alice", "document:A#viewer@user:alice", "folder:1#viewer@user:alice"}},
		{"subject without relation", store.Filter{Subject: &store.SubjectFilter{Type: "group", ID: "eng", Relation: ptr("")}}, []string{"document:1#viewer@group:eng"}},
		{"subject with relation", store.Filter{Subject: &store.SubjectFilter{Type: "group", ID: "eng", Relation: ptr("member")}}, []string{"document:1#viewer@group:eng#member"}},
		{"subject type and relation", store.Filter{Subject: &store.SubjectFilter{Type: "group", Relation: ptr("member")}}, []string{
			"document:1#viewer@group:eng#member", "group:eng#member@group:admins#member"}},
		{"subject id only", store.Filter{Subject: &store.SubjectFilter{ID: "bob"}}, []string{"document:1#viewer@user:bob", "group:eng#member@user:bob"}},
		{"unknown subject", store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "nobody"}}, nil},
		{"deleted subject", store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "zed"}}, nil},
		{"type and subject", store.Filter{ResourceType: "document", Subject: &store.SubjectFilter{Type: "user", ID: "bob"}}, []string{"document:1#viewer@user:bob"}},
		{"type, relation and subject", store.Filter{ResourceType: "document", Relation: "viewer", Subject: &store.SubjectFilter{Type: "user", ID: "alice"}}, []string{
			"document:1#viewer@user:alice", "document:2#viewer@user:alice", "document:A#viewer@user:alice"}},
		{"everything", store.Filter{ResourceType: "document", ResourceIDs: []string{"1", "2", "3"}, ResourceIDPrefix: "1", Relation: "viewer",
			Subject: &store.SubjectFilter{Type: "user", ID: "alice", Relation: ptr("")}}, []string{"document:1#viewer@user:alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := rels(tt.want...)
			// The expectations also pin store.Filter.Matches, which stores may use.
			for _, s := range filterData {
				r := rel(s)
				if m, in := tt.f.Matches(r), contains(tt.want, s); m != in {
					t.Fatalf("Filter.Matches(%s) = %v, want %v", s, m, in)
				}
			}
			wantRels(t, "Read", readAll(t, s, rev, tt.f), want)
			for _, limit := range []int{1, 2, 4} {
				wantRels(t, fmt.Sprintf("Read in pages of %d", limit), readPaged(t, s, rev, tt.f, limit), want)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// readPaged reads all of f at rev in pages of limit, checking page sizes.
func readPaged(t testing.TB, s store.Store, rev store.Revision, f store.Filter, limit int) []tuple.Relationship {
	t.Helper()
	var out []tuple.Relationship
	var after *tuple.Key
	for range 10000 {
		page := read(t, s, rev, f, store.Page{After: after, Limit: limit})
		if len(page) > limit {
			t.Fatalf("page with limit %d has %d relationships", limit, len(page))
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		k := page[len(page)-1].Key()
		after = &k
	}
	t.Fatalf("paging with limit %d did not end", limit)
	return nil
}

func testReadOrder(t *testing.T, s store.Store) {
	// Bytewise, field by field: "doc" < "doc2" although "doc:" > "doc2"
	// as strings; "" before any subject relation; "10" < "9" < "A" < "a".
	want := []string{
		"doc:10#viewer@user:a",
		"doc:9#viewer@user:a",
		"doc:A#viewer@user:a",
		"doc:a#viewer@user:a",
		"doc:a#viewer@user:a#member",
		"doc:a#viewer@user:b",
		"doc:a#viewer@user2:a",
		"doc:a#viewer2@user:a",
		"doc:a-b#viewer@user:a",
		"doc:a_b#viewer@user:a",
		"doc:z#viewer@user:a",
		"doc2:a#viewer@user:a",
	}
	for i := 1; i < len(want); i++ {
		if c := store.CompareKeys(rel(want[i-1]).Key(), rel(want[i]).Key()); c != -1 {
			t.Fatalf("CompareKeys(%s, %s) = %d, want -1", want[i-1], want[i], c)
		}
		if c := store.CompareKeys(rel(want[i]).Key(), rel(want[i-1]).Key()); c != 1 {
			t.Fatalf("CompareKeys(%s, %s) = %d, want 1", want[i], want[i-1], c)
		}
	}
	if c := store.CompareKeys(rel(want[3]).Key(), rel(want[3]).Key()); c != 0 {
		t.Fatalf("CompareKeys of equal keys = %d", c)
	}
	shuffled := rels(want...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	write(t, s, updates(store.OpTouch, shuffled[:5]...)...)
	rev := write(t, s, updates(store.OpTouch, shuffled[5:]...)...)
	wantRels(t, "Read order", readAll(t, s, rev, store.Filter{}), rels(want...))
	wantRels(t, "Read order for a type", readAll(t, s, rev, store.Filter{ResourceType: "doc"}), rels(want[:11]...))
	wantRels(t, "Read order for a subject", readAll(t, s, rev, store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "a"}}),
		rels(want[0], want[1], want[2], want[3], want[4], want[7], want[8], want[9], want[10], want[11]))
}

func testReadPaging(t *testing.T, s store.Store) {
	var all []tuple.Relationship
	for i := range 57 {
		all = append(all, rel(fmt.Sprintf("document:%d#%s@user:u%d", i%13, []string{"viewer", "editor"}[i%2], i)))
	}
	all = append(all, rels("folder:1#viewer@user:u1", "folder:2#viewer@user:u1")...)
	rev := write(t, s, updates(store.OpTouch, all...)...)
	all = sortByKey(all)
	filters := []struct {
		f    store.Filter
		want []tuple.Relationship
	}{
		{store.Filter{}, all},
		{store.Filter{ResourceType: "document"}, all[:57]},
		{store.Filter{ResourceType: "document", Relation: "editor"}, filterRels(all, store.Filter{ResourceType: "document", Relation: "editor"})},
		{store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "u1"}}, filterRels(all, store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "u1"}})},
	}
	for _, ft := range filters {
		for _, limit := range []int{1, 2, 3, 10, len(ft.want) - 1, len(ft.want), 100} {
			if limit <= 0 {
				continue
			}
			wantRels(t, fmt.Sprintf("%+v in pages of %d", ft.f, limit), readPaged(t, s, rev, ft.f, limit), ft.want)
		}
	}

	// After need not be a stored key.
	between := tuple.Key{Resource: tuple.Object{Type: "document", ID: "10"}, Relation: "editor", Subject: tuple.Subject{Type: "user", ID: "u0"}}
	var want []tuple.Relationship
	for _, r := range all {
		if store.CompareKeys(r.Key(), between) > 0 {
			want = append(want, r)
		}
	}
	wantRels(t, "Read after a key that is not stored", read(t, s, rev, store.Filter{}, store.Page{After: &between}), want)
	last := all[len(all)-1].Key()
	wantRels(t, "Read after the last key", read(t, s, rev, store.Filter{}, store.Page{After: &last}), nil)
	wantRels(t, "Read with limit 1", read(t, s, rev, store.Filter{}, store.Page{Limit: 1}), all[:1])
}

func filterRels(rs []tuple.Relationship, f store.Filter) []tuple.Relationship {
	var out []tuple.Relationship
	for _, r := range rs {
		if f.Matches(r) {
			out = append(out, r)
		}
	}
	return out
}

// testReadPagingStable pages at a fixed revision while other writers insert
// keys before and after the cursor and delete keys not yet read.
func testReadPagingStable(t *testing.T, s store.Store) {
	var initial []tuple.Relationship
	for i := range 60 {
		initial = append(initial, rel(fmt.Sprintf("document:%03d#viewer@user:u", i*2)))
	}
	rev := write(t, s, updates(store.OpTouch, initial...)...)
	want := readAll(t, s, rev, store.Filter{})
	wantRels(t, "initial", want, initial)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Go(func() {
		defer cancel() // never leave the reader waiting for a write
		for i := 0; ctx.Err() == nil; i++ {
			us := concat(
				touch(fmt.Sprintf("document:%03d#viewer@user:u", (i*7)%120*2+1)),
				del(fmt.Sprintf("document:%03d#viewer@user:u", (i*11)%60*2)),
				touch(fmt.Sprintf("document:%03d#viewer@user:u", (i*11+5)%60*2)))
			if _, err := s.Write(ctx, nil, us); err != nil && ctx.Err() == nil {
				t.Errorf("concurrent Write: %v", err)
				return
			}
			writes.Add(1)
		}
	})
	var got []tuple.Relationship
	var after *tuple.Key
	for {
		page := read(t, s, rev, store.Filter{ResourceType: "document"}, store.Page{After: after, Limit: 7})
		got = append(got, page...)
		if len(page) < 7 {
			break
		}
		k := page[len(page)-1].Key()
		after = &k
		// Make sure writes land between pages even on a busy machine.
		for n := writes.Load(); writes.Load() == n && ctx.Err() == nil; {
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	wg.Wait()
	wantRels(t, "pages at a fixed revision under concurrent writes", got, want)
	if head(t, s) <= rev {
		t.Fatalf("no concurrent write committed")
	}
}

func testReadOldRevision(t *testing.T, s store.Store) {
	ctx := context.Background()
	cav := withCaveat(rel("document:b#viewer@user:b"), "c", map[string]any{"v": 1.0})
	r1 := write(t, s, touch("document:a#viewer@user:a", "document:b#viewer@user:b")...)
	r2 := write(t, s, concat(del("document:a#viewer@user:a"), touch("document:c#viewer@user:c"))...)
	r3 := write(t, s, updates(store.OpTouch, cav)...)
	r4, _, _, err := s.DeleteMatching(ctx, nil, store.Filter{ResourceType: "document"}, 0)
	if err != nil {
		t.Fatalf("DeleteMatching: %v", err)
	}
	r5 := write(t, s, touch("document:a#viewer@user:a")...)
	states := []struct {
		rev  store.Revision
		want []tuple.Relationship
	}{
		{0, nil},
		{r1, rels("document:a#viewer@user:a", "document:b#viewer@user:b")},
		{r2, rels("document:b#viewer@user:b", "document:c#viewer@user:c")},
		{r3, []tuple.Relationship{cav, rel("document:c#viewer@user:c")}},
		{r4, nil},
		{r5, rels("document:a#viewer@user:a")},
	}
	for _, st := range states {
		wantRels(t, fmt.Sprintf("Read at revision %d", st.rev), readAll(t, s, st.rev, store.Filter{}), st.want)
		f := store.Filter{ResourceType: "document", Relation: "viewer", Subject: &store.SubjectFilter{Type: "user", ID: "b"}}
		wantRels(t, fmt.Sprintf("filtered Read at revision %d", st.rev), readAll(t, s, st.rev, f), filterRels(st.want, f))
	}
}

func testReadRevisionBounds(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Read(ctx, 0, store.Filter{}, store.Page{}); err != nil {
		t.Fatalf("Read at revision 0 of an empty store: %v", err)
	}
	rev := write(t, s, touch("document:1#viewer@user:a")...)
	for _, bad := range []store.Revision{rev + 1, rev + 1000, -1} {
		_, err := s.Read(ctx, bad, store.Filter{}, store.Page{})
		wantErrIs(t, fmt.Sprintf("Read at revision %d with head %d", bad, rev), err, store.ErrRevisionUnavailable)
	}
}

func testReadReturnsExpired(t *testing.T, s store.Store) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	expired := withExpiration(rel("document:1#viewer@user:a"), past)
	rev := write(t, s, updates(store.OpTouch, expired)...)
	wantRels(t, "Read of an expired relationship", readAll(t, s, rev, store.Filter{}), []tuple.Relationship{expired})
}

func testCaveatRoundTrip(t *testing.T, s store.Store) {
	ctx := map[string]any{
		"string":  "héllo ✓ \"quoted\" \\ \n",
		"number":  1.5,
		"whole":   42.0,
		"neg":     -0.000125,
		"big":     1e300,
		"precise": 0.1 + 0.2,
		"bool":    true,
		"false":   false,
		"null":    nil,
		"empty":   map[string]any{},
		"nolist":  []any{},
		"list":    []any{1.0, "two", false, nil, []any{[]any{3.0}}, map[string]any{"k": "v"}},
		"nested": map[string]any{
			"deeper": map[string]any{"deepest": []any{map[string]any{"a": 1.0, "b": []any{"x"}}}},
			"":       "empty key",
		},
	}
	with := withCaveat(rel("document:1#viewer@user:a"), "everything", ctx)
	noContext := withCaveat(rel("document:2#viewer@user:a"), "no_context", nil)
	rev := write(t, s, updates(store.OpTouch, with, noContext)...)
	got := readAll(t, s, rev, store.Filter{})
	if len(got) != 2 {
		t.Fatalf("Read returned %d relationships, want 2", len(got))
	}
	if got[0].Caveat == nil || got[0].Caveat.Name != "everything" {
		t.Fatalf("caveat = %+v, want name %q", got[0].Caveat, "everything")
	}
	if !reflect.DeepEqual(got[0].Caveat.Context, ctx) {
		t.Fatalf("caveat context did not round-trip:\n got  %#v\n want %#v", got[0].Caveat.Context, ctx)
	}
	if got[1].Caveat == nil || got[1].Caveat.Name != "no_context" || len(got[1].Caveat.Context) != 0 {
		t.Fatalf("caveat without context read back as %+v", got[1].Caveat)
	}
	cs := collectChanges(t, s, 0, rev)
	for _, u := range cs[len(cs)-1].Updates {
		if u.Relationship.Key() == with.Key() && !reflect.DeepEqual(u.Relationship.Caveat.Context, ctx) {
			t.Fatalf("caveat context in the change stream:\n got  %#v\n want %#v", u.Relationship.Caveat.Context, ctx)
		}
	}
}

func testExpirationRoundTrip(t *testing.T, s store.Store) {
	// Microsecond precision, and a non-UTC location, must survive.
	at := time.Date(2031, 7, 8, 9, 10, 11, 123456000, time.FixedZone("X", 5*3600+30*60))
	r := withExpiration(rel("document:1#viewer@user:a"), at)
	rev := write(t, s, updates(store.OpTouch, r)...)
	got := readAll(t, s, rev, store.Filter{})
	if len(got) != 1 || got[0].Expiration == nil || !got[0].Expiration.Equal(at) {
		t.Fatalf("expiration read back as %v, want %v", strs(got), at)
	}
}
