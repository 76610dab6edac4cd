package graph

import (
	"github.com/gatehouse-dev/gatehouse/schema"
)

type relKey struct {
	typ uint16
	rel uint16
}

func (k relKey) pack() uint32 { return uint32(k.typ)<<16 | uint32(k.rel) }

// plan is a schema translated to the index's interned IDs.
type plan struct {
	sch *schema.Schema
	// rels is a dense table indexed by type*stride + relation.
	rels   []*planRel
	stride int
	uses   map[relKey][]planUse
}

// rel returns the relation or permission rel of type typ, or nil.
func (p *plan) rel(typ, rel uint16) *planRel {
	i := int(typ)*p.stride + int(rel)
	if int(rel) >= p.stride || i >= len(p.rels) {
		return nil
	}
	return p.rels[i]
}

type planRel struct {
	typ  string
	name string
	perm bool
	expr *pexpr
}

type pexpr struct {
	kind schema.ExprKind
	kids []*pexpr
	rel  uint16
	ts   uint16
	all  bool
}

type planUse struct {
	kind     schema.UseKind
	typ      uint16
	perm     uint16
	ts       uint16
	definite bool
}

// planFor returns the plan of sch, building it (and interning the schema's
// names) on first use. Callers must not hold ix.mu.
func (ix *Index) planFor(sch *schema.Schema) *plan {
	if p := ix.lastPlan.Load(); p != nil && p.sch == sch {
		return p
	}
	ix.mu.RLock()
	p := ix.plans[sch]
	ix.mu.RUnlock()
	if p != nil {
		ix.lastPlan.Store(p)
		return p
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if p := ix.plans[sch]; p != nil {
		return p
	}
	p = &plan{sch: sch, uses: map[relKey][]planUse{}}
	rels := map[relKey]*planRel{}
	for _, d := range sch.Definitions() {
		t := ix.internType(d.Name)
		for _, rn := range d.Order {
			r := d.Relations[rn]
			pr := &planRel{typ: d.Name, name: r.Name, perm: r.Permission}
			if r.Expr != nil {
				pr.expr = ix.planExpr(r.Expr)
			}
			rels[relKey{t, ix.internRel(rn)}] = pr
		}
	}
	p.stride = len(ix.relNames)
	p.rels = make([]*planRel, len(ix.typeNames)*p.stride)
	for k, pr := range rels {
		p.rels[int(k.typ)*p.stride+int(k.rel)] = pr
	}
	for _, d := range sch.Definitions() {
		t := ix.internType(d.Name)
		refs := append([]string{""}, d.Order...)
		for _, rn := range refs {
			for _, u := range sch.Uses(schema.RelationRef{Type: d.Name, Relation: rn}) {
				k := relKey{t, ix.internRel(rn)}
				p.uses[k] = append(p.uses[k], planUse{
					kind: u.Kind, typ: ix.internType(u.Type), perm: ix.internRel(u.Permission),
					ts: ix.internRel(u.Tupleset), definite: u.Definite,
				})
			}
		}
	}
	if len(ix.plans) > 8 {
		clear(ix.plans)
	}
	ix.plans[sch] = p
	ix.lastPlan.Store(p)
	return p
}

func (ix *Index) planExpr(e *schema.Expr) *pexpr {
	p := &pexpr{kind: e.Kind, all: e.All}
	switch e.Kind {
	case schema.ExprRelation:
		p.rel = ix.internRel(e.Relation)
	case schema.ExprArrow:
		p.rel = ix.internRel(e.Relation)
		p.ts = ix.internRel(e.Tupleset)
	}
	for _, c := range e.Children {
		p.kids = append(p.kids, ix.planExpr(c))
	}
	return p
}
