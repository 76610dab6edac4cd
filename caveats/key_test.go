package caveats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

var anyMap = typ("map", typ("any"))

func TestAnalyseReads(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want map[string]reads // by parameter name; absent = not read at all
	}{
		{"caller.tenant == resource.tenant", map[string]reads{"caller": {fields: []string{"tenant"}}, "resource": {fields: []string{"tenant"}}}},
		{"has(caller.tenant) && has(resource.tenant) && caller.tenant == resource.tenant", map[string]reads{"caller": {fields: []string{"tenant"}}, "resource": {fields: []string{"tenant"}}}},
		{"caller['tenant'] == 'a' && caller.env == 'prod' && caller.env != 'x'", map[string]reads{"caller": {fields: []string{"env", "tenant"}}}},
		{"caller.groups.exists(g, g == resource.team)", map[string]reads{"caller": {fields: []string{"groups"}}, "resource": {fields: []string{"team"}}}},
		{"caller.address.city == 'Oslo'", map[string]reads{"caller": {fields: []string{"address"}}}},
		// Uses of the whole map.
		{"size(caller) > 1", map[string]reads{"caller": {whole: true}}},
		{"'tenant' in caller", map[string]reads{"caller": {whole: true}}},
		{"caller == resource", map[string]reads{"caller": {whole: true}, "resource": {whole: true}}},
		{"caller[resource.key] == 'x'", map[string]reads{"caller": {whole: true}, "resource": {fields: []string{"key"}}}},
		{"caller.tenant == 'a' || caller.all(k, k == 'x')", map[string]reads{"caller": {whole: true, fields: []string{"tenant"}}}},
		// A comprehension variable that shadows a parameter counts as a use of it.
		{"resource.tags.exists(caller, caller == 'x')", map[string]reads{"caller": {whole: true}, "resource": {fields: []string{"tags"}}}},
		{"n < 3 && caller.tenant == 'a'", map[string]reads{"caller": {fields: []string{"tenant"}}}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			params := []Param{{"caller", anyMap}, {"resource", anyMap}, {"n", typ("int")}}
			c := mustCompile(t, tc.expr, params...)
			for i, p := range params[:2] { // other parameters are keyed by value whatever the expression does
				want := tc.want[p.Name]
				if got := c.reads[i]; got.whole != want.whole || !slices.Equal(got.fields, want.fields) {
					t.Errorf("%s: reads %+v, want %+v", p.Name, got, want)
				}
			}
		})
	}
}

func TestAppendKey(t *testing.T) {
	c := mustCompile(t, "has(caller.tenant) && caller.tenant == resource.tenant && env == 'prod' && limit > 2",
		Param{"caller", anyMap}, Param{"resource", anyMap}, Param{"env", typ("string")}, Param{"limit", typ("int")})
	stored := map[string]any{"limit": 5.0}
	key := func(caller, resource, req map[string]any) (string, bool) {
		k, _, ok := c.AppendKey(nil, stored, req, &Bindings{Caller: caller, Resource: resource}, nil)
		return string(k), ok
	}
	base, ok := key(map[string]any{"tenant": "a", "sub": "u1"}, map[string]any{"tenant": "a"}, map[string]any{"env": "prod"})
	if !ok {
		t.Fatal("not keyable")
	}
	same := []struct {
		name             string
		caller, res, req map[string]any
	}{
		{"another token, same tenant", map[string]any{"tenant": "a", "sub": "u2", "iat": 12.0}, map[string]any{"tenant": "a"}, map[string]any{"env": "prod"}},
		{"unread attribute differs", map[string]any{"tenant": "a"}, map[string]any{"tenant": "a", "classification": "secret"}, map[string]any{"env": "prod", "other": []any{1.0}}},
	}
	for _, tc := range same {
		if k, ok := key(tc.caller, tc.res, tc.req); !ok || k != base {
			t.Errorf("%s: key %q (ok %v), want the base key %q", tc.name, k, ok, base)
		}
	}
	differ := []struct {
		name             string
		caller, res, req map[string]any
	}{
		{"caller tenant", map[string]any{"tenant": "b"}, map[string]any{"tenant": "a"}, map[string]any{"env": "prod"}},
		{"resource tenant", map[string]any{"tenant": "a"}, map[string]any{"tenant": "b"}, map[string]any{"env": "prod"}},
		{"caller tenant absent", map[string]any{}, map[string]any{"tenant": "a"}, map[string]any{"env": "prod"}},
		{"caller tenant null", map[string]any{"tenant": nil}, map[string]any{"tenant": "a"}, map[string]any{"env": "prod"}},
		{"caller tenant a number", map[string]any{"tenant": 1.0}, map[string]any{"tenant": "a"}, map[string]any{"env": "prod"}},
		{"no caller", nil, map[string]any{"tenant": "a"}, map[string]any{"env": "prod"}},
		{"request env", map[string]any{"tenant": "a"}, map[string]any{"tenant": "a"}, map[string]any{"env": "staging"}},
		{"request env absent", map[string]any{"tenant": "a"}, map[string]any{"tenant": "a"}, nil},
		{"string split across fields", map[string]any{"tenant": "a\x01sa"}, map[string]any{"tenant": ""}, map[string]any{"env": "prod"}},
	}
	seen := map[string]string{base: "base"}
	for _, tc := range differ {
		k, ok := key(tc.caller, tc.res, tc.req)
		if !ok {
			t.Errorf("%s: not keyable", tc.name)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%s: same key as %s", tc.name, prev)
		}
		seen[k] = tc.name
	}

	// A non-scalar field is identified by its map: equal contents, other map, other key.
	nested := func() map[string]any { return map[string]any{"tenant": []any{"a"}} }
	m1, m2 := nested(), nested()
	k1, keep, ok1 := c.AppendKey(nil, stored, nil, &Bindings{Caller: m1, Resource: m1}, nil)
	k2, _, ok2 := c.AppendKey(nil, stored, nil, &Bindings{Caller: m2, Resource: m1}, nil)
	if !ok1 || !ok2 || bytes.Equal(k1, k2) {
		t.Errorf("maps with list fields: keys %x and %x (ok %v %v), want distinct", k1, k2, ok1, ok2)
	}
	if !slices.ContainsFunc(keep, func(m map[string]any) bool { return reflect.ValueOf(m).Pointer() == reflect.ValueOf(m1).Pointer() }) ||
		!slices.ContainsFunc(keep, func(m map[string]any) bool { return reflect.ValueOf(m).Pointer() == reflect.ValueOf(stored).Pointer() }) {
		t.Errorf("keep holds %d maps, want the caller's and the stored context", len(keep))
	}
	// A non-scalar value in the request context cannot be keyed.
	if _, ok := key(map[string]any{"tenant": "a"}, map[string]any{"tenant": "a"}, map[string]any{"env": []any{"prod"}}); ok {
		t.Error("a list in the request context was keyed")
	}
}

