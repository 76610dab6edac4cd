package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/caveats"
)

// MaxTokenBytes is the largest token Verify looks at.
const MaxTokenBytes = 16 << 10

// maxShownIssuer is the longest "iss" value an unknown-issuer error repeats.
const maxShownIssuer = 128

// Identity is the verified caller behind a token. Verify may return the same
// Identity for the same token again (see WithCache): it must not be modified.
type Identity struct {
	// Issuer is the Name of the configured Issuer that signed the token.
	Issuer string
	// Subject is the "sub" claim, a valid SpiceDB object ID.
	Subject string
	// SubjectType is the issuer's SpiceDB object type for subjects.
	SubjectType string
	// Claims holds every claim as decoded from JSON: string, float64, bool,
	// nil, []any or map[string]any.
	Claims map[string]any
	// ClaimsFields is Claims encoded once for caveat cache keys
	// (caveats.EncodeFields), so checks with a remembered token do not read
	// the claims map to find their cached caveat results.
	ClaimsFields caveats.Fields
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithRefresh sets how often key sets are refreshed in the background
// (default 5 minutes): URLs are fetched again, files are read again if they
// changed.
func WithRefresh(d time.Duration) Option { return func(v *Verifier) { v.refresh = d } }

// WithHTTPClient sets the client that fetches key set URLs. The default
// client times out after 10 seconds.
func WithHTTPClient(c *http.Client) Option { return func(v *Verifier) { v.client = c } }

// WithLogger sets where failed key set refreshes are reported. The default
// discards them.
func WithLogger(l *slog.Logger) Option { return func(v *Verifier) { v.log = l } }

// WithClock sets the clock for token validity and for rate limiting key set
// refreshes. The default is time.Now.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithLeeway sets the allowed clock skew for "exp", "nbf" and "iat"
// (default 30 seconds).
func WithLeeway(d time.Duration) Option { return func(v *Verifier) { v.leeway = d } }

// Verifier verifies subject tokens against a fixed set of issuers. It is
// safe for concurrent use.
type Verifier struct {
	refresh time.Duration
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
	leeway  time.Duration

	byURL map[string]*keySource // keyed by Issuer.URL, the "iss" value
	cache *tokenCache           // nil when off

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewVerifier validates the issuers, loads every key set once and starts
// refreshing them in the background until Close. A key set that cannot be
// loaded is an error naming its issuer.
func NewVerifier(ctx context.Context, issuers []Issuer, opts ...Option) (*Verifier, error) {
	v := &Verifier{
		refresh: 5 * time.Minute,
		client:  &http.Client{Timeout: 10 * time.Second},
		log:     slog.New(slog.DiscardHandler),
		now:     time.Now,
		leeway:  30 * time.Second,
		byURL:   make(map[string]*keySource, len(issuers)),
		cache:   newTokenCache(10000, time.Minute),
	}
	for _, o := range opts {
		o(v)
	}
	if v.client == nil || v.log == nil || v.now == nil {
		return nil, errors.New("identity: nil HTTP client, logger or clock option")
	}
	if v.refresh <= 0 {
		return nil, fmt.Errorf("identity: refresh interval must be positive, got %v", v.refresh)
	}
	if v.leeway < 0 {
		return nil, fmt.Errorf("identity: leeway must not be negative, got %v", v.leeway)
	}
	if len(issuers) == 0 {
		return nil, errors.New("identity: no issuers configured")
	}
	names := make(map[string]bool, len(issuers))
	for _, iss := range issuers {
		if err := iss.validate(); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		if names[iss.Name] {
			return nil, fmt.Errorf("identity: issuer %q configured twice", iss.Name)
		}
		if other, ok := v.byURL[iss.URL]; ok {
			return nil, fmt.Errorf("identity: issuers %q and %q have the same URL %q", other.issuer.Name, iss.Name, iss.URL)
		}
		names[iss.Name] = true
		src := &keySource{issuer: iss, client: v.client, now: v.now, log: v.log, changed: v.cache.clear}
		if err := src.load(ctx); err != nil {
			return nil, fmt.Errorf("identity: issuer %q: load JWKS: %w", iss.Name, err)
		}
		v.byURL[iss.URL] = src
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	v.stop, v.done = stop, make(chan struct{})
	go v.refreshLoop(bg)
	return v, nil
}

// Close stops the background refresh and waits for it to finish. Verify
// keeps working with the last keys.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.stop()
		<-v.done
	})
	return nil
}

func (v *Verifier) refreshLoop(ctx context.Context) {
	defer close(v.done)
	t := time.NewTicker(v.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, src := range v.byURL {
				src.refresh(ctx)
			}
		}
	}
}

