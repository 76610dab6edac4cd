package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/enforce/enforcetest"
	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
	"github.com/gatehouse-dev/gatehouse/service"
)

// contextServer starts a server trusting issuer, with the schema, relationships
// and attributes of the multi-tenant scenario written through the API.
func contextServer(t *testing.T, issuer *identitytest.Issuer) string {
	t.Helper()
	return contextServerWith(t, issuer, service.Config{})
}

// contextServerWith is contextServer with a configuration (keys and the
// verifier are provided).
func contextServerWith(t *testing.T, issuer *identitytest.Issuer, cfg service.Config) string {
	t.Helper()
	v, err := identity.NewVerifier(context.Background(), []identity.Issuer{issuer.Config()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	cfg.Keys = append(cfg.Keys, service.Key{Secret: "k", Scopes: service.ScopeAll})
	cfg.Verifier = v
	addr := startServerWith(t, cfg)
	enforcetest.Seed(t, addr, "k")
	return addr
}

func TestAuthorize_SubjectTokens(t *testing.T) {
	issuer := identitytest.New(t, "corp", "gatehouse")
	addr := contextServer(t, issuer)
	ctx := context.Background()
	fresh := &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_FullyConsistent{FullyConsistent: true}}
	alice := issuer.Token("alice", map[string]any{"tenant": "acme", "clearance": "internal"})

	clients := map[string]gatehousev1connect.AuthorizeServiceClient{
		"connect": gatehousev1connect.NewAuthorizeServiceClient(h2cClient(), "http://"+addr, connect.WithInterceptors(bearer("k"))),
		"grpc":    gatehousev1connect.NewAuthorizeServiceClient(h2cClient(), "http://"+addr, connect.WithGRPC(), connect.WithInterceptors(bearer("k"))),
	}
	tests := []struct {
		name    string
		doc     string
		perm    string
		token   string
		context map[string]any
		want    gatehousev1.Decision
	}{
		{"same tenant", "acme-plan", "view", alice, nil, gatehousev1.Decision_DECISION_ALLOWED},
		{"other tenant", "globex-plan", "view", alice, nil, gatehousev1.Decision_DECISION_DENIED},
		{"other tenant's user", "acme-plan", "view", issuer.Token("alice", map[string]any{"tenant": "globex"}), nil, gatehousev1.Decision_DECISION_DENIED},
		{"allowed environment", "billing-svc", "deploy", alice, map[string]any{"environment": "staging"}, gatehousev1.Decision_DECISION_ALLOWED},
		{"environment not allowed", "billing-svc", "deploy", alice, map[string]any{"environment": "prod"}, gatehousev1.Decision_DECISION_DENIED},
		{"environment not given", "billing-svc", "deploy", alice, nil, gatehousev1.Decision_DECISION_CONDITIONAL},
		{"clearance below classification", "acme-secret", "read", alice, nil, gatehousev1.Decision_DECISION_DENIED},
		{"clearance covers classification", "acme-memo", "read", alice, nil, gatehousev1.Decision_DECISION_ALLOWED},
		{"higher clearance", "acme-secret", "read", issuer.Token("alice", map[string]any{"tenant": "acme", "clearance": "restricted"}), nil, gatehousev1.Decision_DECISION_ALLOWED},
	}
	for proto, ac := range clients {
		for _, tt := range tests {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				req := &gatehousev1.AuthorizeRequest{Resource: objRef("document:" + tt.doc), Permission: tt.perm, SubjectToken: tt.token, Consistency: fresh}
				if tt.context != nil {
					req.Context = mustStruct(t, tt.context)
				}
				res, err := ac.Authorize(ctx, connect.NewRequest(req))
				if err != nil {
					t.Fatal(err)
				}
				if res.Msg.Decision != tt.want {
					t.Fatalf("decision = %v, want %v", res.Msg.Decision, tt.want)
				}
				if s := res.Msg.Subject.GetObject(); s.GetObjectType() != "user" || s.GetObjectId() != "alice" {
					t.Fatalf("subject = %v, want user:alice from the token", res.Msg.Subject)
				}
				if res.Msg.CheckedAt == "" {
					t.Fatal("no revision token")
				}
			})
		}
	}

	ac := clients["connect"]
	refusals := []struct {
		name   string
		token  string
		ctx    map[string]any
		header bool
		code   connect.Code
		reason string
	}{
		{"expired", issuer.Token("alice", map[string]any{"tenant": "acme", "exp": time.Now().Add(-time.Hour).Unix()}), nil, false, connect.CodeUnauthenticated, "SUBJECT_TOKEN_EXPIRED"},
		{"wrong audience", issuer.Token("alice", map[string]any{"tenant": "acme", "aud": "someone-else"}), nil, false, connect.CodeUnauthenticated, "SUBJECT_TOKEN_WRONG_AUDIENCE"},
		{"forged signature", issuer.Forged("alice", map[string]any{"tenant": "acme"}), nil, false, connect.CodeUnauthenticated, "SUBJECT_TOKEN_BAD_SIGNATURE"},
		{"unknown issuer", identitytest.New(t, "rogue", "gatehouse").Token("alice", map[string]any{"tenant": "acme"}), nil, false, connect.CodeUnauthenticated, "SUBJECT_TOKEN_UNKNOWN_ISSUER"},
		{"garbage in the header", "not-a-jwt", nil, true, connect.CodeUnauthenticated, "SUBJECT_TOKEN_MALFORMED"},
		{"spoofed caller in context", alice, map[string]any{"caller": map[string]any{"tenant": "globex"}}, false, connect.CodeInvalidArgument, ""},
		{"spoofed resource in context", alice, map[string]any{"resource": map[string]any{"tenant": "acme"}}, false, connect.CodeInvalidArgument, ""},
	}
	for _, tt := range refusals {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			req := connect.NewRequest(&gatehousev1.AuthorizeRequest{Resource: objRef("document:acme-plan"), Permission: "view", Consistency: fresh})
			if tt.header {
				req.Header().Set(service.SubjectTokenHeader, tt.token)
			} else {
				req.Msg.SubjectToken = tt.token
			}
			if tt.ctx != nil {
				req.Msg.Context = mustStruct(t, tt.ctx)
			}
			_, err := ac.Authorize(ctx, req)
			if connect.CodeOf(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", connect.CodeOf(err), err, tt.code)
			}
			if tt.reason != "" && errorReason(err) != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", errorReason(err), err, tt.reason)
			}
		})
	}
	t.Run("refused/token of another subject", func(t *testing.T) {
		// Bob's token may not lend its claims to a check of alice (or of a group).
		for _, subj := range []*gatehousev1.SubjectRef{{Object: objRef("user:alice")}, {Object: objRef("team:eng"), OptionalRelation: "member"}} {
			_, err := ac.Authorize(ctx, connect.NewRequest(&gatehousev1.AuthorizeRequest{Resource: objRef("document:acme-plan"), Permission: "view",
				Subject: subj, SubjectToken: issuer.Token("bob", map[string]any{"tenant": "acme"}), Consistency: fresh}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || errorReason(err) != "SUBJECT_TOKEN_MISMATCH" {
				t.Fatalf("%v with bob's token: %v, want InvalidArgument SUBJECT_TOKEN_MISMATCH", subj, err)
			}
		}
		// The token's own subject, named explicitly, is fine.
		if _, err := ac.Authorize(ctx, connect.NewRequest(&gatehousev1.AuthorizeRequest{Resource: objRef("document:acme-plan"), Permission: "view",
			Subject: &gatehousev1.SubjectRef{Object: objRef("user:alice")}, SubjectToken: alice, Consistency: fresh})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refused/no subject at all", func(t *testing.T) {
		_, err := ac.Authorize(ctx, connect.NewRequest(&gatehousev1.AuthorizeRequest{Resource: objRef("document:acme-plan"), Permission: "view"}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("code = %v", connect.CodeOf(err))
		}
	})

	t.Run("SpiceDB client with the header", func(t *testing.T) {
		c := client(t, addr, "k")
		check := func(token, doc string) (v1.CheckPermissionResponse_Permissionship, error) {
			mctx := metadata.AppendToOutgoingContext(ctx, strings.ToLower(service.SubjectTokenHeader), token)
			res, err := c.CheckPermission(mctx, &v1.CheckPermissionRequest{
				Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
				Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: doc}, Permission: "view",
				Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
			})
			return res.GetPermissionship(), err
		}
		if got, err := check(alice, "acme-plan"); err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
			t.Fatalf("acme-plan = %v, %v", got, err)
		}
		if got, err := check(alice, "globex-plan"); err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
			t.Fatalf("globex-plan = %v, %v", got, err)
		}
		if _, err := check(issuer.Forged("alice", nil), "acme-plan"); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("forged token: %v, want Unauthenticated", err)
		}
		if _, err := check(issuer.Token("carol", map[string]any{"tenant": "acme"}), "acme-plan"); status.Code(err) != codes.InvalidArgument ||
			!strings.Contains(err.Error(), "subject token") {
			t.Fatalf("check of alice with carol's token: %v, want InvalidArgument", err)
		}
		// Bulk: every item's subject must be the token's.
		mctx := metadata.AppendToOutgoingContext(ctx, strings.ToLower(service.SubjectTokenHeader), alice)
		item := func(user string) *v1.CheckBulkPermissionsRequestItem {
			return &v1.CheckBulkPermissionsRequestItem{Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "acme-plan"}, Permission: "view",
				Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: user}}}
		}
		if _, err := c.CheckBulkPermissions(mctx, &v1.CheckBulkPermissionsRequest{Items: []*v1.CheckBulkPermissionsRequestItem{item("alice"), item("bob")}}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("bulk check naming bob with alice's token: %v, want InvalidArgument", err)
		}
		// Without a token the caveat lacks `caller`: SpiceDB's conditional answer.
		res, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
			Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "acme-plan"}, Permission: "view",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
		})
		if err != nil || res.Permissionship != v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION ||
			strings.Join(res.PartialCaveatInfo.GetMissingRequiredContext(), ",") != "caller" {
			t.Fatalf("without a token: %v (%v), want conditional on caller", res, err)
		}
	})

	t.Run("explain", func(t *testing.T) {
		res, err := ac.Authorize(ctx, connect.NewRequest(&gatehousev1.AuthorizeRequest{Resource: objRef("document:acme-secret"), Permission: "read",
			SubjectToken: alice, Consistency: fresh, Explain: true}))
		if err != nil {
			t.Fatal(err)
		}
		root := res.Msg.GetExplanation().GetRoot()
		if root.GetKind() != gatehousev1.ExplainNode_KIND_PERMISSION || root.GetResult() != gatehousev1.Decision_DECISION_DENIED {
			t.Fatalf("root = %v", root)
		}
		// The denial is the clearance caveat, which saw the classification and the claim.
		var found *gatehousev1.ExplainNode
		var walk func(n *gatehousev1.ExplainNode)
		walk = func(n *gatehousev1.ExplainNode) {
			if n.GetCaveatName() == "clearance_covers_classification" {
				found = n
			}
			for _, c := range n.GetChildren() {
				walk(c)
			}
		}
		walk(root)
		if found == nil || found.GetResult() != gatehousev1.Decision_DECISION_DENIED ||
			found.GetRelationship() != "document:acme-secret#cleared_reader@user:alice[clearance_covers_classification]" {
			t.Fatalf("caveat node = %v", found)
		}
		in := found.GetCaveatContext().AsMap()
		if in["resource"].(map[string]any)["classification"] != "confidential" || in["caller"].(map[string]any)["clearance"] != "internal" {
			t.Fatalf("caveat inputs = %v", in)
		}
	})
}

