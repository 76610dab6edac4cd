// Package memory is an in-memory store with MVCC history, for tests and ephemeral servers.
package memory

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for commit timestamps and for deciding, in
// writes, whether a relationship has expired. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Store keeps relationships, their history and the schema in memory. It is safe
// for concurrent use. Every key written and not yet collected has an entry
// holding its versions, newest first; a version is visible at revisions
// [created, deleted). Entries are indexed by key per resource type (also per
// relation, and by subject), so filtered reads and writes cost O(log n) plus
// what they return.
type Store struct {
	now  func() time.Time
	done chan struct{} // closed by Close

	mu     sync.RWMutex
	closed bool
	wake   chan struct{} // closed and replaced on every commit

	head   store.Revision
	headTS time.Time
	minRev store.Revision // oldest revision still readable
	minTS  time.Time      // commit time of minRev

	types     map[string]*typeIndex
	typeNames []string                  // keys of types, sorted
	bySubject map[tuple.Object][]*entry // unordered
	expiring  expiryHeap                // live versions with an expiration
	log       []*txn                    // committed transactions after minRev, by revision
	schemas   []store.SchemaVersion
	attrs     map[tuple.Object]*attrVersion // newest attribute version of each object
}

// New returns an empty store at revision 0.
func New(opts ...Option) *Store {
	s := &Store{
		now:       time.Now,
		done:      make(chan struct{}),
		wake:      make(chan struct{}),
		types:     make(map[string]*typeIndex),
		bySubject: make(map[tuple.Object][]*entry),
		attrs:     make(map[tuple.Object]*attrVersion),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// typeIndex holds the entries of one resource type.
type typeIndex struct {
	all   index
	byRel map[string]*index
}

// entry is one relationship key and its versions.
type entry struct {
	key    tuple.Key
	latest *version // nil once GC removed every version
}

// visibleAt returns the version of e visible at rev, if any.
func (e *entry) visibleAt(rev store.Revision) *version {
	for v := e.latest; v != nil; v = v.prev {
		if v.created <= rev {
			if v.deleted == 0 || v.deleted > rev {
				return v
			}
			return nil
		}
	}
	return nil
}

// version is one value of a key. Its caveat and expiration never change after
// it is created, so they may be read without the lock once it is reachable.
type version struct {
	e          *entry
	caveat     *tuple.Caveat
	expiration *time.Time
	created    store.Revision
	deleted    store.Revision // 0 while live
	prev       *version
	heapIdx    int // position in Store.expiring, -1 if absent
}

func (v *version) live(now time.Time) bool {
	return v.deleted == 0 && (v.expiration == nil || v.expiration.After(now))
}

// relationship returns a deep copy of v as a relationship.
func (v *version) relationship() tuple.Relationship {
	r := tuple.Relationship{
		Resource:   v.e.key.Resource,
		Relation:   v.e.key.Relation,
		Subject:    v.e.key.Subject,
		Caveat:     v.caveat,
		Expiration: v.expiration,
	}
	return r.Clone()
}

// txn is a committed transaction, kept for the change stream until GC.
type txn struct {
	rev     store.Revision
	ts      time.Time
	updates []logUpdate
	attrs   []*attrVersion // the versions the transaction wrote, by type then ID
	schema  *string
}

type logUpdate struct {
	op       store.Op // OpTouch or OpDelete
	v        *version // the version written (touch) or deleted (delete)
	replaced *version // for a touch, the live version it replaced
}

func keyRel(k tuple.Key) tuple.Relationship {
	return tuple.Relationship{Resource: k.Resource, Relation: k.Relation, Subject: k.Subject}
}

// Write implements store.Writer.
func (s *Store) Write(ctx context.Context, preconditions []store.Precondition, updates []store.Update) (store.Revision, error) {
	return s.WriteBatch(ctx, store.Batch{Preconditions: preconditions, Updates: updates})
}

// WriteBatch implements store.Writer.
func (s *Store) WriteBatch(ctx context.Context, b store.Batch) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	updates := b.Updates
	// Validate and copy the batch before taking the lock. Sorting it finds
	// duplicates and makes the index work below walk the indexes in order.
	type pending struct {
		op  store.Op
		key tuple.Key
		rel tuple.Relationship
		e   *entry
	}
	batch := make([]pending, len(updates))
	for i, u := range updates {
		switch u.Op {
		case store.OpCreate, store.OpTouch, store.OpDelete:
		default:
			return 0, fmt.Errorf("%w: update %d has unknown operation %v", store.ErrInvalidUpdate, i, u.Op)
		}
		batch[i] = pending{op: u.Op, key: u.Relationship.Key(), rel: u.Relationship.Clone()}
	}
	order := make([]int32, len(batch))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return store.CompareKeys(batch[a].key, batch[b].key) })
	for i := 1; i < len(order); i++ {
		if k := batch[order[i]].key; k == batch[order[i-1]].key {
			return 0, fmt.Errorf("%w: relationship %s appears more than once in the batch", store.ErrInvalidUpdate, keyRel(k).String())
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	now := s.now()
	if err := s.checkPreconditions(b.Preconditions, now); err != nil {
		return 0, err
	}
	attrs, err := s.prepareAttributes(b)
	if err != nil {
		return 0, err
	}
	// Find or add the entries in key order. New entries stay version-less, and
	// are removed again, if a CREATE fails.
	var added []*entry
	for _, i := range order {
		p := &batch[i]
		if p.op == store.OpDelete {
			p.e = s.lookup(&p.key)
			continue
		}
		fresh := false
		p.e = s.getOrAdd(&p.key, func() *entry { fresh = true; return &entry{key: p.key} })
		if fresh {
			added = append(added, p.e)
		}
		if p.op == store.OpCreate && p.e.latest != nil && p.e.latest.live(now) {
			s.removeEntries(added)
			return 0, &store.AlreadyExistsError{Relationship: p.rel.Clone()}
		}
	}
	t := s.begin(now)
	t.updates = make([]logUpdate, 0, len(batch))
	for _, p := range batch {
		switch {
		case p.op != store.OpDelete:
			s.touch(t, p.e, p.rel.Caveat, p.rel.Expiration)
		case p.e != nil:
			s.deleteLatest(t, p.e)
		}
	}
	s.applyAttributes(t, attrs)
	s.commit(t)
	return t.rev, nil
}

// Import implements store.Importer: a Write of CREATEs, without Write's
// per-call limits (the store has none).
func (s *Store) Import(ctx context.Context, rels []tuple.Relationship) (store.Revision, error) {
	updates := make([]store.Update, len(rels))
	for i, r := range rels {
		updates[i] = store.Update{Op: store.OpCreate, Relationship: r}
	}
	return s.Write(ctx, nil, updates)
}

// DeleteMatching implements store.Writer.
func (s *Store) DeleteMatching(ctx context.Context, preconditions []store.Precondition, f store.Filter, limit int) (store.Revision, int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, false, store.ErrClosed
	}
	now := s.now()
	if err := s.checkPreconditions(preconditions, now); err != nil {
		return 0, 0, false, err
	}
	var victims []*entry
	s.scan(f, nil, func(e *entry) bool {
		if e.latest == nil || !e.latest.live(now) || !f.Matches(keyRel(e.key)) {
			return true
		}
		victims = append(victims, e)
		return limit <= 0 || len(victims) <= limit
	})
	more := false
	if limit > 0 && len(victims) > limit {
		victims, more = victims[:limit], true
	}
	if len(victims) == 0 {
		return s.head, 0, false, nil
	}
	t := s.begin(now)
	for _, e := range victims {
		s.deleteLatest(t, e)
	}
	s.commit(t)
	return t.rev, len(victims), more, nil
}

