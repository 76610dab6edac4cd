package graph_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const tenantSchema = `
caveat same_tenant(caller map<any>, resource map<any>) {
	has(caller.tenant) && has(resource.tenant) && caller.tenant == resource.tenant
}

caveat unguarded_tenant(caller map<any>, resource map<any>) {
	caller.tenant == resource.tenant
}

caveat subject_active(subject map<any>) {
	has(subject.active) && subject.active == true
}

caveat classified(resource map<any>, clearance string) {
	has(resource.level) && resource.level <= {"public": 0, "internal": 1, "confidential": 2}[clearance]
}

definition user {}

definition document {
	relation viewer: user with same_tenant | user with unguarded_tenant | user with subject_active | user with classified
	permission view = viewer
}`

func attrs(o string, values map[string]any) graph.ObjectAttributes {
	obj, err := tuple.ParseObject(o)
	if err != nil {
		panic(err)
	}
	return graph.ObjectAttributes{Object: obj, Values: values}
}

// checkWith checks with a caller's claims and a request context.
func checkWith(t *testing.T, snap *graph.Snapshot, sch *schema.Schema, res, subj string, caller, values map[string]any) (graph.Result, error) {
	t.Helper()
	o, _ := tuple.ParseObject(res)
	s, _ := tuple.ParseSubject(subj)
	return snap.Check(context.Background(), sch, graph.CheckRequest{Resource: o, Permission: "view", Subject: s,
		Context: graph.Context{Caller: caller, Values: values}})
}

func TestAttributes_BoundIntoCaveats(t *testing.T) {
	sch := schema.MustCompile(tenantSchema)
	ix := graph.NewIndex()
	if err := ix.Load(1, rels(t,
		"document:q3#viewer@user:alice[same_tenant]",
		"document:untagged#viewer@user:alice[same_tenant]",
		"document:raw#viewer@user:alice[unguarded_tenant]",
		"document:team#viewer@user:alice[subject_active]",
		"document:team#viewer@user:bob[subject_active]",
		"document:secret#viewer@user:alice[classified]",
	)); err != nil {
		t.Fatal(err)
	}
	if err := ix.LoadAttributes(1, []graph.ObjectAttributes{
		attrs("document:q3", map[string]any{"tenant": "acme"}),
		attrs("document:raw", map[string]any{"other": true}),
		attrs("document:secret", map[string]any{"level": 2.0}),
		attrs("user:alice", map[string]any{"active": true}),
		attrs("user:bob", map[string]any{"active": false}),
	}); err != nil {
		t.Fatal(err)
	}
	snap, err := ix.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	acme := map[string]any{"tenant": "acme", "sub": "alice"}
	globex := map[string]any{"tenant": "globex", "sub": "alice"}
	tests := []struct {
		name    string
		res     string
		subj    string
		caller  map[string]any
		values  map[string]any
		want    graph.Permissionship
		missing string
	}{
		{"same tenant", "document:q3", "user:alice", acme, nil, graph.HasPermission, ""},
		{"other tenant", "document:q3", "user:alice", globex, nil, graph.NoPermission, ""},
		{"resource without tenant attribute: has() guards", "document:untagged", "user:alice", acme, nil, graph.NoPermission, ""},
		{"caller without tenant claim: has() guards", "document:q3", "user:alice", map[string]any{"sub": "alice"}, nil, graph.NoPermission, ""},
		{"no caller token: conditional on caller", "document:q3", "user:alice", nil, nil, graph.ConditionalPermission, "caller"},
		{"subject attributes", "document:team", "user:alice", nil, nil, graph.HasPermission, ""},
		{"subject attributes false", "document:team", "user:bob", nil, nil, graph.NoPermission, ""},
		{"clearance covers", "document:secret", "user:alice", nil, map[string]any{"clearance": "confidential"}, graph.HasPermission, ""},
		{"clearance below", "document:secret", "user:alice", nil, map[string]any{"clearance": "internal"}, graph.NoPermission, ""},
		{"clearance missing", "document:secret", "user:alice", nil, nil, graph.ConditionalPermission, "clearance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkWith(t, snap, sch, tt.res, tt.subj, tt.caller, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if got.Permissionship != tt.want || strings.Join(got.Missing, ",") != tt.missing {
				t.Fatalf("got %v missing %v, want %v missing %q", got.Permissionship, got.Missing, tt.want, tt.missing)
			}
		})
	}

	// An unguarded select of a missing key is an evaluation error, never a grant.
	_, err = checkWith(t, snap, sch, "document:raw", "user:alice", acme, nil)
	var ce *graph.CaveatError
	if !errors.As(err, &ce) || ce.Caveat != "unguarded_tenant" {
		t.Fatalf("unguarded missing attribute: err = %v, want a CaveatError for unguarded_tenant", err)
	}
	if !strings.Contains(err.Error(), "tenant") {
		t.Fatalf("error %q does not name the missing key", err)
	}
}

