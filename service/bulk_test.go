package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/service"
)

func importRels(ctx context.Context, c *authzed.Client, batches ...[]*v1.Relationship) (*v1.ImportBulkRelationshipsResponse, error) {
	s, err := c.ImportBulkRelationships(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range batches {
		if err := s.Send(&v1.ImportBulkRelationshipsRequest{Relationships: b}); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server failed the call; CloseAndRecv reports why
			}
			return nil, err
		}
	}
	return s.CloseAndRecv()
}

func exportAll(t *testing.T, ctx context.Context, c *authzed.Client, req *v1.ExportBulkRelationshipsRequest) ([]*v1.ExportBulkRelationshipsResponse, error) {
	t.Helper()
	s, err := c.ExportBulkRelationships(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*v1.ExportBulkRelationshipsResponse
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func relStrings(rs []*v1.Relationship) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s:%s#%s@%s:%s", r.Resource.ObjectType, r.Resource.ObjectId, r.Relation, r.Subject.Object.ObjectType, r.Subject.Object.ObjectId)
		if r.Subject.OptionalRelation != "" {
			out[i] += "#" + r.Subject.OptionalRelation
		}
	}
	return out
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}

func TestImportBulkRelationships(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll}, service.Key{Secret: "ro", Scopes: service.ScopeCheck})
	ctx := context.Background()
	c := client(t, addr, "k")
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	count := func(t *testing.T) int {
		t.Helper()
		got, err := exportAll(t, ctx, c, &v1.ExportBulkRelationshipsRequest{Consistency: full})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, b := range got {
			n += len(b.Relationships)
		}
		return n
	}

	t.Run("loads every batch", func(t *testing.T) {
		r, err := importRels(ctx, c,
			[]*v1.Relationship{rel("document:a", "viewer", "user:alice"), rel("document:b", "viewer", "group:eng#member")},
			[]*v1.Relationship{rel("group:eng", "member", "user:bob")},
		)
		if err != nil {
			t.Fatal(err)
		}
		if r.NumLoaded != 3 {
			t.Fatalf("NumLoaded = %d, want 3", r.NumLoaded)
		}
		chk, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: full,
			Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "b"}, Permission: "view",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "bob"}}})
		if err != nil || chk.Permissionship != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
			t.Fatalf("imported relationships not visible: %v %v", chk, err)
		}
	})

	tests := []struct {
		name   string
		rels   [][]*v1.Relationship
		code   codes.Code
		reason v1.ErrorReason
	}{
		{"existing relationship", [][]*v1.Relationship{{rel("document:new1", "viewer", "user:x")}, {rel("document:a", "viewer", "user:alice")}},
			codes.AlreadyExists, v1.ErrorReason_ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP},
		{"duplicate within the import", [][]*v1.Relationship{{rel("document:new2", "viewer", "user:x")}, {rel("document:new2", "viewer", "user:x")}},
			codes.AlreadyExists, v1.ErrorReason_ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP},
		{"unknown definition", [][]*v1.Relationship{{rel("document:new3", "viewer", "user:x"), rel("folder:f", "viewer", "user:x")}},
			codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION},
		{"write to permission", [][]*v1.Relationship{{rel("document:new4", "viewer", "user:x")}, {rel("document:new4", "view", "user:x")}},
			codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_CANNOT_UPDATE_PERMISSION},
		{"subject type not allowed", [][]*v1.Relationship{{rel("document:new5", "banned", "group:eng#member")}},
			codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_SUBJECT_TYPE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := count(t)
			_, err := importRels(ctx, c, tt.rels...)
			if status.Code(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
			}
			if got := reasonOf(err); got != tt.reason.String() {
				t.Errorf("reason = %q, want %v", got, tt.reason)
			}
			if after := count(t); after != before {
				t.Fatalf("failed import changed the store: %d relationships before, %d after", before, after)
			}
		})
	}

	t.Run("empty import", func(t *testing.T) {
		r, err := importRels(ctx, c)
		if err != nil || r.NumLoaded != 0 {
			t.Fatalf("empty import: %v %v", r, err)
		}
	})
	t.Run("needs the write scope", func(t *testing.T) {
		_, err := importRels(ctx, client(t, addr, "ro"), []*v1.Relationship{rel("document:z", "viewer", "user:z")})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("read-only import: %v", err)
		}
	})
}

