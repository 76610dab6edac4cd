package graph_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const groupsSchema = `
definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation viewer: user | group#member
	permission view = viewer
}`

func rels(t testing.TB, ss ...string) []tuple.Relationship {
	t.Helper()
	out := make([]tuple.Relationship, len(ss))
	for i, s := range ss {
		out[i] = tuple.MustParse(s)
	}
	return out
}

func check(t *testing.T, snap *graph.Snapshot, sch *schema.Schema, res, perm, subj string) (graph.Permissionship, error) {
	t.Helper()
	o, err := tuple.ParseObject(res)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tuple.ParseSubject(subj)
	if err != nil {
		t.Fatal(err)
	}
	r, err := snap.Check(context.Background(), sch, graph.CheckRequest{Resource: o, Permission: perm, Subject: s})
	return r.Permissionship, err
}

func TestIndex_MVCC(t *testing.T) {
	sch := schema.MustCompile(groupsSchema)
	ix := graph.NewIndex()
	if err := ix.Apply(1, []graph.Mutation{{Relationship: tuple.MustParse("document:d#viewer@user:a")}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Apply(2, []graph.Mutation{{Delete: true, Relationship: tuple.MustParse("document:d#viewer@user:a")}, {Relationship: tuple.MustParse("document:d#viewer@user:b")}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rev  graph.Revision
		subj string
		want graph.Permissionship
	}{
		{1, "user:a", graph.HasPermission},
		{1, "user:b", graph.NoPermission},
		{2, "user:a", graph.NoPermission},
		{2, "user:b", graph.HasPermission},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("rev%d/%s", tt.rev, tt.subj), func(t *testing.T) {
			snap, err := ix.Snapshot(tt.rev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := check(t, snap, sch, "document:d", "view", tt.subj)
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := ix.Snapshot(3); !errors.Is(err, graph.ErrRevisionUnavailable) {
		t.Fatalf("future revision: %v", err)
	}
	if err := ix.Apply(2, nil); !errors.Is(err, graph.ErrOutOfOrder) {
		t.Fatalf("out of order apply: %v", err)
	}
	// GC everything applied so far: revision 1 becomes unreadable, the head stays.
	if removed := ix.GC(time.Now().Add(time.Second)); removed != 1 {
		t.Fatalf("GC removed %d versions, want 1", removed)
	}
	if _, err := ix.Snapshot(1); !errors.Is(err, graph.ErrRevisionUnavailable) {
		t.Fatalf("collected revision: %v", err)
	}
	snap, _ := ix.Snapshot(0)
	if got, _ := check(t, snap, sch, "document:d", "view", "user:b"); got != graph.HasPermission {
		t.Fatalf("after GC: %v", got)
	}
	if ix.Len() != 1 {
		t.Fatalf("Len = %d", ix.Len())
	}
}

func TestCheck_CyclesTerminate(t *testing.T) {
	sch := schema.MustCompile(groupsSchema)
	ix := graph.NewIndex()
	if err := ix.Load(1, rels(t,
		"group:a#member@group:b#member", "group:b#member@group:c#member", "group:c#member@group:a#member",
		"group:c#member@user:u", "document:d#viewer@group:a#member")); err != nil {
		t.Fatal(err)
	}
	snap, _ := ix.Snapshot(0)
	if got, err := check(t, snap, sch, "document:d", "view", "user:u"); err != nil || got != graph.HasPermission {
		t.Fatalf("member through cycle: %v %v", got, err)
	}
	if got, err := check(t, snap, sch, "document:d", "view", "user:nobody"); err != nil || got != graph.NoPermission {
		t.Fatalf("non-member through cycle: %v %v", got, err)
	}
	lr, err := snap.LookupResources(context.Background(), sch, graph.LookupResourcesRequest{ResourceType: "group", Permission: "member", Subject: tuple.Subject{Type: "user", ID: "u"}})
	if err != nil || len(lr) != 3 {
		t.Fatalf("LookupResources through cycle: %v %v", lr, err)
	}
}

func TestCheck_MaxDepth(t *testing.T) {
	sch := schema.MustCompile(groupsSchema)
	ix := graph.NewIndex()
	var chain []string
	for i := 0; i < 60; i++ {
		chain = append(chain, fmt.Sprintf("group:g%d#member@group:g%d#member", i, i+1))
	}
	chain = append(chain, "group:g60#member@user:u")
	if err := ix.Load(1, rels(t, chain...)); err != nil {
		t.Fatal(err)
	}
	snap, _ := ix.Snapshot(0)
	if _, err := check(t, snap, sch, "group:g0", "member", "user:u"); !errors.Is(err, graph.ErrMaxDepth) {
		t.Fatalf("60-deep chain: err = %v, want ErrMaxDepth", err)
	}
	if got, err := check(t, snap, sch, "group:g20", "member", "user:u"); err != nil || got != graph.HasPermission {
		t.Fatalf("40-deep chain: %v %v", got, err)
	}
}

func TestCheck_Errors(t *testing.T) {
	sch := schema.MustCompile(groupsSchema)
	snap, _ := graph.NewIndex().Snapshot(0)
	var ve *schema.ValidationError
	if _, err := check(t, snap, sch, "nope:x", "view", "user:a"); !errors.As(err, &ve) || ve.Kind != schema.UnknownDefinition {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := check(t, snap, sch, "document:x", "nope", "user:a"); !errors.As(err, &ve) || ve.Kind != schema.UnknownRelation {
		t.Fatalf("unknown permission: %v", err)
	}
	if _, err := check(t, snap, sch, "document:x", "view", "user:*"); !errors.Is(err, graph.ErrWildcardSubject) {
		t.Fatalf("wildcard subject: %v", err)
	}
}

func TestCheck_ExpirationAtEvaluationTime(t *testing.T) {
	sch := schema.MustCompile("use expiration\n\ndefinition user {}\n\ndefinition document {\n\trelation viewer: user with expiration\n\tpermission view = viewer\n}")
	ix := graph.NewIndex()
	if err := ix.Load(1, rels(t, "document:d#viewer@user:a[expiration:2030-01-01T00:00:00Z]")); err != nil {
		t.Fatal(err)
	}
	snap, _ := ix.Snapshot(0)
	for _, tt := range []struct {
		now  time.Time
		want graph.Permissionship
	}{
		{time.Date(2029, 12, 31, 23, 59, 59, 0, time.UTC), graph.HasPermission},
		{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), graph.NoPermission},
	} {
		r, err := snap.Check(context.Background(), sch, graph.CheckRequest{
			Resource: tuple.Object{Type: "document", ID: "d"}, Permission: "view", Subject: tuple.Subject{Type: "user", ID: "a"},
			Context: graph.Context{Now: tt.now},
		})
		if err != nil || r.Permissionship != tt.want {
			t.Errorf("at %v: %v %v, want %v", tt.now, r.Permissionship, err, tt.want)
		}
	}
}

func TestSelf_AbsentSubject(t *testing.T) {
	sch := schema.MustCompile("use self\n\ndefinition user {\n\trelation related: user\n\tpermission me_or_related = related + self\n}")
	ix := graph.NewIndex()
	if err := ix.Load(1, rels(t, "user:bob#related@user:alice")); err != nil {
		t.Fatal(err)
	}
	snap, _ := ix.Snapshot(0)
	for _, tt := range []struct {
		res, subj string
		want      graph.Permissionship
	}{
		{"user:bob", "user:bob", graph.HasPermission},
		{"user:bob", "user:alice", graph.HasPermission},
		{"user:alice", "user:bob", graph.NoPermission},
		{"user:zed", "user:zed", graph.HasPermission},
		{"user:zed", "user:alice", graph.NoPermission},
	} {
		if got, err := check(t, snap, sch, tt.res, "me_or_related", tt.subj); err != nil || got != tt.want {
			t.Errorf("%s@%s: %v %v, want %v", tt.res, tt.subj, got, err, tt.want)
		}
	}
	lr, err := snap.LookupResources(context.Background(), sch, graph.LookupResourcesRequest{ResourceType: "user", Permission: "me_or_related", Subject: tuple.Subject{Type: "user", ID: "zed"}})
	if err != nil || len(lr) != 1 || lr[0].ID != "zed" {
		t.Fatalf("LookupResources for an absent subject: %+v %v", lr, err)
	}
	ls, err := snap.LookupSubjects(context.Background(), sch, graph.LookupSubjectsRequest{Resource: tuple.Object{Type: "user", ID: "zed"}, Permission: "me_or_related", SubjectType: "user"})
	if err != nil || len(ls) != 1 || ls[0].ID != "zed" {
		t.Fatalf("LookupSubjects on an absent resource: %+v %v", ls, err)
	}
}
