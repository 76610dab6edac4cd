package graph

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// Revision is the revision of a store transaction; the index applies them in order.
type Revision int64

// Errors returned by the index and its snapshots.
var (
	// ErrRevisionUnavailable: the revision is older than the index's history
	// window or newer than what it has applied.
	ErrRevisionUnavailable = errors.New("revision unavailable")
	// ErrOutOfOrder: a change was applied at a revision not above the head.
	ErrOutOfOrder = errors.New("revision out of order")
)

// Mutation is one relationship change applied to the index: an upsert (the
// relationship as it now is) or, with Delete, a removal.
type Mutation struct {
	Delete       bool
	Relationship tuple.Relationship
}

// edge is one relationship version, 24 bytes. Revisions bound its
// visibility: created <= r < deleted. Most edges are live and uncaveated, so
// the deletion revision lives with the caveat and expiration in the rarer
// extra record.
type edge struct {
	res, subj uint32
	rel, srel uint16
	extra     uint32 // index into Index.extras; 0 = live, no caveat, no expiration
	created   Revision
}

type extra struct {
	caveat  string
	context map[string]any
	expires int64    // unix microseconds (nanoseconds overflow in 2262); 0 = never
	deleted Revision // revision that deleted the edge; 0 = live
}

// deletedAt returns the revision that deleted e, or 0 if it is live.
func (ix *Index) deletedAt(e *edge) Revision {
	if e.extra == 0 {
		return 0
	}
	return ix.extras[e.extra].deleted
}

// markDeleted records that edge id was deleted at rev.
func (ix *Index) markDeleted(id uint32, rev Revision) {
	e := &ix.edges[id]
	if e.extra == 0 {
		e.extra = ix.allocExtra(extra{})
	}
	ix.extras[e.extra].deleted = rev
	ix.live--
}

func (ix *Index) allocExtra(x extra) uint32 {
	if n := len(ix.freeExtra); n > 0 {
		id := ix.freeExtra[n-1]
		ix.freeExtra = ix.freeExtra[:n-1]
		ix.extras[id] = x
		return id
	}
	ix.extras = append(ix.extras, x)
	return uint32(len(ix.extras) - 1)
}

// relList is one resource relation's edges at an object, split by whether the
// subject has a relation (usersets) or not (direct, wildcards included).
type relList struct {
	rel      uint16
	direct   []uint32
	usersets []uint32
}

// inList is one subject relation's edges naming an object as their subject.
type inList struct {
	srel  uint16
	edges []uint32
}

type node struct {
	out []relList
	in  []inList
}

func findIn(ls []inList, srel uint16) *inList {
	for i := range ls {
		if ls[i].srel == srel {
			return &ls[i]
		}
	}
	return nil
}

func addToIn(ls *[]inList, srel uint16, e uint32) {
	l := findIn(*ls, srel)
	if l == nil {
		*ls = append(*ls, inList{srel: srel})
		l = &(*ls)[len(*ls)-1]
	}
	l.edges = append(l.edges, e)
}

func removeFromIn(ls []inList, srel uint16, e uint32) {
	if l := findIn(ls, srel); l != nil {
		l.edges = removeID(l.edges, e)
	}
}

func removeID(s []uint32, e uint32) []uint32 {
	for i, x := range s {
		if x == e {
			s[i] = s[len(s)-1]
			return s[:len(s)-1]
		}
	}
	return s
}

func findList(ls []relList, rel uint16) *relList {
	for i := range ls {
		if ls[i].rel == rel {
			return &ls[i]
		}
	}
	return nil
}

func addToList(ls *[]relList, rel uint16, e uint32, userset bool) {
	l := findList(*ls, rel)
	if l == nil {
		*ls = append(*ls, relList{rel: rel})
		l = &(*ls)[len(*ls)-1]
	}
	if userset {
		l.usersets = append(l.usersets, e)
	} else {
		l.direct = append(l.direct, e)
	}
}

func removeFromList(ls []relList, rel uint16, e uint32) {
	l := findList(ls, rel)
	if l == nil {
		return
	}
	l.direct = removeID(l.direct, e)
	l.usersets = removeID(l.usersets, e)
}

