package service_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/service"
)

// unaryJSON calls a unary procedure with the Connect protocol and JSON codec.
func unaryJSON[Req, Res any](t *testing.T, addr, key, procedure string, msg *Req) (*Res, error) {
	t.Helper()
	c := connect.NewClient[Req, Res](http.DefaultClient, "http://"+addr+procedure, connect.WithProtoJSON())
	req := connect.NewRequest(msg)
	if key != "" {
		req.Header().Set("Authorization", "Bearer "+key)
	}
	res, err := c.CallUnary(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// streamJSON calls a server-streaming procedure with the Connect protocol and JSON codec.
func streamJSON[Req, Res any](t *testing.T, addr, key, procedure string, msg *Req) ([]*Res, error) {
	t.Helper()
	c := connect.NewClient[Req, Res](http.DefaultClient, "http://"+addr+procedure, connect.WithProtoJSON())
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+key)
	s, err := c.CallServerStream(context.Background(), req)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []*Res
	for s.Receive() {
		out = append(out, s.Msg()) // each Receive decodes into a new message
	}
	return out, s.Err()
}

// TestServer_ConnectJSONEveryRPC drives the API with a Connect JSON client, as
// curl or a browser would: the same behaviour as over gRPC.
func TestServer_ConnectJSONEveryRPC(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	const ps, ss = "/authzed.api.v1.PermissionsService/", "/authzed.api.v1.SchemaService/"
	if _, err := unaryJSON[v1.WriteSchemaRequest, v1.WriteSchemaResponse](t, addr, "k", ss+"WriteSchema", &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	if r, err := unaryJSON[v1.ReadSchemaRequest, v1.ReadSchemaResponse](t, addr, "k", ss+"ReadSchema", &v1.ReadSchemaRequest{}); err != nil || r.SchemaText != testSchema {
		t.Fatalf("ReadSchema: %v", err)
	}
	w, err := unaryJSON[v1.WriteRelationshipsRequest, v1.WriteRelationshipsResponse](t, addr, "k", ps+"WriteRelationships", &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("document:d", "viewer", "group:eng#member")},
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("group:eng", "member", "user:alice")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	fresh := &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.WrittenAt}}
	alice := &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}}
	d := &v1.ObjectReference{ObjectType: "document", ObjectId: "d"}

	c, err := unaryJSON[v1.CheckPermissionRequest, v1.CheckPermissionResponse](t, addr, "k", ps+"CheckPermission", &v1.CheckPermissionRequest{Consistency: fresh, Resource: d, Permission: "view", Subject: alice})
	if err != nil || c.Permissionship != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Fatalf("CheckPermission: %v %v", c, err)
	}
	b, err := unaryJSON[v1.CheckBulkPermissionsRequest, v1.CheckBulkPermissionsResponse](t, addr, "k", ps+"CheckBulkPermissions", &v1.CheckBulkPermissionsRequest{Consistency: fresh,
		Items: []*v1.CheckBulkPermissionsRequestItem{{Resource: d, Permission: "view", Subject: alice}}})
	if err != nil || b.Pairs[0].GetItem().GetPermissionship() != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Fatalf("CheckBulkPermissions: %v %v", b, err)
	}
	e, err := unaryJSON[v1.ExpandPermissionTreeRequest, v1.ExpandPermissionTreeResponse](t, addr, "k", ps+"ExpandPermissionTree", &v1.ExpandPermissionTreeRequest{Consistency: fresh, Resource: d, Permission: "view"})
	if err != nil || e.TreeRoot == nil {
		t.Fatalf("ExpandPermissionTree: %v %v", e, err)
	}
	lr, err := streamJSON[v1.LookupResourcesRequest, v1.LookupResourcesResponse](t, addr, "k", ps+"LookupResources", &v1.LookupResourcesRequest{Consistency: fresh, ResourceObjectType: "document", Permission: "view", Subject: alice})
	if err != nil || len(lr) != 1 || lr[0].ResourceObjectId != "d" {
		t.Fatalf("LookupResources: %v %v", lr, err)
	}
	ls, err := streamJSON[v1.LookupSubjectsRequest, v1.LookupSubjectsResponse](t, addr, "k", ps+"LookupSubjects", &v1.LookupSubjectsRequest{Consistency: fresh, Resource: d, Permission: "view", SubjectObjectType: "user"})
	if err != nil || len(ls) != 1 || ls[0].Subject.SubjectObjectId != "alice" {
		t.Fatalf("LookupSubjects: %v %v", ls, err)
	}
	rr, err := streamJSON[v1.ReadRelationshipsRequest, v1.ReadRelationshipsResponse](t, addr, "k", ps+"ReadRelationships", &v1.ReadRelationshipsRequest{Consistency: fresh, RelationshipFilter: &v1.RelationshipFilter{ResourceType: "group"}})
	if err != nil || len(rr) != 1 {
		t.Fatalf("ReadRelationships: %v %v", rr, err)
	}
	del, err := unaryJSON[v1.DeleteRelationshipsRequest, v1.DeleteRelationshipsResponse](t, addr, "k", ps+"DeleteRelationships", &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "group"}})
	if err != nil || del.RelationshipsDeletedCount != 1 {
		t.Fatalf("DeleteRelationships: %v %v", del, err)
	}

	// Bad input gets SpiceDB's codes over Connect too.
	_, err = unaryJSON[v1.WriteRelationshipsRequest, v1.WriteRelationshipsResponse](t, addr, "k", ps+"WriteRelationships", &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("document:d", "view", "user:alice")},
	}})
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("write to a permission: %v", err)
	}
	_, err = unaryJSON[v1.CheckPermissionRequest, v1.CheckPermissionResponse](t, addr, "", ps+"CheckPermission", &v1.CheckPermissionRequest{Resource: d, Permission: "view", Subject: alice})
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("missing key: %v", err)
	}
	_, err = unaryJSON[v1.CheckPermissionRequest, v1.CheckPermissionResponse](t, addr, "k", ps+"CheckPermission", &v1.CheckPermissionRequest{Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "bad id!"}, Permission: "view", Subject: alice})
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("malformed object id: %v", err)
	}
}

