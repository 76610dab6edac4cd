package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func appendRev(b []byte, rev store.Revision) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(rev))
}
func readRev(b []byte) store.Revision  { return store.Revision(binary.BigEndian.Uint64(b)) }
func revKey(rev store.Revision) []byte { return appendRev(make([]byte, 0, revLen), rev) }

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func readTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

// appendKey appends the encoding ek of k.
func appendKey(b []byte, k *tuple.Key) []byte {
	for _, f := range [...]string{k.Resource.Type, k.Resource.ID, k.Relation, k.Subject.Type, k.Subject.ID, k.Subject.Relation} {
		b = append(b, f...)
		b = append(b, 0)
	}
	return b
}

func checkKey(k *tuple.Key) error {
	for _, f := range [...]string{k.Resource.Type, k.Resource.ID, k.Relation, k.Subject.Type, k.Subject.ID, k.Subject.Relation} {
		if strings.IndexByte(f, 0) >= 0 {
			return errors.New("a field contains a NUL byte")
		}
	}
	return nil
}

// decodeKey decodes an ek, copying it out of bbolt's memory.
func decodeKey(ek []byte) (tuple.Key, error) {
	s := string(ek)
	var f [6]string
	for i := range f {
		j := strings.IndexByte(s, 0)
		if j < 0 {
			return tuple.Key{}, fmt.Errorf("corrupt relationship key %q", ek)
		}
		f[i], s = s[:j], s[j+1:]
	}
	if s != "" {
		return tuple.Key{}, fmt.Errorf("corrupt relationship key %q", ek)
	}
	return tuple.Key{
		Resource: tuple.Object{Type: f[0], ID: f[1]},
		Relation: f[2],
		Subject:  tuple.Subject{Type: f[3], ID: f[4], Relation: f[5]},
	}, nil
}

// subjectKey is the bysubject key of ek.
func subjectKey(k *tuple.Key, ek []byte) []byte {
	b := make([]byte, 0, len(k.Subject.Type)+len(k.Subject.ID)+2+len(ek))
	b = append(append(b, k.Subject.Type...), 0)
	b = append(append(b, k.Subject.ID...), 0)
	return append(b, ek...)
}

// versionKey is ek + created, in a new slice.
func versionKey(ek []byte, created store.Revision) []byte {
	return appendRev(append(make([]byte, 0, len(ek)+revLen), ek...), created)
}

// appendBody appends the encoded caveat and expiration of r.
func appendBody(b []byte, r *tuple.Relationship) ([]byte, error) {
	var flags byte
	if r.Expiration != nil {
		flags |= flagExpiration
	}
	if r.Caveat != nil {
		flags |= flagCaveat
		if r.Caveat.Context != nil {
			flags |= flagContext
		}
	}
	b = append(b, flags)
	if r.Expiration != nil {
		b = appendTime(b, *r.Expiration)
	}
	if r.Caveat != nil {
		b = binary.AppendUvarint(b, uint64(len(r.Caveat.Name)))
		b = append(b, r.Caveat.Name...)
		if r.Caveat.Context != nil {
			var err error
			if b, err = appendValue(b, r.Caveat.Context); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// bodyExpiration returns the expiration encoding in body, or nil.
func bodyExpiration(body []byte) []byte {
	if len(body) < 1+timeLen || body[0]&flagExpiration == 0 {
		return nil
	}
	return body[1 : 1+timeLen]
}

// expiredAt reports whether body has an expiration at or before now.
func expiredAt(body []byte, now time.Time) bool {
	exp := bodyExpiration(body)
	return exp != nil && !readTime(exp).After(now)
}

// decodeRel builds the relationship with key k and the given body.
func decodeRel(k *tuple.Key, body []byte) (tuple.Relationship, error) {
	r := tuple.Relationship{Resource: k.Resource, Relation: k.Relation, Subject: k.Subject}
	d := decoder{b: body}
	flags := d.byte()
	if flags&flagExpiration != 0 {
		t := readTime(d.bytes(timeLen))
		r.Expiration = &t
	}
	if flags&flagCaveat != 0 {
		c := &tuple.Caveat{Name: string(d.bytes(d.uvarint()))}
		if flags&flagContext != 0 {
			m, _ := d.value().(map[string]any)
			c.Context = m
		}
		r.Caveat = c
	}
	if d.err != nil || len(d.b) != 0 {
		return tuple.Relationship{}, fmt.Errorf("corrupt relationship value for %s", keyRel(*k).String())
	}
	return r, nil
}

const (
	tagNull = iota
	tagFalse
	tagTrue
	tagNumber
	tagString
	tagList
	tagObject
)

// appendValue appends a caveat context value. Go numbers of other types are
// stored as the float64 that JSON would decode them to.
func appendValue(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, tagNull), nil
	case bool:
		if v {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case string:
		b = binary.AppendUvarint(append(b, tagString), uint64(len(v)))
		return append(b, v...), nil
	case []any:
		b = binary.AppendUvarint(append(b, tagList), uint64(len(v)))
		for _, e := range v {
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		b = binary.AppendUvarint(append(b, tagObject), uint64(len(v)))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = append(binary.AppendUvarint(b, uint64(len(k))), k...)
			if b, err = appendValue(b, v[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	f, ok := number(v)
	if !ok {
		return nil, fmt.Errorf("caveat context value of type %T is not a JSON value", v)
	}
	return binary.BigEndian.AppendUint64(append(b, tagNumber), math.Float64bits(f)), nil
}

func number(v any) (float64, bool) {
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	}
	return 0, false
}

// decoder reads a body; the first malformed read sets err and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errors.New("corrupt value"), nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uvarint() uint64 {
	n, w := binary.Uvarint(d.b)
	if w <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[w:]
	return n
}

func (d *decoder) value() any {
	switch d.byte() {
	case tagNull:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagNumber:
		if b := d.bytes(8); b != nil {
			return math.Float64frombits(binary.BigEndian.Uint64(b))
		}
	case tagString:
		return string(d.bytes(d.uvarint()))
	case tagList:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			return nil
		}
		l := make([]any, n)
		for i := range l {
			l[i] = d.value()
		}
		return l
	case tagObject:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			return nil
		}
		m := make(map[string]any, n)
		for range n {
			k := string(d.bytes(d.uvarint()))
			m[k] = d.value()
		}
		return m
	default:
		d.fail()
	}
	return nil
}

func keyRel(k tuple.Key) tuple.Relationship {
	return tuple.Relationship{Resource: k.Resource, Relation: k.Relation, Subject: k.Subject}
}