// TestAppendKey_EqualKeysEqualResults evaluates random expressions over
// random claims, attributes and request values, and checks that any two
// evaluations with equal keys have equal results: the property a cache
// keyed by AppendKey relies on.
func TestAppendKey_EqualKeysEqualResults(t *testing.T) {
	exprs := []string{
		"has(caller.tenant) && has(resource.tenant) && caller.tenant == resource.tenant",
		"caller.tenant == resource.tenant",
		"caller.env in resource.envs",
		"resource.level <= caller.level || caller.admin == true",
		"caller['tenant'] == 'a' && n > 1",
		"size(caller) > 2",
		"resource.envs.exists(e, e == caller.env)",
		"has(resource.owner) ? resource.owner == caller.sub : n == 2",
		"'admin' in caller && caller.tenant != ''",
		"string(caller.level) == resource.tenant",
		"resource.envs.exists(caller, caller == 'prod')",
	}
	params := []Param{{"caller", anyMap}, {"resource", anyMap}, {"n", typ("int")}}
	rng := rand.New(rand.NewPCG(1, 2))
	values := []any{"a", "b", "", "prod", 1.0, 2.0, true, nil, []any{"prod", "staging"}, []any{"a"}}
	randomMap := func() map[string]any {
		if rng.IntN(8) == 0 {
			return nil
		}
		m := map[string]any{}
		for _, k := range []string{"tenant", "env", "envs", "level", "admin", "sub", "owner"} {
			if rng.IntN(3) > 0 {
				m[k] = values[rng.IntN(len(values))]
			}
		}
		return m
	}
	for _, expr := range exprs {
		c := mustCompile(t, expr, params...)
		type outcome struct {
			res Result
			err string
		}
		byKey := map[string]outcome{}
		var held [][]map[string]any // as a cache entry holds them: addresses in keys stay unique
		keyed, compared := 0, 0
		for range 3000 {
			b := &Bindings{Caller: randomMap(), Resource: randomMap()}
			req := map[string]any{}
			if rng.IntN(4) > 0 {
				req["n"] = float64(rng.IntN(3))
			}
			k, keep, ok := c.AppendKey(nil, nil, req, b, nil)
			// The same key from the maps' encoded fields.
			enc := &Bindings{Caller: b.Caller, Resource: b.Resource, CallerFields: EncodeFields(b.Caller), ResourceFields: EncodeFields(b.Resource)}
			if b.Caller == nil {
				enc.CallerFields = nil
			}
			if k2, _, ok2 := c.AppendKey(nil, nil, req, enc, nil); ok2 != ok || !bytes.Equal(k, k2) {
				t.Fatalf("%s: key from maps %x (ok %v), from encoded fields %x (ok %v); bindings %v", expr, k, ok, k2, ok2, b)
			}
			if !ok {
				continue
			}
			held = append(held, keep)
			keyed++
			res, err := c.Eval(nil, req, b)
			got := outcome{res: res}
			if err != nil {
				got = outcome{err: "error"}
			}
			if prev, seen := byKey[string(k)]; seen {
				compared++
				if !reflect.DeepEqual(prev, got) {
					t.Fatalf("%s: key %x gave %+v and %+v (bindings %v)", expr, k, prev, got, b)
				}
			}
			byKey[string(k)] = got
		}
		if keyed == 0 || compared == 0 {
			t.Fatalf("%s: %d keyed, %d compared: the test compares nothing", expr, keyed, compared)
		}
		t.Logf("%s: %d distinct keys, %d evaluations compared", expr, len(byKey), compared)
	}
}

