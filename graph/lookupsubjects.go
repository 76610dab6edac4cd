package graph

import (
	"context"
	"sort"

	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// LookupSubjectsRequest asks which subjects of SubjectType (with SubjectRelation,
// "" for plain objects) have Permission on Resource.
type LookupSubjectsRequest struct {
	Resource        tuple.Object
	Permission      string
	SubjectType     string
	SubjectRelation string
	Context         Context
}

// SubjectResult is one subject found by LookupSubjects. ID "*" is the wildcard;
// Excluded then lists the subjects it excludes, as SpiceDB reports them.
type SubjectResult struct {
	ID string
	Result
	Excluded []SubjectResult
}

// LookupSubjects returns the subjects of the requested type with the permission,
// sorted by ID, the wildcard with its exclusions as SpiceDB reports it. It walks
// forward from the resource and combines subject sets with SpiceDB's algebra
// for wildcards and exclusions.
func (s *Snapshot) LookupSubjects(ctx context.Context, sch *schema.Schema, req LookupSubjectsRequest) ([]SubjectResult, error) {
	p := s.ix.planFor(sch)
	ix := s.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if err := validatePermission(sch, req.Resource.Type, req.Permission); err != nil {
		return nil, err
	}
	if req.SubjectRelation == tuple.Ellipsis {
		req.SubjectRelation = ""
	}
	if err := validateSubject(sch, tuple.Subject{Type: req.SubjectType, Relation: req.SubjectRelation}); err != nil {
		return nil, err
	}
	ev, err := s.newEvaluator(p, &req.Context, tuple.Subject{Type: req.SubjectType, ID: "-", Relation: req.SubjectRelation})
	if err != nil {
		return nil, err
	}
	defer ev.release()
	ls := &subjectWalker{ev: ev, ctx: ctx, typ: ix.types[req.SubjectType], rel: ix.rels[req.SubjectRelation],
		memo: map[uint64]*subjectSet{}, onStack: map[uint64]bool{}}
	if _, ok := ix.rels[req.SubjectRelation]; !ok {
		ls.rel = ix.internedOrNone(req.SubjectRelation)
	}
	o := ev.resourceID(req.Resource)
	var set *subjectSet
	if o == absentResource {
		set = newSubjectSet()
		if ev.absentType == ls.typ && req.SubjectRelation == req.Permission && req.SubjectRelation != "" {
			set.addConcrete(req.Resource.ID, plain)
		}
		if pr := p.rel(ev.absentType, ix.rels[req.Permission]); pr != nil && pr.perm && req.SubjectType == req.Resource.Type && req.SubjectRelation == "" && hasSelf(pr.expr) {
			set2, err := ls.expr(pr.expr, o, req.Resource.ID)
			if err != nil {
				return nil, err
			}
			set = set2
		}
	} else {
		set, err = ls.subjects(o, ix.rels[req.Permission])
		if err != nil {
			return nil, err
		}
	}
	return set.results(), nil
}

func hasSelf(e *pexpr) bool {
	if e.kind == schema.ExprSelf {
		return true
	}
	for _, k := range e.kids {
		if hasSelf(k) {
			return true
		}
	}
	return false
}

// internedOrNone returns a relation ID that no edge carries when name was never interned.
func (ix *Index) internedOrNone(name string) uint16 {
	if r, ok := ix.rels[name]; ok {
		return r
	}
	return 0xFFFF
}

func (set *subjectSet) results() []SubjectResult {
	out := make([]SubjectResult, 0, len(set.concrete)+1)
	for id, st := range set.concrete {
		out = append(out, SubjectResult{ID: id, Result: st.r.public()})
	}
	if set.wild != nil {
		w := SubjectResult{ID: "*", Result: set.wild.st.r.public()}
		for id, st := range set.wild.excl {
			w.Excluded = append(w.Excluded, SubjectResult{ID: id, Result: st.r.public()})
		}
		sort.Slice(w.Excluded, func(i, j int) bool { return w.Excluded[i].ID < w.Excluded[j].ID })
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

type subjectWalker struct {
	ev      *evaluator
	ctx     context.Context
	typ     uint16
	rel     uint16
	memo    map[uint64]*subjectSet
	onStack map[uint64]bool
	depth   int
	steps   int
}

func (w *subjectWalker) statusOf(e *edge) (status, error) {
	r, err := w.ev.caveat(e)
	if err != nil {
		return status{}, err
	}
	return status{r: r, caveated: w.ev.ix.caveated(e)}, nil
}

// subjects returns the subject set of relation or permission rel on object o.
// The returned set must not be modified by callers.
func (w *subjectWalker) subjects(o uint32, rel uint16) (*subjectSet, error) {
	ix := w.ev.ix
	typ := w.ev.typeOf(o)
	pr := w.ev.p.rel(typ, rel)
	key := uint64(o)<<16 | uint64(rel)
	if s, ok := w.memo[key]; ok {
		return s, nil
	}
	if w.onStack[key] {
		return newSubjectSet(), nil
	}
	if w.depth >= w.ev.maxDepth {
		return nil, ErrMaxDepth
	}
	if w.steps++; w.steps%1024 == 0 && w.ctx.Err() != nil {
		return nil, w.ctx.Err()
	}
	w.depth++
	w.onStack[key] = true
	defer func() {
		w.depth--
		delete(w.onStack, key)
	}()
	set := newSubjectSet()
	if typ == w.typ && rel == w.rel && w.rel != 0 {
		set.addConcrete(ix.objIDs[o], plain)
	}
	if pr == nil {
		w.memo[key] = set
		return set, nil
	}
	if pr.perm {
		r, err := w.expr(pr.expr, o, ix.objIDs[o])
		if err != nil {
			return nil, err
		}
		set.union(r)
	} else if l := w.ev.outList(o, rel); l != nil {
		for _, part := range [][]uint32{l.direct, l.usersets} {
			for _, id := range part {
				e := &ix.edges[id]
				if !w.ev.s.visible(e, &w.ev.now) {
					continue
				}
				st, err := w.statusOf(e)
				if err != nil {
					return nil, err
				}
				if st.absent() {
					continue
				}
				if ix.objTypes[e.subj] == w.typ && e.srel == w.rel {
					if id := ix.objIDs[e.subj]; id == "*" {
						set.addWildcard(&wildcardEntry{st: st, excl: map[string]status{}})
					} else {
						set.addConcrete(id, st)
					}
				}
				if e.srel != 0 {
					sub, err := w.subjects(e.subj, e.srel)
					if err != nil {
						return nil, err
					}
					set.union(sub.withParent(st))
				}
			}
		}
	}
	w.memo[key] = set
	return set, nil
}

func (w *subjectWalker) expr(x *pexpr, o uint32, id string) (*subjectSet, error) {
	switch x.kind {
	case schema.ExprUnion:
		set := newSubjectSet()
		for _, k := range x.kids {
			r, err := w.expr(k, o, id)
			if err != nil {
				return nil, err
			}
			set.union(r)
		}
		return set, nil
	case schema.ExprIntersection:
		var set *subjectSet
		for _, k := range x.kids {
			r, err := w.expr(k, o, id)
			if err != nil {
				return nil, err
			}
			if set == nil {
				set = r.clone()
			} else {
				set.intersect(r)
			}
		}
		if set == nil {
			set = newSubjectSet()
		}
		return set, nil
	case schema.ExprExclusion:
		base, err := w.expr(x.kids[0], o, id)
		if err != nil {
			return nil, err
		}
		set := base.clone()
		for _, k := range x.kids[1:] {
			if set.empty() {
				break
			}
			r, err := w.expr(k, o, id)
			if err != nil {
				return nil, err
			}
			set.subtract(r)
		}
		return set, nil
	case schema.ExprRelation:
		if o == absentResource {
			return newSubjectSet(), nil
		}
		return w.subjects(o, x.rel)
	case schema.ExprSelf:
		set := newSubjectSet()
		if w.ev.typeOf(o) == w.typ && w.rel == 0 {
			set.addConcrete(id, plain)
		}
		return set, nil
	case schema.ExprArrow:
		return w.arrow(x, o)
	}
	return newSubjectSet(), nil
}

func (w *subjectWalker) arrow(x *pexpr, o uint32) (*subjectSet, error) {
	ix := w.ev.ix
	l := w.ev.outList(o, x.ts)
	var set *subjectSet
	if l != nil {
		for _, part := range [][]uint32{l.direct, l.usersets} {
			for _, id := range part {
				e := &ix.edges[id]
				if !w.ev.s.visible(e, &w.ev.now) {
					continue
				}
				st, err := w.statusOf(e)
				if err != nil {
					return nil, err
				}
				sub := newSubjectSet()
				if !st.absent() && w.ev.p.rel(ix.objTypes[e.subj], x.rel) != nil {
					s2, err := w.subjects(e.subj, x.rel)
					if err != nil {
						return nil, err
					}
					sub = s2.withParent(st)
				}
				switch {
				case set == nil:
					set = sub.clone()
				case x.all:
					set.intersect(sub)
				default:
					set.union(sub)
				}
			}
		}
	}
	if set == nil {
		set = newSubjectSet()
	}
	return set, nil
}
