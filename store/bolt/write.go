package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// errNoCommit makes update roll back without creating a revision.
var errNoCommit = errors.New("nothing to commit")

// wtx is a write transaction that commits as the next revision.
type wtx struct {
	b      *buckets
	rev    store.Revision
	ts     time.Time
	now    time.Time
	seq    uint32
	schema bool

	// bulk defers index inserts to flush, which makes them in key order:
	// bbolt splits nodes only on commit, so inserting many keys out of order
	// into one node costs quadratic time.
	bulk      bool
	bySubject [][]byte
	expiry    [][]byte
}

// flush makes the index inserts deferred by bulk.
func (w *wtx) flush() error {
	for _, x := range []struct {
		b    *bbolt.Bucket
		keys [][]byte
	}{{w.b.bySubject, w.bySubject}, {w.b.expiry, w.expiry}} {
		slices.SortFunc(x.keys, bytes.Compare)
		for _, k := range x.keys {
			if err := x.b.Put(k, nil); err != nil {
				return err
			}
		}
	}
	w.bySubject, w.expiry = nil, nil
	return nil
}

// putIndex inserts k into an index bucket, or defers it in bulk mode.
func (w *wtx) putIndex(b *bbolt.Bucket, deferred *[][]byte, k []byte) error {
	if w.bulk {
		*deferred = append(*deferred, k)
		return nil
	}
	return b.Put(k, nil)
}

// update runs fn in a write transaction that commits as revision head+1 and
// wakes the change streams. If fn returns errNoCommit, nothing is written
// and the head is returned.
func (s *Store) update(fn func(w *wtx) error) (store.Revision, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var rev store.Revision
	err := s.txn(true, func(b *buckets, st state) error {
		// Keys in these buckets only ever grow, so full pages split best.
		b.log.FillPercent, b.dead.FillPercent, b.schemas.FillPercent = 1, 1, 1
		b.deadAttrs.FillPercent, b.attrLog.FillPercent = 1, 1
		now := s.now()
		w := &wtx{b: b, rev: st.head + 1, now: now, ts: now.Round(0)}
		if w.ts.Before(st.headTS) {
			w.ts = st.headTS
		}
		if err := fn(w); err != nil {
			if errors.Is(err, errNoCommit) {
				rev = st.head
			}
			return err
		}
		flags := byte(0)
		if w.schema {
			flags |= flagSchema
		}
		if err := b.log.Put(revKey(w.rev), append(appendTime(make([]byte, 0, timeLen+1), w.ts), flags)); err != nil {
			return err
		}
		st.head, st.headTS = w.rev, w.ts
		if err := b.meta.Put([]byte("state"), st.encode()); err != nil {
			return err
		}
		rev = w.rev
		return nil
	})
	if errors.Is(err, errNoCommit) {
		return rev, nil
	}
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	return rev, nil
}

// latest returns the newest version of ek (key and value), or nils.
func (w *wtx) latest(ek []byte) (vk, v []byte) {
	c := w.b.rels.Cursor()
	for k, val := c.Seek(ek); k != nil && len(k) == len(ek)+revLen && bytes.HasPrefix(k, ek); k, val = c.Next() {
		vk, v = k, val
	}
	return vk, v
}

// end marks the live version vk (value v) deleted at w.rev.
func (w *wtx) end(vk, v []byte) error {
	vk = slices.Clone(vk)
	nv := appendRev(make([]byte, 0, len(v)), w.rev)
	nv = append(nv, v[revLen:]...)
	if err := w.b.rels.Put(vk, nv); err != nil {
		return err
	}
	if err := w.b.dead.Put(append(revKey(w.rev), vk...), nil); err != nil {
		return err
	}
	if exp := bodyExpiration(nv[revLen:]); exp != nil {
		return w.b.expiry.Delete(append(slices.Clone(exp), vk...))
	}
	return nil
}

func (w *wtx) logUpdate(op byte, ek, body []byte) error {
	k := binary.BigEndian.AppendUint32(revKey(w.rev), w.seq)
	w.seq++
	v := make([]byte, 0, 1+binary.MaxVarintLen32+len(ek)+len(body))
	v = binary.AppendUvarint(append(v, op), uint64(len(ek)))
	v = append(append(v, ek...), body...)
	return w.b.log.Put(k, v)
}

// pending is one validated update.
type pending struct {
	op   store.Op
	rel  tuple.Relationship // as given, for AlreadyExistsError
	key  tuple.Key
	ek   []byte
	body []byte // for CREATE and TOUCH
}

// touch writes p as a new live version, ending the one it replaces. With
// create, a live unexpired version fails it.
func (w *wtx) touch(p *pending, create bool) error {
	lk, lv := w.latest(p.ek)
	switch {
	case lk == nil:
		if err := w.putIndex(w.b.bySubject, &w.bySubject, subjectKey(&p.key, p.ek)); err != nil {
			return err
		}
	case readRev(lv) == 0:
		if create && !expiredAt(lv[revLen:], w.now) {
			return &store.AlreadyExistsError{Relationship: p.rel.Clone()}
		}
		if err := w.end(lk, lv); err != nil {
			return err
		}
	}
	vk := versionKey(p.ek, w.rev)
	if err := w.b.rels.Put(vk, append(appendRev(make([]byte, 0, revLen+len(p.body)), 0), p.body...)); err != nil {
		return err
	}
	if exp := bodyExpiration(p.body); exp != nil {
		if err := w.putIndex(w.b.expiry, &w.expiry, append(slices.Clone(exp), vk...)); err != nil {
			return err
		}
	}
	return w.logUpdate(opLogTouch, p.ek, p.body)
}

