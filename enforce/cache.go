package enforce

import (
	"crypto/sha256"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
)

// Cache remembers decisions for a short while, keyed by the revision token
// the request asked to be at least as fresh as (none for most) and the whole
// question: resource, permission, subject, the end user's token and the
// context. A write the caller made and then names by its revision token is
// never answered from a decision older than the token asks for. Failures to
// decide are not remembered. It is off unless an Enforcer is given one.
type Cache struct {
	ttl  time.Duration
	max  int
	now  func() time.Time
	mu   sync.Mutex
	seen map[[sha256.Size]byte]cached
}

type cached struct {
	v       Verdict
	expires time.Time
}

// NewCache returns a cache whose entries live ttl (default 1s), holding at
// most max (default 10,000).
func NewCache(ttl time.Duration, max int) *Cache {
	if ttl <= 0 {
		ttl = defaultCacheTTL
	}
	if max <= 0 {
		max = defaultCacheMaxKeys
	}
	return &Cache{ttl: ttl, max: max, now: time.Now, seen: map[[sha256.Size]byte]cached{}}
}

// cacheKey is the key of req; requests with a large context are not cached.
func cacheKey(req *gatehousev1.AuthorizeRequest) (string, bool) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil || proto.Size(req.GetContext()) > maxCachedContextBytes {
		return "", false
	}
	return string(b), true
}

func (c *Cache) get(key string) (Verdict, bool) {
	h := sha256.Sum256([]byte(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen[h]
	if !ok {
		return Verdict{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.seen, h)
		return Verdict{}, false
	}
	return e.v, true
}

func (c *Cache) put(key string, v Verdict) {
	h := sha256.Sum256([]byte(key))
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) >= c.max {
		for k, e := range c.seen {
			if !now.Before(e.expires) {
				delete(c.seen, k)
			}
		}
		for k := range c.seen {
			if len(c.seen) < c.max {
				break
			}
			delete(c.seen, k) // any entry: the map's order is random
		}
	}
	c.seen[h] = cached{v: v, expires: now.Add(c.ttl)}
}
