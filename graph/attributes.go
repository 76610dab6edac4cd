package graph

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// ObjectAttributes is an object's stored attributes (nil Values: it has none).
type ObjectAttributes struct {
	Object tuple.Object
	Values map[string]any
}

// attrVersion is one value of an object's attributes, visible from its revision
// until the next version's; nil values mean the attributes were removed. Values
// are never modified once stored.
type attrVersion struct {
	values  map[string]any
	fields  caveats.Fields // values encoded for caveat cache keys
	created Revision
	prev    *attrVersion
}

// LoadAttributes adds object attributes as they are at rev, like Load.
func (ix *Index) LoadAttributes(rev Revision, attrs []ObjectAttributes) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if rev < ix.head {
		return fmt.Errorf("load attributes at %d below head %d: %w", rev, ix.head, ErrOutOfOrder)
	}
	for _, a := range attrs {
		ix.setAttributes(a, rev)
	}
	return nil
}

// setAttributes records a's values as the object's attributes from rev on.
// The caller holds the write lock.
func (ix *Index) setAttributes(a ObjectAttributes, rev Revision) {
	o := ix.internObject(a.Object.Type, a.Object.ID)
	if int(o) >= len(ix.attrs) {
		ix.attrs = append(ix.attrs, make([]*attrVersion, int(o)+1-len(ix.attrs))...)
	}
	prev := ix.attrs[o]
	if prev != nil && prev.created == rev {
		// Loaded again at the same revision: a new version, so that no
		// reader sees the map and its encoding disagree.
		prev = prev.prev
	}
	if prev == nil && a.Values == nil {
		ix.attrs[o] = nil
		return
	}
	v := &attrVersion{values: a.Values, created: rev, prev: prev}
	if a.Values != nil {
		v.fields = caveats.EncodeFields(a.Values)
	}
	ix.attrs[o] = v
}

// attributes returns the attributes of object o at the snapshot's revision; an
// object without any gets an empty map, so that a caveat's `has()` can test it.
// The caller holds the read lock.
func (s *Snapshot) attributes(o uint32) (map[string]any, caveats.Fields) {
	if int(o) < len(s.ix.attrs) {
		for v := s.ix.attrs[o]; v != nil; v = v.prev {
			if v.created <= s.rev {
				if v.values == nil {
					break
				}
				return v.values, v.fields
			}
		}
	}
	return s.ix.noAttrs, s.ix.noFields
}

// Attributes returns the attributes of obj at the snapshot's revision, nil if
// it has none. The map is shared: callers must not modify it.
func (s *Snapshot) Attributes(obj tuple.Object) map[string]any {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	o, ok := s.ix.lookupObject(obj.Type, obj.ID)
	if !ok {
		return nil
	}
	if m, _ := s.attributes(o); len(m) > 0 {
		return m
	}
	return nil
}

// gcAttributes drops attribute versions no revision from horizon on can see and
// returns how many it dropped. The caller holds the write lock.
func (ix *Index) gcAttributes(horizon Revision) int {
	removed := 0
	for o, latest := range ix.attrs {
		if latest == nil {
			continue
		}
		keep := latest
		for keep != nil && keep.created > horizon {
			keep = keep.prev
		}
		if keep == nil {
			continue
		}
		for v := keep.prev; v != nil; v = v.prev {
			removed++
		}
		keep.prev = nil
		if keep == latest && keep.values == nil {
			ix.attrs[o] = nil
			removed++
		}
	}
	return removed
}
