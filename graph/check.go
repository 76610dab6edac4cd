package graph

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// DefaultMaxDepth is SpiceDB's default dispatch depth limit.
const DefaultMaxDepth = 50

// ErrMaxDepth is returned when evaluation recurses deeper than the depth limit.
var ErrMaxDepth = errors.New("max depth exceeded: this usually indicates a recursive or too deeply nested schema or relationships")

// CaveatError reports a caveat that could not be evaluated (a context value of
// the wrong type, a runtime error, the cost limit, an unknown caveat).
type CaveatError struct {
	Caveat string
	Err    error
}

func (e *CaveatError) Error() string {
	return fmt.Sprintf("evaluating caveat %s: %v", e.Caveat, e.Err)
}

func (e *CaveatError) Unwrap() error { return e.Err }

// Permissionship is the outcome of a decision.
type Permissionship int

// Outcomes.
const (
	NoPermission Permissionship = iota
	HasPermission
	ConditionalPermission
)

func (p Permissionship) String() string {
	switch p {
	case HasPermission:
		return "HAS_PERMISSION"
	case ConditionalPermission:
		return "CONDITIONAL_PERMISSION"
	default:
		return "NO_PERMISSION"
	}
}

// Result is a decision: with ConditionalPermission, Missing names the caveat
// parameters that the request context must supply.
type Result struct {
	Permissionship Permissionship
	Missing        []string
}

// Context holds the inputs of one evaluation besides the relationships.
type Context struct {
	// Values is the request's caveat context (JSON-like values).
	Values map[string]any
	// Caller holds the verified claims bound to the reserved `caller` parameter.
	Caller map[string]any
	// CallerFields optionally holds caveats.EncodeFields(Caller), computed
	// once per verified token, which caveat cache keys then read instead of
	// the map.
	CallerFields caveats.Fields
	// Now is the evaluation time for expiration; zero means time.Now().
	Now time.Time
	// MaxDepth bounds recursion; zero means DefaultMaxDepth.
	MaxDepth int
}

// CheckRequest asks whether Subject has Permission on Resource.
type CheckRequest struct {
	Resource   tuple.Object
	Permission string
	Subject    tuple.Subject
	Context    Context
}

// result is a three-valued outcome: no, yes, or conditional on missing parameters.
type result struct {
	kind    uint8
	missing []string
}

const (
	rNo uint8 = iota
	rYes
	rCond
)

var (
	no  = result{kind: rNo}
	yes = result{kind: rYes}
)

