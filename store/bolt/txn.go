package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/gatehouse-dev/gatehouse/store"
)

// buckets are the buckets of one transaction.
type buckets struct {
	meta, rels, bySubject, expiry, dead, log, schemas *bbolt.Bucket
	attrs, deadAttrs, attrLog                         *bbolt.Bucket
}

func bucketsOf(tx *bbolt.Tx) (*buckets, error) {
	var bs [10]*bbolt.Bucket
	for i, name := range allBuckets() {
		if bs[i] = tx.Bucket([]byte(name)); bs[i] == nil {
			return nil, fmt.Errorf("%w: bucket %q is missing", ErrNotGatehouse, name)
		}
	}
	return &buckets{bs[0], bs[1], bs[2], bs[3], bs[4], bs[5], bs[6], bs[7], bs[8], bs[9]}, nil
}

// state is the revision range the database holds.
type state struct {
	head   store.Revision
	headTS time.Time
	minRev store.Revision // oldest revision still readable
	minTS  time.Time      // commit time of minRev
}

func (st state) encode() []byte {
	b := make([]byte, 0, 2*(revLen+timeLen))
	b = appendRev(b, st.head)
	b = appendTime(b, st.headTS)
	b = appendRev(b, st.minRev)
	return appendTime(b, st.minTS)
}

func readState(b *buckets) (state, error) {
	v := b.meta.Get([]byte("state"))
	if len(v) != 2*(revLen+timeLen) {
		return state{}, fmt.Errorf("%w: bad state record", ErrNotGatehouse)
	}
	return state{
		head:   readRev(v),
		headTS: readTime(v[revLen:]),
		minRev: readRev(v[revLen+timeLen:]),
		minTS:  readTime(v[2*revLen+timeLen:]),
	}, nil
}

func (st state) check(rev store.Revision) error {
	if rev < st.minRev || rev > st.head {
		return fmt.Errorf("%w: revision %d is outside the retained range [%d, %d]", store.ErrRevisionUnavailable, rev, st.minRev, st.head)
	}
	return nil
}

// txn runs fn in a read or write transaction, with the buckets and the state
// it sees.
func (s *Store) txn(writable bool, fn func(b *buckets, st state) error) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	run := s.db.View
	if writable {
		run = s.db.Update
	}
	err := run(func(tx *bbolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		st, err := readState(b)
		if err != nil {
			return err
		}
		return fn(b, st)
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(b *buckets, st state) error) error { return s.txn(false, fn) }

// viewAt runs fn in a read transaction once ctx is checked and the
// transaction has rev retained.
func (s *Store) viewAt(ctx context.Context, rev store.Revision, fn func(b *buckets) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.view(func(b *buckets, st state) error {
		if err := st.check(rev); err != nil {
			return err
		}
		return fn(b)
	})
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
