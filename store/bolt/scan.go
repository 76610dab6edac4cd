package bolt

import (
	"bytes"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// scan calls fn, in key order, for every stored version (key and value) of
// the keys after `after` (nil: from the start) that match f, using the
// subject index or the narrowest key range f allows, until fn returns false.
// k is decoded once per key and shared by its versions.
func scan(b *buckets, f store.Filter, after *tuple.Key, fn func(k *tuple.Key, vk, v []byte) bool) error {
	var afterEK []byte
	if after != nil {
		afterEK = appendKey(nil, after)
	}
	if sub := f.Subject; sub != nil && sub.Type != "" && sub.ID != "" && !(f.ResourceType != "" && len(f.ResourceIDs) > 0) {
		return scanSubject(b, f, afterEK, fn)
	}
	var prefixes [][]byte
	switch {
	case f.ResourceType == "":
		prefixes = [][]byte{nil}
	case len(f.ResourceIDs) > 0:
		ids := slices.Clone(f.ResourceIDs)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			if !strings.HasPrefix(id, f.ResourceIDPrefix) {
				continue
			}
			p := append(append(append([]byte(f.ResourceType), 0), id...), 0)
			if f.Relation != "" {
				p = append(append(p, f.Relation...), 0)
			}
			prefixes = append(prefixes, p)
		}
	default:
		prefixes = [][]byte{append(append([]byte(f.ResourceType), 0), f.ResourceIDPrefix...)}
	}
	var start []byte
	if afterEK != nil {
		// Past every version of after: beyond any revision suffix.
		start = append(slices.Clone(afterEK), bytes.Repeat([]byte{0xff}, revLen)...)
	}
	c := b.rels.Cursor()
	var lastEK []byte
	var key tuple.Key
	var match bool
	for _, p := range prefixes {
		from := p
		if bytes.Compare(start, from) > 0 {
			from = start
		}
		vk, v := c.First()
		if len(from) > 0 {
			vk, v = c.Seek(from)
		}
		for ; vk != nil && bytes.HasPrefix(vk, p); vk, v = c.Next() {
			ek := vk[:len(vk)-revLen]
			if !bytes.Equal(ek, lastEK) {
				var err error
				if key, err = decodeKey(ek); err != nil {
					return err
				}
				lastEK, match = ek, f.Matches(keyRel(key))
			}
			if match && !fn(&key, vk, v) {
				return nil
			}
		}
	}
	return nil
}

// scanSubject is scan through the bysubject index.
func scanSubject(b *buckets, f store.Filter, afterEK []byte, fn func(k *tuple.Key, vk, v []byte) bool) error {
	prefix := append(append(append([]byte(f.Subject.Type), 0), f.Subject.ID...), 0)
	from := prefix
	if afterEK != nil {
		from = append(append(slices.Clone(prefix), afterEK...), 0)
	}
	sc, rc := b.bySubject.Cursor(), b.rels.Cursor()
	for sk, _ := sc.Seek(from); sk != nil && bytes.HasPrefix(sk, prefix); sk, _ = sc.Next() {
		ek := sk[len(prefix):]
		key, err := decodeKey(ek)
		if err != nil {
			return err
		}
		if !f.Matches(keyRel(key)) {
			continue
		}
		for vk, v := rc.Seek(ek); vk != nil && len(vk) == len(ek)+revLen && bytes.HasPrefix(vk, ek); vk, v = rc.Next() {
			if !fn(&key, vk, v) {
				return nil
			}
		}
	}
	return nil
}
