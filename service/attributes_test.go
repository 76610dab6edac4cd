package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/service"
)

const attributeSchema = `
caveat same_tenant(resource map<any>, tenant string) {
	has(resource.tenant) && resource.tenant == tenant
}

definition user {}

definition document {
	relation viewer: user with same_tenant
	permission view = viewer
}`

// bearer adds a preshared key to every request of a Connect client.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}
func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}
func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func attributeClients(t *testing.T, addr string, key string) map[string]gatehousev1connect.AttributeServiceClient {
	t.Helper()
	return map[string]gatehousev1connect.AttributeServiceClient{
		"connect": gatehousev1connect.NewAttributeServiceClient(http.DefaultClient, "http://"+addr, connect.WithInterceptors(bearer(key))),
		"grpc":    gatehousev1connect.NewAttributeServiceClient(h2cClient(), "http://"+addr, connect.WithGRPC(), connect.WithInterceptors(bearer(key))),
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func objRef(s string) *gatehousev1.ObjectRef {
	typ, id, _ := strings.Cut(s, ":")
	return &gatehousev1.ObjectRef{ObjectType: typ, ObjectId: id}
}

func TestAttributeService(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll}, service.Key{Secret: "ro", Scopes: service.ScopeCheck})
	ctx := context.Background()
	c := client(t, addr, "k")
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: attributeSchema}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
		Operation: v1.RelationshipUpdate_OPERATION_TOUCH,
		Relationship: &v1.Relationship{Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "q3"}, Relation: "viewer",
			Subject:        &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
			OptionalCaveat: &v1.ContextualizedCaveat{CaveatName: "same_tenant"}},
	}}}); err != nil {
		t.Fatal(err)
	}
	checkTenant := func(t *testing.T, tenant string, token string) v1.CheckPermissionResponse_Permissionship {
		t.Helper()
		res, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: token}}},
			Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "q3"}, Permission: "view",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
			Context: mustStruct(t, map[string]any{"tenant": tenant}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Permissionship
	}

	for name, ac := range attributeClients(t, addr, "k") {
		t.Run(name, func(t *testing.T) {
			w, err := ac.WriteAttributes(ctx, connect.NewRequest(&gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
				{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:q3"), Values: mustStruct(t, map[string]any{"tenant": "acme", "level": 2})},
				{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:q4"), Values: mustStruct(t, map[string]any{"tenant": "globex"})},
			}}))
			if err != nil {
				t.Fatal(err)
			}
			if got := checkTenant(t, "acme", w.Msg.WrittenAt); got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
				t.Fatalf("acme after attributes: %v", got)
			}
			if got := checkTenant(t, "globex", w.Msg.WrittenAt); got != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
				t.Fatalf("globex after attributes: %v", got)
			}
			// Moving the document to another tenant changes the decision.
			w, err = ac.WriteAttributes(ctx, connect.NewRequest(&gatehousev1.WriteAttributesRequest{
				Preconditions: []*gatehousev1.AttributePrecondition{{Object: objRef("document:q3"), Condition: gatehousev1.AttributePrecondition_CONDITION_MUST_MATCH,
					MustMatch: mustStruct(t, map[string]any{"tenant": "acme"})}},
				Updates: []*gatehousev1.AttributeUpdate{{Operation: gatehousev1.AttributeUpdate_OPERATION_MERGE, Object: objRef("document:q3"),
					Values: mustStruct(t, map[string]any{"tenant": "globex", "level": nil})}},
			}))
			if err != nil {
				t.Fatal(err)
			}
			if got := checkTenant(t, "globex", w.Msg.WrittenAt); got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
				t.Fatalf("globex after moving the document: %v", got)
			}
			r, err := ac.ReadAttributes(ctx, connect.NewRequest(&gatehousev1.ReadAttributesRequest{
				Consistency: &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.Msg.WrittenAt}},
				Objects:     []*gatehousev1.ObjectRef{objRef("document:q3"), objRef("document:none"), objRef("document:q3")},
			}))
			if err != nil {
				t.Fatal(err)
			}
			if got := describeObjects(r.Msg.Objects); got != `document:q3={"tenant":"globex"}` {
				t.Fatalf("ReadAttributes = %s", got)
			}
			// Reset for the next protocol.
			if _, err := ac.WriteAttributes(ctx, connect.NewRequest(&gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
				{Operation: gatehousev1.AttributeUpdate_OPERATION_DELETE, Object: objRef("document:q3")},
			}})); err != nil {
				t.Fatal(err)
			}
		})
	}

	ac := attributeClients(t, addr, "k")["connect"]
	t.Run("filter pages", func(t *testing.T) {
		var updates []*gatehousev1.AttributeUpdate
		for i := range 25 {
			updates = append(updates, &gatehousev1.AttributeUpdate{Operation: gatehousev1.AttributeUpdate_OPERATION_SET,
				Object: objRef(fmt.Sprintf("document:p%02d", i)), Values: mustStruct(t, map[string]any{"n": i})})
		}
		w, err := ac.WriteAttributes(ctx, connect.NewRequest(&gatehousev1.WriteAttributesRequest{Updates: updates}))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		req := &gatehousev1.ReadAttributesRequest{Filter: &gatehousev1.AttributeFilter{ObjectType: "document", OptionalObjectIdPrefix: "p"}, Limit: 10,
			Consistency: &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.Msg.WrittenAt}}}
		pages := 0
		for {
			r, err := ac.ReadAttributes(ctx, connect.NewRequest(req))
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, o := range r.Msg.Objects {
				ids = append(ids, o.Object.ObjectId)
			}
			if r.Msg.NextCursor == "" {
				break
			}
			req = &gatehousev1.ReadAttributesRequest{Filter: req.Filter, Limit: 10, Cursor: r.Msg.NextCursor}
		}
		if len(ids) != 25 || pages != 3 || ids[0] != "p00" || ids[24] != "p24" {
			t.Fatalf("paged read: %d ids in %d pages: %v", len(ids), pages, ids)
		}
	})

	big := strings.Repeat("x", 5000)
	errTests := []struct {
		name string
		key  string
		req  *gatehousev1.WriteAttributesRequest
		code connect.Code
	}{
		{"unknown type", "k", &gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
			{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("folder:a"), Values: mustStruct(t, map[string]any{"a": 1})}}}, connect.CodeFailedPrecondition},
		{"bad id", "k", &gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
			{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:a b"), Values: mustStruct(t, map[string]any{"a": 1})}}}, connect.CodeInvalidArgument},
		{"wildcard id", "k", &gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
			{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:*"), Values: mustStruct(t, map[string]any{"a": 1})}}}, connect.CodeInvalidArgument},
		{"no operation", "k", &gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
			{Object: objRef("document:a"), Values: mustStruct(t, map[string]any{"a": 1})}}}, connect.CodeInvalidArgument},
		{"no updates", "k", &gatehousev1.WriteAttributesRequest{}, connect.CodeInvalidArgument},
		{"too large", "k", &gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
			{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:ok"), Values: mustStruct(t, map[string]any{"a": 1})},
			{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:a"), Values: mustStruct(t, map[string]any{"a": big})}}}, connect.CodeInvalidArgument},
		{"precondition fails", "k", &gatehousev1.WriteAttributesRequest{
			Preconditions: []*gatehousev1.AttributePrecondition{{Object: objRef("document:absent"), Condition: gatehousev1.AttributePrecondition_CONDITION_MUST_EXIST}},
			Updates: []*gatehousev1.AttributeUpdate{
				{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:ok"), Values: mustStruct(t, map[string]any{"a": 1})}}}, connect.CodeFailedPrecondition},
		{"read-only key", "ro", &gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
			{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:ok"), Values: mustStruct(t, map[string]any{"a": 1})}}}, connect.CodePermissionDenied},
		{"no key", "", &gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
			{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:ok"), Values: mustStruct(t, map[string]any{"a": 1})}}}, connect.CodeUnauthenticated},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := attributeClients(t, addr, tt.key)["connect"].WriteAttributes(ctx, connect.NewRequest(tt.req))
			if connect.CodeOf(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", connect.CodeOf(err), err, tt.code)
			}
			var ce *connect.Error
			if errors.As(err, &ce) && strings.Contains(ce.Message(), "internal") {
				t.Fatalf("error leaks as internal: %v", err)
			}
			// Nothing was written.
			r, err := ac.ReadAttributes(ctx, connect.NewRequest(&gatehousev1.ReadAttributesRequest{
				Consistency: &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_FullyConsistent{FullyConsistent: true}},
				Objects:     []*gatehousev1.ObjectRef{objRef("document:ok"), objRef("document:a")}}))
			if err != nil || len(r.Msg.Objects) != 0 {
				t.Fatalf("after a refused write: %v, %v", describeObjects(r.Msg.GetObjects()), err)
			}
		})
	}
	t.Run("read needs objects or a filter", func(t *testing.T) {
		_, err := ac.ReadAttributes(ctx, connect.NewRequest(&gatehousev1.ReadAttributesRequest{}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("code = %v", connect.CodeOf(err))
		}
	})
}

func describeObjects(os []*gatehousev1.ObjectAttributes) string {
	var parts []string
	for _, o := range os {
		b, _ := o.Values.MarshalJSON()
		parts = append(parts, o.Object.ObjectType+":"+o.Object.ObjectId+"="+strings.ReplaceAll(string(b), " ", ""))
	}
	return strings.Join(parts, " ")
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do to a plaintext server.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

// TestAttributes_UnguardedMissingKey: a caveat selecting an attribute the
// object lacks fails the check with a caveat evaluation error; it is never
// allowed.
func TestAttributes_UnguardedMissingKey(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	ctx := context.Background()
	c := client(t, addr, "k")
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: `
caveat tenant_is(resource map<any>, tenant string) {
	resource.tenant == tenant
}

definition user {}

definition document {
	relation viewer: user with tenant_is
	permission view = viewer
}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
		Operation: v1.RelationshipUpdate_OPERATION_TOUCH,
		Relationship: &v1.Relationship{Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "untagged"}, Relation: "viewer",
			Subject:        &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
			OptionalCaveat: &v1.ContextualizedCaveat{CaveatName: "tenant_is"}},
	}}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "untagged"}, Permission: "view",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
		Context: mustStruct(t, map[string]any{"tenant": "acme"}),
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "no such key: tenant") {
		t.Fatalf("unguarded missing attribute: %v, %v; want InvalidArgument naming the key", res, err)
	}
	if st, _ := status.FromError(err); !strings.Contains(fmt.Sprint(st.Details()), "ERROR_REASON_CAVEAT_EVALUATION_ERROR") {
		t.Fatalf("details = %v, want the caveat evaluation reason", st.Details())
	}
}