// noObject is never an interned object number.
const noObject = math.MaxUint32 - 2

// Index is the in-memory, revisioned relationship index: interned object and
// relation names, forward and reverse adjacency, and a window of MVCC history.
// Snapshots taken from it are immutable views at one revision. It is safe for
// concurrent use: one writer applies changes while readers evaluate.
type Index struct {
	mu sync.RWMutex

	types     map[string]uint16
	typeNames []string
	rels      map[string]uint16
	relNames  []string
	// objects maps, per type, an object ID to its interned number; objTypes
	// and objIDs name interned objects.
	objects  []map[string]uint32
	objTypes []uint16
	objIDs   []string
	nodes    []node
	// wildcards holds, per type, the interned `type:*` object or noObject.
	wildcards []uint32

	edges     []edge
	freeEdges []uint32
	extras    []extra
	freeExtra []uint32

	plans    map[*schema.Schema]*plan
	lastPlan atomic.Pointer[plan] // the plan most recently used, read without the lock
	evals    sync.Pool            // *evaluator, reused across queries

	// attrs holds each object's newest attribute version, by object (nil
	// or past the end: none); noAttrs is the empty map bound for objects
	// without attributes (never modified).
	attrs    []*attrVersion
	noAttrs  map[string]any
	noFields caveats.Fields
	// cavCache remembers caveat results; nil when off.
	cavCache *caveatCache

	head    Revision
	oldest  Revision // oldest revision still readable
	history []revTime
	live    int
}

type revTime struct {
	rev Revision
	at  time.Time
}

// NewIndex returns an empty index at revision 0.
func NewIndex(opts ...IndexOption) *Index {
	ix := &Index{
		types:    map[string]uint16{},
		rels:     map[string]uint16{"": 0},
		extras:   make([]extra, 1), // slot 0 means "none"
		plans:    map[*schema.Schema]*plan{},
		noAttrs:  map[string]any{},
		noFields: caveats.EncodeFields(nil),
	}
	ix.relNames = []string{""}
	ix.cavCache = newCaveatCache(DefaultCaveatCacheSize)
	for _, o := range opts {
		o(ix)
	}
	return ix
}

func (ix *Index) internType(name string) uint16 {
	if t, ok := ix.types[name]; ok {
		return t
	}
	t := uint16(len(ix.typeNames))
	ix.types[name] = t
	ix.typeNames = append(ix.typeNames, name)
	ix.objects = append(ix.objects, map[string]uint32{})
	ix.wildcards = append(ix.wildcards, noObject)
	return t
}

func (ix *Index) internRel(name string) uint16 {
	if r, ok := ix.rels[name]; ok {
		return r
	}
	r := uint16(len(ix.relNames))
	ix.rels[name] = r
	ix.relNames = append(ix.relNames, name)
	return r
}

func (ix *Index) internObject(typ, id string) uint32 {
	t := ix.internType(typ)
	if o, ok := ix.objects[t][id]; ok {
		return o
	}
	o := uint32(len(ix.objIDs))
	ix.objects[t][id] = o
	ix.objTypes = append(ix.objTypes, t)
	ix.objIDs = append(ix.objIDs, id)
	ix.nodes = append(ix.nodes, node{})
	if id == "*" {
		ix.wildcards[t] = o
	}
	return o
}

// lookupObject finds an interned object without interning it.
func (ix *Index) lookupObject(typ, id string) (uint32, bool) {
	t, ok := ix.types[typ]
	if !ok {
		return 0, false
	}
	o, ok := ix.objects[t][id]
	return o, ok
}

// Head returns the newest revision the index has applied.
func (ix *Index) Head() Revision {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.head
}

// Len returns the number of live relationships at the head (expired ones included).
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live
}

// Load adds relationships as they are at rev, for building an index from a
// store snapshot. It may be called repeatedly with the same revision, in batches,
// before any Apply.
func (ix *Index) Load(rev Revision, rels []tuple.Relationship) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if rev < ix.head {
		return fmt.Errorf("load at %d below head %d: %w", rev, ix.head, ErrOutOfOrder)
	}
	for _, r := range rels {
		ix.upsert(r, rev)
	}
	if rev > ix.head {
		ix.head = rev
		ix.history = append(ix.history, revTime{rev: rev, at: time.Now()})
	}
	return nil
}

