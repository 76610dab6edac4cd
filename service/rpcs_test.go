package service_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/service"
)

func recvAll[T any](t *testing.T, recv func() (T, error)) []T {
	t.Helper()
	var out []T
	for {
		m, err := recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

func TestServer_EveryRPC(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	ctx := context.Background()
	c := client(t, addr, "k")
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	var updates []*v1.RelationshipUpdate
	for i := 0; i < 5; i++ {
		updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel(fmt.Sprintf("document:d%d", i), "viewer", "user:alice")})
	}
	updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel("document:d0", "viewer", "user:bob")})
	if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates}); err != nil {
		t.Fatal(err)
	}
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	user := func(id string) *v1.SubjectReference {
		return &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: id}}
	}
	doc := func(id string) *v1.ObjectReference { return &v1.ObjectReference{ObjectType: "document", ObjectId: id} }

	t.Run("CheckBulkPermissions", func(t *testing.T) {
		r, err := c.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Consistency: full, Items: []*v1.CheckBulkPermissionsRequestItem{
			{Resource: doc("d0"), Permission: "view", Subject: user("bob")},
			{Resource: doc("d1"), Permission: "view", Subject: user("bob")},
			{Resource: &v1.ObjectReference{ObjectType: "nope", ObjectId: "x"}, Permission: "view", Subject: user("bob")},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Pairs[0].GetItem().GetPermissionship(); got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
			t.Errorf("pair 0: %v", got)
		}
		if got := r.Pairs[1].GetItem().GetPermissionship(); got != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
			t.Errorf("pair 1: %v", got)
		}
		if e := r.Pairs[2].GetError(); e == nil || codes.Code(e.Code) != codes.FailedPrecondition {
			t.Errorf("pair 2: %v", r.Pairs[2])
		}
	})
	t.Run("LookupSubjects", func(t *testing.T) {
		s, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{Consistency: full, Resource: doc("d0"), Permission: "view", SubjectObjectType: "user"})
		if err != nil {
			t.Fatal(err)
		}
		got := recvAll(t, s.Recv)
		if len(got) != 2 || got[0].Subject.SubjectObjectId != "alice" || got[1].Subject.SubjectObjectId != "bob" {
			t.Fatalf("LookupSubjects = %v", got)
		}
	})
	t.Run("LookupResourcesPaging", func(t *testing.T) {
		var ids []string
		var cursor *v1.Cursor
		for page := 0; page < 10; page++ {
			s, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{Consistency: full, ResourceObjectType: "document", Permission: "view",
				Subject: user("alice"), OptionalLimit: 2, OptionalCursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			got := recvAll(t, s.Recv)
			if len(got) == 0 {
				break
			}
			for _, r := range got {
				ids = append(ids, r.ResourceObjectId)
			}
			cursor = got[len(got)-1].AfterResultCursor
		}
		if fmt.Sprint(ids) != "[d0 d1 d2 d3 d4]" {
			t.Fatalf("paged LookupResources = %v", ids)
		}
	})
	t.Run("ReadRelationships", func(t *testing.T) {
		s, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{Consistency: full, RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "d0"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := recvAll(t, s.Recv); len(got) != 2 {
			t.Fatalf("ReadRelationships = %d results", len(got))
		}
	})
	t.Run("ExpandPermissionTree", func(t *testing.T) {
		r, err := c.ExpandPermissionTree(ctx, &v1.ExpandPermissionTreeRequest{Consistency: full, Resource: doc("d0"), Permission: "view"})
		if err != nil {
			t.Fatal(err)
		}
		in := r.TreeRoot.GetIntermediate()
		if in == nil || in.Operation != v1.AlgebraicSubjectSet_OPERATION_EXCLUSION || len(in.Children[0].GetLeaf().GetSubjects()) != 2 {
			t.Fatalf("tree = %v", r.TreeRoot)
		}
	})
	t.Run("DeleteRelationships", func(t *testing.T) {
		_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}, OptionalLimit: 2})
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("over-limit transactional delete: %v", err)
		}
		r, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "d0"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.RelationshipsDeletedCount != 2 {
			t.Fatalf("deleted %d", r.RelationshipsDeletedCount)
		}
		chk, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: r.DeletedAt}},
			Resource: doc("d1"), Permission: "view", Subject: user("alice")})
		if err != nil || chk.Permissionship != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
			t.Fatalf("over-limit delete must have deleted nothing: %v %v", chk, err)
		}
	})
	t.Run("Limits", func(t *testing.T) {
		var many []*v1.RelationshipUpdate
		for i := 0; i <= service.MaxUpdatesPerWrite; i++ {
			many = append(many, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel(fmt.Sprintf("document:x%d", i), "viewer", "user:alice")})
		}
		if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: many}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("1001 updates: %v", err)
		}
		_, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: "garbage"}}},
			Resource: doc("d1"), Permission: "view", Subject: user("alice")})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("bad zedtoken: %v", err)
		}
		_, err = c.CheckPermission(ctx, &v1.CheckPermissionRequest{Resource: doc("d1"), Permission: "view", Subject: user("*")})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("wildcard subject: %v", err)
		}
	})
}
