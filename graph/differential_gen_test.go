package graph_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// The generator builds small random schemas and relationship sets whose
// permission paths interact: few objects per type, shared users, hierarchies,
// caveats and expirations, so that the differential test reaches the corners
// of the evaluator with a few hundred cases.

const (
	// genExpiredAt and genLiveUntil are far from any plausible test clock, so that
	// SpiceDB's wall clock and gatehouse's Context.Now agree on every expiration.
	genExpiredAt = "2020-01-01T00:00:00Z"
	genLiveUntil = "2300-01-01T00:00:00Z"
)

// genCaveatDefs are the caveats every generated schema defines.
const genCaveatDefs = `caveat cav_x(x int) {
	x > 10
}

caveat cav_who(allowed list<string>, who string) {
	who in allowed
}
`

// genStoredContexts are the caveat contexts written with relationships ("" = none).
var genStoredContexts = map[string][]string{
	"cav_x":   {"", "", `{"x":5}`, `{"x":15}`},
	"cav_who": {"", "", `{"who":"u1"}`, `{"allowed":["u1","u2"]}`, `{"allowed":["u3"],"who":"u3"}`},
}

var genTypeNames = []string{"group", "folder", "document", "org"}

type genAllowed struct {
	typ        string
	rel        string // subject relation, "" for objects
	wildcard   bool
	caveat     string
	expiration bool
}

func (a genAllowed) source() string {
	var b strings.Builder
	b.WriteString(a.typ)
	switch {
	case a.wildcard:
		b.WriteString(":*")
	case a.rel != "":
		b.WriteString("#" + a.rel)
	}
	switch {
	case a.caveat != "" && a.expiration:
		b.WriteString(" with " + a.caveat + " and expiration")
	case a.caveat != "":
		b.WriteString(" with " + a.caveat)
	case a.expiration:
		b.WriteString(" with expiration")
	}
	return b.String()
}

type genRelation struct {
	name     string
	tupleset bool
	allowed  []genAllowed
	expr     string // permissions only
}

type genType struct {
	name  string
	ids   []string
	rels  []*genRelation
	perms []*genRelation
}

func (t *genType) names() []string {
	var out []string
	for _, r := range t.rels {
		out = append(out, r.name)
	}
	for _, p := range t.perms {
		out = append(out, p.name)
	}
	return out
}

type caseGenerator struct {
	rng    *rand.Rand
	types  []*genType
	byName map[string]*genType
	users  []string
}

func genPick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// generateCase returns a random schema and relationships (in SpiceDB tuple syntax).
func generateCase(rng *rand.Rand) (schemaText string, rels []string) {
	g := &caseGenerator{rng: rng, byName: map[string]*genType{}, users: []string{"u1", "u2", "u3", "u4"}}
	g.genTypes()
	if rng.IntN(10) != 0 {
		// Mostly keep to schemas SpiceDB accepts; the rest check that both
		// compilers reject the same wildcard misuse.
		g.repairWildcards()
	}
	g.genPermissions()
	return g.schemaText(), g.genRelationships()
}

func (g *caseGenerator) genTypes() {
	names := slices.Clone(genTypeNames)
	g.rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	n := 2 + g.rng.IntN(3)
	for _, name := range names[:n] {
		t := &genType{name: name}
		for i := range 3 + g.rng.IntN(2) {
			t.ids = append(t.ids, fmt.Sprintf("%c%d", name[0], i+1))
		}
		for i := range g.rng.IntN(2) + g.rng.IntN(2) {
			t.rels = append(t.rels, &genRelation{name: fmt.Sprintf("link_%c", 'a'+i), tupleset: true})
		}
		for i := range 1 + g.rng.IntN(3) {
			t.rels = append(t.rels, &genRelation{name: fmt.Sprintf("rel_%c", 'a'+i)})
		}
		for i := range 1 + g.rng.IntN(3) {
			t.perms = append(t.perms, &genRelation{name: fmt.Sprintf("perm_%c", 'a'+i)})
		}
		g.types = append(g.types, t)
		g.byName[name] = t
	}
	for _, t := range g.types {
		for _, r := range t.rels {
			if r.tupleset {
				r.allowed = g.tuplesetAllowed(t)
			} else {
				r.allowed = g.relationAllowed()
			}
		}
	}
}

