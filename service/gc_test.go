package service_test

import (
	"context"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/service"
)

func TestServer_GCWindow(t *testing.T) {
	addr := startServerWith(t, service.Config{Keys: []service.Key{{Secret: "k", Scopes: service.ScopeAll}}, GCWindow: 200 * time.Millisecond})
	c := client(t, addr, "k")
	ctx := context.Background()
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	w, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel("document:d", "viewer", "user:a")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := &v1.CheckPermissionRequest{Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: w.WrittenAt}},
		Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "d"}, Permission: "view",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "a"}}}
	if r, err := c.CheckPermission(ctx, req); err != nil || r.Permissionship != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Fatalf("at the exact snapshot: %v %v", r, err)
	}
	if _, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.CheckPermission(ctx, req)
		if status.Code(err) == codes.FailedPrecondition {
			return // the old revision left the window
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision still readable long past the GC window: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