// TestServer_ConnectJSONSchemaAndBulk covers the schema reflection, bulk and
// watch RPCs over the Connect JSON protocol.
func TestServer_ConnectJSONSchemaAndBulk(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	const ps, ss, ws = "/authzed.api.v1.PermissionsService/", "/authzed.api.v1.SchemaService/", "/authzed.api.v1.WatchService/"
	w, err := unaryJSON[v1.WriteSchemaRequest, v1.WriteSchemaResponse](t, addr, "k", ss+"WriteSchema", &v1.WriteSchemaRequest{Schema: testSchema})
	if err != nil {
		t.Fatal(err)
	}
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	if r, err := unaryJSON[v1.ReflectSchemaRequest, v1.ReflectSchemaResponse](t, addr, "k", ss+"ReflectSchema", &v1.ReflectSchemaRequest{Consistency: full}); err != nil || len(r.Definitions) != 3 {
		t.Fatalf("ReflectSchema: %v %v", r, err)
	}
	if r, err := unaryJSON[v1.DiffSchemaRequest, v1.DiffSchemaResponse](t, addr, "k", ss+"DiffSchema", &v1.DiffSchemaRequest{Consistency: full, ComparisonSchema: testSchema + "\n\ndefinition folder {}"}); err != nil || len(r.Diffs) != 1 {
		t.Fatalf("DiffSchema: %v %v", r, err)
	}
	if r, err := unaryJSON[v1.DependentRelationsRequest, v1.DependentRelationsResponse](t, addr, "k", ss+"DependentRelations", &v1.DependentRelationsRequest{Consistency: full, DefinitionName: "document", PermissionName: "view"}); err != nil || len(r.Relations) == 0 {
		t.Fatalf("DependentRelations: %v %v", r, err)
	}
	if r, err := unaryJSON[v1.ComputablePermissionsRequest, v1.ComputablePermissionsResponse](t, addr, "k", ss+"ComputablePermissions", &v1.ComputablePermissionsRequest{Consistency: full, DefinitionName: "document", RelationName: "viewer"}); err != nil || len(r.Permissions) == 0 {
		t.Fatalf("ComputablePermissions: %v %v", r, err)
	}

	// Import in bulk (client stream), export, then watch from the schema write:
	// the change stream replays the import.
	ic := connect.NewClient[v1.ImportBulkRelationshipsRequest, v1.ImportBulkRelationshipsResponse](http.DefaultClient, "http://"+addr+ps+"ImportBulkRelationships", connect.WithProtoJSON())
	imp := ic.CallClientStream(context.Background())
	imp.RequestHeader().Set("Authorization", "Bearer k")
	if err := imp.Send(&v1.ImportBulkRelationshipsRequest{Relationships: []*v1.Relationship{rel("document:a", "viewer", "user:x"), rel("document:b", "viewer", "user:x")}}); err != nil {
		t.Fatal(err)
	}
	res, err := imp.CloseAndReceive()
	if err != nil || res.Msg.NumLoaded != 2 {
		t.Fatalf("ImportBulkRelationships: %v %v", res, err)
	}
	exp, err := streamJSON[v1.ExportBulkRelationshipsRequest, v1.ExportBulkRelationshipsResponse](t, addr, "k", ps+"ExportBulkRelationships", &v1.ExportBulkRelationshipsRequest{Consistency: full})
	if err != nil || len(exp) == 0 || len(exp[0].Relationships) != 2 {
		t.Fatalf("ExportBulkRelationships: %v %v", exp, err)
	}
	wc := connect.NewClient[v1.WatchRequest, v1.WatchResponse](http.DefaultClient, "http://"+addr+ws+"Watch", connect.WithProtoJSON())
	wreq := connect.NewRequest(&v1.WatchRequest{OptionalStartCursor: w.WrittenAt})
	wreq.Header().Set("Authorization", "Bearer k")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := wc.CallServerStream(ctx, wreq)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()

	if !watch.Receive() {
		t.Fatalf("Watch: %v", watch.Err())
	}
	if n := len(watch.Msg().Updates); n != 2 {
		t.Fatalf("Watch delivered %d updates, want 2", n)
	}
}

// TestServer_GRPCWeb checks that the same port speaks gRPC-Web.
func TestServer_GRPCWeb(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	c := connect.NewClient[v1.WriteSchemaRequest, v1.WriteSchemaResponse](http.DefaultClient, "http://"+addr+"/authzed.api.v1.SchemaService/WriteSchema", connect.WithGRPCWeb())
	req := connect.NewRequest(&v1.WriteSchemaRequest{Schema: testSchema})
	req.Header().Set("Authorization", "Bearer k")
	if _, err := c.CallUnary(context.Background(), req); err != nil {
		t.Fatalf("gRPC-Web WriteSchema: %v", err)
	}
	bad := connect.NewRequest(&v1.WriteSchemaRequest{Schema: testSchema})
	if _, err := c.CallUnary(context.Background(), bad); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("gRPC-Web without key: %v", err)
	}
}
