package identity_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
)

func TestVerifier_Cache(t *testing.T) {
	k1 := newECKey(t, "k1")
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwks(t, k1))
	issuer := []identity.Issuer{{Name: "file", URL: issA, JWKS: path, Audience: audA, SubjectType: "user"}}

	clock := newFakeClock()
	v, err := identity.NewVerifier(t.Context(), issuer, identity.WithClock(clock.Now), identity.WithRefresh(time.Hour),
		identity.WithCache(100, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	// Expires 90 seconds from now: cached for the TTL (60 s), then re-verified.
	tok := sign(t, k1, claimsFor(issA, audA, map[string]any{"exp": float64(testNow.Add(90 * time.Second).Unix())}))
	first, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(t.Context(), tok)
	if err != nil || again != first {
		t.Fatalf("second Verify = %p, %v; want the cached identity %p", again, err, first)
	}
	clock.Advance(61 * time.Second)
	after, err := v.Verify(t.Context(), tok)
	if err != nil || after == first {
		t.Fatalf("Verify after the TTL = %p, %v; want a fresh verification", after, err)
	}
	// Never past the token's expiry (plus leeway, which re-verification applies).
	clock.Advance(90 * time.Second)
	id, err := v.Verify(t.Context(), tok)
	assertRefused(t, id, err, identity.ReasonExpired)

	// Without a cache every call verifies.
	clock2 := newFakeClock()
	nc, err := identity.NewVerifier(t.Context(), issuer, identity.WithClock(clock2.Now), identity.WithCache(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	tok2 := sign(t, k1, claimsFor(issA, audA, nil))
	a, err1 := nc.Verify(t.Context(), tok2)
	b, err2 := nc.Verify(t.Context(), tok2)
	if err1 != nil || err2 != nil || a == b {
		t.Fatalf("uncached verifier returned %p, %p (%v, %v); want two verifications", a, b, err1, err2)
	}
}

// BenchmarkVerify measures Verify of one ES256 token with and without the cache.
func BenchmarkVerify(b *testing.B) {
	k1 := newECKey(b, "k1")
	path := filepath.Join(b.TempDir(), "jwks.json")
	writeJWKS(b, path, jwks(b, k1))
	issuer := []identity.Issuer{{Name: "file", URL: issA, JWKS: path, Audience: audA, SubjectType: "user"}}
	for _, bc := range []struct {
		name string
		opts []identity.Option
	}{{"cached", nil}, {"uncached", []identity.Option{identity.WithCache(0, 0)}}} {
		b.Run(bc.name, func(b *testing.B) {
			clock := newFakeClock()
			v, err := identity.NewVerifier(b.Context(), issuer, append(bc.opts, identity.WithClock(clock.Now))...)
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			tok := sign(b, k1, claimsFor(issA, audA, nil))
			for b.Loop() {
				if _, err := v.Verify(b.Context(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