func (s *Store) checkPreconditions(ps []store.Precondition, now time.Time) error {
	for _, p := range ps {
		found := false
		s.scan(p.Filter, nil, func(e *entry) bool {
			found = e.latest != nil && e.latest.live(now) && p.Filter.Matches(keyRel(e.key))
			return !found
		})
		if found != p.MustExist {
			return &store.PreconditionError{Precondition: p}
		}
	}
	return nil
}

// begin starts the transaction that will commit as the next revision.
func (s *Store) begin(now time.Time) *txn {
	ts := now.Round(0)
	if ts.Before(s.headTS) {
		ts = s.headTS
	}
	return &txn{rev: s.head + 1, ts: ts}
}

// commit publishes t and wakes the change streams.
func (s *Store) commit(t *txn) {
	s.log = append(s.log, t)
	s.head, s.headTS = t.rev, t.ts
	close(s.wake)
	s.wake = make(chan struct{})
}

// touch makes a new live version of e (its values copied in by the caller).
func (s *Store) touch(t *txn, e *entry, caveat *tuple.Caveat, expiration *time.Time) {
	var replaced *version
	if l := e.latest; l != nil && l.deleted == 0 {
		l.deleted = t.rev
		s.unexpire(l)
		replaced = l
	}
	v := &version{e: e, caveat: caveat, expiration: expiration, created: t.rev, prev: e.latest, heapIdx: -1}
	e.latest = v
	if expiration != nil {
		heap.Push(&s.expiring, v)
	}
	t.updates = append(t.updates, logUpdate{op: store.OpTouch, v: v, replaced: replaced})
}

