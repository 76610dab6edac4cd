package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// appendObjectKey appends the encoding ok of o: type 0x00 ID 0x00, so that
// bytewise order of ok is type-then-ID order.
func appendObjectKey(b []byte, o tuple.Object) []byte {
	b = append(append(b, o.Type...), 0)
	return append(append(b, o.ID...), 0)
}

func checkObject(o tuple.Object) error {
	if strings.IndexByte(o.Type, 0) >= 0 || strings.IndexByte(o.ID, 0) >= 0 {
		return errors.New("a field contains a NUL byte")
	}
	if len(o.Type)+len(o.ID)+2 > maxKeyLen {
		return fmt.Errorf("key longer than %d bytes", maxKeyLen)
	}
	return nil
}

// decodeObjectKey decodes an ok, copying it out of bbolt's memory.
func decodeObjectKey(ok []byte) (tuple.Object, error) {
	i := bytes.IndexByte(ok, 0)
	if i < 0 || len(ok) < i+2 || bytes.IndexByte(ok[i+1:], 0) != len(ok)-i-2 {
		return tuple.Object{}, fmt.Errorf("corrupt object key %q", ok)
	}
	return tuple.Object{Type: string(ok[:i]), ID: string(ok[i+1 : len(ok)-1])}, nil
}

// versionAt returns the newest attribute version of ok (key and value)
// created at or before rev, or nils. An empty value is a tombstone.
func versionAt(c *bbolt.Cursor, ok []byte, rev store.Revision) (vk, v []byte) {
	k, val := c.Seek(appendRev(slices.Clone(ok), rev+1))
	if k == nil {
		k, val = c.Last()
	} else {
		k, val = c.Prev()
	}
	if k == nil || len(k) != len(ok)+revLen || !bytes.HasPrefix(k, ok) {
		return nil, nil
	}
	return k, val
}

// decodeValues decodes a version's value; a tombstone decodes to nil.
func decodeValues(v []byte) (map[string]any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return store.DecodeAttributes(v)
}

// eachAttributes calls fn, in key order, for every object from the key from
// (nil: the first) whose key has prefix and that has attributes at rev, with
// its object key and encoded attributes, until fn returns false or an error.
func eachAttributes(c *bbolt.Cursor, prefix, from []byte, rev store.Revision, fn func(ok, v []byte) (bool, error)) error {
	var ok, visible []byte // the current object and its version at rev
	emit := func() (bool, error) {
		if len(visible) == 0 {
			return true, nil
		}
		return fn(ok, visible)
	}
	k, v := c.First()
	if len(from) > 0 {
		k, v = c.Seek(from)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) < 2+revLen {
			return fmt.Errorf("corrupt attribute key %q", k)
		}
		if kok := k[:len(k)-revLen]; !bytes.Equal(kok, ok) {
			if more, err := emit(); !more || err != nil {
				return err
			}
			ok, visible = kok, nil
		}
		// Versions are in created order: the last one at or before rev wins.
		if readRev(k[len(k)-revLen:]) <= rev {
			visible = v
		}
	}
	_, err := emit()
	return err
}

// attrWrite is the new version of one object's attributes.
type attrWrite struct {
	ok  []byte
	enc []byte // compact JSON; nil removes the attributes
}

// prepareAttributes checks the batch's attribute preconditions against the
// state before the transaction and computes the versions it writes, sorted by
// object key. It changes nothing.
func (w *wtx) prepareAttributes(b store.Batch) ([]attrWrite, error) {
	c := w.b.attrs.Cursor()
	current := func(o tuple.Object) (map[string]any, error) {
		if checkObject(o) != nil {
			return nil, nil // no such object can have been written
		}
		_, v := versionAt(c, appendObjectKey(nil, o), w.rev-1)
		return decodeValues(v)
	}
	for _, p := range b.AttributePreconditions {
		cur, err := current(p.Object)
		if err != nil {
			return nil, err
		}
		holds, err := store.AttributePreconditionHolds(p, cur)
		if err != nil {
			return nil, err
		}
		if !holds {
			return nil, &store.AttributePreconditionError{Precondition: p}
		}
	}
	objects, enc, err := store.ApplyAttributeUpdates(b.Attributes, b.MaxAttributeBytes, current)
	if err != nil {
		return nil, err
	}
	out := make([]attrWrite, len(objects))
	for i, oa := range objects {
		out[i] = attrWrite{ok: appendObjectKey(nil, oa.Object), enc: enc[i]}
	}
	slices.SortFunc(out, func(a, b attrWrite) int { return bytes.Compare(a.ok, b.ok) })
	return out, nil
}

