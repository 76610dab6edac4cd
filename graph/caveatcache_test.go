package graph

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func (cc *caveatCache) len() int {
	n := 0
	for i := range cc.shards {
		s := &cc.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

// TestCaveatCache_KeyedByValuesRead checks what the caveat cache shares:
// callers whose tokens differ but whose claims agree on what the caveat
// reads share one entry; a caveat that reads the whole claims map gets one
// per map; a change of the attribute it reads is a new entry and a new
// answer.
func TestCaveatCache_KeyedByValuesRead(t *testing.T) {
	t.Run("claims map", func(t *testing.T) { testCaveatCacheKeys(t, false) })
	t.Run("claims with encoded fields", func(t *testing.T) { testCaveatCacheKeys(t, true) })
}

func testCaveatCacheKeys(t *testing.T, encoded bool) {
	sch := schema.MustCompile(`
caveat same_tenant(caller map<any>, resource map<any>) {
	has(caller.tenant) && has(resource.tenant) && caller.tenant == resource.tenant
}
caveat many_claims(caller map<any>) {
	size(caller) > 2
}
definition user {}
definition document {
	relation viewer: user with same_tenant | user with many_claims
	permission view = viewer
}`)
	ix := NewIndex(WithCaveatCache(1024))
	if err := ix.Load(1, []tuple.Relationship{
		tuple.MustParse("document:d1#viewer@user:alice[same_tenant]"),
		tuple.MustParse("document:d2#viewer@user:alice[many_claims]"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := ix.LoadAttributes(1, []ObjectAttributes{{Object: tuple.Object{Type: "document", ID: "d1"}, Values: map[string]any{"tenant": "acme"}}}); err != nil {
		t.Fatal(err)
	}
	check := func(doc string, caller map[string]any, want Permissionship, entries int) {
		t.Helper()
		snap, err := ix.Snapshot(0)
		if err != nil {
			t.Fatal(err)
		}
		c := Context{Caller: caller}
		if encoded {
			c.CallerFields = caveats.EncodeFields(caller)
		}
		r, err := snap.Check(context.Background(), sch, CheckRequest{Resource: tuple.Object{Type: "document", ID: doc}, Permission: "view",
			Subject: tuple.Subject{Type: "user", ID: "alice"}, Context: c})
		if err != nil {
			t.Fatal(err)
		}
		if r.Permissionship != want {
			t.Errorf("%s for %v: %v, want %v", doc, caller, r.Permissionship, want)
		}
		if n := ix.cavCache.len(); n != entries {
			t.Errorf("%s for %v: %d cache entries, want %d", doc, caller, n, entries)
		}
	}
	check("d1", map[string]any{"tenant": "acme", "sub": "alice", "jti": "1"}, HasPermission, 1)
	check("d1", map[string]any{"tenant": "acme", "sub": "alice", "jti": "2", "iat": 17.0}, HasPermission, 1) // another token: shared
	check("d1", map[string]any{"tenant": "globex", "sub": "alice"}, NoPermission, 2)
	check("d1", map[string]any{"sub": "alice"}, NoPermission, 3)

	// The whole map is read: one entry per claims map, right each time.
	check("d2", map[string]any{"a": 1.0, "b": 2.0, "c": 3.0}, HasPermission, 4)
	check("d2", map[string]any{"a": 1.0}, NoPermission, 5)

	// The resource's tenant changes: the acme caller's answer changes.
	if err := ix.Apply(2, nil, ObjectAttributes{Object: tuple.Object{Type: "document", ID: "d1"}, Values: map[string]any{"tenant": "globex"}}); err != nil {
		t.Fatal(err)
	}
	check("d1", map[string]any{"tenant": "acme", "sub": "alice"}, NoPermission, 6)
	check("d1", map[string]any{"tenant": "globex", "sub": "bob"}, HasPermission, 7)
	check("d1", map[string]any{"tenant": "globex", "sub": "carol"}, HasPermission, 7)
}
