package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func attributeTests() []test {
	return []test{
		{"SetReadRoundTrip", testAttrRoundTrip},
		{"Merge", testAttrMerge},
		{"DeleteAndEmpty", testAttrDelete},
		{"InOrderWithinBatch", testAttrInOrder},
		{"Preconditions", testAttrPreconditions},
		{"SizeLimit", testAttrSizeLimit},
		{"InvalidUpdate", testAttrInvalid},
		{"AtomicWithRelationships", testAttrAtomicWithRelationships},
		{"Changes", testAttrChanges},
		{"Snapshot", testAttrSnapshot},
		{"Scan", testAttrScan},
		{"History", testAttrHistory},
		{"GC", testAttrGC},
		{"DeepCopy", testAttrDeepCopy},
	}
}

func obj(s string) tuple.Object {
	o, err := tuple.ParseObject(s)
	if err != nil {
		panic(err)
	}
	return o
}

func attrSet(o string, values map[string]any) store.AttributeUpdate {
	return store.AttributeUpdate{Op: store.AttrSet, Object: obj(o), Values: values}
}

func attrMerge(o string, values map[string]any) store.AttributeUpdate {
	return store.AttributeUpdate{Op: store.AttrMerge, Object: obj(o), Values: values}
}

func attrDelete(o string) store.AttributeUpdate {
	return store.AttributeUpdate{Op: store.AttrDelete, Object: obj(o)}
}

func writeBatch(t testing.TB, s store.Store, b store.Batch) store.Revision {
	t.Helper()
	rev, err := s.WriteBatch(context.Background(), b)
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	return rev
}

func writeAttrs(t testing.TB, s store.Store, us ...store.AttributeUpdate) store.Revision {
	t.Helper()
	return writeBatch(t, s, store.Batch{Attributes: us})
}

// attrsAt reads the attributes of the named objects at rev, rendered as JSON
// per object ("-" for none), so that comparisons show every difference.
func attrsAt(t testing.TB, s store.Store, rev store.Revision, objects ...string) string {
	t.Helper()
	objs := make([]tuple.Object, len(objects))
	for i, o := range objects {
		objs[i] = obj(o)
	}
	got, err := s.ReadAttributes(context.Background(), rev, objs)
	if err != nil {
		t.Fatalf("ReadAttributes(rev %d, %v): %v", rev, objects, err)
	}
	parts := make([]string, len(objects))
	for i, o := range objs {
		v, ok := got[o]
		switch {
		case !ok:
			parts[i] = o.String() + "=-"
		case len(v) == 0:
			parts[i] = o.String() + "=EMPTY" // a store must not return empty attributes
		default:
			parts[i] = o.String() + "=" + jsonString(v)
		}
	}
	if len(got) > len(objects) {
		parts = append(parts, fmt.Sprintf("(and %d objects not asked for)", len(got)-len(objects)))
	}
	return strings.Join(parts, " ")
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable %v", v)
	}
	return string(b)
}

func wantAttrs(t testing.TB, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s:\n got  %s\n want %s", what, got, want)
	}
}