// deleteLatest ends e's live version, if it has one.
func (s *Store) deleteLatest(t *txn, e *entry) {
	l := e.latest
	if l == nil || l.deleted != 0 {
		return
	}
	l.deleted = t.rev
	s.unexpire(l)
	t.updates = append(t.updates, logUpdate{op: store.OpDelete, v: l})
}

func (s *Store) unexpire(v *version) {
	if v.heapIdx >= 0 {
		heap.Remove(&s.expiring, v.heapIdx)
	}
}

// lookup returns the entry for k, or nil.
func (s *Store) lookup(k *tuple.Key) *entry {
	ti := s.types[k.Resource.Type]
	if ti == nil {
		return nil
	}
	return ti.all.get(k)
}

// getOrAdd returns the entry for k, adding the one mk makes to every index if
// there is none.
func (s *Store) getOrAdd(k *tuple.Key, mk func() *entry) *entry {
	typ := k.Resource.Type
	ti := s.types[typ]
	if ti == nil {
		ti = &typeIndex{byRel: make(map[string]*index)}
		s.types[typ] = ti
		i, _ := slices.BinarySearch(s.typeNames, typ)
		s.typeNames = slices.Insert(s.typeNames, i, typ)
	}
	var made *entry
	e := ti.all.getOrInsert(k, func() *entry { made = mk(); return made })
	if made == nil {
		return e
	}
	x := ti.byRel[k.Relation]
	if x == nil {
		x = &index{}
		ti.byRel[k.Relation] = x
	}
	x.insert(e)
	obj := k.Subject.Object()
	s.bySubject[obj] = append(s.bySubject[obj], e)
	return e
}

// removeEntries drops entries from every index.
func (s *Store) removeEntries(es []*entry) {
	subjects := make(map[tuple.Object]struct{})
	for _, e := range es {
		if s.removeEntry(e) {
			subjects[e.key.Subject.Object()] = struct{}{}
		}
	}
	for obj := range subjects {
		kept := slices.DeleteFunc(s.bySubject[obj], func(e *entry) bool { return !s.indexed(e) })
		if len(kept) == 0 {
			delete(s.bySubject, obj)
		} else {
			s.bySubject[obj] = kept
		}
	}
}

// removeEntry drops e from the indexes except bySubject, which removeEntries
// rebuilds in bulk. It reports whether e was indexed.
func (s *Store) removeEntry(e *entry) bool {
	typ := e.key.Resource.Type
	ti := s.types[typ]
	if ti == nil || ti.all.get(&e.key) != e {
		return false
	}
	ti.all.remove(e)
	if x := ti.byRel[e.key.Relation]; x != nil {
		x.remove(e)
		if x.n == 0 {
			delete(ti.byRel, e.key.Relation)
		}
	}
	if ti.all.n == 0 {
		delete(s.types, typ)
		if i, ok := slices.BinarySearch(s.typeNames, typ); ok {
			s.typeNames = slices.Delete(s.typeNames, i, i+1)
		}
	}
	return true
}

// indexed reports whether e is the entry indexed for its key.
func (s *Store) indexed(e *entry) bool { return s.lookup(&e.key) == e }

