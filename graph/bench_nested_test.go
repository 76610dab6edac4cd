package graph_test

import (
	"iter"
	"math/rand/v2"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

// nestedGroupsSchema is the schema of the generated nested-groups graph:
// users in groups nested several levels deep, and documents in a folder tree,
// shared with users and groups.
const nestedGroupsSchema = `
definition user {}

definition group {
	relation member: user | group#member
}

definition folder {
	relation parent: folder
	relation viewer: user | group#member
	permission view = viewer + parent->view
}

definition document {
	relation parent: folder
	relation owner: user
	relation viewer: user | group#member
	permission view = owner + viewer + parent->view
}
`

// nestedGroups describes a generated nested-groups graph of about rels
// relationships. The same value always yields the same relationships.
//
// Shape, for rels = 1,000,000: 100k users, 20k groups in 5 levels (each group
// below the top is a member of 1–2 groups one level up), each user in 1–9
// groups (mostly leaf groups), 20k folders in a 4-level tree with 1–2 viewer
// groups each, 200k documents each with a parent folder and one viewer (70% a
// group, 30% a user), and an owner on every fifth document.
type nestedGroups struct {
	users, docs  int
	groupLevels  []int // groups per level, top first
	folderLevels []int // folders per level, roots first
	seed         uint64
}

func newNestedGroups(rels int) nestedGroups {
	g := rels / 50
	f := rels / 50
	return nestedGroups{
		users:        rels / 10,
		docs:         rels / 5,
		groupLevels:  []int{g / 100, g * 4 / 100, g * 10 / 100, g * 25 / 100, g * 60 / 100},
		folderLevels: []int{f / 100, f * 9 / 100, f * 30 / 100, f * 60 / 100},
		seed:         uint64(rels),
	}
}

func ngUser(i int) string        { return "u" + strconv.Itoa(i) }
func ngDoc(i int) string         { return "d" + strconv.Itoa(i) }
func ngGroup(lvl, i int) string  { return "g" + strconv.Itoa(lvl) + "_" + strconv.Itoa(i) }
func ngFolder(lvl, i int) string { return "f" + strconv.Itoa(lvl) + "_" + strconv.Itoa(i) }

func ngRel(rt, rid, relation, st, sid, srel string) tuple.Relationship {
	return tuple.Relationship{
		Resource: tuple.Object{Type: rt, ID: rid},
		Relation: relation,
		Subject:  tuple.Subject{Type: st, ID: sid, Relation: srel},
	}
}

// pickDistinct draws n distinct ints in [0, max) (n <= max).
func ngPickDistinct(r *rand.Rand, n, max int, into []int) []int {
	into = into[:0]
	for len(into) < n {
		x := r.IntN(max)
		dup := false
		for _, y := range into {
			dup = dup || x == y
		}
		if !dup {
			into = append(into, x)
		}
	}
	return into
}

// Relationships yields the graph's relationships, without duplicates, in a
// fixed order. Nothing is retained between yields, so a consumer that loads them
// in batches holds only its own copy.
func (ng nestedGroups) Relationships() iter.Seq[tuple.Relationship] {
	return func(yield func(tuple.Relationship) bool) {
		r := rand.New(rand.NewPCG(42, ng.seed))
		var buf, seen []int
		gl, fl := ng.groupLevels, ng.folderLevels
		// Group nesting: each group below the top is a member of 1–2 groups one level up.
		for lvl := 1; lvl < len(gl); lvl++ {
			for i := range gl[lvl] {
				for _, p := range ngPickDistinct(r, 1+r.IntN(2), gl[lvl-1], buf) {
					if !yield(ngRel("group", ngGroup(lvl-1, p), "member", "group", ngGroup(lvl, i), "member")) {
						return
					}
				}
			}
		}
		// Users: 1–9 groups each, 60% leaf level, 30% the level above, 10% two above.
		leaf := len(gl) - 1
		for u := range ng.users {
			n := 1 + r.IntN(9)
			seen = seen[:0]
			for len(seen) < n {
				lvl := leaf
				switch x := r.IntN(10); {
				case x == 0:
					lvl = leaf - 2
				case x < 4:
					lvl = leaf - 1
				}
				k := lvl<<24 | r.IntN(gl[lvl])
				dup := false
				for _, y := range seen {
					dup = dup || y == k
				}
				if dup {
					continue
				}
				seen = append(seen, k)
				if !yield(ngRel("group", ngGroup(k>>24, k&(1<<24-1)), "member", "user", ngUser(u), "")) {
					return
				}
			}
		}
		// Folders: a tree, each non-root folder under one folder a level up,
		// each folder shared with 1–2 groups drawn uniformly over all groups.
		nGroups := 0
		for _, n := range gl {
			nGroups += n
		}
		anyGroup := func() string {
			x := r.IntN(nGroups)
			for lvl, n := range gl {
				if x < n {
					return ngGroup(lvl, x)
				}
				x -= n
			}
			panic("unreachable")
		}
		for lvl := range fl {
			for i := range fl[lvl] {
				if lvl > 0 {
					if !yield(ngRel("folder", ngFolder(lvl, i), "parent", "folder", ngFolder(lvl-1, r.IntN(fl[lvl-1])), "")) {
						return
					}
				}
				a := anyGroup()
				if !yield(ngRel("folder", ngFolder(lvl, i), "viewer", "group", a, "member")) {
					return
				}
				if r.IntN(2) == 0 {
					if b := anyGroup(); b != a {
						if !yield(ngRel("folder", ngFolder(lvl, i), "viewer", "group", b, "member")) {
							return
						}
					}
				}
			}
		}
		// Documents: a parent folder at any level, one viewer, an owner on every fifth.
		nFolders := 0
		for _, n := range fl {
			nFolders += n
		}
		for d := range ng.docs {
			x := r.IntN(nFolders)
			lvl := 0
			for x >= fl[lvl] {
				x -= fl[lvl]
				lvl++
			}
			if !yield(ngRel("document", ngDoc(d), "parent", "folder", ngFolder(lvl, x), "")) {
				return
			}
			v := ngRel("document", ngDoc(d), "viewer", "user", ngUser(r.IntN(ng.users)), "")
			if r.IntN(10) < 7 {
				v = ngRel("document", ngDoc(d), "viewer", "group", anyGroup(), "member")
			}
			if !yield(v) {
				return
			}
			if d%5 == 0 {
				if !yield(ngRel("document", ngDoc(d), "owner", "user", ngUser(r.IntN(ng.users)), "")) {
					return
				}
			}
		}
	}
}

// All returns every relationship as a slice.
func (ng nestedGroups) All() []tuple.Relationship {
	var out []tuple.Relationship
	for r := range ng.Relationships() {
		out = append(out, r)
	}
	return out
}

// ngQuery is one (document, view, user) check.
type ngQuery struct {
	doc, user string
}

// CheckQueries returns n random (document, user) pairs, fixed by seed.
func (ng nestedGroups) CheckQueries(n int, seed uint64) []ngQuery {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]ngQuery, n)
	for i := range out {
		out[i] = ngQuery{doc: ngDoc(r.IntN(ng.docs)), user: ngUser(r.IntN(ng.users))}
	}
	return out
}

// LookupUsers returns n random user IDs, fixed by seed.
func (ng nestedGroups) LookupUsers(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 11))
	out := make([]string, n)
	for i := range out {
		out[i] = ngUser(r.IntN(ng.users))
	}
	return out
}