// putAttributes writes the versions prepareAttributes computed, indexes the
// versions they supersede (and new tombstones) in deadattrs and logs them.
func (w *wtx) putAttributes(ws []attrWrite) error {
	c := w.b.attrs.Cursor()
	rk := revKey(w.rev)
	for _, a := range ws {
		lk, lv := versionAt(c, a.ok, w.rev-1)
		vk := appendRev(slices.Clone(a.ok), w.rev)
		// A tombstone is already in deadattrs from when it was written.
		if lk != nil && len(lv) > 0 {
			if err := w.b.deadAttrs.Put(append(slices.Clone(rk), lk...), nil); err != nil {
				return err
			}
		}
		if a.enc == nil {
			if err := w.b.deadAttrs.Put(append(slices.Clone(rk), vk...), nil); err != nil {
				return err
			}
		}
		if err := w.b.attrs.Put(vk, a.enc); err != nil {
			return err
		}
		if err := w.b.attrLog.Put(append(slices.Clone(rk), a.ok...), a.enc); err != nil {
			return err
		}
	}
	return nil
}

// removeAttrVersion removes the attribute version vk, if present, and
// reports 1 if it held attributes.
func removeAttrVersion(b *buckets, vk []byte) (int, error) {
	k, v := b.attrs.Cursor().Seek(vk)
	if !bytes.Equal(k, vk) {
		return 0, nil // collected already, through another index entry
	}
	n := min(len(v), 1)
	return n, b.attrs.Delete(vk)
}

// readAttrLog appends to ch the attributes its transaction logged, reading
// from the attrlog cursor position (k, v) and returning the next position.
func readAttrLog(c *bbolt.Cursor, k, v []byte, ch *store.Change) ([]byte, []byte, error) {
	for ; k != nil && readRev(k) <= ch.Revision; k, v = c.Next() {
		if readRev(k) < ch.Revision {
			continue // left behind by an interrupted GC
		}
		o, err := decodeObjectKey(k[revLen:])
		if err != nil {
			return nil, nil, fmt.Errorf("revision %d: %w", ch.Revision, err)
		}
		values, err := decodeValues(v)
		if err != nil {
			return nil, nil, fmt.Errorf("revision %d: %w", ch.Revision, err)
		}
		ch.Attributes = append(ch.Attributes, store.ObjectAttributes{Object: o, Values: values})
	}
	return k, v, nil
}

// ReadAttributes implements store.AttributeReader.
func (s *Store) ReadAttributes(ctx context.Context, rev store.Revision, objects []tuple.Object) (map[tuple.Object]map[string]any, error) {
	out := make(map[tuple.Object]map[string]any)
	err := s.viewAt(ctx, rev, func(b *buckets) error {
		c := b.attrs.Cursor()
		for _, o := range objects {
			if checkObject(o) != nil {
				continue
			}
			_, v := versionAt(c, appendObjectKey(nil, o), rev)
			values, err := decodeValues(v)
			if err != nil {
				return err
			}
			if values != nil {
				out[o] = values
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanAttributes implements store.AttributeReader.
func (s *Store) ScanAttributes(ctx context.Context, rev store.Revision, f store.AttributeFilter, after string, limit int) ([]store.ObjectAttributes, error) {
	var out []store.ObjectAttributes
	err := s.viewAt(ctx, rev, func(b *buckets) error {
		prefix := append(append([]byte(f.Type), 0), f.IDPrefix...)
		from := prefix
		if after != "" {
			// Past every version of after: beyond any revision suffix.
			start := appendObjectKey(nil, tuple.Object{Type: f.Type, ID: after})
			start = append(start, bytes.Repeat([]byte{0xff}, revLen)...)
			if bytes.Compare(start, from) > 0 {
				from = start
			}
		}
		return eachAttributes(b.attrs.Cursor(), prefix, from, rev, func(ok, v []byte) (bool, error) {
			o, err := decodeObjectKey(ok)
			if err != nil {
				return false, err
			}
			// The key range is exact unless the filter holds NUL bytes.
			if o.Type != f.Type || !strings.HasPrefix(o.ID, f.IDPrefix) || o.ID <= after {
				return true, nil
			}
			values, err := store.DecodeAttributes(v)
			if err != nil {
				return false, err
			}
			out = append(out, store.ObjectAttributes{Object: o, Values: values})
			return limit <= 0 || len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// snapshotAttributes calls fn for every object with attributes at head.
func snapshotAttributes(ctx context.Context, b *buckets, head store.Revision, fn func(store.ObjectAttributes) error) error {
	n := 0
	return eachAttributes(b.attrs.Cursor(), nil, nil, head, func(ok, v []byte) (bool, error) {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		o, err := decodeObjectKey(ok)
		if err != nil {
			return false, err
		}
		values, err := store.DecodeAttributes(v)
		if err != nil {
			return false, err
		}
		return true, fn(store.ObjectAttributes{Object: o, Values: values})
	})
}