// scan calls fn, in key order, for entries after `after` (nil: from the start)
// that may match f, using the narrowest index f allows, until fn returns false.
// Callers still check f and the version they need.
func (s *Store) scan(f store.Filter, after *tuple.Key, fn func(*entry) bool) {
	if sub := f.Subject; sub != nil && sub.Type != "" && sub.ID != "" && !(f.ResourceType != "" && len(f.ResourceIDs) > 0) {
		var sel []*entry
		for _, e := range s.bySubject[tuple.Object{Type: sub.Type, ID: sub.ID}] {
			if (after == nil || store.CompareKeys(e.key, *after) > 0) && f.Matches(keyRel(e.key)) {
				sel = append(sel, e)
			}
		}
		slices.SortFunc(sel, func(a, b *entry) int { return store.CompareKeys(a.key, b.key) })
		for _, e := range sel {
			if !fn(e) {
				return
			}
		}
		return
	}
	var ids []string
	if len(f.ResourceIDs) > 0 {
		ids = slices.Clone(f.ResourceIDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	types := s.typeNames
	if f.ResourceType != "" {
		types = []string{f.ResourceType}
	}
	for _, typ := range types {
		if after != nil && typ < after.Resource.Type {
			continue
		}
		ti := s.types[typ]
		if ti == nil {
			continue
		}
		if !scanType(ti, typ, f, ids, after, fn) {
			return
		}
	}
}

// scanType is scan within one resource type; ids are f.ResourceIDs, sorted
// and unique. It returns false when fn asked to stop.
func scanType(ti *typeIndex, typ string, f store.Filter, ids []string, after *tuple.Key, fn func(*entry) bool) bool {
	x := &ti.all
	if f.Relation != "" {
		if x = ti.byRel[f.Relation]; x == nil {
			return true
		}
	}
	from := func(lo tuple.Key) cursor {
		if after != nil && store.CompareKeys(*after, lo) >= 0 {
			return x.seek(after, true)
		}
		return x.seek(&lo, false)
	}
	if ids != nil {
		for _, id := range ids {
			cur := from(tuple.Key{Resource: tuple.Object{Type: typ, ID: id}, Relation: f.Relation})
			for e := cur.next(); e != nil && e.key.Resource.ID == id; e = cur.next() {
				if !fn(e) {
					return false
				}
			}
		}
		return true
	}
	cur := from(tuple.Key{Resource: tuple.Object{Type: typ, ID: f.ResourceIDPrefix}, Relation: f.Relation})
	for e := cur.next(); e != nil && strings.HasPrefix(e.key.Resource.ID, f.ResourceIDPrefix); e = cur.next() {
		if !fn(e) {
			return false
		}
	}
	return true
}

// HeadRevision implements store.Reader.
func (s *Store) HeadRevision(ctx context.Context) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.head, nil
}

func (s *Store) checkRevision(rev store.Revision) error {
	if rev < s.minRev || rev > s.head {
		return fmt.Errorf("%w: revision %d is outside the retained range [%d, %d]", store.ErrRevisionUnavailable, rev, s.minRev, s.head)
	}
	return nil
}

// Read implements store.Reader.
func (s *Store) Read(ctx context.Context, rev store.Revision, f store.Filter, page store.Page) ([]tuple.Relationship, error) {
	if err := s.readable(ctx, rev); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out []tuple.Relationship
	s.scan(f, page.After, func(e *entry) bool {
		if !f.Matches(keyRel(e.key)) {
			return true
		}
		if v := e.visibleAt(rev); v != nil {
			out = append(out, v.relationship())
		}
		return page.Limit <= 0 || len(out) < page.Limit
	})
	return out, nil
}

// Snapshot implements store.Loader. It calls fn outside the lock, so a slow fn
// does not hold up writers.
func (s *Store) Snapshot(ctx context.Context, fn func(tuple.Relationship) error, attrs func(store.ObjectAttributes) error) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, store.ErrClosed
	}
	rev := s.head
	var live []*version
	s.scan(store.Filter{}, nil, func(e *entry) bool {
		if v := e.latest; v != nil && v.deleted == 0 {
			live = append(live, v)
		}
		return true
	})
	var objects []*attrVersion
	if attrs != nil {
		objects = s.attributesAt(rev, func(tuple.Object) bool { return true })
	}
	s.mu.RUnlock()
	for _, v := range objects {
		if err := attrs(store.ObjectAttributes{Object: v.obj, Values: v.decode()}); err != nil {
			return rev, err
		}
	}
	for i, v := range live {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return rev, err
			}
		}
		if err := fn(v.relationship()); err != nil {
			return rev, err
		}
	}
	return rev, nil
}

// changeBatch bounds how many changes Changes copies per lock acquisition.
const changeBatch = 64

// Changes implements store.Watcher. It waits on a channel that every commit
// closes, so a waiting stream wakes as soon as something is written.
func (s *Store) Changes(ctx context.Context, after store.Revision, fn func(store.Change) error) error {
	cursor := after
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return store.ErrClosed
		}
		if cursor < s.minRev || (first && cursor > s.head) {
			err := fmt.Errorf("%w: changes after revision %d: retained range is [%d, %d]", store.ErrRevisionUnavailable, cursor, s.minRev, s.head)
			s.mu.RUnlock()
			return err
		}
		batch := s.changesAfter(cursor, changeBatch)
		wake := s.wake
		s.mu.RUnlock()

		for _, c := range batch {
			if err := fn(c); err != nil {
				return err
			}
			cursor = c.Revision
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return store.ErrClosed
		}
	}
}

