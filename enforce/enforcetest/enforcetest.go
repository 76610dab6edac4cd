// Package enforcetest is the one table of requests every enforcement point
// (forward-auth, Envoy ext_authz, the Go middleware and interceptor) must
// answer alike, with the data and route map it is asked against.
package enforcetest

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gatehouse-dev/gatehouse/caveats/library"
	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
)

// Schema uses the caveat library: the tenant from the token against the
// document's attributes, the environment from the request against the
// document's allowed environments, the clearance from the token against its
// classification.
var Schema = library.All() + `

definition user {}

definition document {
	relation tenant_viewer: user with same_tenant
	relation env_deployer: user with environment_allowed
	relation cleared_reader: user with clearance_covers_classification
	permission view = tenant_viewer
	permission deploy = env_deployer
	permission read = cleared_reader & tenant_viewer
}`

// Routes is the route map the cases are asked through.
const Routes = `version: 1
routes:
  - method: GET
    path: /v1/tenants/{tenant}/documents/{id}
    resource: document:{id}
    permission: view
  - method: POST
    path: /v1/services/{svc}/deploy
    resource: document:{svc}
    permission: deploy
    context:
      environment: {header: X-Environment}
  - method: GET
    path: /v1/secrets/{id}
    resource: document:{id}
    permission: read
  - method: GET
    path: /internal/{id}
    resource: document:{id}
    permission: view
    subject: {header: X-User-Id, type: user}
`

// Keys the cases use: GatewayKey has the check scope, WriterKey only write.
const (
	GatewayKey = "gw"
	WriterKey  = "writer"
)

// Case is one request and the answer every enforcement point must give.
type Case struct {
	Name        string
	GatewayKey  string // the enforcement point's key; GatewayKey when ""
	Method, URI string
	Token       string // the end user's token, sent as Authorization: Bearer
	Header      map[string]string
	// Traefik: forward-auth is told the original request in X-Forwarded-*.
	Traefik bool
	// GatewayOnly: the case is about the enforcement point's own key, which
	// an in-process enforcer does not present.
	GatewayOnly bool

	WantStatus   int
	WantReason   string
	WantSubject  string
	WantRevision bool
}

// Key is the enforcement point's key for the case.
func (c Case) Key() string {
	if c.GatewayKey == "" {
		return GatewayKey
	}
	return c.GatewayKey
}

// Cases is the shared table, with tokens from issuer for user alice of
// tenant acme with internal clearance.
func Cases(issuer *identitytest.Issuer) []Case {
	alice := issuer.Token("alice", map[string]any{"tenant": "acme", "clearance": "internal"})
	expired := issuer.Token("alice", map[string]any{"tenant": "acme", "exp": 1_000_000})
	return []Case{
		{Name: "allowed", Method: "GET", URI: "/v1/tenants/acme/documents/acme-plan", Token: alice, WantStatus: 200, WantSubject: "user:alice", WantRevision: true},
		{Name: "allowed, Traefik headers", Method: "GET", URI: "/v1/tenants/acme/documents/acme-plan?x=1", Token: alice, Traefik: true, WantStatus: 200, WantSubject: "user:alice", WantRevision: true},
		{Name: "other tenant denied", Method: "GET", URI: "/v1/tenants/globex/documents/globex-plan", Token: alice, WantStatus: 403, WantReason: "PERMISSION_DENIED", WantRevision: true},
		{Name: "environment from header allowed", Method: "POST", URI: "/v1/services/billing-svc/deploy", Token: alice, Header: map[string]string{"X-Environment": "staging"}, WantStatus: 200, WantSubject: "user:alice", WantRevision: true},
		{Name: "environment from header denied", Method: "POST", URI: "/v1/services/billing-svc/deploy", Token: alice, Header: map[string]string{"X-Environment": "prod"}, WantStatus: 403, WantReason: "PERMISSION_DENIED", WantRevision: true},
		{Name: "environment missing", Method: "POST", URI: "/v1/services/billing-svc/deploy", Token: alice, WantStatus: 403, WantReason: "MISSING_CONTEXT", WantRevision: true},
		{Name: "clearance too low", Method: "GET", URI: "/v1/secrets/acme-secret", Token: alice, WantStatus: 403, WantReason: "PERMISSION_DENIED", WantRevision: true},
		{Name: "no token", Method: "GET", URI: "/v1/tenants/acme/documents/acme-plan", WantStatus: 401, WantReason: "SUBJECT_TOKEN_MISSING"},
		{Name: "expired token", Method: "GET", URI: "/v1/tenants/acme/documents/acme-plan", Token: expired, WantStatus: 401, WantReason: "SUBJECT_TOKEN_EXPIRED"},
		{Name: "forged token", Method: "GET", URI: "/v1/tenants/acme/documents/acme-plan", Token: issuer.Forged("alice", map[string]any{"tenant": "acme"}), WantStatus: 401, WantReason: "SUBJECT_TOKEN_BAD_SIGNATURE"},
		{Name: "unmatched route", Method: "DELETE", URI: "/v1/tenants/acme/documents/acme-plan", Token: alice, WantStatus: 403, WantReason: "ROUTE_NOT_FOUND"},
		{Name: "invalid ID in path", Method: "GET", URI: "/v1/tenants/acme/documents/bad%20id", Token: alice, WantStatus: 403, WantReason: "INVALID_REQUEST"},
		{Name: "subject from header", Method: "GET", URI: "/internal/acme-plan", Header: map[string]string{"X-User-Id": "alice"}, Token: alice, WantStatus: 200, WantSubject: "user:alice", WantRevision: true},
		{Name: "subject header is not the token's", Method: "GET", URI: "/internal/acme-plan", Header: map[string]string{"X-User-Id": "bob"}, Token: alice, WantStatus: 403, WantReason: "SUBJECT_TOKEN_MISMATCH"},
		{Name: "wrong gateway key", GatewayKey: "nope", GatewayOnly: true, Method: "GET", URI: "/v1/tenants/acme/documents/acme-plan", Token: alice, WantStatus: 403, WantReason: "GATEWAY_KEY_INVALID"},
		{Name: "gateway key without check scope", GatewayKey: WriterKey, GatewayOnly: true, Method: "GET", URI: "/v1/tenants/acme/documents/acme-plan", Token: alice, WantStatus: 403, WantReason: "GATEWAY_KEY_INVALID"},
	}
}

