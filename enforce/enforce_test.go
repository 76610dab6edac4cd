package enforce_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatehouse-dev/gatehouse/enforce"
	"github.com/gatehouse-dev/gatehouse/enforce/enforcetest"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
	"github.com/gatehouse-dev/gatehouse/routes"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/servicetest"
)

// gatehouse starts a gatehouse with the enforcetest data, trusting issuer,
// and returns an AuthorizeService client with the gateway key; calls counts
// the calls made through it.
func gatehouse(t *testing.T, issuer *identitytest.Issuer, calls *atomic.Int64) gatehousev1connect.AuthorizeServiceClient {
	t.Helper()
	v, err := identity.NewVerifier(context.Background(), []identity.Issuer{issuer.Config()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	addr := servicetest.Start(t, service.Config{Verifier: v, Keys: []service.Key{
		{Secret: "k", Scopes: service.ScopeAll}, {Secret: enforcetest.GatewayKey, Scopes: service.ScopeCheck}}})
	enforcetest.Seed(t, addr, "k")
	return gatehousev1connect.NewAuthorizeServiceClient(http.DefaultClient, "http://"+addr, connect.WithInterceptors(key(enforcetest.GatewayKey, calls)))
}

func key(secret string, calls *atomic.Int64) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if calls != nil {
				calls.Add(1)
			}
			req.Header().Set("Authorization", "Bearer "+secret)
			return next(ctx, req)
		}
	}
}

func routeMap(t *testing.T, src string) *routes.Holder {
	t.Helper()
	m, err := routes.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return routes.Static(m)
}

// TestMiddleware_SharedCases: in-process, the middleware answers the shared
// table as forward-auth and ext_authz do (the cases about a gateway's own
// key do not apply: the enforcer's key is its configuration).
func TestMiddleware_SharedCases(t *testing.T) {
	issuer := identitytest.New(t, "corp", "gatehouse")
	e, err := enforce.New(enforce.Config{Routes: routeMap(t, enforcetest.Routes), Client: gatehouse(t, issuer, nil)})
	if err != nil {
		t.Fatal(err)
	}
	h := e.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Echo-Subject", r.Header.Get(enforce.SubjectHeader))
		w.WriteHeader(http.StatusOK)
	}))
	for _, c := range enforcetest.Cases(issuer) {
		if c.GatewayOnly {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			r := httptest.NewRequest(c.Method, c.URI, nil)
			if c.Token != "" {
				r.Header.Set("Authorization", "Bearer "+c.Token)
			}
			for k, v := range c.Header {
				r.Header.Set(k, v)
			}
			r.Header.Set(enforce.SubjectHeader, "user:mallory") // a client's own claim never passes
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			enforcetest.Answer{Status: w.Code, Reason: w.Header().Get(enforce.ReasonHeader), Subject: w.Header().Get("Echo-Subject"),
				Revision: w.Header().Get(enforce.RevisionHeader)}.Check(t, c)
		})
	}
}

// TestInterceptor: on a connect-go service, each call is asked about as
// POST /package.Service/Method; refusals are connect errors carrying the
// verdict, allowed calls reach the handler with the subject.
func TestInterceptor(t *testing.T) {
	issuer := identitytest.New(t, "corp", "gatehouse")
	e, err := enforce.New(enforce.Config{Client: gatehouse(t, issuer, nil), Routes: routeMap(t, `version: 1
routes:
  - method: POST
    path: /grpc.health.v1.Health/Check
    resource: document:billing-svc
    permission: deploy
    context:
      environment: {header: X-Environment}
`)})
	if err != nil {
		t.Fatal(err)
	}
	var subject atomic.Value
	mux := http.NewServeMux()
	mux.Handle("/grpc.health.v1.Health/Check", connect.NewUnaryHandler("/grpc.health.v1.Health/Check",
		func(ctx context.Context, req *connect.Request[grpc_health_v1.HealthCheckRequest]) (*connect.Response[grpc_health_v1.HealthCheckResponse], error) {
			subject.Store(req.Header().Get(enforce.SubjectHeader))
			return connect.NewResponse(&grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}), nil
		}, connect.WithInterceptors(e.Interceptor())))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := connect.NewClient[grpc_health_v1.HealthCheckRequest, grpc_health_v1.HealthCheckResponse](http.DefaultClient, srv.URL+"/grpc.health.v1.Health/Check")
	alice := issuer.Token("alice", map[string]any{"tenant": "acme"})
	call := func(token, env string) error {
		req := connect.NewRequest(&grpc_health_v1.HealthCheckRequest{})
		if token != "" {
			req.Header().Set("Authorization", "Bearer "+token)
		}
		if env != "" {
			req.Header().Set("X-Environment", env)
		}
		_, err := client.CallUnary(context.Background(), req)
		return err
	}
	if err := call(alice, "staging"); err != nil || subject.Load() != "user:alice" {
		t.Fatalf("allowed call: %v, subject %v", err, subject.Load())
	}
	for _, tt := range []struct {
		token, env string
		code       connect.Code
		reason     string
	}{
		{alice, "prod", connect.CodePermissionDenied, "PERMISSION_DENIED"},
		{alice, "", connect.CodePermissionDenied, "MISSING_CONTEXT"},
		{"", "staging", connect.CodeUnauthenticated, "SUBJECT_TOKEN_MISSING"},
		{issuer.Forged("alice", nil), "staging", connect.CodeUnauthenticated, "SUBJECT_TOKEN_BAD_SIGNATURE"},
	} {
		err := call(tt.token, tt.env)
		v, ok := enforce.VerdictOf(err)
		if connect.CodeOf(err) != tt.code || !ok || v.Reason != tt.reason {
			t.Errorf("env %q: %v (verdict %+v); want %v %s", tt.env, err, v, tt.code, tt.reason)
		}
	}
}