// Verify checks a compact JWS token and returns its verified identity, or an
// *Error saying why the token is refused.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if id, ok := v.cache.get(token, v.now()); ok {
		return id, nil
	}
	if len(token) > MaxTokenBytes {
		return nil, refuse(ReasonMalformed, "token is larger than %d bytes", MaxTokenBytes)
	}
	if strings.Count(token, ".") != 2 {
		return nil, refuse(ReasonMalformed, "token is not a compact JWS (three dot-separated parts)")
	}
	tok, err := jwt.ParseSigned(token, allowedAlgorithms())
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, refuse(ReasonBadSignature, "signature algorithm is not allowed")
		}
		return nil, refuse(ReasonMalformed, "decode token: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, refuse(ReasonMalformed, "token must have exactly one signature")
	}

	// Select the issuer by the unverified "iss"; everything else is trusted
	// only after the signature verifies with that issuer's keys.
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, refuse(ReasonMalformed, "decode claims: %w", err)
	}
	src, ok := v.byURL[unverified.Issuer]
	if !ok {
		return nil, unknownIssuer(unverified.Issuer)
	}

	claims, all, rerr := src.verify(ctx, tok)
	if rerr != nil {
		return nil, rerr
	}
	if rerr := v.validate(src.issuer, claims); rerr != nil {
		return nil, rerr
	}
	id := &Identity{
		Issuer:      src.issuer.Name,
		Subject:     claims.Subject,
		SubjectType: src.issuer.SubjectType,
		Claims:      all,
	}
	id.ClaimsFields = caveats.EncodeFields(all)
	v.cache.put(token, id, claims.Expiry.Time(), v.now())
	return id, nil
}

// verify finds the issuer's keys that fit the token's header and returns the
// claims once one of them verifies the signature.
func (s *keySource) verify(ctx context.Context, tok *jwt.JSONWebToken) (jwt.Claims, map[string]any, *Error) {
	header := tok.Headers[0]
	alg := jose.SignatureAlgorithm(header.Algorithm)
	candidates := matchingKeys(s.current(), header.KeyID, alg)
	if len(candidates) == 0 && !hasKeyID(s.current(), header.KeyID) {
		s.refreshOnDemand(ctx)
		candidates = matchingKeys(s.current(), header.KeyID, alg)
		if len(candidates) == 0 && s.failing.Load() {
			return jwt.Claims{}, nil, refuse(ReasonKeysUnavailable, "the issuer's keys could not be refreshed; try again later")
		}
	}
	if len(candidates) == 0 {
		return jwt.Claims{}, nil, refuse(ReasonBadSignature, "no key of the issuer matches the token's key ID and algorithm")
	}
	for _, key := range candidates {
		var claims jwt.Claims
		var all map[string]any
		if err := tok.Claims(key.Key, &claims, &all); err == nil && all != nil {
			return claims, all, nil
		}
	}
	return jwt.Claims{}, nil, refuse(ReasonBadSignature, "signature does not verify")
}

// validate checks the verified registered claims.
func (v *Verifier) validate(iss Issuer, claims jwt.Claims) *Error {
	if claims.Expiry == nil {
		return refuse(ReasonMalformed, `token has no "exp" claim`)
	}
	err := claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      iss.URL,
		AnyAudience: jwt.Audience{iss.Audience},
		Time:        v.now(),
	}, v.leeway)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrInvalidAudience):
		return refuse(ReasonWrongAudience, `"aud" does not contain the expected audience`)
	case errors.Is(err, jwt.ErrExpired):
		return refuse(ReasonExpired, "token expired at %s", claims.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet):
		return refuse(ReasonNotYetValid, `"nbf" is in the future`)
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return refuse(ReasonNotYetValid, `"iat" is in the future`)
	default:
		return &Error{Reason: ReasonMalformed, Err: err}
	}
	switch {
	case claims.Subject == "":
		return refuse(ReasonMissingSubject, `token has no "sub" claim`)
	case len(claims.Subject) > maxObjectIDBytes || !objectIDPattern.MatchString(claims.Subject):
		return refuse(ReasonMissingSubject, `"sub" is not a valid SpiceDB object ID`)
	}
	return nil
}

// matchingKeys returns the keys that may verify a signature with alg: those
// with the token's key ID, or, for a token without one, all of them.
func matchingKeys(keys []jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if (kid == "" || k.KeyID == kid) && fits(k, alg) {
			out = append(out, k)
		}
	}
	return out
}

// hasKeyID reports whether a key with kid is known; "" is always known.
func hasKeyID(keys []jose.JSONWebKey, kid string) bool {
	if kid == "" {
		return true
	}
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

// unknownIssuer repeats the token's issuer only when it is short and
// printable, so that the error message stays safe to log and to show.
func unknownIssuer(iss string) *Error {
	if iss == "" {
		return refuse(ReasonUnknownIssuer, `token has no "iss" claim`)
	}
	if len(iss) <= maxShownIssuer && strings.IndexFunc(iss, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) < 0 {
		return refuse(ReasonUnknownIssuer, "issuer %q is not trusted", iss)
	}
	return refuse(ReasonUnknownIssuer, "issuer is not trusted")
}