// errorReason returns the ErrorInfo reason of a Connect error, if any.
func errorReason(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok {
				return info.Reason
			}
		}
	}
	return ""
}

// TestWriteAttributes_WithRelationships writes a relationship and the
// attributes its caveat reads in one transaction: a check running meanwhile
// sees both or neither, and a write that fails writes neither.
func TestWriteAttributes_WithRelationships(t *testing.T) {
	issuer := identitytest.New(t, "corp", "gatehouse")
	addr := contextServer(t, issuer)
	ctx := context.Background()
	ac := attributeClients(t, addr, "k")["connect"]
	authz := gatehousev1connect.NewAuthorizeServiceClient(h2cClient(), "http://"+addr, connect.WithInterceptors(bearer("k")))
	bob := issuer.Token("bob", map[string]any{"tenant": "acme"})
	grant := func(doc string, op gatehousev1.RelationshipUpdate_Operation) *gatehousev1.WriteAttributesRequest {
		return &gatehousev1.WriteAttributesRequest{
			Updates: []*gatehousev1.AttributeUpdate{{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:" + doc),
				Values: mustStruct(t, map[string]any{"tenant": "acme"})}},
			RelationshipUpdates: []*gatehousev1.RelationshipUpdate{{Operation: op, Relationship: &gatehousev1.Relationship{
				Resource: objRef("document:" + doc), Relation: "tenant_viewer",
				Subject: &gatehousev1.SubjectRef{Object: objRef("user:bob")}, OptionalCaveatName: "same_tenant"}}},
		}
	}

	const n = 40
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := ac.WriteAttributes(ctx, connect.NewRequest(grant(fmt.Sprintf("d%d", i), gatehousev1.RelationshipUpdate_OPERATION_CREATE))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	seen := 0
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		for i := range n {
			res, err := authz.Authorize(ctx, connect.NewRequest(&gatehousev1.AuthorizeRequest{Resource: objRef(fmt.Sprintf("document:d%d", i)),
				Permission: "view", SubjectToken: bob, Explain: true}))
			if err != nil {
				t.Fatal(err)
			}
			switch res.Msg.Decision {
			case gatehousev1.Decision_DECISION_ALLOWED:
				seen++
			case gatehousev1.Decision_DECISION_DENIED:
				// Denied is right only if the relationship is not there yet.
				if len(res.Msg.Explanation.GetRoot().GetChildren()) > 0 && hasRelationshipNode(res.Msg.Explanation.GetRoot()) {
					t.Fatalf("d%d: the relationship is visible without its attributes: %v", i, res.Msg.Explanation)
				}
			default:
				t.Fatalf("d%d: %v", i, res.Msg.Decision)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no grant was ever seen")
	}

	// A write whose relationship part fails writes no attributes either.
	_, err := ac.WriteAttributes(ctx, connect.NewRequest(&gatehousev1.WriteAttributesRequest{
		Updates: []*gatehousev1.AttributeUpdate{{Operation: gatehousev1.AttributeUpdate_OPERATION_SET, Object: objRef("document:d0"),
			Values: mustStruct(t, map[string]any{"tenant": "globex"})}},
		RelationshipUpdates: grant("d0", gatehousev1.RelationshipUpdate_OPERATION_CREATE).RelationshipUpdates,
	}))
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("CREATE of an existing relationship: %v", err)
	}
	r, err := ac.ReadAttributes(ctx, connect.NewRequest(&gatehousev1.ReadAttributesRequest{Objects: []*gatehousev1.ObjectRef{objRef("document:d0")},
		Consistency: &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_FullyConsistent{FullyConsistent: true}}}))
	if err != nil || describeObjects(r.Msg.Objects) != `document:d0={"tenant":"acme"}` {
		t.Fatalf("attributes after the failed write: %s, %v", describeObjects(r.Msg.GetObjects()), err)
	}
	// Relationship updates are validated like WriteRelationships'.
	bad := grant("d99", gatehousev1.RelationshipUpdate_OPERATION_TOUCH)
	bad.RelationshipUpdates[0].Relationship.Relation = "view"
	if _, err := ac.WriteAttributes(ctx, connect.NewRequest(bad)); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("write to a permission: %v", err)
	}
}

func hasRelationshipNode(n *gatehousev1.ExplainNode) bool {
	if n.GetKind() == gatehousev1.ExplainNode_KIND_RELATIONSHIP {
		return true
	}
	for _, c := range n.GetChildren() {
		if hasRelationshipNode(c) {
			return true
		}
	}
	return false
}
