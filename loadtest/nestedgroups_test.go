package main

import (
	"context"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// TestNestedGroups_Data: the relationships are valid and distinct, their
// count follows --rels, and the same seed gives the same data.
func TestNestedGroups_Data(t *testing.T) {
	sc := nestedGroupsScenario()
	d, err := sc.Build(context.Background(), BuildParams{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Relationships); n < 115_000 || n > 125_000 {
		t.Errorf("default size: %d relationships, want about 120k (100k documents)", n)
	}
	sch, err := schema.Compile(d.Schema)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[tuple.Key]bool{}
	for _, r := range d.Relationships {
		rel := service.RelationshipFromV1(r)
		if err := sch.ValidateRelationship(rel, false); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if seen[rel.Key()] {
			t.Fatalf("%s written twice", rel)
		}
		seen[rel.Key()] = true
	}
	small, _ := sc.Build(context.Background(), BuildParams{Rels: 12_000, Seed: 1})
	if n := len(small.Relationships); n < 11_000 || n > 13_500 {
		t.Errorf("--rels 12000: %d relationships", n)
	}
	again, _ := sc.Build(context.Background(), BuildParams{Rels: 12_000, Seed: 1})
	other, _ := sc.Build(context.Background(), BuildParams{Rels: 12_000, Seed: 2})
	if !sameRels(small.Relationships, again.Relationships) {
		t.Error("the same seed gave different data")
	}
	if sameRels(small.Relationships, other.Relationships) {
		t.Error("different seeds gave the same data")
	}
}

// TestNestedGroups_Answers: in gatehouse's engine every employee's
// LookupResources is every document, reached through four levels of nested
// groups, a contractor's is empty, and the scenario's checks have the
// answers they expect.
func TestNestedGroups_Answers(t *testing.T) {
	const docs = 2000
	d := buildNestedGroups(docs, 3)
	sch, err := schema.Compile(d.Schema)
	if err != nil {
		t.Fatal(err)
	}
	rels := make([]tuple.Relationship, len(d.Relationships))
	for i, r := range d.Relationships {
		rels[i] = service.RelationshipFromV1(r)
	}
	ix := graph.NewIndex()
	if err := ix.Load(1, rels); err != nil {
		t.Fatal(err)
	}
	snap, err := ix.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for subject, want := range map[string]int{"emp7-3-11": docs, "contractor5": 0} {
		got, err := snap.LookupResources(ctx, sch, graph.LookupResourcesRequest{ResourceType: "document", Permission: "view",
			Subject: tuple.Subject{Type: "user", ID: subject}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("LookupResources for %s: %d documents, want %d", subject, len(got), want)
		}
	}
	kinds := map[v1.CheckPermissionResponse_Permissionship]int{}
	for _, q := range d.Checks {
		r, err := snap.Check(ctx, sch, graph.CheckRequest{Resource: tuple.Object{Type: q.Resource.ObjectType, ID: q.Resource.ObjectId},
			Permission: q.Permission, Subject: tuple.Subject{Type: q.Subject.Object.ObjectType, ID: q.Subject.Object.ObjectId}})
		if err != nil {
			t.Fatal(err)
		}
		got := v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION
		if r.Permissionship == graph.HasPermission {
			got = v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
		}
		if got != q.Want {
			t.Errorf("%s: %s, want %s", q, got, q.Want)
		}
		kinds[got]++
	}
	if kinds[v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION] == 0 || kinds[v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION] == 0 {
		t.Errorf("check answers %v, want both allowed and denied", kinds)
	}
}