func TestExportBulkRelationships(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	ctx := context.Background()
	c := client(t, addr, "k")
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	var want []string
	var rels []*v1.Relationship
	for i := 0; i < 7; i++ {
		rels = append(rels, rel(fmt.Sprintf("document:d%d", i), "viewer", "user:alice"))
	}
	rels = append(rels, rel("group:g1", "member", "user:bob"), rel("group:g2", "member", "group:g1#member"))
	if _, err := importRels(ctx, c, rels); err != nil {
		t.Fatal(err)
	}
	want = relStrings(rels)
	sort.Strings(want) // definitions by name, then resource: document < group
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}

	t.Run("batches of the limit", func(t *testing.T) {
		got, err := exportAll(t, ctx, c, &v1.ExportBulkRelationshipsRequest{Consistency: full, OptionalLimit: 4})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		var all []*v1.Relationship
		for _, b := range got {
			sizes = append(sizes, len(b.Relationships))
			all = append(all, b.Relationships...)
			if b.AfterResultCursor.GetToken() == "" {
				t.Fatal("batch without a cursor")
			}
		}
		if fmt.Sprint(sizes) != "[4 4 1]" {
			t.Errorf("batch sizes = %v, want [4 4 1]", sizes)
		}
		if fmt.Sprint(relStrings(all)) != fmt.Sprint(want) {
			t.Fatalf("exported\n%v\nwant\n%v", relStrings(all), want)
		}
	})

	t.Run("cursor resumes at its revision", func(t *testing.T) {
		s, err := c.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{Consistency: full, OptionalLimit: 3})
		if err != nil {
			t.Fatal(err)
		}
		first, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		// Changes after the first page must not show up in the resumed export.
		if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_DELETE, Relationship: rel("group:g2", "member", "group:g1#member")},
			{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel("document:d9", "viewer", "user:late")},
		}}); err != nil {
			t.Fatal(err)
		}
		rest, err := exportAll(t, ctx, c, &v1.ExportBulkRelationshipsRequest{OptionalLimit: 3, OptionalCursor: first.AfterResultCursor})
		if err != nil {
			t.Fatal(err)
		}
		all := first.Relationships
		for _, b := range rest {
			all = append(all, b.Relationships...)
		}
		if fmt.Sprint(relStrings(all)) != fmt.Sprint(want) {
			t.Fatalf("resumed export\n%v\nwant the original revision\n%v", relStrings(all), want)
		}
	})

	t.Run("filter", func(t *testing.T) {
		got, err := exportAll(t, ctx, c, &v1.ExportBulkRelationshipsRequest{Consistency: full,
			OptionalRelationshipFilter: &v1.RelationshipFilter{ResourceType: "group"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || fmt.Sprint(relStrings(got[0].Relationships)) != "[group:g1#member@user:bob]" {
			t.Fatalf("filtered export = %v", got)
		}
	})

	t.Run("limit above the maximum", func(t *testing.T) {
		_, err := exportAll(t, ctx, c, &v1.ExportBulkRelationshipsRequest{OptionalLimit: service.MaxExportBatch + 1})
		if status.Code(err) != codes.InvalidArgument || reasonOf(err) != v1.ErrorReason_ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT.String() {
			t.Fatalf("over-limit export: %v", err)
		}
	})

	t.Run("bad cursor", func(t *testing.T) {
		_, err := exportAll(t, ctx, c, &v1.ExportBulkRelationshipsRequest{OptionalCursor: &v1.Cursor{Token: "garbage"}})
		if status.Code(err) != codes.InvalidArgument || reasonOf(err) != v1.ErrorReason_ERROR_REASON_INVALID_CURSOR.String() {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}
