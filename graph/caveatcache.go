package graph

import (
	"reflect"
	"sync"

	"github.com/gatehouse-dev/gatehouse/caveats"
)

// DefaultCaveatCacheSize is how many caveat results an index remembers.
const DefaultCaveatCacheSize = 1 << 16

// IndexOption configures an Index.
type IndexOption func(*Index)

// WithCaveatCache sets how many caveat results the index remembers (0 turns
// the cache off); see caveatCache.
func WithCaveatCache(size int) IndexOption {
	return func(ix *Index) { ix.cavCache = newCaveatCache(size) }
}

// caveatCache remembers the outcome of a caveat evaluation whose inputs are
// all immutable values the index can identify by address: the relationship's
// stored context, the resource's and subject's attribute versions, and the
// caller's claims (one map per verified token). It is used only when the
// request context cannot matter: every parameter that is not reserved is set
// by the stored context. Entries hold the maps they were computed from, so an
// address in a key cannot be reused by another map while the entry lives.
// Evaluation errors are not cached.
type caveatCache struct {
	shards [caveatShards]caveatShard
	limit  int // entries per shard
}

const caveatShards = 16

type caveatShard struct {
	mu      sync.Mutex
	entries map[caveatKey]caveatEntry
}

type caveatKey struct {
	caveat                     *caveats.Caveat
	context, res, subj, caller uintptr
}

type caveatEntry struct {
	r    result
	keep [4]map[string]any
}

func newCaveatCache(size int) *caveatCache {
	if size <= 0 {
		return nil
	}
	c := &caveatCache{limit: max(1, size/caveatShards)}
	for i := range c.shards {
		c.shards[i].entries = make(map[caveatKey]caveatEntry)
	}
	return c
}

func mapAddr(m map[string]any) uintptr {
	if m == nil {
		return 0
	}
	return reflect.ValueOf(m).Pointer()
}

func (k caveatKey) shard() int {
	h := k.context*31 + k.res*17 + k.subj*13 + k.caller*7 + uintptr(reflect.ValueOf(k.caveat).Pointer())
	h ^= h >> 17
	return int(h % caveatShards)
}

// cacheable reports whether a caveat's result depends only on what the cache
// key holds: every context parameter is set by the stored context.
func cacheable(c *caveats.Caveat, stored map[string]any) bool {
	for _, name := range c.ContextParams() {
		if _, ok := stored[name]; !ok {
			return false
		}
	}
	return true
}

func (cc *caveatCache) get(k caveatKey) (result, bool) {
	s := &cc.shards[k.shard()]
	s.mu.Lock()
	e, ok := s.entries[k]
	s.mu.Unlock()
	return e.r, ok
}

func (cc *caveatCache) put(k caveatKey, r result, keep [4]map[string]any) {
	s := &cc.shards[k.shard()]
	s.mu.Lock()
	if len(s.entries) >= cc.limit {
		clear(s.entries) // bounded memory; the hot entries come back at once
	}
	s.entries[k] = caveatEntry{r: r, keep: keep}
	s.mu.Unlock()
}
