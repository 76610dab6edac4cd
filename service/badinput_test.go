package service_test

import (
	"context"
	"fmt"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/service"
)

// TestServer_BadInput checks SpiceDB's code and ErrorReason for bad input, and
// that a rejected write leaves nothing behind.
func TestServer_BadInput(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll}, service.Key{Secret: "reader", Scopes: service.ScopeCheck})
	ctx := context.Background()
	c := client(t, addr, "k")
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	touch := func(rs ...*v1.Relationship) *v1.WriteRelationshipsRequest {
		req := &v1.WriteRelationshipsRequest{}
		for _, r := range rs {
			req.Updates = append(req.Updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r})
		}
		return req
	}
	var many []*v1.Relationship
	for i := 0; i <= service.MaxUpdatesPerWrite; i++ {
		many = append(many, rel(fmt.Sprintf("document:m%d", i), "viewer", "user:a"))
	}
	tests := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason v1.ErrorReason
	}{
		{"malformed object id", func() error {
			_, err := c.WriteRelationships(ctx, touch(rel("document:bad id", "viewer", "user:a")))
			return err
		}, codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"unknown type", func() error {
			_, err := c.WriteRelationships(ctx, touch(rel("folder:x", "viewer", "user:a")))
			return err
		}, codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION},
		{"unknown relation", func() error {
			_, err := c.WriteRelationships(ctx, touch(rel("document:x", "owner", "user:a")))
			return err
		}, codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION},
		{"write to permission", func() error {
			_, err := c.WriteRelationships(ctx, touch(rel("document:x", "view", "user:a")))
			return err
		}, codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_CANNOT_UPDATE_PERMISSION},
		{"disallowed subject type", func() error {
			_, err := c.WriteRelationships(ctx, touch(rel("document:x", "banned", "group:g#member")))
			return err
		}, codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_SUBJECT_TYPE},
		{"oversized write", func() error {
			_, err := c.WriteRelationships(ctx, touch(many...))
			return err
		}, codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST},
		{"same relationship twice", func() error {
			_, err := c.WriteRelationships(ctx, touch(rel("document:x", "viewer", "user:a"), rel("document:x", "viewer", "user:a")))
			return err
		}, codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP},
		{"bad zedtoken", func() error {
			_, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
				Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: "not-a-token"}}},
				Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "x"}, Permission: "view",
				Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "a"}}})
			return err
		}, codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"schema syntax", func() error {
			_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: "definition user {"})
			return err
		}, codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_SCHEMA_PARSE_ERROR},
		{"missing key", func() error {
			_, err := client(t, addr, "").ReadSchema(ctx, &v1.ReadSchemaRequest{})
			return err
		}, codes.Unauthenticated, v1.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"wrong scope", func() error {
			_, err := client(t, addr, "reader").WriteRelationships(ctx, touch(rel("document:x", "viewer", "user:a")))
			return err
		}, codes.PermissionDenied, v1.ErrorReason_ERROR_REASON_UNSPECIFIED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
			}
			if tt.reason != v1.ErrorReason_ERROR_REASON_UNSPECIFIED && reasonOf(err) != tt.reason.String() {
				t.Fatalf("reason = %q, want %s", reasonOf(err), tt.reason)
			}
		})
	}
	// Nothing from any rejected write is visible.
	s, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
		Consistency:        &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, s.Recv); len(got) != 0 {
		t.Fatalf("rejected writes left %d relationships", len(got))
	}
}