func (g *caseGenerator) addAllowed(list []genAllowed, a genAllowed) []genAllowed {
	for _, x := range list {
		if x.source() == a.source() {
			return list
		}
	}
	return append(list, a)
}

func (g *caseGenerator) tuplesetAllowed(self *genType) []genAllowed {
	var out []genAllowed
	for range 1 + g.rng.IntN(2) {
		var a genAllowed
		switch r := g.rng.IntN(10); {
		case r < 4:
			a.typ = self.name // hierarchy
		case r < 5:
			a.typ = "user" // arrow to a type without the computed relation
		default:
			a.typ = genPick(g.rng, g.types).name
		}
		switch r := g.rng.IntN(10); {
		case r == 0:
			a.caveat = "cav_x"
		case r == 1:
			a.expiration = true
		case r == 2 && a.typ != "user":
			a.rel = genPick(g.rng, g.byName[a.typ].names())
		}
		out = g.addAllowed(out, a)
	}
	return out
}

func (g *caseGenerator) relationAllowed() []genAllowed {
	var out []genAllowed
	for range 1 + g.rng.IntN(3) {
		a := genAllowed{typ: "user"}
		switch r := g.rng.IntN(20); {
		case r < 6:
		case r < 8:
			a.wildcard = true
		case r < 10:
			a.caveat = "cav_x"
		case r < 12:
			a.caveat = "cav_who"
		case r < 14:
			a.expiration = true
		case r < 15:
			a.caveat, a.expiration = "cav_x", true
		case r < 16:
			a.wildcard, a.caveat = true, "cav_x"
		default:
			t := genPick(g.rng, g.types)
			a.typ, a.rel = t.name, genPick(g.rng, t.names())
			if g.rng.IntN(6) == 0 {
				a.caveat = "cav_who"
			}
		}
		out = g.addAllowed(out, a)
	}
	return out
}

// repairWildcards drops allowed subject types SpiceDB rejects: tuplesets that
// reach a wildcard, and usersets of another type whose relation reaches one.
func (g *caseGenerator) repairWildcards() {
	for {
		reach := map[string]bool{}
		for changed := true; changed; {
			changed = false
			for _, t := range g.types {
				for _, r := range t.rels {
					k := t.name + "#" + r.name
					if reach[k] {
						continue
					}
					for _, a := range r.allowed {
						if a.wildcard || (a.rel != "" && reach[a.typ+"#"+a.rel]) {
							reach[k], changed = true, true
							break
						}
					}
				}
			}
		}
		removed := false
		for _, t := range g.types {
			for _, r := range t.rels {
				kept := r.allowed[:0]
				for _, a := range r.allowed {
					bad := a.rel != "" && reach[a.typ+"#"+a.rel] && (r.tupleset || a.typ != t.name)
					bad = bad || (r.tupleset && a.wildcard)
					if bad {
						removed = true
						continue
					}
					kept = append(kept, a)
				}
				r.allowed = kept
				if len(r.allowed) == 0 {
					if r.tupleset {
						r.allowed = []genAllowed{{typ: t.name}}
					} else {
						r.allowed = []genAllowed{{typ: "user"}}
					}
				}
			}
		}
		if !removed {
			return
		}
	}
}

func (g *caseGenerator) genPermissions() {
	for _, t := range g.types {
		for i, p := range t.perms {
			p.expr = g.expr(t, i, 0)
		}
	}
}

// expr builds an expression for permission number k of t: over t's relations,
// its earlier permissions and arrows through its tuplesets.
func (g *caseGenerator) expr(t *genType, k, depth int) string {
	if depth < 2 && g.rng.IntN(10) < 6-2*depth {
		op := genPick(g.rng, []string{" + ", " & ", " - "})
		parts := make([]string, 2+g.rng.IntN(2))
		for i := range parts {
			parts[i] = g.expr(t, k, depth+1)
			if strings.Contains(parts[i], " ") || g.rng.IntN(8) == 0 {
				parts[i] = "(" + parts[i] + ")"
			}
		}
		return strings.Join(parts, op)
	}
	return g.leaf(t, k)
}

