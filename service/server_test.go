package service_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/servicetest"
)

const testSchema = `definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation viewer: user | group#member
	relation banned: user
	permission view = viewer - banned
}`

// startServer boots the real handler on 127.0.0.1:0 and returns its address.
func startServer(t *testing.T, keys ...service.Key) string {
	t.Helper()
	return startServerWith(t, service.Config{Keys: keys})
}

// startServerWith is startServer with a configuration; a memory store is
// provided when cfg has none.
func startServerWith(t *testing.T, cfg service.Config) string {
	t.Helper()
	return servicetest.Start(t, cfg)
}

func client(t *testing.T, addr, key string) *authzed.Client {
	t.Helper()
	c, err := authzed.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpcutil.WithInsecureBearerToken(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rel(res, relation, subj string) *v1.Relationship {
	rt, rid, _ := strings.Cut(res, ":")
	st, sid, _ := strings.Cut(subj, ":")
	sid, srel, _ := strings.Cut(sid, "#")
	return &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: rt, ObjectId: rid}, Relation: relation,
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: st, ObjectId: sid}, OptionalRelation: srel},
	}
}

func TestServer_GRPCClient(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll}, service.Key{Secret: "ro", Scopes: service.ScopeCheck})
	ctx := context.Background()
	c := client(t, addr, "k")
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	w, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("document:d", "viewer", "group:eng#member")},
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("group:eng", "member", "user:alice")},
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("group:eng", "member", "user:bob")},
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("document:d", "banned", "user:bob")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(subj string) v1.CheckPermissionResponse_Permissionship {
		t.Helper()
		r, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.WrittenAt}},
			Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "d"}, Permission: "view",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: subj}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return r.Permissionship
	}
	if got := check("alice"); got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Fatalf("alice: %v", got)
	}
	if got := check("bob"); got != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
		t.Fatalf("bob: %v", got)
	}

	stream, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{ResourceObjectType: "document", Permission: "view",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ResourceObjectId)
	}
	if strings.Join(ids, ",") != "d" {
		t.Fatalf("LookupResources = %v", ids)
	}

	// Bad input: SpiceDB's codes, nothing written.
	_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("document:d", "viewer", "user:carol")},
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("document:d", "view", "user:carol")},
	}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("write to permission: %v", err)
	}
	if got := check("carol"); got != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
		t.Fatalf("half-written batch: carol %v", got)
	}
	_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("group:eng", "member", "user:alice")},
	}})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("recreate: %v", err)
	}
	_, err = c.CheckPermission(ctx, &v1.CheckPermissionRequest{Resource: &v1.ObjectReference{ObjectType: "nope", ObjectId: "d"}, Permission: "view",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "a"}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("unknown definition: %v", err)
	}

	// Authentication and scopes.
	if _, err := client(t, addr, "wrong").ReadSchema(ctx, &v1.ReadSchemaRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad key: %v", err)
	}
	ro := client(t, addr, "ro")
	if _, err := ro.ReadSchema(ctx, &v1.ReadSchemaRequest{}); err != nil {
		t.Fatalf("read-only key reading: %v", err)
	}
	if _, err := ro.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("read-only key writing schema: %v", err)
	}
	// A schema change that would orphan stored relationships is refused.
	_, err = c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: "definition user {}\n\ndefinition document {\n\trelation viewer: user\n}"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("orphaning schema: %v", err)
	}
}

func TestServer_ConnectJSON(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	ctx := context.Background()
	hc := &http.Client{}
	call := func(proc string) *connect.Client[v1.WriteSchemaRequest, v1.WriteSchemaResponse] {
		return connect.NewClient[v1.WriteSchemaRequest, v1.WriteSchemaResponse](hc, "http://"+addr+proc, connect.WithProtoJSON())
	}
	req := connect.NewRequest(&v1.WriteSchemaRequest{Schema: testSchema})
	req.Header().Set("Authorization", "Bearer k")
	if _, err := call("/authzed.api.v1.SchemaService/WriteSchema").CallUnary(ctx, req); err != nil {
		t.Fatal(err)
	}
	bad := connect.NewRequest(&v1.WriteSchemaRequest{Schema: "definition user {"})
	bad.Header().Set("Authorization", "Bearer k")
	_, err := call("/authzed.api.v1.SchemaService/WriteSchema").CallUnary(ctx, bad)
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("bad schema: %v", err)
	}
	noKey := connect.NewRequest(&v1.WriteSchemaRequest{Schema: testSchema})
	if _, err := call("/authzed.api.v1.SchemaService/WriteSchema").CallUnary(ctx, noKey); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("missing key: %v", err)
	}
}

func TestServer_HealthAndReflection(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "authzed.api.v1.PermissionsService"})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sv := range r.GetListServicesResponse().GetService() {
		names = append(names, sv.GetName())
	}
	slices.Sort(names)
	want := []string{"authzed.api.v1.PermissionsService", "authzed.api.v1.SchemaService", "authzed.api.v1.WatchService",
		"envoy.service.auth.v3.Authorization", "gatehouse.v1.AttributeService", "gatehouse.v1.AuthorizeService"}
	if !slices.Equal(names, want) {
		t.Fatalf("reflection lists %v, want %v", names, want)
	}
}
