package graph

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// ExpandKind is the kind of an ExpandNode.
type ExpandKind int

// Expand node kinds.
const (
	ExpandLeaf ExpandKind = iota
	ExpandUnion
	ExpandIntersection
	ExpandExclusion
)

// ExpandSubject is one subject found on a relation, with the caveat of the
// relationship that names it.
type ExpandSubject struct {
	Subject tuple.Subject
	Caveat  string
}

// ExpandNode is a node of a permission tree. Leaves list the subjects written
// on a relation (usersets are listed, not expanded further, as SpiceDB's
// shallow expansion does); inner nodes combine their children.
type ExpandNode struct {
	Kind     ExpandKind
	Object   tuple.Object
	Relation string
	Children []*ExpandNode
	Subjects []ExpandSubject
}

// Expand returns the permission tree of permission on resource.
// Errors: *schema.ValidationError, ErrMaxDepth.
func (s *Snapshot) Expand(ctx context.Context, sch *schema.Schema, resource tuple.Object, permission string, c Context) (*ExpandNode, error) {
	p := s.ix.planFor(sch)
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	if err := validatePermission(sch, resource.Type, permission); err != nil {
		return nil, err
	}
	ev, err := s.newEvaluator(p, &c, tuple.Subject{Type: resource.Type, ID: "-"})
	if err != nil {
		return nil, err
	}
	defer ev.release()
	x := &expander{ev: ev, ctx: ctx}
	return x.expand(ev.resourceID(resource), resource, s.ix.rels[permission])
}

type expander struct {
	ev    *evaluator
	ctx   context.Context
	depth int
}

func (x *expander) expand(o uint32, obj tuple.Object, rel uint16) (*ExpandNode, error) {
	ix := x.ev.ix
	if x.depth >= x.ev.maxDepth {
		return nil, ErrMaxDepth
	}
	if err := x.ctx.Err(); err != nil {
		return nil, err
	}
	x.depth++
	defer func() { x.depth-- }()
	node := &ExpandNode{Kind: ExpandLeaf, Object: obj, Relation: ix.relNames[rel]}
	pr := x.ev.p.rel(x.ev.typeOf(o), rel)
	if pr == nil {
		return node, nil
	}
	if pr.perm {
		n, err := x.expr(pr.expr, o, obj)
		if err != nil {
			return nil, err
		}
		n.Object, n.Relation = obj, pr.name
		return n, nil
	}
	if l := x.ev.outList(o, rel); l != nil {
		for _, part := range [][]uint32{l.direct, l.usersets} {
			for _, id := range part {
				e := &ix.edges[id]
				if !x.ev.s.visible(e, &x.ev.now) {
					continue
				}
				r := ix.relationship(e)
				es := ExpandSubject{Subject: r.Subject}
				if r.Caveat != nil {
					es.Caveat = r.Caveat.Name
				}
				node.Subjects = append(node.Subjects, es)
			}
		}
	}
	return node, nil
}

func (x *expander) expr(e *pexpr, o uint32, obj tuple.Object) (*ExpandNode, error) {
	ix := x.ev.ix
	kind := map[schema.ExprKind]ExpandKind{schema.ExprUnion: ExpandUnion, schema.ExprIntersection: ExpandIntersection, schema.ExprExclusion: ExpandExclusion}
	switch e.kind {
	case schema.ExprUnion, schema.ExprIntersection, schema.ExprExclusion:
		n := &ExpandNode{Kind: kind[e.kind], Object: obj}
		for _, k := range e.kids {
			c, err := x.expr(k, o, obj)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, c)
		}
		return n, nil
	case schema.ExprRelation:
		return x.expand(o, obj, e.rel)
	case schema.ExprSelf:
		return &ExpandNode{Kind: ExpandLeaf, Object: obj, Subjects: []ExpandSubject{{Subject: tuple.Subject{Type: obj.Type, ID: obj.ID}}}}, nil
	case schema.ExprArrow:
		n := &ExpandNode{Kind: ExpandUnion, Object: obj, Relation: ix.relNames[e.ts]}
		if e.all {
			n.Kind = ExpandIntersection
		}
		if l := x.ev.outList(o, e.ts); l != nil {
			for _, part := range [][]uint32{l.direct, l.usersets} {
				for _, id := range part {
					ed := &ix.edges[id]
					if !x.ev.s.visible(ed, &x.ev.now) || x.ev.p.rel(ix.objTypes[ed.subj], e.rel) == nil {
						continue
					}
					target := tuple.Object{Type: ix.typeNames[ix.objTypes[ed.subj]], ID: ix.objIDs[ed.subj]}
					c, err := x.expand(ed.subj, target, e.rel)
					if err != nil {
						return nil, err
					}
					n.Children = append(n.Children, c)
				}
			}
		}
		return n, nil
	}
	return &ExpandNode{Kind: ExpandUnion, Object: obj}, nil
}