func (g *caseGenerator) leaf(t *genType, k int) string {
	var tuplesets []*genRelation
	for _, r := range t.rels {
		if r.tupleset {
			tuplesets = append(tuplesets, r)
		}
	}
	switch r := g.rng.IntN(20); {
	case r == 0:
		return "nil"
	case r < 8 && len(tuplesets) > 0:
		ts := genPick(g.rng, tuplesets)
		var targets []string
		for _, a := range ts.allowed {
			if tt := g.byName[a.typ]; tt != nil {
				targets = append(targets, tt.names()...)
			}
		}
		if len(targets) == 0 {
			targets = t.names() // arrow to `user`: the relation exists nowhere there
		}
		target := genPick(g.rng, targets)
		switch g.rng.IntN(4) {
		case 0:
			return ts.name + ".any(" + target + ")"
		case 1:
			return ts.name + ".all(" + target + ")"
		}
		return ts.name + "->" + target
	case r < 12 && k > 0:
		return t.perms[g.rng.IntN(k)].name
	}
	var rels []string
	for _, r := range t.rels {
		if !r.tupleset {
			rels = append(rels, r.name)
		}
	}
	return genPick(g.rng, rels)
}

func (g *caseGenerator) schemaText() string {
	var b strings.Builder
	b.WriteString("use expiration\n\n")
	b.WriteString(genCaveatDefs)
	b.WriteString("\ndefinition user {}\n")
	for _, t := range g.types {
		fmt.Fprintf(&b, "\ndefinition %s {\n", t.name)
		for _, r := range t.rels {
			srcs := make([]string, len(r.allowed))
			for i, a := range r.allowed {
				srcs[i] = a.source()
			}
			fmt.Fprintf(&b, "\trelation %s: %s\n", r.name, strings.Join(srcs, " | "))
		}
		for _, p := range t.perms {
			fmt.Fprintf(&b, "\tpermission %s = %s\n", p.name, p.expr)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// genRelationships writes a few relationships per relation, keeping the
// object graph acyclic: an edge goes from a higher to a lower rank. SpiceDB
// does not detect cycles in data: it recurses to its depth limit (50) and fails
// with a max-depth error, and where a permission reaches the cycle by two paths
// the search doubles at each level and does not end in any useful time, nor
// stop when the call is cancelled. TestDifferential_Smoke covers a cycle whose
// search is linear.
func (g *caseGenerator) genRelationships() []string {
	rank := map[string]int{}
	var all []string
	for _, t := range g.types {
		for _, id := range t.ids {
			all = append(all, t.name+":"+id)
		}
	}
	for i, j := range g.rng.Perm(len(all)) {
		rank[all[i]] = j
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range g.types {
		for _, r := range t.rels {
			n := 1 + g.rng.IntN(len(t.ids)+2)
			for range n {
				for try := 0; try < 4; try++ {
					res := t.name + ":" + genPick(g.rng, t.ids)
					a := genPick(g.rng, r.allowed)
					var subj string
					switch {
					case a.wildcard:
						subj = a.typ + ":*"
					case a.typ == "user":
						subj = "user:" + genPick(g.rng, g.users)
					default:
						obj := a.typ + ":" + genPick(g.rng, g.byName[a.typ].ids)
						if rank[obj] >= rank[res] {
							continue
						}
						subj = obj
						if a.rel != "" {
							subj += "#" + a.rel
						}
					}
					key := res + "#" + r.name + "@" + subj
					if seen[key] {
						break
					}
					seen[key] = true
					if a.caveat != "" {
						key += "[" + a.caveat
						if c := genPick(g.rng, genStoredContexts[a.caveat]); c != "" {
							key += ":" + c
						}
						key += "]"
					}
					if a.expiration {
						key += "[expiration:" + genPick(g.rng, []string{genExpiredAt, genLiveUntil}) + "]"
					}
					out = append(out, key)
					break
				}
			}
		}
	}
	return out
}
