package bolt

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/store"
)

// Changes implements store.Watcher. It waits on a channel that every commit
// closes; only this process can write the file, so no polling is needed.
func (s *Store) Changes(ctx context.Context, after store.Revision, fn func(store.Change) error) error {
	cursor := after
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Take the channel before reading, so a commit after the read wakes us.
		s.mu.Lock()
		closed, wake := s.closed, s.wake
		s.mu.Unlock()
		if closed {
			return store.ErrClosed
		}
		var batch []store.Change
		err := s.view(func(b *buckets, st state) error {
			if cursor < st.minRev || (first && cursor > st.head) {
				return fmt.Errorf("%w: changes after revision %d: retained range is [%d, %d]", store.ErrRevisionUnavailable, cursor, st.minRev, st.head)
			}
			var err error
			batch, err = readChanges(b, cursor)
			return err
		})
		if err != nil {
			return err
		}
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

// readChanges decodes the committed transactions after rev, whole, stopping
// at a transaction boundary once the batch bounds are reached.
func readChanges(b *buckets, rev store.Revision) ([]store.Change, error) {
	var out []store.Change
	updates := 0
	ac := b.attrLog.Cursor()
	ak, av := ac.Seek(revKey(rev + 1))
	c := b.log.Cursor()
	for k, v := c.Seek(revKey(rev + 1)); k != nil; k, v = c.Next() {
		switch len(k) {
		case revLen:
			if len(out) >= changeTxns || updates >= changeUpdates {
				return out, nil
			}
			if len(v) != timeLen+1 {
				return nil, fmt.Errorf("corrupt log header at revision %d", readRev(k))
			}
			ch := store.Change{Revision: readRev(k), Timestamp: readTime(v)}
			if v[timeLen]&flagSchema != 0 {
				sv := b.schemas.Get(k)
				if len(sv) < timeLen {
					return nil, fmt.Errorf("schema of revision %d is missing", ch.Revision)
				}
				text := string(sv[timeLen:])
				ch.Schema = &text
			}
			var err error
			if ak, av, err = readAttrLog(ac, ak, av, &ch); err != nil {
				return nil, err
			}
			updates += len(ch.Attributes)
			out = append(out, ch)
		case revLen + 4:
			if len(out) == 0 || out[len(out)-1].Revision != readRev(k) {
				return nil, fmt.Errorf("log update without header at revision %d", readRev(k))
			}
			u, err := decodeLogUpdate(v)
			if err != nil {
				return nil, fmt.Errorf("revision %d: %w", readRev(k), err)
			}
			ch := &out[len(out)-1]
			ch.Updates = append(ch.Updates, u)
			updates++
		default:
			return nil, fmt.Errorf("corrupt log key %x", k)
		}
	}
	return out, nil
}

func decodeLogUpdate(v []byte) (store.Update, error) {
	d := decoder{b: v}
	op := d.byte()
	ek := d.bytes(d.uvarint())
	if d.err != nil {
		return store.Update{}, errors.New("corrupt log update")
	}
	k, err := decodeKey(ek)
	if err != nil {
		return store.Update{}, err
	}
	switch op {
	case opLogTouch:
		r, err := decodeRel(&k, d.b)
		return store.Update{Op: store.OpTouch, Relationship: r}, err
	case opLogDelete:
		return store.Update{Op: store.OpDelete, Relationship: keyRel(k)}, nil
	}
	return store.Update{}, fmt.Errorf("corrupt log update op %d", op)
}
