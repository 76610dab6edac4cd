package graph

import "sort"

// status is the state of one entry of a subjectSet: present unconditionally or
// conditionally (missing parameters). Absent entries are simply not stored.
// caveated records whether SpiceDB would carry a caveat expression for the
// entry; it matters only where SpiceDB's algebra treats "no expression" specially.
type status struct {
	r        result
	caveated bool
}

var plain = status{r: yes}

func sAnd(a, b status) status {
	return status{r: and(a.r, b.r), caveated: a.caveated || b.caveated}
}

// sOr is SpiceDB's short-circuited or: an uncaveated side makes the whole uncaveated.
func sOr(a, b status) status {
	if !a.caveated || !b.caveated {
		return plain
	}
	return status{r: or(a.r, b.r), caveated: true}
}

func sNot(a status) status { return status{r: not(a.r), caveated: a.caveated} }

func (s status) absent() bool { return s.r.kind == rNo }

// wildcardEntry is the `type:*` entry of a subjectSet with its exclusions.
type wildcardEntry struct {
	st   status
	excl map[string]status
}

// subjectSet is a set of subjects of one type with SpiceDB's algebra for
// wildcards and exclusions (union, intersection, subtraction), evaluated
// eagerly in three-valued logic rather than as symbolic caveat expressions.
type subjectSet struct {
	concrete map[string]status
	wild     *wildcardEntry
}

func newSubjectSet() *subjectSet { return &subjectSet{concrete: map[string]status{}} }

func (s *subjectSet) clone() *subjectSet {
	c := &subjectSet{concrete: make(map[string]status, len(s.concrete))}
	for k, v := range s.concrete {
		c.concrete[k] = v
	}
	if s.wild != nil {
		w := &wildcardEntry{st: s.wild.st, excl: make(map[string]status, len(s.wild.excl))}
		for k, v := range s.wild.excl {
			w.excl[k] = v
		}
		c.wild = w
	}
	return c
}

func (s *subjectSet) empty() bool { return s.wild == nil && len(s.concrete) == 0 }

func (s *subjectSet) setConcrete(id string, st status) {
	if st.absent() {
		delete(s.concrete, id)
		return
	}
	s.concrete[id] = st
}

func (w *wildcardEntry) setExcl(id string, st status) {
	if st.absent() {
		delete(w.excl, id)
		return
	}
	w.excl[id] = st
}

// addConcrete unions subject id into the set.
func (s *subjectSet) addConcrete(id string, st status) {
	if st.absent() {
		return
	}
	if old, ok := s.concrete[id]; ok {
		st = sOr(old, st)
	}
	s.setConcrete(id, st)
	if s.wild != nil {
		unionWildcardWithConcrete(s.wild, id, st)
	}
}

func unionWildcardWithConcrete(w *wildcardEntry, id string, st status) {
	ex, ok := w.excl[id]
	if !ok {
		return
	}
	if !st.caveated {
		delete(w.excl, id)
		return
	}
	w.setExcl(id, sAnd(ex, sNot(st)))
}

// addWildcard unions a wildcard entry into the set.
func (s *subjectSet) addWildcard(w *wildcardEntry) {
	if w == nil || w.st.absent() {
		return
	}
	if s.wild == nil {
		s.wild = &wildcardEntry{st: w.st, excl: copyExcl(w.excl)}
	} else {
		merged := &wildcardEntry{st: sOr(s.wild.st, w.st), excl: map[string]status{}}
		// Excluded from the union only where excluded from both.
		for id, a := range s.wild.excl {
			if b, ok := w.excl[id]; ok {
				merged.setExcl(id, sAnd(a, b))
			}
		}
		s.wild = merged
	}
	for id, st := range s.concrete {
		unionWildcardWithConcrete(s.wild, id, st)
	}
}

func copyExcl(m map[string]status) map[string]status {
	out := make(map[string]status, len(m))
	for k, v := range m {
		if !v.absent() {
			out[k] = v
		}
	}
	return out
}

// union adds every entry of o into s.
func (s *subjectSet) union(o *subjectSet) {
	for id, st := range o.concrete {
		s.addConcrete(id, st)
	}
	s.addWildcard(o.wild)
}

// withParent ANDs st (the caveat of the relationship that led here) into every entry.
func (s *subjectSet) withParent(st status) *subjectSet {
	if !st.caveated && st.r.kind == rYes {
		return s
	}
	c := s.clone()
	for id, v := range c.concrete {
		c.setConcrete(id, sAnd(st, v))
	}
	if c.wild != nil {
		c.wild.st = sAnd(st, c.wild.st)
		if c.wild.st.absent() {
			c.wild = nil
		}
	}
	return c
}