func TestAttributes_Revisioned(t *testing.T) {
	sch := schema.MustCompile(tenantSchema)
	ix := graph.NewIndex()
	if err := ix.Apply(1, []graph.Mutation{{Relationship: tuple.MustParse("document:q3#viewer@user:alice[same_tenant]")}},
		attrs("document:q3", map[string]any{"tenant": "acme"})); err != nil {
		t.Fatal(err)
	}
	// Revision 2 moves the document to another tenant; 3 removes its attributes.
	if err := ix.Apply(2, nil, attrs("document:q3", map[string]any{"tenant": "globex"})); err != nil {
		t.Fatal(err)
	}
	if err := ix.Apply(3, nil, attrs("document:q3", nil)); err != nil {
		t.Fatal(err)
	}
	acme := map[string]any{"tenant": "acme"}
	for rev, want := range map[graph.Revision]graph.Permissionship{1: graph.HasPermission, 2: graph.NoPermission, 3: graph.NoPermission} {
		snap, err := ix.Snapshot(rev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := checkWith(t, snap, sch, "document:q3", "user:alice", acme, nil)
		if err != nil || got.Permissionship != want {
			t.Errorf("at revision %d: %v, %v; want %v", rev, got.Permissionship, err, want)
		}
		wantAttrs := map[graph.Revision]string{1: "map[tenant:acme]", 2: "map[tenant:globex]", 3: "map[]"}[rev]
		if got := fmt.Sprint(snap.Attributes(tuple.Object{Type: "document", ID: "q3"})); got != wantAttrs {
			t.Errorf("Attributes at %d = %s, want %s", rev, got, wantAttrs)
		}
	}

	// GC drops the versions no retained revision can see.
	time.Sleep(5 * time.Millisecond)
	if err := ix.Apply(4, nil, attrs("document:q3", map[string]any{"tenant": "acme"})); err != nil {
		t.Fatal(err)
	}
	if n := ix.GC(time.Now()); n < 3 {
		t.Fatalf("GC removed %d versions, want at least the 3 attribute versions before revision 4", n)
	}
	if _, err := ix.Snapshot(2); !errors.Is(err, graph.ErrRevisionUnavailable) {
		t.Fatalf("Snapshot(2) after GC: %v", err)
	}
	snap, _ := ix.Snapshot(0)
	if got, err := checkWith(t, snap, sch, "document:q3", "user:alice", acme, nil); err != nil || got.Permissionship != graph.HasPermission {
		t.Fatalf("after GC: %v, %v", got.Permissionship, err)
	}
}

func TestAttributes_LookupResources(t *testing.T) {
	sch := schema.MustCompile(tenantSchema)
	ix := graph.NewIndex()
	var rs []string
	var as []graph.ObjectAttributes
	for i := range 20 {
		rs = append(rs, fmt.Sprintf("document:d%02d#viewer@user:alice[same_tenant]", i))
		tenant := "acme"
		if i%3 == 0 {
			tenant = "globex"
		}
		as = append(as, attrs(fmt.Sprintf("document:d%02d", i), map[string]any{"tenant": tenant}))
	}
	if err := ix.Load(1, rels(t, rs...)); err != nil {
		t.Fatal(err)
	}
	if err := ix.LoadAttributes(1, as); err != nil {
		t.Fatal(err)
	}
	snap, _ := ix.Snapshot(0)
	got, err := snap.LookupResources(context.Background(), sch, graph.LookupResourcesRequest{ResourceType: "document", Permission: "view",
		Subject: tuple.Subject{Type: "user", ID: "alice"}, Context: graph.Context{Caller: map[string]any{"tenant": "globex"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		if r.Permissionship == graph.HasPermission {
			ids = append(ids, r.ID)
		}
	}
	if want := "d00 d03 d06 d09 d12 d15 d18"; strings.Join(ids, " ") != want {
		t.Fatalf("LookupResources for a globex caller = %v, want %s", ids, want)
	}
}

// TestAttributes_ConcurrentCachedCaveats runs caveated checks from several
// goroutines while attributes change, so the caveat cache is read and filled
// concurrently (run with -race); every answer must match the attributes of
// the snapshot it was asked at.
func TestAttributes_ConcurrentCachedCaveats(t *testing.T) {
	sch := schema.MustCompile(tenantSchema)
	ix := graph.NewIndex(graph.WithCaveatCache(64)) // small: evictions happen too
	const docs = 50
	var rs []string
	for i := range docs {
		rs = append(rs, fmt.Sprintf("document:d%d#viewer@user:alice[same_tenant]", i))
	}
	if err := ix.Load(1, rels(t, rs...)); err != nil {
		t.Fatal(err)
	}
	tenantAt := func(rev graph.Revision, doc int) string { return fmt.Sprintf("t%d", (int(rev)+doc)%3) }
	apply := func(rev graph.Revision) {
		var as []graph.ObjectAttributes
		for d := range docs {
			as = append(as, attrs(fmt.Sprintf("document:d%d", d), map[string]any{"tenant": tenantAt(rev, d)}))
		}
		if err := ix.Apply(rev, nil, as...); err != nil {
			t.Error(err)
		}
	}
	apply(2)
	callers := []map[string]any{{"tenant": "t0"}, {"tenant": "t1"}, {"tenant": "t2"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				snap, err := ix.Snapshot(0)
				if err != nil {
					t.Error(err)
					return
				}
				d, c := (i*7+w)%docs, callers[(i+w)%3]
				got, err := checkWith(t, snap, sch, fmt.Sprintf("document:d%d", d), "user:alice", c, nil)
				if err != nil {
					t.Error(err)
					return
				}
				want := graph.NoPermission
				if tenantAt(snap.Revision(), d) == c["tenant"] {
					want = graph.HasPermission
				}
				if got.Permissionship != want {
					t.Errorf("d%d at %d for %v: %v, want %v", d, snap.Revision(), c, got.Permissionship, want)
					return
				}
			}
		}()
	}
	for rev := graph.Revision(3); rev < 40; rev++ {
		time.Sleep(time.Millisecond)
		apply(rev)
	}
	close(done)
	wg.Wait()
}
