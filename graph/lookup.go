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
	// After, when set, leaves out resources whose ID sorts at or before it
	// (a cursor: the last ID of the previous page).
	After string
	// Limit, when positive, returns only the first Limit resources.
	Limit int
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
	// A mark is 1 once (o, rel) was queued as a candidate and 2 once as
	// definite; a definite visit supersedes a candidate one.
	seen := newMarks(len(ix.objTypes))
	var queue []item
	push := func(o uint32, rel uint16, definite bool) {
		st := seen.get(o, rel)
		if st == 2 || (st == 1 && !definite) {
			return
		}
		if definite {
			seen.set(o, rel, 2)
		} else {
			seen.set(o, rel, 1)
		}
		queue = append(queue, item{o, rel, definite})
	}
	push(ev.subj, ev.subjRel, true)
	if ev.hasWild {
		push(ev.wildcard, 0, true)
	}

	var hits []uint32 // resources reached, each once
	hit := newMarks(len(ix.objTypes))
	for n := 0; len(queue) > 0; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		it := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		typ := ev.typeOf(it.o)
		if typ == target.typ && it.rel == target.rel && hit.get(it.o, 0) == 0 {
			hit.set(it.o, 0, 1)
			hits = append(hits, it.o)
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

	// Candidates reached only through caveats, intersections or exclusions
	// are decided by a full check; the rest have the permission outright.
	out := make([]ResourceResult, 0, len(hits))
	for _, o := range hits {
		id := ix.objectID(o, req.Subject)
		if req.After != "" && id <= req.After {
			continue
		}
		if seen.get(o, target.rel) == 2 {
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
	return firstByID(out, req.Limit), nil
}

// firstByID returns rs sorted by ID, only the first limit when limit > 0.
// It sorts positions by a key holding each ID's first eight bytes, so most
// comparisons are one integer comparison, and with a limit it keeps only the
// limit smallest (a bounded heap) instead of sorting everything.
func firstByID(rs []ResourceResult, limit int) []ResourceResult {
	keys := make([]idKey, len(rs))
	for i := range rs {
		keys[i] = idKey{prefix: tuple.IDPrefix(rs[i].ID), id: rs[i].ID, pos: int32(i)}
	}
	if limit > 0 && limit < len(keys) {
		keys = smallestKeys(keys, limit)
	}
	slices.SortFunc(keys, compareIDKeys)
	out := make([]ResourceResult, len(keys))
	for i, k := range keys {
		out[i] = rs[k.pos]
	}
	return out
}

type idKey struct {
	prefix uint64
	id     string
	pos    int32
}

func compareIDKeys(a, b idKey) int {
	if a.prefix != b.prefix {
		if a.prefix < b.prefix {
			return -1
		}
		return 1
	}
	return strings.Compare(a.id, b.id)
}

// smallestKeys returns the n smallest of keys (n < len(keys)), unordered,
// keeping a max-heap of the n smallest seen so far.
func smallestKeys(keys []idKey, n int) []idKey {
	heap := slices.Clone(keys[:n])
	less := func(i, j int) bool { return compareIDKeys(heap[i], heap[j]) > 0 } // max at the root
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < n && less(l, m) {
				m = l
			}
			if r := l + 1; r < n && less(r, m) {
				m = r
			}
			if m == i {
				return
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}
	for i := n/2 - 1; i >= 0; i-- {
		down(i)
	}
	for _, k := range keys[n:] {
		if compareIDKeys(k, heap[0]) < 0 {
			heap[0] = k
			down(0)
		}
	}
	return heap
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