func mergeMissing(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	for _, x := range b {
		found := false
		for _, y := range a {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func or(a, b result) result {
	switch {
	case a.kind == rYes || b.kind == rYes:
		return yes
	case a.kind == rNo:
		return b
	case b.kind == rNo:
		return a
	}
	return result{kind: rCond, missing: mergeMissing(a.missing, b.missing)}
}

func and(a, b result) result {
	switch {
	case a.kind == rNo || b.kind == rNo:
		return no
	case a.kind == rYes:
		return b
	case b.kind == rYes:
		return a
	}
	return result{kind: rCond, missing: mergeMissing(a.missing, b.missing)}
}

func not(a result) result {
	switch a.kind {
	case rYes:
		return no
	case rNo:
		return yes
	}
	return a
}

func (r result) public() Result {
	switch r.kind {
	case rYes:
		return Result{Permissionship: HasPermission}
	case rCond:
		return Result{Permissionship: ConditionalPermission, Missing: r.missing}
	}
	return Result{Permissionship: NoPermission}
}

const (
	absentResource = math.MaxUint32 - 1
	absentSubject  = math.MaxUint32
)

// evaluator answers checks for one subject over one snapshot; callers hold ix.mu.RLock.
type evaluator struct {
	s      *Snapshot
	ix     *Index
	p      *plan
	now    clock
	values map[string]any

	subj     uint32
	subjType uint16
	subjRel  uint16
	wildcard uint32
	hasWild  bool
	// absentType is the type of the absent resource (absentResource), if any.
	absentType uint16

	depth, maxDepth int
	memo            memoTable
	cuts            int
	caller          map[string]any // claims bound to `caller`; nil when the request has none
	callerFields    caveats.Fields // the claims encoded, if the request gave them
	tr              *tracer        // records an explanation; nil except in Explain

	// Scratch space for caveat cache keys, kept across pooled uses.
	key  []byte
	keep []map[string]any
}

func (s *Snapshot) newEvaluator(p *plan, c *Context, subject tuple.Subject) (*evaluator, error) {
	ix := s.ix
	ev, _ := ix.evals.Get().(*evaluator)
	if ev == nil {
		ev = new(evaluator)
	}
	ev.memo.reset()
	*ev = evaluator{s: s, ix: ix, p: p, values: c.Values, maxDepth: c.MaxDepth, subj: absentSubject, memo: ev.memo, key: ev.key, keep: ev.keep}
	if ev.maxDepth <= 0 {
		ev.maxDepth = DefaultMaxDepth
	}
	if !c.Now.IsZero() {
		ev.now = clock{micros: c.Now.UnixMicro(), set: true}
	}
	ev.caller, ev.callerFields = c.Caller, c.CallerFields
	if subject.Relation == tuple.Ellipsis {
		subject.Relation = ""
	}
	if err := validateSubject(p.sch, subject); err != nil {
		return nil, err
	}
	ev.subjType = ix.types[subject.Type]
	if subject.Relation == "" {
		ev.subjRel = 0
	} else if r, ok := ix.rels[subject.Relation]; ok {
		ev.subjRel = r
	} else {
		// A relation never seen in data: no edge can name it, but identity can.
		ev.subjRel = math.MaxUint16
	}
	if o, ok := ix.lookupObject(subject.Type, subject.ID); ok {
		ev.subj = o
	}
	if subject.Relation == "" && subject.ID != "*" && int(ev.subjType) < len(ix.wildcards) {
		ev.wildcard = ix.wildcards[ev.subjType]
		ev.hasWild = ev.wildcard != noObject
	}
	return ev, nil
}

// ErrWildcardSubject: a check or lookup named the wildcard `type:*` as its subject.
var ErrWildcardSubject = errors.New("cannot perform check on wildcard subject")

func validateSubject(sch *schema.Schema, s tuple.Subject) error {
	if s.ID == "*" {
		return ErrWildcardSubject
	}
	d, ok := sch.Definition(s.Type)
	if !ok {
		return &schema.ValidationError{Kind: schema.UnknownDefinition, Definition: s.Type,
			Message: fmt.Sprintf("object definition `%s` not found", s.Type)}
	}
	if s.Relation != "" && s.Relation != tuple.Ellipsis {
		if _, ok := d.Relations[s.Relation]; !ok {
			return &schema.ValidationError{Kind: schema.UnknownRelation, Definition: s.Type, Relation: s.Relation,
				Message: fmt.Sprintf("relation/permission `%s` not found under definition `%s`", s.Relation, s.Type)}
		}
	}
	return nil
}

func validatePermission(sch *schema.Schema, typ, perm string) error {
	d, ok := sch.Definition(typ)
	if !ok {
		return &schema.ValidationError{Kind: schema.UnknownDefinition, Definition: typ,
			Message: fmt.Sprintf("object definition `%s` not found", typ)}
	}
	if _, ok := d.Relations[perm]; !ok {
		return &schema.ValidationError{Kind: schema.UnknownRelation, Definition: typ, Relation: perm,
			Message: fmt.Sprintf("relation/permission `%s` not found under definition `%s`", perm, typ)}
	}
	return nil
}

// release returns ev to its index's pool; ev must not be used afterwards.
func (ev *evaluator) release() {
	ix := ev.ix
	ev.s, ev.ix, ev.p, ev.values, ev.caller, ev.callerFields, ev.tr = nil, nil, nil, nil, nil, nil, nil
	clear(ev.keep[:cap(ev.keep)]) // do not hold the request's maps while pooled
	ix.evals.Put(ev)
}

// resourceID resolves the resource to an interned object, or to absentResource
// when no relationship names it (only `self` can then hold).
func (ev *evaluator) resourceID(o tuple.Object) uint32 {
	if id, ok := ev.ix.lookupObject(o.Type, o.ID); ok {
		return id
	}
	ev.absentType = ev.ix.types[o.Type]
	return absentResource
}

func (ev *evaluator) typeOf(o uint32) uint16 {
	switch o {
	case absentResource:
		return ev.absentType
	case absentSubject:
		return ev.subjType
	}
	return ev.ix.objTypes[o]
}

func (ev *evaluator) outList(o uint32, rel uint16) *relList {
	if int(o) >= len(ev.ix.nodes) {
		return nil
	}
	return findList(ev.ix.nodes[o].out, rel)
}

func (ev *evaluator) inList(o uint32, srel uint16) *inList {
	if int(o) >= len(ev.ix.nodes) {
		return nil
	}
	return findIn(ev.ix.nodes[o].in, srel)
}

// bindings returns the reserved parameters caveat c declares, for edge e: the
// caller's claims and the attributes of e's resource and subject.
func (ev *evaluator) bindings(c *caveats.Caveat, e *edge) caveats.Bindings {
	var b caveats.Bindings
	caller, resource, subject := c.Binds()
	if caller {
		b.Caller, b.CallerFields = ev.caller, ev.callerFields
	}
	if resource {
		b.Resource, b.ResourceFields = ev.s.attributes(e.res)
	}
	if subject {
		b.Subject, b.SubjectFields = ev.s.attributes(e.subj)
	}
	return b
}

// caveat evaluates the caveat carried by edge e.
func (ev *evaluator) caveat(e *edge) (result, error) {
	if e.extra == 0 {
		return yes, nil
	}
	x := &ev.ix.extras[e.extra]
	if x.caveat == "" {
		return yes, nil
	}
	c, ok := ev.p.sch.Caveat(x.caveat)
	if !ok {
		return no, &CaveatError{Caveat: x.caveat, Err: errors.New("caveat is not defined in the schema")}
	}
	b := ev.bindings(c, e)
	cache := ev.ix.cavCache
	var h uint64
	if cache != nil {
		var ok bool
		ev.key, ev.keep, ok = c.AppendKey(ev.key[:0], x.context, ev.values, &b, ev.keep[:0])
		if ok {
			h = cache.hash(ev.key)
			if r, ok := cache.get(c, h, ev.key); ok {
				return r, nil
			}
		} else {
			cache = nil
		}
	}
	r, err := c.Eval(x.context, ev.values, &b)
	if err != nil {
		return no, &CaveatError{Caveat: x.caveat, Err: err}
	}
	res := no
	switch r.Outcome {
	case caveats.True:
		res = yes
	case caveats.Conditional:
		res = result{kind: rCond, missing: r.Missing}
	}
	if cache != nil {
		cache.put(c, h, ev.key, res, ev.keep)
	}
	return res, nil
}

// check evaluates relation or permission rel of object o for the evaluator's subject.
func (ev *evaluator) check(o uint32, rel uint16) (result, error) {
	if ev.tr != nil {
		if !ev.tr.entered {
			return ev.checkTraced(o, rel)
		}
		ev.tr.entered = false
	}
	if o == ev.subj && rel == ev.subjRel && ev.subjRel != 0 {
		if ev.tr != nil {
			ev.tr.note("the subject itself")
		}
		return yes, nil
	}
	typ := ev.typeOf(o)
	pr := ev.p.rel(typ, rel)
	if pr == nil {
		return no, nil
	}
	key := uint64(o)<<16 | uint64(rel)
	if m := ev.memo.get(key); m != nil {
		if m.active {
			ev.cuts++ // a cycle: this path adds nothing new
			if ev.tr != nil {
				ev.tr.note("cycle: already being evaluated on this path, adds nothing")
			}
			return no, nil
		}
		if ev.tr != nil {
			ev.tr.note("evaluated earlier in this check")
		}
		return m.r, nil
	}
	if ev.depth >= ev.maxDepth {
		return no, ErrMaxDepth
	}
	ev.depth++
	slot := ev.memo.add(key, memoEntry{active: true})
	cuts := ev.cuts
	var r result
	var err error
	if pr.perm {
		r, err = ev.expr(pr.expr, o)
	} else {
		r, err = ev.direct(o, rel)
	}
	ev.depth--
	if err != nil {
		return no, err
	}
	if ev.cuts == cuts || r.kind == rYes {
		ev.memo.entries[slot] = memoEntry{key: key, r: r}
	} else {
		// Decided under a cycle cut: not final, evaluate again if reached anew.
		ev.memo.remove(slot)
	}
	return r, nil
}

func (ev *evaluator) direct(o uint32, rel uint16) (result, error) {
	l := ev.outList(o, rel)
	if l == nil {
		return no, nil
	}
	acc := no
	edges := ev.ix.edges
	// Relationships naming the subject itself (or its type's wildcard).
	if ev.subj != absentSubject || ev.hasWild {
		var fromSubj, fromWild *inList
		if ev.subj != absentSubject {
			fromSubj = ev.inList(ev.subj, ev.subjRel)
		}
		if ev.hasWild {
			fromWild = ev.inList(ev.wildcard, 0)
		}
		forward := l.direct
		if ev.subjRel != 0 {
			forward = l.usersets
		}
		if n := lenList(fromSubj) + lenList(fromWild); n < len(forward) {
			for _, from := range []*inList{fromSubj, fromWild} {
				if from == nil {
					continue
				}
				for _, id := range from.edges {
					e := &edges[id]
					if e.res != o || e.rel != rel || !ev.s.visible(e, &ev.now) {
						continue
					}
					if e.subj == ev.subj && e.srel != ev.subjRel {
						continue
					}
					c, err := ev.caveat(e)
					if ev.tr != nil {
						ev.tr.close(ev.tr.open(ev.edgeNode(e)), c, err)
					}
					if err != nil {
						return no, err
					}
					if acc = or(acc, c); acc.kind == rYes {
						return yes, nil
					}
				}
			}
		} else {
			for _, id := range forward {
				e := &edges[id]
				if !((e.subj == ev.subj && e.srel == ev.subjRel) || (ev.hasWild && e.subj == ev.wildcard)) || !ev.s.visible(e, &ev.now) {
					continue
				}
				c, err := ev.caveat(e)
				if ev.tr != nil {
					ev.tr.close(ev.tr.open(ev.edgeNode(e)), c, err)
				}
				if err != nil {
					return no, err
				}
				if acc = or(acc, c); acc.kind == rYes {
					return yes, nil
				}
			}
		}
	}
	// Usersets: group#member and the like, checked recursively.
	for _, id := range l.usersets {
		e := &edges[id]
		if !ev.s.visible(e, &ev.now) {
			continue
		}
		if e.subj == ev.subj && e.srel == ev.subjRel {
			continue // counted above
		}
		var n *ExplainNode
		if ev.tr != nil {
			n = ev.tr.open(ev.edgeNode(e))
		}
		c, err := ev.caveat(e)
		if err != nil || c.kind == rNo {
			if n != nil {
				ev.tr.close(n, c, err)
			}
			if err != nil {
				return no, err
			}
			continue
		}
		sub, err := ev.check(e.subj, e.srel)
		if n != nil {
			ev.tr.close(n, and(c, sub), err)
		}
		if err != nil {
			return no, err
		}
		if acc = or(acc, and(c, sub)); acc.kind == rYes {
			return yes, nil
		}
	}
	return acc, nil
}

func lenList(l *inList) int {
	if l == nil {
		return 0
	}
	return len(l.edges)
}

func (ev *evaluator) expr(x *pexpr, o uint32) (result, error) {
	if ev.tr != nil && x.kind != schema.ExprRelation {
		if !ev.tr.entered {
			return ev.exprTraced(x, o)
		}
		ev.tr.entered = false
	}
	switch x.kind {
	case schema.ExprUnion:
		acc := no
		for _, k := range x.kids {
			r, err := ev.expr(k, o)
			if err != nil {
				return no, err
			}
			if acc = or(acc, r); acc.kind == rYes {
				return yes, nil
			}
		}
		return acc, nil
	case schema.ExprIntersection:
		acc := yes
		for _, k := range x.kids {
			r, err := ev.expr(k, o)
			if err != nil {
				return no, err
			}
			if acc = and(acc, r); acc.kind == rNo {
				return no, nil
			}
		}
		return acc, nil
	case schema.ExprExclusion:
		acc, err := ev.expr(x.kids[0], o)
		if err != nil || acc.kind == rNo {
			return no, err
		}
		for _, k := range x.kids[1:] {
			r, err := ev.expr(k, o)
			if err != nil {
				return no, err
			}
			if acc = and(acc, not(r)); acc.kind == rNo {
				return no, nil
			}
		}
		return acc, nil
	case schema.ExprRelation:
		return ev.check(o, x.rel)
	case schema.ExprSelf:
		if ev.subjRel == 0 && o == ev.subj {
			return yes, nil
		}
		return no, nil
	case schema.ExprArrow:
		return ev.arrow(x, o)
	}
	return no, nil
}

func (ev *evaluator) arrow(x *pexpr, o uint32) (result, error) {
	l := ev.outList(o, x.ts)
	if l == nil {
		return no, nil
	}
	acc := no
	if x.all {
		acc = yes
	}
	found := false
	for _, part := range [][]uint32{l.direct, l.usersets} {
		for _, id := range part {
			e := &ev.ix.edges[id]
			if !ev.s.visible(e, &ev.now) {
				continue
			}
			found = true
			var n *ExplainNode
			if ev.tr != nil {
				n = ev.tr.open(ev.edgeNode(e))
			}
			c, err := ev.caveat(e)
			if err != nil {
				if n != nil {
					ev.tr.close(n, c, err)
				}
				return no, err
			}
			var sub result
			if c.kind != rNo {
				if ev.p.rel(ev.typeOf(e.subj), x.rel) != nil {
					if sub, err = ev.check(e.subj, x.rel); err != nil {
						if n != nil {
							ev.tr.close(n, no, err)
						}
						return no, err
					}
				} else if ev.tr != nil {
					ev.tr.note(fmt.Sprintf("%s has no relation or permission %s", ev.ix.typeNames[ev.typeOf(e.subj)], ev.ix.relNames[x.rel]))
				}
			}
			if n != nil {
				ev.tr.close(n, and(c, sub), nil)
			}
			if x.all {
				if acc = and(acc, and(c, sub)); acc.kind == rNo {
					return no, nil
				}
			} else if acc = or(acc, and(c, sub)); acc.kind == rYes {
				return yes, nil
			}
		}
	}
	if !found {
		return no, nil
	}
	return acc, nil
}

// Check decides whether req.Subject has req.Permission on req.Resource under sch.
// Errors: *schema.ValidationError for unknown types or relations, ErrMaxDepth,
// *CaveatError.
func (s *Snapshot) Check(ctx context.Context, sch *schema.Schema, req CheckRequest) (Result, error) {
	p := s.ix.planFor(sch)
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	return s.checkLocked(p, req)
}

func (s *Snapshot) checkLocked(p *plan, req CheckRequest) (Result, error) {
	if err := validatePermission(p.sch, req.Resource.Type, req.Permission); err != nil {
		return Result{}, err
	}
	ev, err := s.newEvaluator(p, &req.Context, req.Subject)
	if err != nil {
		return Result{}, err
	}
	defer ev.release()
	o := ev.resourceID(req.Resource)
	if o == absentResource && ev.subj == absentSubject && req.Subject.Object() == req.Resource {
		ev.subj = absentResource // the absent resource is the subject itself
	}
	rel := s.ix.rels[req.Permission] // interned by planFor
	r, err := ev.check(o, rel)
	if err != nil {
		return Result{}, err
	}
	return r.public(), nil
}

// CheckBulk answers several checks on one snapshot; results and errors are per item.
func (s *Snapshot) CheckBulk(ctx context.Context, sch *schema.Schema, reqs []CheckRequest) ([]Result, []error) {
	p := s.ix.planFor(sch)
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	results := make([]Result, len(reqs))
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		if i%64 == 0 && ctx.Err() != nil {
			for j := i; j < len(reqs); j++ {
				errs[j] = ctx.Err()
			}
			break
		}
		results[i], errs[i] = s.checkLocked(p, r)
	}
	return results, errs
}

// memoEntry is a memoised result, or a marker that the entry is being evaluated.
type memoEntry struct {
	key    uint64
	r      result
	active bool
	dead   bool
}

// memoTable memoises results per (object, relation) for one evaluation. Most
// checks touch a handful of entries and scan them; past smallMemo entries an
// open-addressing hash index takes over. The index is stamped with a
// generation so that a pooled evaluator reuses it without clearing it.
type memoTable struct {
	entries []memoEntry
	table   []memoSlot
	gen     uint32
	used    int
	indexed bool
}

type memoSlot struct {
	key  uint64
	gen  uint32
	slot int32
}

const smallMemo = 16

func (m *memoTable) reset() {
	m.entries = m.entries[:0]
	m.indexed, m.used = false, 0
	m.gen++
	if m.gen == 0 { // wrapped: stale stamps could match again
		clear(m.table)
		m.gen = 1
	}
	if cap(m.entries) > 1<<16 {
		m.entries, m.table = nil, nil // do not pin the memory of a huge evaluation
	}
}

func memoHash(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> 20 }

func (m *memoTable) find(key uint64) int {
	if !m.indexed {
		for i := range m.entries {
			if m.entries[i].key == key && !m.entries[i].dead {
				return i
			}
		}
		return -1
	}
	mask := uint64(len(m.table) - 1)
	for i := memoHash(key) & mask; ; i = (i + 1) & mask {
		h := &m.table[i]
		if h.gen != m.gen {
			return -1
		}
		if h.key == key {
			if m.entries[h.slot].dead {
				return -1
			}
			return int(h.slot)
		}
	}
}

func (m *memoTable) index(key uint64, slot int32) {
	if (m.used+1)*2 > len(m.table) {
		m.grow()
	}
	mask := uint64(len(m.table) - 1)
	for i := memoHash(key) & mask; ; i = (i + 1) & mask {
		h := &m.table[i]
		if h.gen != m.gen {
			*h = memoSlot{key: key, gen: m.gen, slot: slot}
			m.used++
			return
		}
		if h.key == key {
			h.slot = slot
			return
		}
	}
}

func (m *memoTable) grow() {
	n := 64
	for n < (m.used+1)*4 {
		n *= 2
	}
	if n > len(m.table) {
		m.table = make([]memoSlot, n)
		m.gen = 1
	} else {
		m.gen++
		if m.gen == 0 {
			clear(m.table)
			m.gen = 1
		}
	}
	m.used = 0
	for i := range m.entries {
		if !m.entries[i].dead {
			m.index(m.entries[i].key, int32(i))
		}
	}
}

func (m *memoTable) get(key uint64) *memoEntry {
	if i := m.find(key); i >= 0 {
		return &m.entries[i]
	}
	return nil
}

// add appends a new entry for key (which must not be present) and returns its slot.
func (m *memoTable) add(key uint64, e memoEntry) int {
	e.key = key
	m.entries = append(m.entries, e)
	slot := len(m.entries) - 1
	switch {
	case m.indexed:
		m.index(key, int32(slot))
	case len(m.entries) > smallMemo:
		m.indexed = true
		m.grow()
	}
	return slot
}

func (m *memoTable) remove(slot int) { m.entries[slot].dead = true }