// changesAfter copies up to max changes after rev out of the log.
func (s *Store) changesAfter(rev store.Revision, max int) []store.Change {
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].rev > rev })
	ts := s.log[i:min(len(s.log), i+max)]
	out := make([]store.Change, len(ts))
	for j, t := range ts {
		c := store.Change{Revision: t.rev, Timestamp: t.ts}
		if len(t.updates) > 0 {
			c.Updates = make([]store.Update, len(t.updates))
			for k, u := range t.updates {
				c.Updates[k] = store.Update{Op: u.op, Relationship: u.v.relationship()}
			}
		}
		for _, v := range t.attrs {
			c.Attributes = append(c.Attributes, store.ObjectAttributes{Object: v.obj, Values: v.decode()})
		}
		if t.schema != nil {
			text := *t.schema
			c.Schema = &text
		}
		out[j] = c
	}
	return out
}

// WriteSchema implements store.SchemaStore.
func (s *Store) WriteSchema(ctx context.Context, text string) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	t := s.begin(s.now())
	t.schema = &text
	s.commit(t)
	s.schemas = append(s.schemas, store.SchemaVersion{Revision: t.rev, Timestamp: t.ts, Text: text})
	return t.rev, nil
}

// ReadSchema implements store.SchemaStore.
func (s *Store) ReadSchema(ctx context.Context) (store.SchemaVersion, error) {
	if err := ctx.Err(); err != nil {
		return store.SchemaVersion{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.SchemaVersion{}, store.ErrClosed
	}
	if len(s.schemas) == 0 {
		return store.SchemaVersion{}, nil
	}
	return s.schemas[len(s.schemas)-1], nil
}

// SchemaHistory implements store.SchemaStore.
func (s *Store) SchemaHistory(ctx context.Context) ([]store.SchemaVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := slices.Clone(s.schemas)
	slices.Reverse(out)
	return out, nil
}

// GC implements store.Collector.
func (s *Store) GC(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}

	// The new oldest readable revision: the first committed at or after
	// before, else the head.
	m, mTS := s.minRev, s.minTS
	if mTS.Before(before) && len(s.log) > 0 {
		i := sort.Search(len(s.log), func(i int) bool { return !s.log[i].ts.Before(before) })
		t := s.log[min(i, len(s.log)-1)]
		m, mTS = t.rev, t.ts
	}
	k := sort.Search(len(s.log), func(i int) bool { return s.log[i].rev > m })

	// Versions deleted at or before m are visible at no readable revision; they
	// are the oldest of their entries, so cut each entry's chain there.
	touched := make(map[*entry]struct{})
	for _, t := range s.log[:k] {
		for _, u := range t.updates {
			if u.op == store.OpDelete || u.replaced != nil {
				touched[u.v.e] = struct{}{}
			}
		}
	}
	removed := 0
	var emptied []*entry
	for e := range touched {
		var newer *version
		v := e.latest
		for v != nil && (v.deleted == 0 || v.deleted > m) {
			newer, v = v, v.prev
		}
		if v == nil {
			continue
		}
		if newer == nil {
			e.latest = nil
			emptied = append(emptied, e)
		} else {
			newer.prev = nil
		}
		for ; v != nil; v = v.prev {
			removed++
		}
	}

	// Expired live versions go regardless of history: writes already treat
	// them as absent and evaluation hides them.
	for len(s.expiring) > 0 && !s.expiring[0].expiration.After(before) {
		v := heap.Pop(&s.expiring).(*version)
		e := v.e
		e.latest = v.prev
		removed++
		if e.latest == nil {
			emptied = append(emptied, e)
		}
	}

	s.removeEntries(emptied)
	removed += s.collectAttributes(s.log[:k], m)

	if k > 0 {
		s.log = slices.Clone(s.log[k:])
	}
	s.minRev, s.minTS = m, mTS
	return removed, nil
}

// Close implements store.Store. Waiting Changes calls return store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	s.types, s.typeNames, s.bySubject = nil, nil, nil
	s.expiring, s.log, s.schemas, s.attrs = nil, nil, nil, nil
	return nil
}

// expiryHeap orders versions by expiration, soonest first.
type expiryHeap []*version

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expiration.Before(*h[j].expiration) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}

func (h *expiryHeap) Push(x any) {
	v := x.(*version)
	v.heapIdx = len(*h)
	*h = append(*h, v)
}

func (h *expiryHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	old[len(old)-1] = nil
	v.heapIdx = -1
	*h = old[:len(old)-1]
	return v
}
