package caveats

import (
	"fmt"
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
// maps recursively. Values are compared as Go values, so an int parameter's 1
// differs from an any parameter's 1.0, as in SpiceDB.
//
// Where SpiceDB's implementation panics (a map literal operand, two lists to
// compare), this one aborts the whole evaluation with evalAbort, as SpiceDB's
// recovered panic does, rather than returning a CEL error that && or || could
// absorb.
func subtreeLibrary() cel.EnvOption {
	m := cel.MapType(cel.StringType, cel.DynType)
	return cel.Function("isSubtreeOf",
		cel.MemberOverload("isSubtreeOf", []*cel.Type{m, m}, cel.BoolType,
			cel.BinaryBinding(func(lhs, rhs ref.Val) ref.Val {
				a, ok := lhs.Value().(map[string]any)
				if !ok {
					panic(evalAbort("isSubtreeOf: receiver is not a map from the context"))
				}
				b, ok := rhs.Value().(map[string]any)
				if !ok {
					panic(evalAbort("isSubtreeOf: argument is not a map from the context"))
				}
				return types.Bool(isSubtree(a, b))
			}),
		),
	)
}

// evalAbort is raised as a panic to fail an evaluation outright; cel-go's
// Program.Eval recovers it and returns "internal error: <message>".
type evalAbort string

func (e evalAbort) Error() string { return string(e) }

// isSubtree reports whether every entry of a is in b.
func isSubtree(a, b map[string]any) bool {
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false
		}
		if am, ok := av.(map[string]any); ok {
			bm, ok := bv.(map[string]any)
			if !ok || !isSubtree(am, bm) {
				return false
			}
			continue
		}
		if av != nil && bv != nil {
			if at := reflect.TypeOf(av); at == reflect.TypeOf(bv) && !at.Comparable() {
				panic(evalAbort(fmt.Sprintf("isSubtreeOf: cannot compare values of type %s at key `%s`", at, k)))
			}
		}
		if av != bv {
			return false
		}
	}
	return true
}
