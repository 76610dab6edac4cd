package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// maxJWKSBytes bounds a fetched or read key set.
	maxJWKSBytes = 1 << 20
	// onDemandInterval is the shortest time between two refreshes that
	// unknown key IDs trigger for one issuer, so that tokens with made-up
	// key IDs cannot make gatehouse hammer the identity provider.
	onDemandInterval = 10 * time.Second
	// minRSABits is the smallest RSA modulus a key set may use.
	minRSABits = 2048
)

// keySource holds one issuer's current keys and refreshes them.
type keySource struct {
	issuer Issuer
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	keys atomic.Pointer[[]jose.JSONWebKey]
	// failing is set while the latest refresh attempt failed.
	failing atomic.Bool
	// changed is called after a refresh installs keys that differ from the
	// previous ones (the verifier then forgets tokens it verified).
	changed func()

	mu         sync.Mutex // serializes refreshes and guards the fields below
	lastDemand time.Time
	fileMod    time.Time
	fileSize   int64
}

// current returns the last good keys.
func (s *keySource) current() []jose.JSONWebKey { return *s.keys.Load() }

// load fetches or reads the key set unconditionally and installs it.
func (s *keySource) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reload(ctx, true)
}

// refresh loads the key set again if it may have changed; a failure keeps
// the old keys and is logged.
func (s *keySource) refresh(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(ctx)
}

// refreshOnDemand refreshes for a token with an unknown key ID, unless
// another such refresh happened within onDemandInterval.
func (s *keySource) refreshOnDemand(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if elapsed := now.Sub(s.lastDemand); !s.lastDemand.IsZero() && elapsed >= 0 && elapsed < onDemandInterval {
		return
	}
	s.lastDemand = now
	s.refreshLocked(ctx)
}

func (s *keySource) refreshLocked(ctx context.Context) {
	if err := s.reload(ctx, false); err != nil {
		s.log.WarnContext(ctx, "identity: refreshing JWKS failed; keeping the previous keys",
			"issuer", s.issuer.Name, "jwks", s.issuer.JWKS, "error", err)
	}
}

// reload reads the key set and installs it. Files are read only when forced
// or when their modification time or size changed. The caller holds s.mu.
func (s *keySource) reload(ctx context.Context, force bool) error {
	var (
		data []byte
		err  error
	)
	if isURL(s.issuer.JWKS) {
		data, err = s.fetch(ctx)
	} else {
		data, err = s.readFile(force)
		if err == nil && data == nil {
			return nil // unchanged
		}
	}
	if err == nil {
		var keys []jose.JSONWebKey
		if keys, err = parseJWKS(data); err == nil {
			old := s.keys.Swap(&keys)
			if old != nil && s.changed != nil && fingerprint(*old) != fingerprint(keys) {
				s.changed()
			}
		}
	}
	s.failing.Store(err != nil)
	return err
}

// fetch GETs the key set URL.
func (s *keySource) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.issuer.JWKS, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %s", s.issuer.JWKS, resp.Status)
	}
	return readLimited(resp.Body)
}

// readFile reads the key set file, or returns nil, nil when it has not
// changed since the last read and force is false.
func (s *keySource) readFile(force bool) ([]byte, error) {
	f, err := os.Open(s.issuer.JWKS)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !force && info.ModTime().Equal(s.fileMod) && info.Size() == s.fileSize {
		return nil, nil
	}
	data, err := readLimited(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.issuer.JWKS, err)
	}
	// Remember the version only once it was read, so that a failed read is
	// tried again.
	s.fileMod, s.fileSize = info.ModTime(), info.Size()
	return data, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS is larger than %d bytes", maxJWKSBytes)
	}
	return data, nil
}

// parseJWKS decodes a JSON Web Key Set and keeps the public signing keys of
// the types Verify accepts. Keys it cannot decode or use (encryption keys,
// symmetric keys, private keys, unknown types) are skipped, so that one odd
// key does not take down the whole set; a set without any usable key is an
// error.
func parseJWKS(data []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS is not valid JSON: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`JWKS has no "keys" array`)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if (k.Use == "" || k.Use == "sig") && k.IsPublic() && keyFamily(k.Key) != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no usable public signing keys")
	}
	return keys, nil
}

// allowedAlgorithms returns the signature algorithms Verify accepts.
func allowedAlgorithms() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512,
		jose.EdDSA,
	}
}

// keyFamily names the algorithm family a public key can verify, or "" for
// keys Verify does not use.
func keyFamily(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() >= minRSABits {
			return "RSA"
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return string(jose.ES256)
		case elliptic.P384():
			return string(jose.ES384)
		case elliptic.P521():
			return string(jose.ES512)
		}
	case ed25519.PublicKey:
		return string(jose.EdDSA)
	}
	return ""
}

// fits reports whether key may verify a signature made with alg.
func fits(key jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if key.Algorithm != "" && key.Algorithm != string(alg) {
		return false
	}
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		return keyFamily(key.Key) == "RSA"
	case jose.ES256, jose.ES384, jose.ES512, jose.EdDSA:
		return keyFamily(key.Key) == string(alg)
	}
	return false
}

// fingerprint identifies a key set by its keys' IDs and SHA-256 thumbprints.
func fingerprint(keys []jose.JSONWebKey) string {
	var b strings.Builder
	for _, k := range keys {
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			tp = []byte("?")
		}
		b.WriteString(k.KeyID)
		b.WriteByte(0)
		b.Write(tp)
		b.WriteByte(0)
	}
	return b.String()
}
