package identity_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/identity"
)

// FuzzVerify feeds hostile tokens to a verifier with fixed keys. Verify must
// not panic, must refuse with an *identity.Error and no Identity, and may
// accept only tokens whose signature go-jose itself verifies with one of the
// keys and whose claims match the Identity.
func FuzzVerify(f *testing.F) {
	edKey, ecKey := newEdKey(f, "ed"), newECKey(f, "ec")
	path := filepath.Join(f.TempDir(), "jwks.json")
	writeJWKS(f, path, jwks(f, edKey, ecKey))
	v, err := identity.NewVerifier(f.Context(), []identity.Issuer{
		{Name: "a", URL: issA, JWKS: path, Audience: audA, SubjectType: "user"},
	}, identity.WithClock(func() time.Time { return testNow }))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = v.Close() })
	keys := []jose.JSONWebKey{edKey.public(), ecKey.public()}

	valid := sign(f, edKey, claimsFor(issA, audA, map[string]any{"l": []any{1, "x"}, "m": map[string]any{"k": nil}}))
	other := sign(f, edKey, claimsFor(issA, audA, map[string]any{"sub": "mallory"}))
	vp, op := strings.Split(valid, "."), strings.Split(other, ".")
	for _, seed := range []string{
		valid,
		vp[0] + "." + op[1] + "." + vp[2], // payload of another token
		sign(f, ecKey, claimsFor(issA, audA, nil), withKeyID("")),
		sign(f, edKey, claimsFor(issA, audA, map[string]any{"aud": []any{"x", audA}, "nbf": testNow.Unix()})),
		sign(f, edKey, claimsFor(issA, "other", nil)),
		b64(`{"alg":"none"}`) + "." + b64(`{"iss":"`+issA+`","aud":"`+audA+`","sub":"a","exp":1900000000}`) + ".",
		b64(`{"alg":"EdDSA","kid":"ed","crit":["b64"],"b64":false}`) + ".e30.",
		"a.b.c", "....", "", "{}",
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(t.Context(), token)
		if err != nil {
			var ierr *identity.Error
			if !errors.As(err, &ierr) || ierr.Reason < identity.ReasonMalformed || ierr.Reason > identity.ReasonKeysUnavailable {
				t.Fatalf("Verify error %T %v, want *identity.Error with a known reason", err, err)
			}
			if id != nil {
				t.Fatalf("Verify returned %+v with error %v", id, err)
			}
			return
		}
		if id == nil {
			t.Fatal("Verify returned neither identity nor error")
		}
		tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
		if err != nil {
			t.Fatalf("accepted token does not parse with go-jose: %v", err)
		}
		var claims jwt.Claims
		verified := false
		for _, k := range keys {
			if tok.Claims(k.Key, &claims) == nil {
				verified = true
				break
			}
		}
		if !verified {
			t.Fatalf("accepted token %q does not verify with any key", token)
		}
		if claims.Issuer != issA || claims.Subject != id.Subject || !claims.Audience.Contains(audA) || claims.Expiry == nil {
			t.Fatalf("accepted token claims %+v do not match identity %+v", claims, id)
		}
	})
}
