// Command mint writes a throwaway signing key set and subject tokens for the
// multitenant example, for the example only: the key is generated on every
// run, never kept, and gatehouse itself never issues tokens.
//
//	go run ./examples/multitenant/mint --dir DIR
//
// writes DIR/jwks.json (the public key) and DIR/alice.jwt, DIR/bob.jwt,
// DIR/carol.jwt, DIR/expired.jwt (alice, expired an hour ago) and
// DIR/wrong-audience.jwt (alice, for another audience).
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The issuer and audience that walkthrough.sh configures gatehouse with.
const (
	issuer   = "https://idp.example.test/"
	audience = "gatehouse"
)

// person is the claims the example's identity provider asserts about a user.
type person struct {
	Tenant    string `json:"tenant"`
	Clearance string `json:"clearance"`
}

// token is one token to write: its registered claims and the person's.
type token struct {
	claims jwt.Claims
	who    person
}

func main() {
	dir := flag.String("dir", ".", "directory to write jwks.json and the *.jwt tokens to")
	flag.Parse()
	if err := run(*dir, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "mint:", err)
		os.Exit(1)
	}
}

func run(dir string, now time.Time) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	public := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	thumb, err := public.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("key thumbprint: %w", err)
	}
	public.KeyID = base64.RawURLEncoding.EncodeToString(thumb)

	jwks, err := json.MarshalIndent(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{public}}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode key set: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), append(jwks, '\n'), 0o644); err != nil {
		return err
	}

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: public.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}

	valid := func(sub string) jwt.Claims {
		return jwt.Claims{
			Issuer:    issuer,
			Audience:  jwt.Audience{audience},
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(now.Add(time.Hour)),
		}
	}
	alice := person{Tenant: "acme", Clearance: "internal"}
	expired := valid("alice")
	expired.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
	expired.NotBefore = expired.IssuedAt
	expired.Expiry = jwt.NewNumericDate(now.Add(-time.Hour))
	wrongAudience := valid("alice")
	wrongAudience.Audience = jwt.Audience{"billing"}

	tokens := map[string]token{
		"alice":          {valid("alice"), alice},
		"bob":            {valid("bob"), person{Tenant: "acme", Clearance: "confidential"}},
		"carol":          {valid("carol"), person{Tenant: "globex", Clearance: "confidential"}},
		"expired":        {expired, alice},
		"wrong-audience": {wrongAudience, alice},
	}
	for name, tok := range tokens {
		raw, err := jwt.Signed(signer).Claims(tok.claims).Claims(tok.who).Serialize()
		if err != nil {
			return fmt.Errorf("sign %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".jwt"), []byte(raw+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}
