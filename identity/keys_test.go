package identity_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
)

// jwksServer serves a replaceable key set on 127.0.0.1:0 and counts requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	down atomic.Bool

	mu   sync.Mutex
	body []byte
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// syncBuffer is a log destination safe for the background refresher.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestVerifier_JWKSFromURL(t *testing.T) {
	k1, k2 := newEdKey(t, "k1"), newECKey(t, "k2")
	srv := newJWKSServer(t, jwks(t, k1))
	clock := newFakeClock()
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{
		{Name: "idp", URL: issA, JWKS: srv.URL + "/jwks", Audience: audA, SubjectType: "user"},
	}, identity.WithClock(clock.Now), identity.WithRefresh(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	token := func(k signingKey) string { return sign(t, k, claimsFor(issA, audA, nil)) }
	wantHits := func(want int64) {
		t.Helper()
		if got := srv.hits.Load(); got != want {
			t.Fatalf("JWKS server hits = %d, want %d", got, want)
		}
	}
	wantOK := func(tok string) {
		t.Helper()
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}

	wantHits(1)
	wantOK(token(k1))
	wantHits(1)

	// Rotation: the new kid is unknown, so Verify fetches the set again.
	srv.serve(jwks(t, k1, k2))
	wantOK(token(k2))
	wantHits(2)

	// Unknown kids refresh at most once every ten seconds.
	unknown := sign(t, k2, claimsFor(issA, audA, nil), withKeyID("k3"))
	for range 20 {
		id, err := v.Verify(t.Context(), unknown)
		assertRefused(t, id, err, identity.ReasonBadSignature)
	}
	wantHits(2)
	clock.Advance(9 * time.Second)
	id, err := v.Verify(t.Context(), unknown)
	assertRefused(t, id, err, identity.ReasonBadSignature)
	wantHits(2)
	clock.Advance(2 * time.Second)
	for range 5 {
		id, err := v.Verify(t.Context(), unknown)
		assertRefused(t, id, err, identity.ReasonBadSignature)
	}
	wantHits(3)

	// The server goes down: the refresh fails, the old keys stay.
	srv.down.Store(true)
	clock.Advance(11 * time.Second)
	id, err = v.Verify(t.Context(), unknown)
	assertRefused(t, id, err, identity.ReasonKeysUnavailable)
	if strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q reveals the JWKS URL", err)
	}
	wantHits(4)
	wantOK(token(k1))
	wantOK(token(k2))
	wantHits(4)
}

func TestVerifier_BackgroundRefresh(t *testing.T) {
	k1, k2 := newEdKey(t, "k1"), newEdKey(t, "k2")
	srv := newJWKSServer(t, jwks(t, k1))
	logs := &syncBuffer{}
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{
		{Name: "idp", URL: issA, JWKS: srv.URL, Audience: audA, SubjectType: "user"},
	}, identity.WithClock(newFakeClock().Now), identity.WithRefresh(10*time.Millisecond),
		identity.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	srv.down.Store(true)
	before := srv.hits.Load()
	waitFor("two failed refreshes", func() bool { return srv.hits.Load() >= before+2 })
	if _, err := v.Verify(t.Context(), sign(t, k1, claimsFor(issA, audA, nil))); err != nil {
		t.Fatalf("Verify after failed refreshes: %v", err)
	}
	if !strings.Contains(logs.String(), "refreshing JWKS failed") {
		t.Errorf("failed refresh not logged; logs:\n%s", logs)
	}

	// Use up the on-demand refresh (the clock is frozen) so that only the
	// background refresh can pick up k2.
	unknown := sign(t, k2, claimsFor(issA, audA, nil), withKeyID("k9"))
	id, err := v.Verify(t.Context(), unknown)
	assertRefused(t, id, err, identity.ReasonKeysUnavailable)
	srv.serve(jwks(t, k2))
	srv.down.Store(false)
	waitFor("k2 to be picked up", func() bool {
		_, err := v.Verify(t.Context(), sign(t, k2, claimsFor(issA, audA, nil)))
		return err == nil
	})

	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	after := srv.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if got := srv.hits.Load(); got != after {
		t.Errorf("JWKS fetched %d more times after Close", got-after)
	}
}

