package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gatehouse-dev/gatehouse/store"
)

// GC implements store.Collector. It first moves the oldest readable revision,
// then removes what that and the expirations free, in transactions of at most
// WithGCBatch entries each, so writers are never held up for long. If it is
// interrupted, the next GC finishes the removal.
func (s *Store) GC(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m, err := s.advance(before)
	if err != nil {
		return 0, err
	}
	removed := 0
	endBefore := appendTime(nil, before)
	upToM := func(k []byte) bool { return readRev(k) <= m }
	steps := []func(b *buckets) (int, bool, error){
		// Versions ended at or before m are visible at no readable revision.
		func(b *buckets) (int, bool, error) {
			return s.collect(b.dead, upToM, func(k []byte) (int, error) { return removeVersion(b, k[revLen:]) })
		},
		// Live versions that expired at or before `before`.
		func(b *buckets) (int, bool, error) {
			expired := func(k []byte) bool { return bytes.Compare(k[:timeLen], endBefore) <= 0 }
			return s.collect(b.expiry, expired, func(k []byte) (int, error) { return removeVersion(b, k[timeLen:]) })
		},
		// Attribute versions superseded at or before m, and tombstones
		// written then: at m and later, none or a newer version shows. The
		// index is in revision order, so a version goes before the
		// tombstone that ends it and readers never see it resurface.
		func(b *buckets) (int, bool, error) {
			return s.collect(b.deadAttrs, upToM, func(k []byte) (int, error) { return removeAttrVersion(b, k[revLen:]) })
		},
		// The logs up to m: Changes after m starts at m+1.
		func(b *buckets) (int, bool, error) {
			return s.collect(b.log, upToM, nil)
		},
		func(b *buckets) (int, bool, error) {
			return s.collect(b.attrLog, upToM, nil)
		},
	}
	for _, step := range steps {
		for done := false; !done; {
			if err := ctx.Err(); err != nil {
				return removed, err
			}
			n := 0
			err := s.txn(true, func(b *buckets, _ state) error {
				var err error
				n, done, err = step(b)
				return err
			})
			if err != nil {
				return removed, err
			}
			removed += n
		}
	}
	return removed, nil
}

// advance moves the oldest readable revision to the first revision committed
// at or after before (else the head), never backwards, and returns it.
func (s *Store) advance(before time.Time) (store.Revision, error) {
	var m store.Revision
	err := s.txn(true, func(b *buckets, st state) error {
		m = st.minRev
		if !st.minTS.Before(before) || st.head == st.minRev {
			return nil
		}
		commitTime := func(rev store.Revision) (time.Time, error) {
			v := b.log.Get(revKey(rev))
			if len(v) < timeLen {
				return time.Time{}, fmt.Errorf("log header of revision %d is missing", rev)
			}
			return readTime(v), nil
		}
		// Commit times never decrease, so search the retained revisions.
		var serr error
		n := int(st.head - st.minRev)
		i := sort.Search(n, func(i int) bool {
			ts, err := commitTime(st.minRev + 1 + store.Revision(i))
			serr = errors.Join(serr, err)
			return !ts.Before(before)
		})
		if serr != nil {
			return serr
		}
		m = st.minRev + 1 + store.Revision(min(i, n-1))
		ts, err := commitTime(m)
		if err != nil {
			return err
		}
		st.minRev, st.minTS = m, ts
		return b.meta.Put([]byte("state"), st.encode())
	})
	return m, err
}

// collect removes up to s.gcBatch entries from the start of index for which
// due holds, in key order, calling remove (if not nil) for each to remove
// what it names. It returns the sum of what remove returned (the versions
// removed) and whether it is done.
func (s *Store) collect(index *bbolt.Bucket, due func(k []byte) bool, remove func(k []byte) (int, error)) (int, bool, error) {
	var keys [][]byte
	c := index.Cursor()
	k, _ := c.First()
	for ; k != nil && len(keys) < s.gcBatch && due(k); k, _ = c.Next() {
		keys = append(keys, slices.Clone(k))
	}
	done := k == nil || !due(k)
	removed := 0
	for _, k := range keys {
		if err := index.Delete(k); err != nil {
			return 0, false, err
		}
		if remove == nil {
			continue
		}
		n, err := remove(k)
		if err != nil {
			return 0, false, err
		}
		removed += n
	}
	return removed, done, nil
}

// removeVersion removes the relationship version vk, if present, and its key
// from bysubject when it was the key's last version. It returns the number of
// versions removed.
func removeVersion(b *buckets, vk []byte) (int, error) {
	if b.rels.Get(vk) == nil {
		return 0, nil
	}
	if err := b.rels.Delete(vk); err != nil {
		return 0, err
	}
	ek := vk[:len(vk)-revLen]
	if next, _ := b.rels.Cursor().Seek(ek); next != nil && len(next) == len(ek)+revLen && bytes.HasPrefix(next, ek) {
		return 1, nil
	}
	key, err := decodeKey(ek)
	if err != nil {
		return 0, err
	}
	return 1, b.bySubject.Delete(subjectKey(&key, ek))
}
