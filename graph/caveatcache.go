package graph

import (
	"hash/maphash"
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

// caveatCache remembers caveat results under the key caveats.AppendKey
// builds: the values the caveat reads (for the reserved maps, only the fields
// its expression names, so callers with equal claims share entries however
// their tokens differ), and the addresses of immutable maps it reads as a
// whole (the relationship's stored context, a map read other than by field).
// Entries hold those maps, so an address in a key cannot be reused by
// another map while the entry lives, and hold the whole key, so a hash
// collision is a miss. Evaluation errors are not cached.
type caveatCache struct {
	seed   maphash.Seed
	shards [caveatShards]caveatShard
	limit  int // entries per shard
}

const caveatShards = 16

type caveatShard struct {
	mu      sync.Mutex
	entries map[uint64]caveatEntry
}

type caveatEntry struct {
	caveat *caveats.Caveat
	key    string
	r      result
	keep   []map[string]any
}

func newCaveatCache(size int) *caveatCache {
	if size <= 0 {
		return nil
	}
	c := &caveatCache{seed: maphash.MakeSeed(), limit: max(1, size/caveatShards)}
	for i := range c.shards {
		c.shards[i].entries = make(map[uint64]caveatEntry)
	}
	return c
}

func (cc *caveatCache) hash(key []byte) uint64 { return maphash.Bytes(cc.seed, key) }

func (cc *caveatCache) shard(h uint64) *caveatShard { return &cc.shards[h>>60%caveatShards] }

func (cc *caveatCache) get(c *caveats.Caveat, h uint64, key []byte) (result, bool) {
	s := cc.shard(h)
	s.mu.Lock()
	e, ok := s.entries[h]
	s.mu.Unlock()
	if !ok || e.caveat != c || e.key != string(key) {
		return result{}, false
	}
	return e.r, true
}

// put stores r; it copies key and keep.
func (cc *caveatCache) put(c *caveats.Caveat, h uint64, key []byte, r result, keep []map[string]any) {
	e := caveatEntry{caveat: c, key: string(key), r: r}
	if len(keep) > 0 {
		e.keep = append([]map[string]any(nil), keep...)
	}
	s := cc.shard(h)
	s.mu.Lock()
	if len(s.entries) >= cc.limit {
		clear(s.entries) // bounded memory; the hot entries come back at once
	}
	s.entries[h] = e
	s.mu.Unlock()
}