func TestVerifier_JWKSFromFile(t *testing.T) {
	k1, k2 := newRSAKey(t, "k1"), newECKey(t, "k2")
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwks(t, k1))
	clock := newFakeClock()
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{
		{Name: "file", URL: issA, JWKS: path, Audience: audA, SubjectType: "user"},
	}, identity.WithClock(clock.Now), identity.WithRefresh(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	tok1, tok2 := sign(t, k1, claimsFor(issA, audA, nil)), sign(t, k2, claimsFor(issA, audA, nil))

	if _, err := v.Verify(t.Context(), tok1); err != nil {
		t.Fatalf("Verify k1: %v", err)
	}
	writeJWKS(t, path, jwks(t, k2))
	if _, err := v.Verify(t.Context(), tok2); err != nil {
		t.Fatalf("Verify k2 after rewrite: %v", err)
	}
	id, err := v.Verify(t.Context(), tok1)
	assertRefused(t, id, err, identity.ReasonBadSignature)

	// A broken rewrite keeps the last good keys.
	writeJWKS(t, path, []byte("{not json"))
	clock.Advance(11 * time.Second)
	id, err = v.Verify(t.Context(), sign(t, k2, claimsFor(issA, audA, nil), withKeyID("k3")))
	assertRefused(t, id, err, identity.ReasonKeysUnavailable)
	if strings.Contains(err.Error(), path) {
		t.Errorf("error %q reveals the JWKS path", err)
	}
	if _, err := v.Verify(t.Context(), tok2); err != nil {
		t.Fatalf("Verify k2 after broken rewrite: %v", err)
	}
}

func TestNewVerifier_Errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	serve := func(status int, body []byte) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "http://" + ln.Addr().String() + "/jwks"
	_ = ln.Close()
	good := jwks(t, newEdKey(t, "k"))
	oct := []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}`)

	tests := []struct {
		name, jwks, want string
	}{
		{"unreachable URL", unreachable, "connect"},
		{"not found", serve(http.StatusNotFound, good), "404"},
		{"non-JSON body", serve(http.StatusOK, []byte("<html>")), "not valid JSON"},
		{"body over 1 MiB", serve(http.StatusOK, append(good, bytes.Repeat([]byte(" "), 1<<20)...)), "larger than"},
		{"missing file", filepath.Join(dir, "missing.json"), "no such file"},
		{"non-JSON file", write("bad.json", []byte("keys: []")), "not valid JSON"},
		{"no keys array", write("empty.json", []byte(`{}`)), "no \"keys\""},
		{"only a symmetric key", write("oct.json", oct), "no usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			v, err := identity.NewVerifier(ctx, []identity.Issuer{
				{Name: "good", URL: issB, JWKS: write("good.json", good), Audience: audA, SubjectType: "user"},
				{Name: "broken-idp", URL: issA, JWKS: tt.jwks, Audience: audA, SubjectType: "user"},
			})
			if err == nil {
				_ = v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if !strings.Contains(err.Error(), `"broken-idp"`) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the issuer or contain %q", err, tt.want)
			}
		})
	}

	config := []struct {
		name    string
		issuers []identity.Issuer
		opts    []identity.Option
		want    string
	}{
		{"no issuers", nil, nil, "no issuers"},
		{"invalid issuer", []identity.Issuer{{Name: "x", URL: "not a url", JWKS: "f", Audience: "a", SubjectType: "user"}}, nil, "issuer URL"},
		{"duplicate name", []identity.Issuer{
			{Name: "x", URL: issA, JWKS: write("g1.json", good), Audience: "a", SubjectType: "user"},
			{Name: "x", URL: issB, JWKS: write("g2.json", good), Audience: "a", SubjectType: "user"},
		}, nil, "twice"},
		{"duplicate URL", []identity.Issuer{
			{Name: "x", URL: issA, JWKS: write("g1.json", good), Audience: "a", SubjectType: "user"},
			{Name: "y", URL: issA, JWKS: write("g2.json", good), Audience: "a", SubjectType: "user"},
		}, nil, "same URL"},
		{"zero refresh", []identity.Issuer{{Name: "x", URL: issA, JWKS: write("g1.json", good), Audience: "a", SubjectType: "user"}},
			[]identity.Option{identity.WithRefresh(0)}, "refresh"},
		{"negative leeway", []identity.Issuer{{Name: "x", URL: issA, JWKS: write("g1.json", good), Audience: "a", SubjectType: "user"}},
			[]identity.Option{identity.WithLeeway(-time.Second)}, "leeway"},
	}
	for _, tt := range config {
		t.Run(tt.name, func(t *testing.T) {
			v, err := identity.NewVerifier(t.Context(), tt.issuers, tt.opts...)
			if err == nil {
				_ = v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