// Apply applies one committed transaction at rev, which must be above the head:
// its relationship mutations and the attributes it wrote.
func (ix *Index) Apply(rev Revision, muts []Mutation, attrs ...ObjectAttributes) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if rev <= ix.head {
		return fmt.Errorf("apply %d at head %d: %w", rev, ix.head, ErrOutOfOrder)
	}
	for _, m := range muts {
		if m.Delete {
			if e, ok := ix.findLive(m.Relationship.Key()); ok {
				ix.markDeleted(e, rev)
			}
			continue
		}
		ix.upsert(m.Relationship, rev)
	}
	for _, a := range attrs {
		ix.setAttributes(a, rev)
	}
	ix.head = rev
	ix.history = append(ix.history, revTime{rev: rev, at: time.Now()})
	return nil
}

func (ix *Index) upsert(r tuple.Relationship, rev Revision) {
	if e, ok := ix.findLive(r.Key()); ok {
		old := ix.edges[e]
		if old.created == rev {
			// Replaced within the same revision (e.g. repeated Load): rewrite in place.
			ix.setExtra(e, r)
			return
		}
		ix.markDeleted(e, rev)
	}
	res := ix.internObject(r.Resource.Type, r.Resource.ID)
	subj := ix.internObject(r.Subject.Type, r.Subject.ID)
	ed := edge{res: res, subj: subj, rel: ix.internRel(r.Relation), srel: ix.internRel(r.Subject.Relation), created: rev}
	var id uint32
	if n := len(ix.freeEdges); n > 0 {
		id = ix.freeEdges[n-1]
		ix.freeEdges = ix.freeEdges[:n-1]
		ix.edges[id] = ed
	} else {
		id = uint32(len(ix.edges))
		ix.edges = append(ix.edges, ed)
	}
	ix.setExtra(id, r)
	addToList(&ix.nodes[res].out, ed.rel, id, ed.srel != 0)
	addToIn(&ix.nodes[subj].in, ed.srel, id)
	ix.live++
}

func (ix *Index) setExtra(id uint32, r tuple.Relationship) {
	e := &ix.edges[id]
	if e.extra != 0 {
		ix.extras[e.extra] = extra{}
		ix.freeExtra = append(ix.freeExtra, e.extra)
		e.extra = 0
	}
	if r.Caveat == nil && r.Expiration == nil {
		return
	}
	x := extra{}
	if r.Caveat != nil {
		x.caveat = r.Caveat.Name
		x.context = r.Clone().Caveat.Context
	}
	if r.Expiration != nil {
		x.expires = r.Expiration.UnixMicro()
	}
	e.extra = ix.allocExtra(x)
}

// findLive returns the live edge with key k, scanning the shorter of the
// resource's out-list and the subject's in-list.
func (ix *Index) findLive(k tuple.Key) (uint32, bool) {
	res, ok := ix.lookupObject(k.Resource.Type, k.Resource.ID)
	if !ok {
		return 0, false
	}
	subj, ok := ix.lookupObject(k.Subject.Type, k.Subject.ID)
	if !ok {
		return 0, false
	}
	rel, ok := ix.rels[k.Relation]
	if !ok {
		return 0, false
	}
	srel, ok := ix.rels[k.Subject.Relation]
	if !ok {
		return 0, false
	}
	var cands []uint32
	if l := findList(ix.nodes[res].out, rel); l != nil {
		if srel == 0 {
			cands = l.direct
		} else {
			cands = l.usersets
		}
	}
	if l := findIn(ix.nodes[subj].in, srel); l != nil && len(l.edges) < len(cands) {
		cands = l.edges
	}
	for _, e := range cands {
		ed := &ix.edges[e]
		if ed.res == res && ix.deletedAt(ed) == 0 && ed.subj == subj && ed.rel == rel && ed.srel == srel {
			return e, true
		}
	}
	return 0, false
}

