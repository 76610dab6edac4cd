package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// WithCache makes Verify remember up to size verified tokens (0 turns the
// cache off), each for at most ttl and never past the token's own expiry, so
// a caller repeating its token does not pay a signature check per request.
// A change of any issuer's key set empties the cache, so a key rotated out
// stops verifying at once. The default is 10,000 tokens for 1 minute.
func WithCache(size int, ttl time.Duration) Option {
	return func(v *Verifier) { v.cache = newTokenCache(size, ttl) }
}

// tokenCache maps a token's SHA-256 to its verified identity.
type tokenCache struct {
	size int
	ttl  time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedIdentity
}

type cachedIdentity struct {
	id    *Identity
	until time.Time
}

func newTokenCache(size int, ttl time.Duration) *tokenCache {
	if size <= 0 || ttl <= 0 {
		return nil
	}
	return &tokenCache{size: size, ttl: ttl, entries: make(map[[sha256.Size]byte]cachedIdentity)}
}

// get returns the identity of a token verified earlier, if its entry is still good at now.
func (c *tokenCache) get(token string, now time.Time) (*Identity, bool) {
	if c == nil {
		return nil, false
	}
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return nil, false
	}
	return e.id, true
}

// put remembers a verified token until the earlier of now+ttl and its expiry.
func (c *tokenCache) put(token string, id *Identity, expiry, now time.Time) {
	if c == nil {
		return
	}
	until := now.Add(c.ttl)
	if expiry.Before(until) {
		until = expiry
	}
	if !now.Before(until) {
		return
	}
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		// Drop expired entries, then, if still full, an arbitrary one.
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.size {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cachedIdentity{id: id, until: until}
}

// clear forgets every token; it is safe on a nil cache.
func (c *tokenCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
