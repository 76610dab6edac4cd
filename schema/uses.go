package schema

// RelationRef names a relation or permission of a definition. A Relation of ""
// names the object itself (a subject without relation).
type RelationRef struct {
	Type     string
	Relation string
}

// UseKind says how a permission depends on a relation.
type UseKind int

// Kinds of Use.
const (
	// UseComputed: the permission names the relation on the same object.
	UseComputed UseKind = iota + 1
	// UseArrow: the permission walks Tupleset to objects of the relation's type
	// and takes the relation there.
	UseArrow
	// UseSelf: the permission contains `self`; the used ref is the object itself.
	UseSelf
)

// Use is one place where a permission depends, positively, on a relation. It is
// the reverse index that LookupResources walks from a subject up to resources.
type Use struct {
	Kind       UseKind
	Type       string
	Permission string
	Tupleset   string
	// Definite reports that holding the used relation is enough to hold the
	// permission: the path from the permission's root is unions and .any() arrows only.
	// Otherwise reaching the permission this way only makes a candidate to check.
	Definite bool
}

// Uses returns the permissions that depend positively on ref (relations under the
// subtracted side of an exclusion are not uses: holding them never grants).
func (s *Schema) Uses(ref RelationRef) []Use { return s.uses[ref] }

func buildUses(s *Schema) map[RelationRef][]Use {
	uses := map[RelationRef][]Use{}
	for _, dn := range s.order {
		d := s.defs[dn]
		for _, rn := range d.Order {
			r := d.Relations[rn]
			if r.Expr == nil {
				continue
			}
			walkUses(s, d, r, r.Expr, true, uses)
		}
	}
	return uses
}

func walkUses(s *Schema, d *Definition, perm *Relation, e *Expr, definite bool, uses map[RelationRef][]Use) {
	switch e.Kind {
	case ExprUnion:
		for _, c := range e.Children {
			walkUses(s, d, perm, c, definite, uses)
		}
	case ExprIntersection:
		for _, c := range e.Children {
			walkUses(s, d, perm, c, false, uses)
		}
	case ExprExclusion:
		if len(e.Children) > 0 {
			walkUses(s, d, perm, e.Children[0], false, uses)
		}
	case ExprRelation:
		ref := RelationRef{Type: d.Name, Relation: e.Relation}
		uses[ref] = append(uses[ref], Use{Kind: UseComputed, Type: d.Name, Permission: perm.Name, Definite: definite})
	case ExprSelf:
		ref := RelationRef{Type: d.Name}
		uses[ref] = append(uses[ref], Use{Kind: UseSelf, Type: d.Name, Permission: perm.Name, Definite: definite})
	case ExprArrow:
		ts, ok := d.Relations[e.Tupleset]
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, a := range ts.Allowed {
			if seen[a.Type] {
				continue
			}
			seen[a.Type] = true
			if _, ok := s.Relation(a.Type, e.Relation); !ok {
				continue
			}
			ref := RelationRef{Type: a.Type, Relation: e.Relation}
			uses[ref] = append(uses[ref], Use{Kind: UseArrow, Type: d.Name, Permission: perm.Name, Tupleset: e.Tupleset, Definite: definite && !e.All})
		}
	}
}