// Snapshot returns a read view at rev (0 = the head). A revision older than the
// retained history or newer than the head is ErrRevisionUnavailable.
func (ix *Index) Snapshot(rev Revision) (*Snapshot, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if rev == 0 {
		rev = ix.head
	}
	if rev > ix.head || rev < ix.oldest {
		return nil, fmt.Errorf("revision %d (index holds %d..%d): %w", rev, ix.oldest, ix.head, ErrRevisionUnavailable)
	}
	return &Snapshot{ix: ix, rev: rev}, nil
}

// GC drops history older than before: versions deleted at or before the newest
// revision applied before that time stop being readable, and their memory is reused.
func (ix *Index) GC(before time.Time) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	horizon := Revision(0)
	keep := 0
	for i, h := range ix.history {
		if h.at.Before(before) {
			horizon = h.rev
			keep = i
		}
	}
	if horizon == 0 {
		return 0
	}
	ix.history = append([]revTime(nil), ix.history[keep:]...)
	if horizon > ix.oldest {
		ix.oldest = horizon
	}
	removed := 0
	for id := range ix.edges {
		e := &ix.edges[id]
		if d := ix.deletedAt(e); d == 0 || d > horizon || e.created < 0 {
			continue
		}
		removeFromList(ix.nodes[e.res].out, e.rel, uint32(id))
		removeFromIn(ix.nodes[e.subj].in, e.srel, uint32(id))
		if e.extra != 0 {
			ix.extras[e.extra] = extra{}
			ix.freeExtra = append(ix.freeExtra, e.extra)
		}
		*e = edge{created: -1}
		ix.freeEdges = append(ix.freeEdges, uint32(id))
		removed++
	}
	return removed + ix.gcAttributes(horizon)
}

// Snapshot is an immutable view of the index at one revision.
type Snapshot struct {
	ix  *Index
	rev Revision
}

// Revision returns the snapshot's revision.
func (s *Snapshot) Revision() Revision { return s.rev }

// clock is an evaluation's time, read from the system clock only when an
// expiring relationship is met (reading it costs more than a whole simple check).
type clock struct {
	micros int64
	set    bool
}

func (c *clock) now() int64 {
	if !c.set {
		c.micros, c.set = time.Now().UnixMicro(), true
	}
	return c.micros
}

// visible reports whether edge e exists at the snapshot's revision and has not
// expired at the clock's time.
func (s *Snapshot) visible(e *edge, now *clock) bool {
	if e.created > s.rev || e.created < 0 {
		return false
	}
	if e.extra != 0 {
		x := &s.ix.extras[e.extra]
		if (x.deleted != 0 && x.deleted <= s.rev) || (x.expires != 0 && x.expires <= now.now()) {
			return false
		}
	}
	return true
}

// Relationships calls fn for every relationship visible at the snapshot (not
// expired at now), in no particular order, until fn returns false.
func (s *Snapshot) Relationships(now time.Time, fn func(tuple.Relationship) bool) {
	ix := s.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := clock{micros: now.UnixMicro(), set: true}
	for id := range ix.edges {
		e := &ix.edges[id]
		if !s.visible(e, &n) {
			continue
		}
		if !fn(ix.relationship(e)) {
			return
		}
	}
}

func (ix *Index) relationship(e *edge) tuple.Relationship {
	r := tuple.Relationship{
		Resource: tuple.Object{Type: ix.typeNames[ix.objTypes[e.res]], ID: ix.objIDs[e.res]},
		Relation: ix.relNames[e.rel],
		Subject:  tuple.Subject{Type: ix.typeNames[ix.objTypes[e.subj]], ID: ix.objIDs[e.subj], Relation: ix.relNames[e.srel]},
	}
	if e.extra != 0 {
		x := ix.extras[e.extra]
		if x.caveat != "" {
			r.Caveat = &tuple.Caveat{Name: x.caveat, Context: x.context}
		}
		if x.expires != 0 {
			t := time.UnixMicro(x.expires).UTC()
			r.Expiration = &t
		}
	}
	return r
}