// subtract removes every entry of o from s: concrete subjects first, then the wildcard.
func (s *subjectSet) subtract(o *subjectSet) {
	ids := make([]string, 0, len(o.concrete))
	for id := range o.concrete {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s.subtractConcrete(id, o.concrete[id])
	}
	if o.wild != nil {
		s.subtractWildcard(o.wild)
	}
}

func (s *subjectSet) subtractConcrete(id string, st status) {
	if old, ok := s.concrete[id]; ok {
		if !st.caveated {
			delete(s.concrete, id)
		} else {
			s.setConcrete(id, sAnd(old, sNot(st)))
		}
	}
	if s.wild != nil {
		if ex, ok := s.wild.excl[id]; ok {
			s.wild.setExcl(id, sOr(ex, st))
		} else {
			s.wild.setExcl(id, st)
		}
	}
}

func (s *subjectSet) subtractWildcard(w *wildcardEntry) {
	for id, c := range s.concrete {
		ex, excluded := w.excl[id]
		switch {
		case !excluded && !w.st.caveated:
			delete(s.concrete, id)
		case !excluded:
			s.setConcrete(id, sAnd(c, sNot(w.st)))
		case !ex.caveated:
			// excluded outright from the removed wildcard: kept as is
		default:
			// not(wildcard) or exclusion; SpiceDB's or treats a missing side as absent.
			cond := ex
			if w.st.caveated {
				cond = status{r: or(not(w.st.r), ex.r), caveated: true}
			}
			s.setConcrete(id, sAnd(c, cond))
		}
	}
	if s.wild == nil {
		return
	}
	existing := s.wild
	if !w.st.caveated && len(w.excl) == 0 {
		s.wild = nil
		return
	}
	var added []string
	addedSt := map[string]status{}
	for id, ex := range w.excl {
		old, isOld := existing.excl[id]
		if isOld && !old.caveated {
			continue
		}
		cond := sAnd(sAnd(existing.st, w.st), ex)
		if isOld {
			cond = sAnd(sAnd(sAnd(existing.st, w.st), sNot(old)), ex)
		}
		added = append(added, id)
		addedSt[id] = cond
	}
	// SpiceDB inverts an absent caveat to "no caveat", so removing an uncaveated
	// wildcard that has exclusions leaves a caveated wildcard in place.
	var combined status
	switch {
	case !w.st.caveated && !existing.st.caveated:
		s.wild = nil
	case !w.st.caveated:
		combined = existing.st
		s.wild = &wildcardEntry{st: combined, excl: existing.excl}
	default:
		combined = sAnd(existing.st, sNot(w.st))
		s.wild = &wildcardEntry{st: combined, excl: existing.excl}
	}
	if s.wild != nil && s.wild.st.absent() {
		s.wild = nil
	}
	sort.Strings(added)
	for _, id := range added {
		s.setConcrete(id, addedSt[id])
	}
}

// intersect keeps what is in both s and o.
func (s *subjectSet) intersect(o *subjectSet) {
	existingWild := s.wild
	otherWild := o.wild
	var w *wildcardEntry
	if existingWild != nil && otherWild != nil {
		excl := newSubjectSet()
		for id, st := range existingWild.excl {
			excl.addConcrete(id, st)
		}
		for id, st := range otherWild.excl {
			excl.addConcrete(id, st)
		}
		w = &wildcardEntry{st: sAnd(existingWild.st, otherWild.st), excl: excl.concrete}
		if w.st.absent() {
			w = nil
		}
	}
	updated := map[string]status{}
	put := func(id string, st status, ok bool) {
		if !ok || st.absent() {
			return
		}
		if old, had := updated[id]; had {
			st = sOr(old, st)
		}
		updated[id] = st
	}
	for id, c := range s.concrete {
		oc, ok := o.concrete[id]
		var a status
		if ok {
			a = sAnd(c, oc)
		}
		b, okb := intersectConcreteWithWildcard(c, id, otherWild)
		switch {
		case ok && okb:
			put(id, sOr(a, b), true)
		case ok:
			put(id, a, true)
		case okb:
			put(id, b, true)
		}
	}
	if existingWild != nil {
		for id, c := range o.concrete {
			st, ok := intersectConcreteWithWildcard(c, id, existingWild)
			put(id, st, ok)
		}
	}
	s.concrete = updated
	s.wild = w
}

func intersectConcreteWithWildcard(c status, id string, w *wildcardEntry) (status, bool) {
	if w == nil {
		return status{}, false
	}
	ex, excluded := w.excl[id]
	switch {
	case !excluded && !w.st.caveated:
		return c, true
	case !excluded:
		return sAnd(c, w.st), true
	case !ex.caveated:
		return status{}, false
	default:
		return sAnd(c, sAnd(w.st, sNot(ex))), true
	}
}