// delete ends the live version of ek, if any.
func (w *wtx) delete(ek []byte) error {
	lk, lv := w.latest(ek)
	if lk == nil || readRev(lv) != 0 {
		return nil
	}
	if err := w.end(lk, lv); err != nil {
		return err
	}
	return w.logUpdate(opLogDelete, ek, nil)
}

// checkPreconditions checks ps against the live relationships at w.now.
func (w *wtx) checkPreconditions(ps []store.Precondition) error {
	for _, p := range ps {
		found := false
		err := scan(w.b, p.Filter, nil, func(_ *tuple.Key, _, v []byte) bool {
			found = readRev(v) == 0 && !expiredAt(v[revLen:], w.now)
			return !found
		})
		if err != nil {
			return err
		}
		if found != p.MustExist {
			return &store.PreconditionError{Precondition: p}
		}
	}
	return nil
}

// prepare validates and encodes updates, sorted by key.
func prepare(updates []store.Update) ([]pending, error) {
	batch := make([]pending, len(updates))
	for i, u := range updates {
		switch u.Op {
		case store.OpCreate, store.OpTouch, store.OpDelete:
		default:
			return nil, fmt.Errorf("%w: update %d has unknown operation %v", store.ErrInvalidUpdate, i, u.Op)
		}
		p := pending{op: u.Op, rel: u.Relationship, key: u.Relationship.Key()}
		if err := checkKey(&p.key); err != nil {
			return nil, fmt.Errorf("%w: relationship %s: %v", store.ErrInvalidUpdate, u.Relationship.String(), err)
		}
		p.ek = appendKey(nil, &p.key)
		if len(p.ek) > maxKeyLen {
			return nil, fmt.Errorf("%w: relationship %s: key longer than %d bytes", store.ErrInvalidUpdate, u.Relationship.String(), maxKeyLen)
		}
		if u.Op != store.OpDelete {
			var err error
			if p.body, err = appendBody(nil, &u.Relationship); err != nil {
				return nil, fmt.Errorf("%w: relationship %s: %v", store.ErrInvalidUpdate, u.Relationship.String(), err)
			}
		}
		batch[i] = p
	}
	slices.SortFunc(batch, func(a, b pending) int { return bytes.Compare(a.ek, b.ek) })
	for i := 1; i < len(batch); i++ {
		if bytes.Equal(batch[i].ek, batch[i-1].ek) {
			return nil, fmt.Errorf("%w: relationship %s appears more than once in the batch", store.ErrInvalidUpdate, keyRel(batch[i].key).String())
		}
	}
	return batch, nil
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
	batch, err := prepare(b.Updates)
	if err != nil {
		return 0, err
	}
	for _, u := range b.Attributes {
		if err := checkObject(u.Object); err != nil {
			return 0, fmt.Errorf("%w: attributes of %s: %v", store.ErrInvalidUpdate, u.Object, err)
		}
	}
	return s.update(func(w *wtx) error {
		if err := w.checkPreconditions(b.Preconditions); err != nil {
			return err
		}
		attrs, err := w.prepareAttributes(b)
		if err != nil {
			return err
		}
		for i := range batch {
			p := &batch[i]
			var err error
			if p.op == store.OpDelete {
				err = w.delete(p.ek)
			} else {
				err = w.touch(p, p.op == store.OpCreate)
			}
			if err != nil {
				return err
			}
		}
		return w.putAttributes(attrs)
	})
}

// Import implements store.Importer: one transaction, inserting in key order.
func (s *Store) Import(ctx context.Context, rels []tuple.Relationship) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	updates := make([]store.Update, len(rels))
	for i, r := range rels {
		updates[i] = store.Update{Op: store.OpCreate, Relationship: r}
	}
	batch, err := prepare(updates)
	if err != nil {
		return 0, err
	}
	return s.update(func(w *wtx) error {
		// Sorted inserts fill pages left to right; leave a little room for
		// later writes between the imported keys.
		w.b.rels.FillPercent = 0.9
		w.bulk = true
		for i := range batch {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := w.touch(&batch[i], true); err != nil {
				return err
			}
		}
		return w.flush()
	})
}

// DeleteMatching implements store.Writer.
func (s *Store) DeleteMatching(ctx context.Context, preconditions []store.Precondition, f store.Filter, limit int) (store.Revision, int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, false, err
	}
	deleted, more := 0, false
	rev, err := s.update(func(w *wtx) error {
		if err := w.checkPreconditions(preconditions); err != nil {
			return err
		}
		var victims [][]byte
		err := scan(w.b, f, nil, func(_ *tuple.Key, vk, v []byte) bool {
			if readRev(v) == 0 && !expiredAt(v[revLen:], w.now) {
				victims = append(victims, slices.Clone(vk[:len(vk)-revLen]))
			}
			return limit <= 0 || len(victims) <= limit
		})
		if err != nil {
			return err
		}
		if limit > 0 && len(victims) > limit {
			victims, more = victims[:limit], true
		}
		if len(victims) == 0 {
			return errNoCommit
		}
		for _, ek := range victims {
			if err := w.delete(ek); err != nil {
				return err
			}
		}
		deleted = len(victims)
		return nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	return rev, deleted, more, nil
}

// WriteSchema implements store.SchemaStore.
func (s *Store) WriteSchema(ctx context.Context, text string) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.update(func(w *wtx) error {
		w.schema = true
		return w.b.schemas.Put(revKey(w.rev), append(appendTime(make([]byte, 0, timeLen+len(text)), w.ts), text...))
	})
}
