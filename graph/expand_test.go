package graph_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func TestExpand_Tree(t *testing.T) {
	sch := schema.MustCompile(`
definition user {}
definition group {
	relation member: user | group#member
}
definition folder {
	relation viewer: user
}
definition document {
	relation parent: folder
	relation viewer: user | group#member
	relation banned: user
	permission view = (viewer + parent->viewer) - banned
}`)
	ix := graph.NewIndex()
	var rels []tuple.Relationship
	for _, s := range []string{
		"document:d#parent@folder:f", "document:d#viewer@user:a", "document:d#viewer@group:g#member",
		"document:d#banned@user:b", "folder:f#viewer@user:c", "group:g#member@user:z",
	} {
		rels = append(rels, tuple.MustParse(s))
	}
	if err := ix.Load(1, rels); err != nil {
		t.Fatal(err)
	}
	snap, _ := ix.Snapshot(0)
	tree, err := snap.Expand(context.Background(), sch, tuple.Object{Type: "document", ID: "d"}, "view", graph.Context{})
	if err != nil {
		t.Fatal(err)
	}
	if tree.Kind != graph.ExpandExclusion || tree.Relation != "view" || len(tree.Children) != 2 {
		t.Fatalf("root = %+v", tree)
	}
	union := tree.Children[0]
	if union.Kind != graph.ExpandUnion || len(union.Children) != 2 {
		t.Fatalf("base = %+v", union)
	}
	viewers := union.Children[0]
	if viewers.Kind != graph.ExpandLeaf || viewers.Relation != "viewer" || len(viewers.Subjects) != 2 {
		t.Fatalf("viewer leaf = %+v", viewers)
	}
	arrow := union.Children[1]
	if len(arrow.Children) != 1 || arrow.Children[0].Object.ID != "f" || arrow.Children[0].Subjects[0].Subject.ID != "c" {
		t.Fatalf("arrow = %+v", arrow)
	}
	banned := tree.Children[1]
	if len(banned.Subjects) != 1 || banned.Subjects[0].Subject.ID != "b" {
		t.Fatalf("banned = %+v", banned)
	}
}