func ExampleCaveat_AppendKey() {
	c, _ := Compile("same_tenant", "caller.tenant == resource.tenant", []Param{{"caller", anyMap}, {"resource", anyMap}})
	k1, _, _ := c.AppendKey(nil, nil, nil, &Bindings{Caller: map[string]any{"tenant": "acme", "sub": "alice"}, Resource: map[string]any{"tenant": "acme"}}, nil)
	k2, _, _ := c.AppendKey(nil, nil, nil, &Bindings{Caller: map[string]any{"tenant": "acme", "sub": "bob"}, Resource: map[string]any{"tenant": "acme", "kind": "memo"}}, nil)
	fmt.Println(bytes.Equal(k1, k2))
	// Output: true
}

// FuzzAppendKey checks, for arbitrary expressions over caller and resource
// maps and arbitrary JSON for two evaluations, that the key from the maps
// equals the key from their encoded fields, and that equal keys mean equal
// results.
func FuzzAppendKey(f *testing.F) {
	f.Add("has(caller.tenant) && caller.tenant == resource.tenant", `{"tenant":"a","sub":"x"}`, `{"tenant":"a"}`, `{"tenant":"a","sub":"y"}`, `{"tenant":"a","k":[1]}`)
	f.Add("caller['env'] in resource.envs", `{"env":"prod"}`, `{"envs":["prod"]}`, `{"env":"prod"}`, `{"envs":["staging"]}`)
	f.Add("resource.level <= caller.level", `{"level":2}`, `{"level":1}`, `{"level":2.0}`, `{"level":3}`)
	f.Add("caller.a.b == resource.c", `{"a":{"b":1}}`, `{"c":1}`, `{"a":{"b":2}}`, `{"c":1}`)
	f.Add("size(caller) == 1 && n > 0", `{"x":null}`, `{}`, `{"x":null}`, `{}`)
	params := []Param{{"caller", anyMap}, {"resource", anyMap}, {"n", typ("int")}}
	f.Fuzz(func(t *testing.T, expr, callerA, resourceA, callerB, resourceB string) {
		c, err := Compile("fuzz", expr, params)
		if err != nil {
			return
		}
		decode := func(s string) (map[string]any, bool) {
			var m map[string]any
			return m, json.Unmarshal([]byte(s), &m) == nil
		}
		ca, ok1 := decode(callerA)
		ra, ok2 := decode(resourceA)
		cb, ok3 := decode(callerB)
		rb, ok4 := decode(resourceB)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return
		}
		req := map[string]any{"n": 1.0}
		key := func(caller, resource map[string]any) []byte {
			b := &Bindings{Caller: caller, Resource: resource}
			k, _, ok := c.AppendKey(nil, nil, req, b, nil)
			if !ok {
				t.Fatalf("scalar request values not keyed")
			}
			enc := &Bindings{Caller: caller, Resource: resource, ResourceFields: EncodeFields(resource)}
			if caller != nil {
				enc.CallerFields = EncodeFields(caller)
			}
			if k2, _, _ := c.AppendKey(nil, nil, req, enc, nil); !bytes.Equal(k, k2) {
				t.Fatalf("%s: key from maps %x, from fields %x (caller %v, resource %v)", expr, k, k2, caller, resource)
			}
			return k
		}
		ka, kb := key(ca, ra), key(cb, rb)
		if !bytes.Equal(ka, kb) {
			return
		}
		outcome := func(caller, resource map[string]any) string {
			r, err := c.Eval(nil, req, &Bindings{Caller: caller, Resource: resource})
			if err != nil {
				return "error"
			}
			return fmt.Sprint(r)
		}
		if a, b := outcome(ca, ra), outcome(cb, rb); a != b {
			t.Fatalf("%s: equal keys %x, results %s and %s (A %v %v, B %v %v)", expr, ka, a, b, ca, ra, cb, rb)
		}
	})
}
