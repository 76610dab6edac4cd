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
			Resource: tuple.Object{Type: "document", ID: fmt.Sprint(rng.IntN(3000))},
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
		for _, ch := range x.chunks {
			if len(ch) == 0 || len(ch) > maxChunk {
				t.Fatalf("step %d: chunk of %d entries", step, len(ch))
			}
		}
		// Seeks, inclusive and strict, at present and absent keys.
		for range 50 {
			probe := tuple.Key{Resource: tuple.Object{Type: "document", ID: fmt.Sprint(rng.IntN(3100))}, Relation: "viewer", Subject: tuple.Subject{Type: "user", ID: "0"}}
			for _, strict := range []bool{false, true} {
				i := slices.IndexFunc(want, func(e *entry) bool {
					c := store.CompareKeys(e.key, probe)
					return c > 0 || (c == 0 && !strict)
				})
				c := x.seek(probe, strict)
				e := c.next()
				if (i < 0) != (e == nil) || (i >= 0 && e != want[i]) {
					t.Fatalf("step %d: seek(%v, strict %v) wrong", step, probe, strict)
				}
			}
		}
	}
}
