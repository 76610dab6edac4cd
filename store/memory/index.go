package memory

import (
	"slices"
	"sort"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// maxChunk bounds the chunks of an index; a full chunk splits in two. An insert
// costs two binary searches and a move of at most maxChunk items.
const maxChunk = 512

// item is an index element. pfx caches the first bytes of the resource ID so
// that most comparisons in a search never dereference the entry.
type item struct {
	pfx uint64
	e   *entry
}

// probe is a key being searched for, with its prefix.
type probe struct {
	pfx uint64
	key *tuple.Key
}

func newProbe(k *tuple.Key) probe { return probe{pfx: tuple.IDPrefix(k.Resource.ID), key: k} }

// cmp orders it against p by store.CompareKeys. It relies on every key in an
// index having the same resource type.
func (p probe) cmp(it item) int {
	switch {
	case it.pfx < p.pfx:
		return -1
	case it.pfx > p.pfx:
		return 1
	}
	return store.CompareKeys(it.e.key, *p.key)
}

// index is an ordered set of entries of one resource type, by
// store.CompareKeys: a sorted list of sorted chunks, a flat two-level B-tree.
// maxes[i] is the last item of chunks[i]. The zero index is empty.
type index struct {
	chunks [][]item
	maxes  []item
	n      int
}

// passes reports whether an item that compared c to the probe meets the
// search condition: >= probe, or > probe when strict.
func passes(c int, strict bool) bool { return c > 0 || (c == 0 && !strict) }

// seek returns a cursor at the first entry with key >= k, or > k if strict.
func (x *index) seek(k *tuple.Key, strict bool) cursor {
	p := newProbe(k)
	ci := sort.Search(len(x.maxes), func(i int) bool { return passes(p.cmp(x.maxes[i]), strict) })
	if ci == len(x.chunks) {
		return cursor{x: x, ci: ci}
	}
	c := x.chunks[ci]
	i := sort.Search(len(c), func(i int) bool { return passes(p.cmp(c[i]), strict) })
	return cursor{x: x, ci: ci, i: i}
}

// get returns the entry with key k, or nil.
func (x *index) get(k *tuple.Key) *entry {
	cur := x.seek(k, false)
	if e := cur.next(); e != nil && e.key == *k {
		return e
	}
	return nil
}

// first returns a cursor at the smallest entry.
func (x *index) first() cursor { return cursor{x: x} }

// insert adds e, whose key must not be present.
func (x *index) insert(e *entry) {
	if got := x.getOrInsert(&e.key, func() *entry { return e }); got != e {
		panic("memory: index insert of a present key")
	}
}

// getOrInsert returns the entry with key k, inserting the one made by mk (whose
// key must be k) if there is none, with a single search.
func (x *index) getOrInsert(k *tuple.Key, mk func() *entry) *entry {
	p := newProbe(k)
	ci := sort.Search(len(x.maxes), func(i int) bool { return p.cmp(x.maxes[i]) >= 0 })
	i := 0
	switch {
	case len(x.chunks) == 0:
		e := mk()
		it := item{pfx: p.pfx, e: e}
		x.chunks = append(x.chunks, append(make([]item, 0, 8), it))
		x.maxes = append(x.maxes, it)
		x.n++
		return e
	case ci == len(x.chunks):
		ci-- // larger than everything: append to the last chunk
		i = len(x.chunks[ci])
	default:
		c := x.chunks[ci]
		i = sort.Search(len(c), func(i int) bool { return p.cmp(c[i]) >= 0 })
		if c[i].e.key == *k {
			return c[i].e
		}
	}
	e := mk()
	x.insertAt(ci, i, item{pfx: p.pfx, e: e})
	return e
}

// insertAt puts it at position i of chunk ci, splitting the chunk if full.
func (x *index) insertAt(ci, i int, it item) {
	x.n++
	c := slices.Insert(x.chunks[ci], i, it)
	if len(c) <= maxChunk {
		x.chunks[ci] = c
		x.maxes[ci] = c[len(c)-1]
		return
	}
	half := len(c) / 2
	right := make([]item, len(c)-half, maxChunk)
	copy(right, c[half:])
	clear(c[half:])
	x.chunks[ci], x.maxes[ci] = c[:half], c[half-1]
	x.chunks = slices.Insert(x.chunks, ci+1, right)
	x.maxes = slices.Insert(x.maxes, ci+1, right[len(right)-1])
}

// remove deletes e if present.
func (x *index) remove(e *entry) {
	cur := x.seek(&e.key, false)
	if cur.ci == len(x.chunks) {
		return
	}
	c := x.chunks[cur.ci]
	if cur.i >= len(c) || c[cur.i].e != e {
		return
	}
	x.n--
	c = slices.Delete(c, cur.i, cur.i+1)
	if len(c) == 0 {
		x.chunks = slices.Delete(x.chunks, cur.ci, cur.ci+1)
		x.maxes = slices.Delete(x.maxes, cur.ci, cur.ci+1)
		return
	}
	x.chunks[cur.ci], x.maxes[cur.ci] = c, c[len(c)-1]
}

// cursor walks an index in order. It is invalidated by insert and remove.
type cursor struct {
	x     *index
	ci, i int
}

// next returns the entry at the cursor and advances, or nil at the end.
func (c *cursor) next() *entry {
	for c.ci < len(c.x.chunks) {
		ch := c.x.chunks[c.ci]
		if c.i < len(ch) {
			e := ch[c.i].e
			c.i++
			return e
		}
		c.ci++
		c.i = 0
	}
	return nil
}
