package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
	"github.com/gatehouse-dev/gatehouse/routes"
	"github.com/gatehouse-dev/gatehouse/service"
)

const forwardAuthRoutes = `version: 1
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

// enforcementCase is one request an enforcement point is asked about, and
// the answer every enforcement point must give.
type enforcementCase struct {
	name           string
	gatewayKey     string
	method, uri    string
	token          string
	header         map[string]string
	traefik        bool // forward-auth: the X-Forwarded-* headers
	wantStatus     int
	wantReason     string
	wantSubject    string
	wantNoRevision bool
}

// enforcementCases is the shared table: with real signed tokens, 200
// allowed, 403 denied or unmatched or conditional, 401 without or with a bad
// token, and the gateway's own key checked first.
func enforcementCases(issuer *identitytest.Issuer) []enforcementCase {
	alice := issuer.Token("alice", map[string]any{"tenant": "acme", "clearance": "internal"})
	expired := issuer.Token("alice", map[string]any{"tenant": "acme", "exp": 1_000_000})
	return []enforcementCase{
		{name: "allowed", method: "GET", uri: "/v1/tenants/acme/documents/acme-plan", token: alice, wantStatus: 200, wantSubject: "user:alice"},
		{name: "allowed, Traefik headers", method: "GET", uri: "/v1/tenants/acme/documents/acme-plan?x=1", token: alice, traefik: true, wantStatus: 200, wantSubject: "user:alice"},
		{name: "other tenant denied", method: "GET", uri: "/v1/tenants/globex/documents/globex-plan", token: alice, wantStatus: 403, wantReason: "PERMISSION_DENIED"},
		{name: "environment from header allowed", method: "POST", uri: "/v1/services/billing-svc/deploy", token: alice, header: map[string]string{"X-Environment": "staging"}, wantStatus: 200, wantSubject: "user:alice"},
		{name: "environment from header denied", method: "POST", uri: "/v1/services/billing-svc/deploy", token: alice, header: map[string]string{"X-Environment": "prod"}, wantStatus: 403, wantReason: "PERMISSION_DENIED"},
		{name: "environment missing", method: "POST", uri: "/v1/services/billing-svc/deploy", token: alice, wantStatus: 403, wantReason: "MISSING_CONTEXT"},
		{name: "clearance too low", method: "GET", uri: "/v1/secrets/acme-secret", token: alice, wantStatus: 403, wantReason: "PERMISSION_DENIED"},
		{name: "no token", method: "GET", uri: "/v1/tenants/acme/documents/acme-plan", wantStatus: 401, wantReason: "SUBJECT_TOKEN_MISSING", wantNoRevision: true},
		{name: "expired token", method: "GET", uri: "/v1/tenants/acme/documents/acme-plan", token: expired, wantStatus: 401, wantReason: "SUBJECT_TOKEN_EXPIRED", wantNoRevision: true},
		{name: "forged token", method: "GET", uri: "/v1/tenants/acme/documents/acme-plan", token: issuer.Forged("alice", map[string]any{"tenant": "acme"}), wantStatus: 401, wantReason: "SUBJECT_TOKEN_BAD_SIGNATURE", wantNoRevision: true},
		{name: "unmatched route", method: "DELETE", uri: "/v1/tenants/acme/documents/acme-plan", token: alice, wantStatus: 403, wantReason: "ROUTE_NOT_FOUND", wantNoRevision: true},
		{name: "invalid ID in path", method: "GET", uri: "/v1/tenants/acme/documents/bad%20id", token: alice, wantStatus: 403, wantReason: "INVALID_REQUEST", wantNoRevision: true},
		{name: "subject from header", method: "GET", uri: "/internal/acme-plan", header: map[string]string{"X-User-Id": "alice"}, token: alice, wantStatus: 200, wantSubject: "user:alice"},
		{name: "subject header is not the token's", method: "GET", uri: "/internal/acme-plan", header: map[string]string{"X-User-Id": "bob"}, token: alice, wantStatus: 403, wantReason: "SUBJECT_TOKEN_MISMATCH", wantNoRevision: true},
		{name: "wrong gateway key", gatewayKey: "nope", method: "GET", uri: "/v1/tenants/acme/documents/acme-plan", token: alice, wantStatus: 403, wantReason: "GATEWAY_KEY_INVALID", wantNoRevision: true},
		{name: "gateway key without check scope", gatewayKey: "writer", method: "GET", uri: "/v1/tenants/acme/documents/acme-plan", token: alice, wantStatus: 403, wantReason: "GATEWAY_KEY_INVALID", wantNoRevision: true},
	}
}

// enforcementServer serves the context scenario with the shared route map
// and a check-scoped gateway key "gw" (and a write-only key "writer").
func enforcementServer(t *testing.T, issuer *identitytest.Issuer) string {
	t.Helper()
	m, err := routes.Parse([]byte(forwardAuthRoutes))
	if err != nil {
		t.Fatal(err)
	}
	return contextServerWith(t, issuer, service.Config{Keys: []service.Key{{Secret: "gw", Scopes: service.ScopeCheck}, {Secret: "writer", Scopes: service.ScopeWrite}},
		Routes: routes.Static(m)})
}

// enforcementAnswer is what an enforcement point answered, as HTTP.
type enforcementAnswer struct {
	status                    int
	reason, subject, revision string
}

func (a enforcementAnswer) check(t *testing.T, tt enforcementCase) {
	t.Helper()
	if a.status != tt.wantStatus || a.reason != tt.wantReason {
		t.Fatalf("status %d, reason %q; want %d, %q", a.status, a.reason, tt.wantStatus, tt.wantReason)
	}
	if a.subject != tt.wantSubject {
		t.Errorf("subject %q, want %q", a.subject, tt.wantSubject)
	}
	if (a.revision == "") != tt.wantNoRevision {
		t.Errorf("revision %q; want one: %v", a.revision, !tt.wantNoRevision)
	}
}

func (tt enforcementCase) key() string {
	if tt.gatewayKey == "" {
		return "gw"
	}
	return tt.gatewayKey
}

// askForwardAuth asks forward-auth as nginx (or Traefik) would.
func askForwardAuth(t *testing.T, addr string, tt enforcementCase) enforcementAnswer {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+service.ForwardAuthPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(service.GatewayKeyHeader, tt.key())
	if tt.traefik {
		req.Header.Set("X-Forwarded-Method", tt.method)
		req.Header.Set("X-Forwarded-Uri", tt.uri)
	} else {
		req.Header.Set("X-Original-Method", tt.method)
		req.Header.Set("X-Original-URI", tt.uri)
	}
	if tt.token != "" {
		req.Header.Set("Authorization", "Bearer "+tt.token)
	}
	for k, v := range tt.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return enforcementAnswer{resp.StatusCode, resp.Header.Get(service.ReasonHeader), resp.Header.Get(service.SubjectHeader), resp.Header.Get(service.RevisionHeader)}
}

// askExtAuthz asks as Envoy does: go-control-plane's generated client, a
// CheckRequest with the HTTP request's attributes, the key as metadata.
func askExtAuthz(t *testing.T, c authv3.AuthorizationClient, tt enforcementCase) enforcementAnswer {
	t.Helper()
	headers := map[string]string{}
	if tt.token != "" {
		headers["authorization"] = "Bearer " + tt.token
	}
	for k, v := range tt.header {
		headers[strings.ToLower(k)] = v
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), strings.ToLower(service.GatewayKeyHeader), tt.key())
	resp, err := c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: tt.method, Path: tt.uri, Headers: headers, Host: "api.test", Scheme: "http"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	a := enforcementAnswer{status: 200}
	var hs []*corev3.HeaderValueOption
	if ok := resp.GetOkResponse(); ok != nil {
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			t.Fatalf("ok response with status %v", resp.GetStatus())
		}
		hs = ok.GetHeaders()
	} else {
		denied := resp.GetDeniedResponse()
		a.status = int(denied.GetStatus().GetCode())
		if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
			t.Fatalf("denied response with status OK")
		}
		hs = denied.GetHeaders()
	}
	for _, h := range hs {
		switch h.GetHeader().GetKey() {
		case service.ReasonHeader:
			a.reason = h.GetHeader().GetValue()
		case service.SubjectHeader:
			a.subject = h.GetHeader().GetValue()
		case service.RevisionHeader:
			a.revision = h.GetHeader().GetValue()
		}
	}
	return a
}

// TestEnforcement_SameDecisions: forward-auth and ext_authz answer the shared
// table alike (the Go middleware runs the same table in package enforce).
func TestEnforcement_SameDecisions(t *testing.T) {
	issuer := identitytest.New(t, "corp", "gatehouse")
	addr := enforcementServer(t, issuer)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ext := authv3.NewAuthorizationClient(conn)
	for _, tt := range enforcementCases(issuer) {
		t.Run("forward-auth/"+tt.name, func(t *testing.T) { askForwardAuth(t, addr, tt).check(t, tt) })
		if tt.traefik {
			continue // a forward-auth header convention
		}
		t.Run("ext_authz/"+tt.name, func(t *testing.T) { askExtAuthz(t, ext, tt).check(t, tt) })
	}
}

// TestForwardAuth_MapSettings: without a route map every request is refused;
// a map that allows unmatched requests lets them through (saying so); a
// subrequest that does not name the original request is a bad request.
func TestForwardAuth_MapSettings(t *testing.T) {
	issuer := identitytest.New(t, "corp", "gatehouse")
	allow, err := routes.Parse([]byte("version: 1\nunmatched: allow\nroutes: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	ask := func(addr string, original bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+service.ForwardAuthPath, nil)
		req.Header.Set(service.GatewayKeyHeader, "k")
		if original {
			req.Header.Set("X-Original-Method", "GET")
			req.Header.Set("X-Original-URI", "/anything")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	none := contextServerWith(t, issuer, service.Config{})
	if r := ask(none, true); r.StatusCode != 403 || r.Header.Get(service.ReasonHeader) != "NO_ROUTE_MAP" {
		t.Errorf("no route map: %d %q", r.StatusCode, r.Header.Get(service.ReasonHeader))
	}
	open := contextServerWith(t, issuer, service.Config{Routes: routes.Static(allow)})
	if r := ask(open, true); r.StatusCode != 200 || r.Header.Get(service.ReasonHeader) != "ROUTE_NOT_FOUND_ALLOWED" {
		t.Errorf("unmatched, allowed: %d %q", r.StatusCode, r.Header.Get(service.ReasonHeader))
	}
	if r := ask(open, false); r.StatusCode != 400 || r.Header.Get(service.ReasonHeader) != "INVALID_REQUEST" {
		t.Errorf("no original request: %d %q", r.StatusCode, r.Header.Get(service.ReasonHeader))
	}
}