func testAttrRoundTrip(t *testing.T, s store.Store) {
	values := map[string]any{
		"tenant": "acme", "level": 2.5, "prod": true, "none": nil,
		"envs":  []any{"prod", "staging", 1.0, nil, []any{}},
		"owner": map[string]any{"team": "payments", "ids": []any{"a", "b"}, "deep": map[string]any{"x": -1e-7}},
	}
	before := write(t, s, touch("document:0#viewer@user:a")...)
	rev := writeAttrs(t, s, attrSet("document:q3", values))
	if rev <= before {
		t.Fatalf("WriteBatch returned revision %d, want > %d", rev, before)
	}
	wantHead(t, s, rev)
	got, err := s.ReadAttributes(context.Background(), rev, []tuple.Object{obj("document:q3"), obj("document:other")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[tuple.Object]map[string]any{obj("document:q3"): values}) {
		t.Fatalf("ReadAttributes = %#v, want exactly %#v", got, values)
	}
	wantAttrs(t, "attributes before the write", attrsAt(t, s, before, "document:q3"), "document:q3=-")
	// Another type with the same ID is another object.
	wantAttrs(t, "same ID, other type", attrsAt(t, s, rev, "folder:q3"), "folder:q3=-")
}

func testAttrMerge(t *testing.T, s store.Store) {
	writeAttrs(t, s, attrMerge("document:1", map[string]any{"tenant": "acme", "env": "prod"}))
	rev := writeAttrs(t, s, attrMerge("document:1", map[string]any{"env": nil, "classification": "internal", "tenant": "globex"}))
	wantAttrs(t, "after merge", attrsAt(t, s, rev, "document:1"), `document:1={"classification":"internal","tenant":"globex"}`)
	rev = writeAttrs(t, s, attrMerge("document:1", map[string]any{"classification": nil, "tenant": nil}))
	wantAttrs(t, "after merging every key away", attrsAt(t, s, rev, "document:1"), "document:1=-")
	rev = writeAttrs(t, s, attrMerge("document:2", map[string]any{"gone": nil}))
	wantAttrs(t, "merge of only removals into nothing", attrsAt(t, s, rev, "document:2"), "document:2=-")
}

func testAttrDelete(t *testing.T, s store.Store) {
	writeAttrs(t, s, attrSet("document:1", map[string]any{"a": 1.0}), attrSet("document:2", map[string]any{"b": 2.0}))
	rev := writeAttrs(t, s, attrDelete("document:1"), attrSet("document:2", map[string]any{}))
	wantAttrs(t, "after delete and set-to-empty", attrsAt(t, s, rev, "document:1", "document:2"), "document:1=- document:2=-")
	again := writeAttrs(t, s, attrDelete("document:1"))
	if again <= rev {
		t.Fatalf("deleting absent attributes returned revision %d, want a new revision > %d", again, rev)
	}
}

func testAttrInOrder(t *testing.T, s store.Store) {
	rev := writeAttrs(t, s,
		attrSet("document:1", map[string]any{"a": 1.0, "b": 2.0}),
		attrMerge("document:1", map[string]any{"b": nil, "c": 3.0}),
		attrDelete("document:2"),
		attrMerge("document:2", map[string]any{"z": "last"}),
	)
	wantAttrs(t, "after a batch naming objects twice", attrsAt(t, s, rev, "document:1", "document:2"), `document:1={"a":1,"c":3} document:2={"z":"last"}`)
	cs := collectChanges(t, s, rev-1, rev)
	if got := describeAttrChange(cs[len(cs)-1]); got != `document:1={"a":1,"c":3} document:2={"z":"last"}` {
		t.Fatalf("change = %s, want each object once with its final attributes", got)
	}
}

func describeAttrChange(c store.Change) string {
	parts := make([]string, len(c.Attributes))
	for i, oa := range c.Attributes {
		if oa.Values == nil {
			parts[i] = oa.Object.String() + "=-"
		} else {
			parts[i] = oa.Object.String() + "=" + jsonString(oa.Values)
		}
	}
	return strings.Join(parts, " ")
}

func testAttrPreconditions(t *testing.T, s store.Store) {
	rev := writeAttrs(t, s, attrSet("document:1", map[string]any{"tenant": "acme", "n": 1.0, "tags": []any{"x"}}))
	pre := func(o string, c store.AttrCondition, match map[string]any) store.AttributePrecondition {
		return store.AttributePrecondition{Object: obj(o), Condition: c, Match: match}
	}
	tests := []struct {
		name  string
		pre   store.AttributePrecondition
		holds bool
	}{
		{"must exist, exists", pre("document:1", store.AttrMustExist, nil), true},
		{"must exist, absent", pre("document:2", store.AttrMustExist, nil), false},
		{"must not exist, absent", pre("document:2", store.AttrMustNotExist, nil), true},
		{"must not exist, exists", pre("document:1", store.AttrMustNotExist, nil), false},
		{"must match, equal", pre("document:1", store.AttrMustMatch, map[string]any{"tenant": "acme", "tags": []any{"x"}}), true},
		{"must match, number 1 as int", pre("document:1", store.AttrMustMatch, map[string]any{"n": 1}), true},
		{"must match, different value", pre("document:1", store.AttrMustMatch, map[string]any{"tenant": "globex"}), false},
		{"must match, missing key", pre("document:1", store.AttrMustMatch, map[string]any{"env": "prod"}), false},
		{"must match, absent object", pre("document:2", store.AttrMustMatch, map[string]any{"tenant": "acme"}), false},
	}
	for i, tt := range tests {
		head := head(t, s)
		next, err := s.WriteBatch(context.Background(), store.Batch{
			AttributePreconditions: []store.AttributePrecondition{tt.pre},
			Updates:                touch(fmt.Sprintf("document:pre%d#viewer@user:a", i)),
			Attributes:             []store.AttributeUpdate{attrMerge("document:1", map[string]any{"seen": tt.name})},
		})
		if tt.holds {
			if err != nil {
				t.Fatalf("%s: WriteBatch: %v", tt.name, err)
			}
			continue
		}
		var pe *store.AttributePreconditionError
		if !errors.As(err, &pe) || !errors.Is(err, store.ErrPreconditionFailed) {
			t.Fatalf("%s: error = %v (%T), want *store.AttributePreconditionError wrapping ErrPreconditionFailed (revision %d)", tt.name, err, err, next)
		}
		if pe.Precondition.Object != tt.pre.Object {
			t.Fatalf("%s: error names %v, want %v", tt.name, pe.Precondition.Object, tt.pre.Object)
		}
		wantHead(t, s, head)
	}
	// Preconditions see the state before the batch's own mutations.
	_, err := s.WriteBatch(context.Background(), store.Batch{
		AttributePreconditions: []store.AttributePrecondition{pre("document:3", store.AttrMustExist, nil)},
		Attributes:             []store.AttributeUpdate{attrSet("document:3", map[string]any{"a": 1.0})},
	})
	wantErrIs(t, "precondition on an object the batch itself creates", err, store.ErrPreconditionFailed)
	_ = rev
}

func testAttrSizeLimit(t *testing.T, s store.Store) {
	big := strings.Repeat("x", store.DefaultMaxAttributeBytes)
	rev := writeAttrs(t, s, attrSet("document:1", map[string]any{"a": "small"}))
	_, err := s.WriteBatch(context.Background(), store.Batch{
		Updates:    touch("document:9#viewer@user:a"),
		Attributes: []store.AttributeUpdate{attrSet("document:2", map[string]any{"ok": 1.0}), attrSet("document:1", map[string]any{"a": big})},
	})
	var tl *store.AttributesTooLargeError
	if !errors.As(err, &tl) || tl.Object != obj("document:1") || tl.Limit != store.DefaultMaxAttributeBytes || tl.Size <= tl.Limit {
		t.Fatalf("oversized attributes: error = %v (%T), want *store.AttributesTooLargeError for document:1 with the default limit", err, err)
	}
	wantHead(t, s, rev)
	wantAttrs(t, "after a refused batch", attrsAt(t, s, rev, "document:1", "document:2"), `document:1={"a":"small"} document:2=-`)
	wantRels(t, "relationships after a refused batch", readHead(t, s), nil)

	// The limit applies to the merged result, and the batch may set its own.
	half := strings.Repeat("y", 60)
	writeBatch(t, s, store.Batch{MaxAttributeBytes: 100, Attributes: []store.AttributeUpdate{attrSet("document:3", map[string]any{"a": half})}})
	_, err = s.WriteBatch(context.Background(), store.Batch{MaxAttributeBytes: 100, Attributes: []store.AttributeUpdate{attrMerge("document:3", map[string]any{"b": half})}})
	wantErrIs(t, "merge past a batch limit of 100 bytes", err, store.ErrAttributesTooLarge)
}

func testAttrInvalid(t *testing.T, s store.Store) {
	_, err := s.WriteBatch(context.Background(), store.Batch{Attributes: []store.AttributeUpdate{{Op: store.AttrOp(99), Object: obj("document:1")}}})
	wantErrIs(t, "unknown attribute operation", err, store.ErrInvalidUpdate)
	_, err = s.WriteBatch(context.Background(), store.Batch{AttributePreconditions: []store.AttributePrecondition{{Object: obj("document:1"), Condition: store.AttrCondition(99)}}})
	wantErrIs(t, "unknown attribute condition", err, store.ErrInvalidUpdate)
	_, err = s.WriteBatch(context.Background(), store.Batch{Attributes: []store.AttributeUpdate{attrSet("document:1", map[string]any{"f": func() {}})}})
	wantErrIs(t, "a value JSON cannot hold", err, store.ErrInvalidUpdate)
	wantHead(t, s, 0)
}

func testAttrAtomicWithRelationships(t *testing.T, s store.Store) {
	before := write(t, s, create("document:1#viewer@user:a")...)
	_, err := s.WriteBatch(context.Background(), store.Batch{
		Updates:    create("document:1#viewer@user:a"),
		Attributes: []store.AttributeUpdate{attrSet("document:1", map[string]any{"tenant": "acme"})},
	})
	wantErrIs(t, "batch whose CREATE fails", err, store.ErrAlreadyExists)
	wantAttrs(t, "attributes of a failed batch", attrsAt(t, s, before, "document:1"), "document:1=-")

	rev := writeBatch(t, s, store.Batch{
		Updates:    touch("document:2#viewer@user:b"),
		Attributes: []store.AttributeUpdate{attrSet("document:2", map[string]any{"tenant": "acme"}), attrSet("user:b", map[string]any{"tenant": "acme"})},
	})
	wantAttrs(t, "attributes at the batch", attrsAt(t, s, rev, "document:2", "user:b"), `document:2={"tenant":"acme"} user:b={"tenant":"acme"}`)
	wantAttrs(t, "attributes before the batch", attrsAt(t, s, before, "document:2", "user:b"), "document:2=- user:b=-")
	wantRels(t, "relationships before the batch", readAll(t, s, before, store.Filter{}), rels("document:1#viewer@user:a"))
	cs := collectChanges(t, s, before, rev)
	if len(cs) != 1 || len(cs[0].Updates) != 1 || describeAttrChange(cs[0]) != `document:2={"tenant":"acme"} user:b={"tenant":"acme"}` {
		t.Fatalf("changes = %+v, want one change with the relationship and both objects' attributes", cs)
	}
}

func testAttrChanges(t *testing.T, s store.Store) {
	r1 := writeAttrs(t, s, attrSet("document:1", map[string]any{"a": 1.0}), attrSet("document:0", map[string]any{"z": true}))
	r2 := writeAttrs(t, s, attrMerge("document:1", map[string]any{"b": 2.0}))
	r3 := writeAttrs(t, s, attrDelete("document:1"), attrDelete("document:never"))
	r4 := write(t, s, touch("document:5#viewer@user:a")...)
	cs := collectChanges(t, s, 0, r4)
	want := map[store.Revision]string{
		r1: `document:0={"z":true} document:1={"a":1}`,
		r2: `document:1={"a":1,"b":2}`,
		r3: `document:1=-`,
		r4: ``,
	}
	if len(cs) != 4 {
		t.Fatalf("got %d changes, want 4", len(cs))
	}
	for _, c := range cs {
		if got := describeAttrChange(c); got != want[c.Revision] {
			t.Errorf("change at %d: attributes %s, want %s", c.Revision, got, want[c.Revision])
		}
	}
}

func testAttrSnapshot(t *testing.T, s store.Store) {
	writeBatch(t, s, store.Batch{Updates: touch("document:1#viewer@user:a"), Attributes: []store.AttributeUpdate{
		attrSet("document:1", map[string]any{"a": 1.0}), attrSet("user:a", map[string]any{"b": "x"}), attrSet("document:2", map[string]any{"c": 3.0}),
	}})
	head := writeAttrs(t, s, attrDelete("document:2"))
	var rels []tuple.Relationship
	got := map[tuple.Object]map[string]any{}
	rev, err := s.Snapshot(context.Background(), func(r tuple.Relationship) error { rels = append(rels, r); return nil },
		func(oa store.ObjectAttributes) error {
			if _, dup := got[oa.Object]; dup {
				return fmt.Errorf("%s delivered twice", oa.Object)
			}
			got[oa.Object] = oa.Values
			return nil
		})
	if err != nil || rev != head {
		t.Fatalf("Snapshot = %d, %v; want %d", rev, err, head)
	}
	want := map[tuple.Object]map[string]any{obj("document:1"): {"a": 1.0}, obj("user:a"): {"b": "x"}}
	if !reflect.DeepEqual(got, want) || len(rels) != 1 {
		t.Fatalf("Snapshot attributes = %v (and %d relationships), want %v and 1", got, len(rels), want)
	}
	stop := errors.New("stop")
	if _, err := s.Snapshot(context.Background(), func(tuple.Relationship) error { return nil }, func(store.ObjectAttributes) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Snapshot with a failing attribute callback: %v, want its error", err)
	}
}

func testAttrScan(t *testing.T, s store.Store) {
	old := writeAttrs(t, s,
		attrSet("document:b", map[string]any{"n": 2.0}), attrSet("document:a", map[string]any{"n": 1.0}),
		attrSet("document:ab", map[string]any{"n": 3.0}), attrSet("document:B", map[string]any{"n": 4.0}),
		attrSet("folder:a", map[string]any{"n": 5.0}))
	rev := writeAttrs(t, s, attrDelete("document:b"), attrSet("document:c", map[string]any{"n": 6.0}))
	ids := func(oas []store.ObjectAttributes) string {
		var out []string
		for _, oa := range oas {
			out = append(out, oa.Object.String()+"="+jsonString(oa.Values))
		}
		return strings.Join(out, " ")
	}
	scan := func(rev store.Revision, f store.AttributeFilter, after string, limit int) string {
		t.Helper()
		got, err := s.ScanAttributes(context.Background(), rev, f, after, limit)
		if err != nil {
			t.Fatalf("ScanAttributes(%d, %+v, %q, %d): %v", rev, f, after, limit, err)
		}
		return ids(got)
	}
	tests := []struct {
		name  string
		rev   store.Revision
		f     store.AttributeFilter
		after string
		limit int
		want  string
	}{
		{"type at head", rev, store.AttributeFilter{Type: "document"}, "", 0, `document:B={"n":4} document:a={"n":1} document:ab={"n":3} document:c={"n":6}`},
		{"type at an older revision", old, store.AttributeFilter{Type: "document"}, "", 0, `document:B={"n":4} document:a={"n":1} document:ab={"n":3} document:b={"n":2}`},
		{"prefix", rev, store.AttributeFilter{Type: "document", IDPrefix: "a"}, "", 0, `document:a={"n":1} document:ab={"n":3}`},
		{"page", rev, store.AttributeFilter{Type: "document"}, "B", 2, `document:a={"n":1} document:ab={"n":3}`},
		{"last page", rev, store.AttributeFilter{Type: "document"}, "ab", 2, `document:c={"n":6}`},
		{"other type", rev, store.AttributeFilter{Type: "folder"}, "", 0, `folder:a={"n":5}`},
		{"no such type", rev, store.AttributeFilter{Type: "user"}, "", 0, ``},
	}
	for _, tt := range tests {
		if got := scan(tt.rev, tt.f, tt.after, tt.limit); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func testAttrHistory(t *testing.T, s store.Store) {
	r1 := writeAttrs(t, s, attrSet("document:1", map[string]any{"v": 1.0}))
	r2 := writeAttrs(t, s, attrSet("document:1", map[string]any{"v": 2.0}))
	r3 := writeAttrs(t, s, attrDelete("document:1"))
	r4 := writeAttrs(t, s, attrSet("document:1", map[string]any{"v": 4.0}))
	for rev, want := range map[store.Revision]string{r1 - 1: "-", r1: `{"v":1}`, r2: `{"v":2}`, r3: "-", r4: `{"v":4}`} {
		wantAttrs(t, fmt.Sprintf("at revision %d", rev), attrsAt(t, s, rev, "document:1"), "document:1="+want)
	}
	if _, err := s.ReadAttributes(context.Background(), r4+1, []tuple.Object{obj("document:1")}); !errors.Is(err, store.ErrRevisionUnavailable) {
		t.Fatalf("ReadAttributes past the head: %v, want ErrRevisionUnavailable", err)
	}
}

func testAttrGC(t *testing.T, s store.Store) {
	r1 := writeAttrs(t, s, attrSet("document:1", map[string]any{"v": 1.0}), attrSet("document:2", map[string]any{"v": 1.0}))
	writeAttrs(t, s, attrSet("document:1", map[string]any{"v": 2.0}), attrDelete("document:2"))
	sleepTick()
	cutoff := time.Now()
	sleepTick()
	r3 := write(t, s, touch("document:x#viewer@user:a")...)
	n, err := s.GC(context.Background(), cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("GC removed %d versions, want 2 (the replaced and the deleted attribute versions)", n)
	}
	if _, err := s.ReadAttributes(context.Background(), r1, []tuple.Object{obj("document:1")}); !errors.Is(err, store.ErrRevisionUnavailable) {
		t.Fatalf("ReadAttributes before the GC cutoff: %v, want ErrRevisionUnavailable", err)
	}
	wantAttrs(t, "after GC", attrsAt(t, s, r3, "document:1", "document:2"), `document:1={"v":2} document:2=-`)
}

func testAttrDeepCopy(t *testing.T, s store.Store) {
	nested := map[string]any{"team": "a"}
	list := []any{"x"}
	in := map[string]any{"owner": nested, "tags": list}
	rev := writeAttrs(t, s, attrSet("document:1", in))
	nested["team"] = "mutated"
	list[0] = "mutated"
	in["extra"] = true
	got, err := s.ReadAttributes(context.Background(), rev, []tuple.Object{obj("document:1")})
	if err != nil {
		t.Fatal(err)
	}
	got[obj("document:1")]["owner"].(map[string]any)["team"] = "mutated by reader"
	wantAttrs(t, "after mutating what was written and what was read", attrsAt(t, s, rev, "document:1"), `document:1={"owner":{"team":"a"},"tags":["x"]}`)
}
