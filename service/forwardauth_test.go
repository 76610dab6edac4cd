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

	"github.com/gatehouse-dev/gatehouse/enforce"
	"github.com/gatehouse-dev/gatehouse/enforce/enforcetest"
	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
	"github.com/gatehouse-dev/gatehouse/routes"
	"github.com/gatehouse-dev/gatehouse/service"
)

// enforcementServer serves the enforcetest scenario with its route map and
// keys, trusting issuer.
func enforcementServer(t *testing.T, issuer *identitytest.Issuer) string {
	t.Helper()
	m, err := routes.Parse([]byte(enforcetest.Routes))
	if err != nil {
		t.Fatal(err)
	}
	return contextServerWith(t, issuer, service.Config{Routes: routes.Static(m), Keys: []service.Key{
		{Secret: enforcetest.GatewayKey, Scopes: service.ScopeCheck}, {Secret: enforcetest.WriterKey, Scopes: service.ScopeWrite}}})
}

// askForwardAuth asks forward-auth as nginx (or Traefik) would.
func askForwardAuth(t *testing.T, addr string, tt enforcetest.Case) enforcetest.Answer {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+service.ForwardAuthPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(service.GatewayKeyHeader, tt.Key())
	if tt.Traefik {
		req.Header.Set("X-Forwarded-Method", tt.Method)
		req.Header.Set("X-Forwarded-Uri", tt.URI)
	} else {
		req.Header.Set("X-Original-Method", tt.Method)
		req.Header.Set("X-Original-URI", tt.URI)
	}
	if tt.Token != "" {
		req.Header.Set("Authorization", "Bearer "+tt.Token)
	}
	for k, v := range tt.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return enforcetest.Answer{Status: resp.StatusCode, Reason: resp.Header.Get(enforce.ReasonHeader), Subject: resp.Header.Get(enforce.SubjectHeader), Revision: resp.Header.Get(enforce.RevisionHeader)}
}

// askExtAuthz asks as Envoy does: go-control-plane's generated client, a
// CheckRequest with the HTTP request's attributes, the key as metadata.
func askExtAuthz(t *testing.T, c authv3.AuthorizationClient, tt enforcetest.Case) enforcetest.Answer {
	t.Helper()
	headers := map[string]string{}
	if tt.Token != "" {
		headers["authorization"] = "Bearer " + tt.Token
	}
	for k, v := range tt.Header {
		headers[strings.ToLower(k)] = v
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), strings.ToLower(service.GatewayKeyHeader), tt.Key())
	resp, err := c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: tt.Method, Path: tt.URI, Headers: headers, Host: "api.test", Scheme: "http"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	a := enforcetest.Answer{Status: 200}
	var hs []*corev3.HeaderValueOption
	if ok := resp.GetOkResponse(); ok != nil {
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			t.Fatalf("ok response with status %v", resp.GetStatus())
		}
		hs = ok.GetHeaders()
	} else {
		denied := resp.GetDeniedResponse()
		a.Status = int(denied.GetStatus().GetCode())
		if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
			t.Fatalf("denied response with status OK")
		}
		hs = denied.GetHeaders()
	}
	for _, h := range hs {
		switch h.GetHeader().GetKey() {
		case enforce.ReasonHeader:
			a.Reason = h.GetHeader().GetValue()
		case enforce.SubjectHeader:
			a.Subject = h.GetHeader().GetValue()
		case enforce.RevisionHeader:
			a.Revision = h.GetHeader().GetValue()
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
	for _, tt := range enforcetest.Cases(issuer) {
		t.Run("forward-auth/"+tt.Name, func(t *testing.T) { askForwardAuth(t, addr, tt).Check(t, tt) })
		if tt.Traefik {
			continue // a forward-auth header convention
		}
		t.Run("ext_authz/"+tt.Name, func(t *testing.T) { askExtAuthz(t, ext, tt).Check(t, tt) })
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
	if r := ask(none, true); r.StatusCode != 403 || r.Header.Get(enforce.ReasonHeader) != "NO_ROUTE_MAP" {
		t.Errorf("no route map: %d %q", r.StatusCode, r.Header.Get(enforce.ReasonHeader))
	}
	open := contextServerWith(t, issuer, service.Config{Routes: routes.Static(allow)})
	if r := ask(open, true); r.StatusCode != 200 || r.Header.Get(enforce.ReasonHeader) != "ROUTE_NOT_FOUND_ALLOWED" {
		t.Errorf("unmatched, allowed: %d %q", r.StatusCode, r.Header.Get(enforce.ReasonHeader))
	}
	if r := ask(open, false); r.StatusCode != 400 || r.Header.Get(enforce.ReasonHeader) != "INVALID_REQUEST" {
		t.Errorf("no original request: %d %q", r.StatusCode, r.Header.Get(enforce.ReasonHeader))
	}
}
