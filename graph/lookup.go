package graph

import (
	"context"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// LookupResourcesRequest asks which resources of ResourceType Subject has Permission on.
type LookupResourcesRequest struct {
	ResourceType string
	Permission   string
	Subject      tuple.Subject
	Context      Context
}

// ResourceResult is one resource found by LookupResources.
type ResourceResult struct {
	ID string
	Result
}

// LookupResources returns the resources of req.ResourceType on which req.Subject
// has req.Permission (HasPermission or ConditionalPermission), sorted by ID.
//
// It walks the reverse indexes from the subject up: relationships naming the
// subject (or its type's wildcard), then the schema's uses of each reached
// relation. A resource reached only through unions and uncaveated relationships
// has the permission outright; one reached through an intersection, exclusion,
// .all() arrow or caveat is a candidate and is decided with a full check.
func (s *Snapshot) LookupResources(ctx context.Context, sch *schema.Schema, req LookupResourcesRequest) ([]ResourceResult, error) {
	p := s.ix.planFor(sch)
	ix := s.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if err := validatePermission(sch, req.ResourceType, req.Permission); err != nil {
		return nil, err
	}
	ev, err := s.newEvaluator(p, &req.Context, req.Subject)
	if err != nil {
		return nil, err
	}
	defer ev.release()
	target := relKey{typ: ix.types[req.ResourceType], rel: ix.rels[req.Permission]}

	type item struct {
		o        uint32
		rel      uint16
		definite bool
	}
	state := map[uint64]uint8{}
	var queue []item
	push := func(o uint32, rel uint16, definite bool) {
		k := uint64(o)<<16 | uint64(rel)
		st := state[k]
		if st == 2 || (st == 1 && !definite) {
			return
		}
		if definite {
			state[k] = 2
		} else {
			state[k] = 1
		}
		queue = append(queue, item{o, rel, definite})
	}
	push(ev.subj, ev.subjRel, true)
	if ev.hasWild {
		push(ev.wildcard, 0, true)
	}

	found := map[uint32]bool{}
	for n := 0; len(queue) > 0; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		it := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		typ := ev.typeOf(it.o)
		if typ == target.typ && it.rel == target.rel {
			found[it.o] = found[it.o] || it.definite
		}
		if l := ev.inList(it.o, it.rel); l != nil {
			for _, id := range l.edges {
				e := &ix.edges[id]
				if s.visible(e, &ev.now) {
					push(e.res, e.rel, it.definite && !ix.caveated(e))
				}
			}
		}
		for _, u := range p.uses[relKey{typ, it.rel}] {
			def := it.definite && u.definite
			switch u.kind {
			case schema.UseComputed:
				push(it.o, u.perm, def)
			case schema.UseSelf:
				if it.rel == 0 && !(ev.hasWild && it.o == ev.wildcard) {
					push(it.o, u.perm, def)
				}
			case schema.UseArrow:
				if int(it.o) >= len(ix.nodes) {
					continue
				}
				for _, l := range ix.nodes[it.o].in {
					for _, id := range l.edges {
						e := &ix.edges[id]
						if e.rel == u.ts && ix.objTypes[e.res] == u.typ && s.visible(e, &ev.now) {
							push(e.res, u.perm, def && !ix.caveated(e))
						}
					}
				}
			}
		}
	}

	out := make([]ResourceResult, 0, len(found))
	for o, definite := range found {
		id := ix.objectID(o, req.Subject)
		if definite {
			out = append(out, ResourceResult{ID: id, Result: Result{Permissionship: HasPermission}})
			continue
		}
		r, err := ev.check(o, target.rel)
		if err != nil {
			return nil, err
		}
		if r.kind != rNo {
			out = append(out, ResourceResult{ID: id, Result: r.public()})
		}
	}
	slices.SortFunc(out, func(a, b ResourceResult) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (ix *Index) caveated(e *edge) bool {
	return e.extra != 0 && ix.extras[e.extra].caveat != ""
}

// objectID names object o; the absent subject is named by the request's subject.
func (ix *Index) objectID(o uint32, subject tuple.Subject) string {
	if o >= absentResource {
		return subject.ID
	}
	return ix.objIDs[o]
}
