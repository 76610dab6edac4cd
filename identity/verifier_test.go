package identity_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/identity"
)

// testNow is the fixed time of the tests' clocks.
var testNow = time.Unix(1_800_000_000, 0)

// signingKey is a private key with the key ID and algorithm tokens use.
type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k signingKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Use: "sig"}
}

func newRSAKey(t testing.TB, kid string) signingKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.RS256, priv: priv}
}

func newECKey(t testing.TB, kid string) signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.ES256, priv: priv}
}

func newEdKey(t testing.TB, kid string) signingKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.EdDSA, priv: priv}
}

// jwks returns the JSON Web Key Set of the keys' public halves.
func jwks(t testing.TB, keys ...signingKey) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public())
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeJWKS writes the key set to path and moves its modification time
// forward, so that the change is seen even on file systems with coarse
// timestamps.
func writeJWKS(t testing.TB, path string, data []byte) {
	t.Helper()
	var mtime time.Time
	if info, err := os.Stat(path); err == nil {
		mtime = info.ModTime().Add(time.Minute)
	} else {
		mtime = time.Now()
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// sign returns a compact JWT with the claims, signed by key with the key's
// algorithm and key ID unless the options change them.
func sign(t testing.TB, key signingKey, claims map[string]any, opts ...func(*tokenOptions)) string {
	t.Helper()
	o := tokenOptions{alg: key.alg, kid: key.kid, key: key.priv}
	for _, f := range opts {
		f(&o)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: o.alg, Key: jose.JSONWebKey{Key: o.key, KeyID: o.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

type tokenOptions struct {
	alg jose.SignatureAlgorithm
	kid string
	key any
}

func withAlg(alg jose.SignatureAlgorithm) func(*tokenOptions) {
	return func(o *tokenOptions) { o.alg = alg }
}

func withKeyID(kid string) func(*tokenOptions) {
	return func(o *tokenOptions) { o.kid = kid }
}

// withHMAC signs with HS256 under secret, as an attacker who knows the
// issuer's public key would in an algorithm confusion attack.
func withHMAC(secret []byte) func(*tokenOptions) {
	return func(o *tokenOptions) { o.alg, o.key = jose.HS256, secret }
}

// claimsFor returns valid claims for issuer URL iss and audience aud, with
// changes applied; a nil value in changes deletes the claim.
func claimsFor(iss, aud string, changes map[string]any) map[string]any {
	c := map[string]any{
		"iss": iss,
		"aud": aud,
		"sub": "alice",
		"exp": float64(testNow.Add(time.Hour).Unix()),
		"iat": float64(testNow.Add(-time.Minute).Unix()),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// b64 encodes s as unpadded base64url, as JWS segments are.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: testNow} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// assertRefused fails unless err is an *identity.Error with the reason, and
// id is nil.
func assertRefused(t *testing.T, id *identity.Identity, err error, want identity.Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify accepted the token (%+v), want %v", id, want)
	}
	if id != nil {
		t.Fatalf("Verify returned %+v with error %v", id, err)
	}
	var ierr *identity.Error
	if !errors.As(err, &ierr) {
		t.Fatalf("Verify error %T %v, want *identity.Error", err, err)
	}
	if ierr.Reason != want {
		t.Fatalf("Verify reason = %v (%v), want %v", ierr.Reason, err, want)
	}
}

const (
	issA = "https://a.example.com"
	issB = "https://b.example.com/tenant"
	audA = "gatehouse"
	audB = "gatehouse-b"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	rsaKey, ecKey, edKey := newRSAKey(t, "rsa1"), newECKey(t, "ec1"), newEdKey(t, "ed1")
	keyB := newECKey(t, "b1")
	forger := newRSAKey(t, "rsa1") // same kid as rsaKey, different key
	writeJWKS(t, filepath.Join(dir, "a.json"), jwks(t, rsaKey, ecKey, edKey))
	writeJWKS(t, filepath.Join(dir, "b.json"), jwks(t, keyB))
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{
		{Name: "a", URL: issA, JWKS: filepath.Join(dir, "a.json"), Audience: audA, SubjectType: "user"},
		{Name: "b", URL: issB, JWKS: filepath.Join(dir, "b.json"), Audience: audB, SubjectType: "tenant/workload"},
	}, identity.WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })

	claimsA := func(changes map[string]any) map[string]any { return claimsFor(issA, audA, changes) }
	rich := claimsA(map[string]any{
		"email": "alice@example.com",
		"n":     42,
		"admin": true,
		"none":  json.RawMessage("null"),
		"roles": []any{"reader", 1.5, false},
		"org":   map[string]any{"id": "acme", "tier": map[string]any{"level": 3}},
	})
	pubPEM, err := x509.MarshalPKIXPublicKey(rsaKey.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	hmacSecret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubPEM})
	valid := sign(t, rsaKey, claimsA(nil))
	parts := strings.Split(valid, ".")

	tests := []struct {
		name        string
		token       string
		want        identity.Reason // 0: accepted
		wantIssuer  string
		wantType    string
		wantClaims  map[string]any // checked when set
		errContains string
	}{
		{name: "RS256 with rich claims", token: sign(t, rsaKey, rich), wantIssuer: "a", wantType: "user", wantClaims: map[string]any{
			"iss": issA, "aud": audA, "sub": "alice",
			"exp":   float64(testNow.Add(time.Hour).Unix()),
			"iat":   float64(testNow.Add(-time.Minute).Unix()),
			"email": "alice@example.com", "n": float64(42), "admin": true, "none": nil,
			"roles": []any{"reader", 1.5, false},
			"org":   map[string]any{"id": "acme", "tier": map[string]any{"level": float64(3)}},
		}},
		{name: "PS256", token: sign(t, rsaKey, claimsA(nil), withAlg(jose.PS256)), wantIssuer: "a"},
		{name: "ES256", token: sign(t, ecKey, claimsA(nil)), wantIssuer: "a"},
		{name: "EdDSA", token: sign(t, edKey, claimsA(nil)), wantIssuer: "a"},
		{name: "no kid tries every fitting key", token: sign(t, edKey, claimsA(nil), withKeyID("")), wantIssuer: "a"},
		{name: "second issuer", token: sign(t, keyB, claimsFor(issB, audB, nil)), wantIssuer: "b", wantType: "tenant/workload"},
		{name: "audience list containing ours", token: sign(t, rsaKey, claimsA(map[string]any{"aud": []any{"other", audA}})), wantIssuer: "a"},
		{name: "expired within leeway", token: sign(t, rsaKey, claimsA(map[string]any{"exp": testNow.Add(-20 * time.Second).Unix()})), wantIssuer: "a"},
		{name: "nbf within leeway", token: sign(t, rsaKey, claimsA(map[string]any{"nbf": testNow.Add(20 * time.Second).Unix()})), wantIssuer: "a"},

		{name: "expired", token: sign(t, rsaKey, claimsA(map[string]any{"exp": testNow.Add(-time.Minute).Unix()})), want: identity.ReasonExpired},
		{name: "nbf in the future", token: sign(t, rsaKey, claimsA(map[string]any{"nbf": testNow.Add(time.Minute).Unix()})), want: identity.ReasonNotYetValid},
		{name: "iat in the future", token: sign(t, rsaKey, claimsA(map[string]any{"iat": testNow.Add(time.Minute).Unix()})), want: identity.ReasonNotYetValid},
		{name: "no exp", token: sign(t, rsaKey, claimsA(map[string]any{"exp": nil})), want: identity.ReasonMalformed},
		{name: "wrong audience", token: sign(t, rsaKey, claimsA(map[string]any{"aud": "someone-else"})), want: identity.ReasonWrongAudience},
		{name: "audience of the other issuer", token: sign(t, rsaKey, claimsA(map[string]any{"aud": audB})), want: identity.ReasonWrongAudience},
		{name: "no audience", token: sign(t, rsaKey, claimsA(map[string]any{"aud": nil})), want: identity.ReasonWrongAudience},
		{name: "unknown issuer", token: sign(t, rsaKey, claimsA(map[string]any{"iss": "https://evil.example"})), want: identity.ReasonUnknownIssuer, errContains: `"https://evil.example"`},
		{name: "issuer differing by a trailing slash", token: sign(t, rsaKey, claimsA(map[string]any{"iss": issA + "/"})), want: identity.ReasonUnknownIssuer},
		{name: "unprintable issuer not repeated", token: sign(t, rsaKey, claimsA(map[string]any{"iss": "evil\x1b[31m"})), want: identity.ReasonUnknownIssuer, errContains: "issuer is not trusted"},
		{name: "no issuer", token: sign(t, rsaKey, claimsA(map[string]any{"iss": nil})), want: identity.ReasonUnknownIssuer},
		{name: "missing sub", token: sign(t, rsaKey, claimsA(map[string]any{"sub": nil})), want: identity.ReasonMissingSubject},
		{name: "empty sub", token: sign(t, rsaKey, claimsA(map[string]any{"sub": ""})), want: identity.ReasonMissingSubject},
		{name: "wildcard sub", token: sign(t, rsaKey, claimsA(map[string]any{"sub": "*"})), want: identity.ReasonMissingSubject},
		{name: "sub not an object ID", token: sign(t, rsaKey, claimsA(map[string]any{"sub": "alice smith"})), want: identity.ReasonMissingSubject},
		{name: "sub not a string", token: sign(t, rsaKey, claimsA(map[string]any{"sub": 7})), want: identity.ReasonMalformed},
		{name: "forged signature with a known kid", token: sign(t, forger, claimsA(nil)), want: identity.ReasonBadSignature},
		{name: "A's key claiming issuer B", token: sign(t, rsaKey, claimsFor(issB, audB, nil)), want: identity.ReasonBadSignature},
		{name: "A's key without kid claiming issuer B", token: sign(t, ecKey, claimsFor(issB, audB, nil), withKeyID("")), want: identity.ReasonBadSignature},
		{name: "unknown kid", token: sign(t, rsaKey, claimsA(nil), withKeyID("nope")), want: identity.ReasonBadSignature},
		{name: "algorithm not fitting the key", token: sign(t, edKey, claimsA(nil), withKeyID("rsa1")), want: identity.ReasonBadSignature},
		{name: "payload swapped", token: parts[0] + "." + b64(`{"iss":"`+issA+`","aud":"`+audA+`","sub":"mallory","exp":1900000000}`) + "." + parts[2], want: identity.ReasonBadSignature},
		{name: "alg none", token: b64(`{"alg":"none"}`) + "." + b64(`{"iss":"`+issA+`","aud":"`+audA+`","sub":"alice","exp":1900000000}`) + ".", want: identity.ReasonBadSignature},
		{name: "HS256 keyed with the RSA public key", token: sign(t, rsaKey, claimsA(nil), withHMAC(hmacSecret)), want: identity.ReasonBadSignature},
		{name: "garbage", token: "not a token", want: identity.ReasonMalformed},
		{name: "empty", token: "", want: identity.ReasonMalformed},
		{name: "two segments", token: parts[0] + "." + parts[1], want: identity.ReasonMalformed},
		{name: "bad base64", token: parts[0] + ".!!!." + parts[2], want: identity.ReasonMalformed},
		{name: "payload not JSON", token: parts[0] + "." + b64("hello") + "." + parts[2], want: identity.ReasonMalformed},
		{name: "oversize", token: sign(t, rsaKey, claimsA(map[string]any{"pad": strings.Repeat("x", identity.MaxTokenBytes)})), want: identity.ReasonMalformed},
		{name: "JWE-looking five segments", token: b64(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + ".a.b.c.d", want: identity.ReasonMalformed},
		{name: "JSON serialization", token: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, want: identity.ReasonMalformed},
		{name: "surrounding white space", token: " " + valid + "\n", want: identity.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(t.Context(), tt.token)
			if tt.want != 0 {
				assertRefused(t, id, err, tt.want)
				if strings.Contains(err.Error(), dir) {
					t.Errorf("error %q reveals the JWKS path", err)
				}
				if !strings.Contains(err.Error(), tt.errContains) {
					t.Errorf("error %q does not contain %q", err, tt.errContains)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.Issuer != tt.wantIssuer || id.Subject != "alice" {
				t.Errorf("Verify = issuer %q subject %q, want %q alice", id.Issuer, id.Subject, tt.wantIssuer)
			}
			if tt.wantType != "" && id.SubjectType != tt.wantType {
				t.Errorf("SubjectType = %q, want %q", id.SubjectType, tt.wantType)
			}
			if tt.wantClaims != nil && !reflect.DeepEqual(id.Claims, tt.wantClaims) {
				t.Errorf("Claims = %#v\nwant %#v", id.Claims, tt.wantClaims)
			}
			if want := caveats.EncodeFields(id.Claims); !bytes.Equal(id.ClaimsFields, want) {
				t.Errorf("ClaimsFields = %q, want the claims' encoding %q", id.ClaimsFields, want)
			}
		})
	}
}

func TestReason_String(t *testing.T) {
	tests := []struct {
		reason identity.Reason
		want   string
	}{
		{identity.ReasonMalformed, "malformed"},
		{identity.ReasonUnknownIssuer, "unknown issuer"},
		{identity.ReasonBadSignature, "bad signature"},
		{identity.ReasonExpired, "expired"},
		{identity.ReasonNotYetValid, "not yet valid"},
		{identity.ReasonWrongAudience, "wrong audience"},
		{identity.ReasonMissingSubject, "missing subject"},
		{identity.ReasonKeysUnavailable, "keys unavailable"},
		{identity.Reason(0), "reason(0)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.reason.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
