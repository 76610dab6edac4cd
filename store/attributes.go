package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

// The helpers below give every store the same attribute semantics.

// ApplyAttributeUpdate returns the attributes of an object after u, given its
// current ones (nil when it has none); nil means it has none afterwards. cur is
// not modified.
func ApplyAttributeUpdate(cur map[string]any, u AttributeUpdate) (map[string]any, error) {
	var out map[string]any
	switch u.Op {
	case AttrSet:
		out = maps.Clone(u.Values)
	case AttrMerge:
		out = maps.Clone(cur)
		if out == nil {
			out = map[string]any{}
		}
		for k, v := range u.Values {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
	case AttrDelete:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: attribute update of %s has unknown operation %v", ErrInvalidUpdate, u.Object, u.Op)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// EncodeAttributes returns the compact JSON of attributes and fails with
// *AttributesTooLargeError past limit (0: DefaultMaxAttributeBytes) or
// ErrInvalidUpdate for values JSON cannot hold.
func EncodeAttributes(obj tuple.Object, values map[string]any, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxAttributeBytes
	}
	b, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("%w: attributes of %s: %v", ErrInvalidUpdate, obj, err)
	}
	if len(b) > limit {
		return nil, &AttributesTooLargeError{Object: obj, Size: len(b), Limit: limit}
	}
	return b, nil
}

// DecodeAttributes parses what EncodeAttributes produced.
func DecodeAttributes(b []byte) (map[string]any, error) {
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	return out, nil
}

// AttributePreconditionHolds reports whether p holds for an object whose
// current attributes are cur (nil: none).
func AttributePreconditionHolds(p AttributePrecondition, cur map[string]any) (bool, error) {
	switch p.Condition {
	case AttrMustExist:
		return len(cur) > 0, nil
	case AttrMustNotExist:
		return len(cur) == 0, nil
	case AttrMustMatch:
		for k, want := range p.Match {
			got, ok := cur[k]
			if !ok || !jsonEqual(got, want) {
				return false, nil
			}
		}
		return true, nil
	default:
		return false, fmt.Errorf("%w: attribute precondition on %s has unknown condition %d", ErrInvalidUpdate, p.Object, p.Condition)
	}
}

// jsonEqual compares two JSON values by their canonical encoding (map keys
// sorted), so 1 and 1.0 are equal.
func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// ApplyAttributeUpdates applies a batch's attribute mutations in order to the
// current attributes of the objects they name, read through current (called
// once per object), and returns each changed object's final attributes (nil:
// none left) with its encoding, checked against the limit, in first-touched
// order. Objects that had no attributes and have none after are left out.
func ApplyAttributeUpdates(updates []AttributeUpdate, limit int, current func(tuple.Object) (map[string]any, error)) ([]ObjectAttributes, [][]byte, error) {
	idx := map[tuple.Object]int{}
	var all []ObjectAttributes
	var had []bool
	for _, u := range updates {
		i, seen := idx[u.Object]
		if !seen {
			cur, err := current(u.Object)
			if err != nil {
				return nil, nil, err
			}
			i = len(all)
			idx[u.Object] = i
			all = append(all, ObjectAttributes{Object: u.Object, Values: cur})
			had = append(had, cur != nil)
		}
		next, err := ApplyAttributeUpdate(all[i].Values, u)
		if err != nil {
			return nil, nil, err
		}
		all[i].Values = next
	}
	var out []ObjectAttributes
	var enc [][]byte
	for i, oa := range all {
		if oa.Values == nil {
			if had[i] { // removing none is no change
				out, enc = append(out, oa), append(enc, nil)
			}
			continue
		}
		b, err := EncodeAttributes(oa.Object, oa.Values, limit)
		if err != nil {
			return nil, nil, err
		}
		out, enc = append(out, oa), append(enc, b)
	}
	return out, enc, nil
}
