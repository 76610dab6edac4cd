package memory

import (
	"slices"
	"sort"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// maxChunk bounds the chunks of an index; a full chunk splits in two. Inserts
// then cost a binary search plus a move of at most maxChunk pointers, and a
// split moves one chunk header per chunk (~4k headers at 1M keys).
const maxChunk = 512

// index is an ordered set of entries by store.CompareKeys: a sorted list of
// sorted chunks, a flat two-level B-tree. The zero index is empty.
type index struct {
	chunks [][]*entry
	n      int
}

// chunkFor returns the index of the first chunk whose last key is >= k (> k if
// strict), or len(chunks).
func (x *index) chunkFor(k tuple.Key, strict bool) int {
	return sort.Search(len(x.chunks), func(i int) bool {
		c := x.chunks[i]
		d := store.CompareKeys(c[len(c)-1].key, k)
		return d > 0 || (d == 0 && !strict)
	})
}

// seek returns a cursor at the first entry with key >= k, or > k if strict.
func (x *index) seek(k tuple.Key, strict bool) cursor {
	ci := x.chunkFor(k, strict)
	if ci == len(x.chunks) {
		return cursor{x: x, ci: ci}
	}
	c := x.chunks[ci]
	i := sort.Search(len(c), func(i int) bool {
		d := store.CompareKeys(c[i].key, k)
		return d > 0 || (d == 0 && !strict)
	})
	return cursor{x: x, ci: ci, i: i}
}

// first returns a cursor at the smallest entry.
func (x *index) first() cursor { return cursor{x: x} }

// insert adds e, whose key must not be present.
func (x *index) insert(e *entry) {
	x.n++
	if len(x.chunks) == 0 {
		x.chunks = append(x.chunks, append(make([]*entry, 0, 8), e))
		return
	}
	ci := x.chunkFor(e.key, false)
	if ci == len(x.chunks) {
		ci-- // larger than everything: append to the last chunk
	}
	c := x.chunks[ci]
	i, _ := slices.BinarySearchFunc(c, e.key, func(a *entry, k tuple.Key) int { return store.CompareKeys(a.key, k) })
	c = slices.Insert(c, i, e)
	if len(c) <= maxChunk {
		x.chunks[ci] = c
		return
	}
	half := len(c) / 2
	right := make([]*entry, len(c)-half, maxChunk)
	copy(right, c[half:])
	clear(c[half:])
	x.chunks[ci] = c[:half]
	x.chunks = slices.Insert(x.chunks, ci+1, right)
}

// remove deletes e if present.
func (x *index) remove(e *entry) {
	cur := x.seek(e.key, false)
	if cur.ci == len(x.chunks) {
		return
	}
	c := x.chunks[cur.ci]
	if cur.i >= len(c) || c[cur.i] != e {
		return
	}
	x.n--
	c = slices.Delete(c, cur.i, cur.i+1)
	if len(c) == 0 {
		x.chunks = slices.Delete(x.chunks, cur.ci, cur.ci+1)
		return
	}
	x.chunks[cur.ci] = c
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
			e := ch[c.i]
			c.i++
			return e
		}
		c.ci++
		c.i = 0
	}
	return nil
}
