package memory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// TestIndex_MatchesSortedSlice drives an index through random inserts and
// removes, across many chunk splits and merges, against a sorted slice.
func TestIndex_MatchesSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var x index
	var want []*entry
	present := make(map[tuple.Key]*entry)
	cmpEntry := func(a, b *entry) int { return store.CompareKeys(a.key, b.key) }
	for step := range 20000 {
		k := tuple.Key{
			Resource: tuple.Object{Type: "document", ID: randomID(rng)},
			Relation: "viewer",
			Subject:  tuple.Subject{Type: "user", ID: fmt.Sprint(rng.IntN(2))},
		}
		if e, ok := present[k]; ok && rng.IntN(3) > 0 {
			x.remove(e)
			delete(present, k)
			i, _ := slices.BinarySearchFunc(want, e, cmpEntry)
			want = slices.Delete(want, i, i+1)
		} else if !ok {
			e := &entry{key: k}
			x.insert(e)
			present[k] = e
			i, _ := slices.BinarySearchFunc(want, e, cmpEntry)
			want = slices.Insert(want, i, e)
		}
		if step%997 != 0 && step != 19999 {
			continue
		}
		var got []*entry
		for c := x.first(); ; {
			e := c.next()
			if e == nil {
				break
			}
			got = append(got, e)
		}
		if !slices.Equal(got, want) || x.n != len(want) {
			t.Fatalf("step %d: index has %d entries (n=%d), want %d", step, len(got), x.n, len(want))
		}
		for i, ch := range x.chunks {
			if len(ch) == 0 || len(ch) > maxChunk || x.maxes[i] != ch[len(ch)-1] {
				t.Fatalf("step %d: chunk %d of %d entries, or wrong max", step, i, len(ch))
			}
		}
		for _, e := range want {
			if x.get(&e.key) != e {
				t.Fatalf("step %d: get(%v) did not find its entry", step, e.key)
			}
		}
		// Seeks, inclusive and strict, at present and absent keys.
		for range 50 {
			probe := tuple.Key{Resource: tuple.Object{Type: "document", ID: randomID(rng)}, Relation: "viewer", Subject: tuple.Subject{Type: "user", ID: "0"}}
			for _, strict := range []bool{false, true} {
				i := slices.IndexFunc(want, func(e *entry) bool {
					c := store.CompareKeys(e.key, probe)
					return c > 0 || (c == 0 && !strict)
				})
				c := x.seek(&probe, strict)
				e := c.next()
				if (i < 0) != (e == nil) || (i >= 0 && e != want[i]) {
					t.Fatalf("step %d: seek(%v, strict %v) wrong", step, probe, strict)
				}
			}
		}
	}
}

// randomID returns IDs that often share prefixes of 8 bytes or more, or are
// prefixes of one another, so that tuple.IDPrefix ties are common.
func randomID(rng *rand.Rand) string {
	switch rng.IntN(3) {
	case 0:
		return fmt.Sprint(rng.IntN(1000))
	case 1:
		return fmt.Sprintf("shared-prefix-%d", rng.IntN(1000))
	default:
		return "shared-p"[:1+rng.IntN(8)] + []string{"", "\x00", "\xff"}[rng.IntN(3)]
	}
}
