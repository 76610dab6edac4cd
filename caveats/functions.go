package caveats

import (
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// envOptions are the CEL environment options every caveat is compiled with:
// SpiceDB's custom functions and its language settings.
func envOptions() []cel.EnvOption {
	return []cel.EnvOption{
		ipAddressLibrary(),
		subtreeLibrary(),
		// Timestamp accessors such as getHours() use UTC unless given a zone.
		cel.DefaultUTCTimeZone(true),
		// Optional syntax: m[?key].orValue(x), msg.?field.
		cel.OptionalTypes(cel.OptionalTypesVersion(0)),
		// Compile enforces MaxExpressionSize in bytes, as SpiceDB does, in
		// place of CEL's code point limit.
		cel.ParserExpressionSizeLimit(-1),
	}
}

// subtreeLibrary declares SpiceDB's map method isSubtreeOf: m.isSubtreeOf(n)
// holds when every key of m is in n with an equal value, comparing nested
// maps recursively.
func subtreeLibrary() cel.EnvOption {
	m := cel.MapType(cel.StringType, cel.DynType)
	return cel.Function("isSubtreeOf",
		cel.MemberOverload("isSubtreeOf", []*cel.Type{m, m}, cel.BoolType,
			cel.BinaryBinding(func(lhs, rhs ref.Val) ref.Val {
				// Like SpiceDB, only maps that came from the context (Go
				// map[string]any values) are accepted; map literals are not.
				a, ok := lhs.Value().(map[string]any)
				if !ok {
					return types.NewErr("isSubtreeOf: receiver is not a context map")
				}
				b, ok := rhs.Value().(map[string]any)
				if !ok {
					return types.NewErr("isSubtreeOf: argument is not a context map")
				}
				sub, err := isSubtree(a, b)
				if err != nil {
					return err
				}
				return types.Bool(sub)
			}),
		),
	)
}

// isSubtree reports whether every entry of a is in b. Values that Go cannot
// compare (two lists, for instance) make it an error, where SpiceDB's
// evaluation fails with a recovered panic.
func isSubtree(a, b map[string]any) (bool, ref.Val) {
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false, nil
		}
		if am, ok := av.(map[string]any); ok {
			bm, ok := bv.(map[string]any)
			if !ok {
				return false, nil
			}
			sub, err := isSubtree(am, bm)
			if err != nil || !sub {
				return false, err
			}
			continue
		}
		if av != nil && bv != nil {
			at, bt := reflect.TypeOf(av), reflect.TypeOf(bv)
			if at == bt && !at.Comparable() {
				return false, types.NewErr("isSubtreeOf: cannot compare values of type %s at key `%s`", at, k)
			}
		}
		if av != bv {
			return false, nil
		}
	}
	return true, nil
}
