// Package identitytest is a token issuer for tests: a signing key generated in
// the test, its JWKS served on 127.0.0.1:0, and signed JWTs on demand.
package identitytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/identity"
)

// Issuer signs tokens with an ES256 key whose public half its JWKS endpoint serves.
type Issuer struct {
	t        testing.TB
	key      *ecdsa.PrivateKey
	kid      string
	server   *httptest.Server
	URL      string // the "iss" of its tokens
	Audience string
	Name     string
}

// New starts an issuer named name whose tokens are for audience; it stops when t ends.
func New(t testing.TB, name, audience string) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{t: t, key: key, kid: name + "-key-1", Audience: audience, Name: name}
	is.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &is.key.PublicKey, KeyID: is.kid, Algorithm: string(jose.ES256), Use: "sig"}}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(is.server.Close)
	is.URL = "https://" + name + ".issuer.test/"
	return is
}

// Config is the issuer as gatehouse is configured with it (users are `user`).
func (is *Issuer) Config() identity.Issuer {
	return identity.Issuer{Name: is.Name, URL: is.URL, JWKS: is.server.URL + "/jwks.json", Audience: is.Audience, SubjectType: "user"}
}

// Spec is Config in --jwt-issuer form.
func (is *Issuer) Spec() string {
	c := is.Config()
	return c.Name + "=" + c.URL + ",jwks=" + c.JWKS + ",audience=" + c.Audience + ",subject-type=" + c.SubjectType
}

// Token signs a token for subject with the given extra claims, valid for an
// hour from now; claims may override iss, aud, exp, nbf and iat.
func (is *Issuer) Token(subject string, claims map[string]any) string {
	return is.sign(is.key, subject, claims)
}

// Forged signs like Token but with a key the issuer never published, under
// the same key ID.
func (is *Issuer) Forged(subject string, claims map[string]any) string {
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		is.t.Fatal(err)
	}
	return is.sign(other, subject, claims)
}

func (is *Issuer) sign(key *ecdsa.PrivateKey, subject string, claims map[string]any) string {
	is.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", is.kid))
	if err != nil {
		is.t.Fatal(err)
	}
	now := time.Now()
	all := map[string]any{
		"iss": is.URL, "aud": is.Audience, "sub": subject,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range claims {
		all[k] = v
	}
	tok, err := jwt.Signed(signer).Claims(all).Serialize()
	if err != nil {
		is.t.Fatal(err)
	}
	return tok
}
