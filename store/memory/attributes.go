package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// attrVersion is one value of an object's attributes, from its revision until
// the next version's. A version with no encoding removed the attributes.
type attrVersion struct {
	obj     tuple.Object
	enc     []byte // compact JSON; nil: none
	created store.Revision
	prev    *attrVersion
}

// decode returns a fresh copy of v's attributes, nil if it has none.
func (v *attrVersion) decode() map[string]any {
	if v.enc == nil {
		return nil
	}
	m, err := store.DecodeAttributes(v.enc)
	if err != nil {
		panic("memory: attributes encoded by this store do not decode: " + err.Error())
	}
	return m
}

// visibleAt returns the version of the chain from v visible at rev, or nil.
func (v *attrVersion) visibleAt(rev store.Revision) *attrVersion {
	for ; v != nil; v = v.prev {
		if v.created <= rev {
			if v.enc == nil {
				return nil
			}
			return v
		}
	}
	return nil
}

// pendingAttrs is what a batch will write: the final attributes of each object it names.
type pendingAttrs struct {
	objects []store.ObjectAttributes
	enc     [][]byte
}

// prepareAttributes checks the batch's attribute preconditions and computes
// the attributes it leaves; it changes nothing. The caller holds the write lock.
func (s *Store) prepareAttributes(b store.Batch) (pendingAttrs, error) {
	current := func(o tuple.Object) (map[string]any, error) {
		if v := s.attrs[o]; v != nil {
			return v.decode(), nil
		}
		return nil, nil
	}
	for _, p := range b.AttributePreconditions {
		cur, _ := current(p.Object)
		ok, err := store.AttributePreconditionHolds(p, cur)
		if err != nil {
			return pendingAttrs{}, err
		}
		if !ok {
			return pendingAttrs{}, &store.AttributePreconditionError{Precondition: p}
		}
	}
	objects, enc, err := store.ApplyAttributeUpdates(b.Attributes, b.MaxAttributeBytes, current)
	return pendingAttrs{objects, enc}, err
}

// applyAttributes writes prepared attributes as versions of transaction t.
func (s *Store) applyAttributes(t *txn, p pendingAttrs) {
	for i, oa := range p.objects {
		v := &attrVersion{obj: oa.Object, enc: p.enc[i], created: t.rev, prev: s.attrs[oa.Object]}
		s.attrs[oa.Object] = v
		t.attrs = append(t.attrs, v)
	}
	slices.SortFunc(t.attrs, func(a, b *attrVersion) int { return compareObjects(a.obj, b.obj) })
}

func compareObjects(a, b tuple.Object) int {
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// attributesAt returns the versions visible at rev of the objects match
// selects, sorted by type then ID. The caller holds the lock.
func (s *Store) attributesAt(rev store.Revision, match func(tuple.Object) bool) []*attrVersion {
	var out []*attrVersion
	for o, v := range s.attrs {
		if !match(o) {
			continue
		}
		if v := v.visibleAt(rev); v != nil {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b *attrVersion) int { return compareObjects(a.obj, b.obj) })
	return out
}

// collectAttributes drops the attribute versions that no revision from m on
// can see, of the objects the collected transactions wrote, and returns how
// many versions with attributes it dropped. The caller holds the write lock.
func (s *Store) collectAttributes(collected []*txn, m store.Revision) int {
	removed := 0
	for _, t := range collected {
		for _, w := range t.attrs {
			latest := s.attrs[w.obj]
			// keep is the version visible at m: every older one is unreachable.
			keep := latest
			for keep != nil && keep.created > m {
				keep = keep.prev
			}
			if keep == nil {
				continue
			}
			for v := keep.prev; v != nil; v = v.prev {
				if v.enc != nil {
					removed++
				}
			}
			keep.prev = nil
			if keep == latest && keep.enc == nil {
				delete(s.attrs, w.obj)
			}
		}
	}
	return removed
}

// readable takes the read lock and checks the store is open and rev retained;
// on success the caller must RUnlock.
func (s *Store) readable(ctx context.Context, rev store.Revision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	if err := s.checkRevision(rev); err != nil {
		s.mu.RUnlock()
		return err
	}
	return nil
}

// ReadAttributes implements store.AttributeReader.
func (s *Store) ReadAttributes(ctx context.Context, rev store.Revision, objects []tuple.Object) (map[tuple.Object]map[string]any, error) {
	if err := s.readable(ctx, rev); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make(map[tuple.Object]map[string]any)
	for _, o := range objects {
		if v := s.attrs[o].visibleAt(rev); v != nil {
			out[o] = v.decode()
		}
	}
	return out, nil
}

// ScanAttributes implements store.AttributeReader.
func (s *Store) ScanAttributes(ctx context.Context, rev store.Revision, f store.AttributeFilter, after string, limit int) ([]store.ObjectAttributes, error) {
	if err := s.readable(ctx, rev); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	vs := s.attributesAt(rev, func(o tuple.Object) bool {
		return o.Type == f.Type && strings.HasPrefix(o.ID, f.IDPrefix) && o.ID > after
	})
	if limit > 0 && len(vs) > limit {
		vs = vs[:limit]
	}
	out := make([]store.ObjectAttributes, len(vs))
	for i, v := range vs {
		out[i] = store.ObjectAttributes{Object: v.obj, Values: v.decode()}
	}
	return out, nil
}
