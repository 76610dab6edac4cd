package bolt

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// HeadRevision implements store.Reader.
func (s *Store) HeadRevision(ctx context.Context) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var head store.Revision
	err := s.view(func(_ *buckets, st state) error {
		head = st.head
		return nil
	})
	return head, err
}

// Read implements store.Reader.
func (s *Store) Read(ctx context.Context, rev store.Revision, f store.Filter, page store.Page) ([]tuple.Relationship, error) {
	var out []tuple.Relationship
	err := s.viewAt(ctx, rev, func(b *buckets) error {
		var derr error
		err := scan(b, f, page.After, func(k *tuple.Key, vk, v []byte) bool {
			created, deleted := readRev(vk[len(vk)-revLen:]), readRev(v)
			if created > rev || (deleted != 0 && deleted <= rev) {
				return true
			}
			r, err := decodeRel(k, v[revLen:])
			if err != nil {
				derr = err
				return false
			}
			out = append(out, r)
			return page.Limit <= 0 || len(out) < page.Limit
		})
		return errors.Join(err, derr)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Snapshot implements store.Loader. It streams from one read transaction,
// so fn and attrs must not wait for a write to this store: a write that grows
// the file waits for read transactions to end.
func (s *Store) Snapshot(ctx context.Context, fn func(tuple.Relationship) error, attrs func(store.ObjectAttributes) error) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev store.Revision
	err := s.view(func(b *buckets, st state) error {
		rev = st.head
		if attrs != nil {
			if err := snapshotAttributes(ctx, b, st.head, attrs); err != nil {
				return err
			}
		}
		c := b.rels.Cursor()
		n := 0
		for vk, v := c.First(); vk != nil; vk, v = c.Next() {
			if readRev(v) != 0 {
				continue
			}
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			k, err := decodeKey(vk[:len(vk)-revLen])
			if err != nil {
				return err
			}
			r, err := decodeRel(&k, v[revLen:])
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
	return rev, err
}

func decodeSchema(k, v []byte) store.SchemaVersion {
	return store.SchemaVersion{Revision: readRev(k), Timestamp: readTime(v), Text: string(v[timeLen:])}
}

// ReadSchema implements store.SchemaStore.
func (s *Store) ReadSchema(ctx context.Context) (store.SchemaVersion, error) {
	if err := ctx.Err(); err != nil {
		return store.SchemaVersion{}, err
	}
	var out store.SchemaVersion
	err := s.view(func(b *buckets, _ state) error {
		if k, v := b.schemas.Cursor().Last(); k != nil {
			out = decodeSchema(k, v)
		}
		return nil
	})
	return out, err
}

// SchemaHistory implements store.SchemaStore.
func (s *Store) SchemaHistory(ctx context.Context) ([]store.SchemaVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.SchemaVersion
	err := s.view(func(b *buckets, _ state) error {
		c := b.schemas.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			out = append(out, decodeSchema(k, v))
		}
		return nil
	})
	return out, err
}