// TestDecide_FailsClosed: gatehouse answering too late, or not at all, is a
// refusal (503 UNAVAILABLE) within the deadline.
func TestDecide_FailsClosed(t *testing.T) {
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer slow.Close()
	defer close(stop)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for name, url := range map[string]string{"slow": slow.URL, "down": down.URL} {
		e, err := enforce.New(enforce.Config{Routes: routeMap(t, enforcetest.Routes), Timeout: 100 * time.Millisecond,
			Client: gatehousev1connect.NewAuthorizeServiceClient(http.DefaultClient, url)})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := routes.RequestOf("GET", "/v1/tenants/acme/documents/acme-plan", http.Header{})
		start := time.Now()
		v := e.Decide(context.Background(), r, "Bearer some-token")
		if v.Allowed() || v.Status != http.StatusServiceUnavailable || v.Reason != enforce.ReasonUnavailable {
			t.Errorf("%s: %+v, want 503 UNAVAILABLE", name, v)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refused after %v, past the 100ms deadline", name, d)
		}
	}
	if _, err := enforce.New(enforce.Config{Routes: routeMap(t, enforcetest.Routes)}); err == nil {
		t.Error("New without a client succeeded")
	}
}

// TestDecide_Cache: with a cache, a repeated question is answered without
// asking gatehouse; another token, or a consistency token, asks again.
func TestDecide_Cache(t *testing.T) {
	issuer := identitytest.New(t, "corp", "gatehouse")
	var calls atomic.Int64
	client := gatehouse(t, issuer, &calls)
	alice := issuer.Token("alice", map[string]any{"tenant": "acme"})
	r, _ := routes.RequestOf("GET", "/v1/tenants/acme/documents/acme-plan", http.Header{})
	for _, cache := range []*enforce.Cache{nil, enforce.NewCache(time.Minute, 100)} {
		calls.Store(0)
		e, err := enforce.New(enforce.Config{Routes: routeMap(t, enforcetest.Routes), Client: client, Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if v := e.Decide(context.Background(), r, "Bearer "+alice); !v.Allowed() {
				t.Fatalf("%+v", v)
			}
		}
		want := int64(3)
		if cache != nil {
			want = 1
		}
		if calls.Load() != want {
			t.Errorf("cache %v: %d calls for 3 decisions, want %d", cache != nil, calls.Load(), want)
		}
		if cache == nil {
			continue
		}
		other := issuer.Token("alice", map[string]any{"tenant": "globex"})
		if v := e.Decide(context.Background(), r, "Bearer "+other); v.Allowed() {
			t.Errorf("another token's question was answered from the cache: %+v", v)
		}
		first := e.Decide(context.Background(), r, "Bearer "+alice)
		fresh := r
		fresh.Header = http.Header{enforce.ConsistencyHeader: {first.Revision}}
		before := calls.Load()
		if v := e.Decide(context.Background(), fresh, "Bearer "+alice); !v.Allowed() || calls.Load() != before+1 {
			t.Errorf("a consistency token was answered from the cache (%d calls)", calls.Load()-before)
		}
	}
}