// Answer is what an enforcement point answered, as HTTP.
type Answer struct {
	Status                    int
	Reason, Subject, Revision string
}

// Check fails t unless a is the case's answer.
func (a Answer) Check(t testing.TB, c Case) {
	t.Helper()
	if a.Status != c.WantStatus || a.Reason != c.WantReason {
		t.Fatalf("status %d, reason %q; want %d, %q", a.Status, a.Reason, c.WantStatus, c.WantReason)
	}
	if a.Subject != c.WantSubject {
		t.Errorf("subject %q, want %q", a.Subject, c.WantSubject)
	}
	if (a.Revision != "") != c.WantRevision {
		t.Errorf("revision %q; want one: %v", a.Revision, c.WantRevision)
	}
}

// Seed writes the schema, relationships and attributes the cases are asked
// against to the gatehouse at addr (plaintext), with a key that may write
// and change the schema.
func Seed(t testing.TB, addr, key string) {
	t.Helper()
	ctx := context.Background()
	c, err := authzed.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpcutil.WithInsecureBearerToken(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: Schema}); err != nil {
		t.Fatal(err)
	}
	var updates []*v1.RelationshipUpdate
	for _, r := range []struct{ doc, rel, caveat string }{
		{"acme-plan", "tenant_viewer", "same_tenant"},
		{"globex-plan", "tenant_viewer", "same_tenant"},
		{"billing-svc", "env_deployer", "environment_allowed"},
		{"acme-secret", "cleared_reader", "clearance_covers_classification"},
		{"acme-secret", "tenant_viewer", "same_tenant"},
		{"acme-memo", "cleared_reader", "clearance_covers_classification"},
		{"acme-memo", "tenant_viewer", "same_tenant"},
	} {
		updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: &v1.Relationship{
			Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: r.doc}, Relation: r.rel,
			Subject:        &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
			OptionalCaveat: &v1.ContextualizedCaveat{CaveatName: r.caveat},
		}})
	}
	if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates}); err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	ac := gatehousev1connect.NewAttributeServiceClient(&http.Client{Transport: &http.Transport{Protocols: p}}, "http://"+addr,
		connect.WithGRPC(), connect.WithInterceptors(bearer(key)))
	set := func(doc string, values map[string]any) *gatehousev1.AttributeUpdate {
		s, err := structpb.NewStruct(values)
		if err != nil {
			t.Fatal(err)
		}
		return &gatehousev1.AttributeUpdate{Operation: gatehousev1.AttributeUpdate_OPERATION_SET,
			Object: &gatehousev1.ObjectRef{ObjectType: "document", ObjectId: doc}, Values: s}
	}
	if _, err := ac.WriteAttributes(ctx, connect.NewRequest(&gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{
		set("acme-plan", map[string]any{"tenant": "acme"}),
		set("globex-plan", map[string]any{"tenant": "globex"}),
		set("billing-svc", map[string]any{"environments": []any{"staging", "dev"}}),
		set("acme-secret", map[string]any{"tenant": "acme", "classification": "confidential"}),
		set("acme-memo", map[string]any{"tenant": "acme", "classification": "internal"}),
	}})); err != nil {
		t.Fatal(err)
	}
	// A fully consistent read waits until the index has every write, so
	// that the enforcement points' minimize-latency reads see them too.
	if _, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "acme-plan"}, Permission: "view",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
	}); err != nil {
		t.Fatal(err)
	}
}

func bearer(key string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+key)
			return next(ctx, req)
		}
	}
}
