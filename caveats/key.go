package caveats

import (
	"encoding/binary"
	"math"
	"reflect"
	"slices"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// A caveat's result is a pure function of the values it reads, so a caller
// may remember results under a key that encodes exactly those values
// (AppendKey). For the reserved maps (caller, resource, subject) the key
// holds only the fields the expression reads by name, so two callers with
// the same tenant claim share an entry while their other claims differ.

// reads records how an expression uses one parameter.
type reads struct {
	// whole: the parameter is used other than through constant field names
	// (passed to a function, compared, iterated, indexed by a computed key).
	whole bool
	// fields: the constant field names read (`p.f`, `has(p.f)`, `p["f"]`),
	// sorted and without duplicates.
	fields []string
}

// analyseReads finds, for each parameter, the fields the expression reads.
// It is conservative: any use of a parameter's name it does not recognise
// as a constant field access (including one shadowed by a comprehension
// variable) counts as a use of the whole value.
func analyseReads(a *cel.Ast, params []Param) []reads {
	out := make([]reads, len(params))
	index := func(e celast.Expr) int {
		if e.Kind() != celast.IdentKind {
			return -1
		}
		return slices.IndexFunc(params, func(p Param) bool { return p.Name == e.AsIdent() })
	}
	fieldOf := map[int64]bool{} // IDs of identifiers used as the operand of a field read
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if i := index(sel.Operand()); i >= 0 {
				fieldOf[sel.Operand().ID()] = true
				out[i].fields = append(out[i].fields, sel.FieldName())
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if call.FunctionName() != operators.Index || call.IsMemberFunction() || len(args) != 2 {
				return
			}
			i := index(args[0])
			if i < 0 || args[1].Kind() != celast.LiteralKind {
				return
			}
			if key, ok := args[1].AsLiteral().(types.String); ok {
				fieldOf[args[0].ID()] = true
				out[i].fields = append(out[i].fields, string(key))
			}
		case celast.IdentKind:
			// Identifiers are visited after their parent, so fieldOf is set.
			if i := index(e); i >= 0 && !fieldOf[e.ID()] {
				out[i].whole = true
			}
		}
	}))
	for i := range out {
		slices.Sort(out[i].fields)
		out[i].fields = slices.Compact(out[i].fields)
	}
	return out
}

// Key tags: each parameter's encoding starts with one, so no encoding is a
// prefix of another.
const (
	keyUnknown  = 'u' // reserved map not bound: the parameter is unknown
	keyStored   = 'r' // value from the relationship's context (identified as a whole)
	keyIdentity = 'm' // reserved map identified by address
	keyFields   = 'f' // reserved map identified by the fields read
	keyAbsent   = 'a' // field or request value absent (a request parameter: unknown)
	keyString   = 's'
	keyNumber   = 'n'
	keyInt      = 'i'
	keyUint     = 'w'
	keyTrue     = 't'
	keyFalse    = 'x'
	keyNull     = 'z'
	keyOther    = 'o' // in Fields: a value appendScalar does not encode
)

// Fields is a map's fields encoded once, so that AppendKey reads the ones a
// caveat names from one small contiguous value instead of the map: for a
// stored map read by many checks that saves most of the key's memory
// traffic. Build it with EncodeFields when the map is stored and do not
// modify the map afterwards.
type Fields []byte

// EncodeFields encodes m's fields, sorted by name, each as its name and its
// value's key encoding (keyOther for a value that has none).
func EncodeFields(m map[string]any) Fields {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	out := Fields{'F'} // never nil, even for an empty map
	for _, k := range names {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		var ok bool
		if out, ok = appendScalar(out, m[k]); !ok {
			out = append(out, keyOther)
		}
	}
	return out
}

// appendField appends the encoding of field name (keyAbsent when there is
// none); ok is false when its value has no encoding.
func (f Fields) appendField(buf []byte, name string) (_ []byte, ok bool) {
	rest := f[1:]
	for len(rest) > 0 {
		n, w := binary.Uvarint(rest)
		key := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		size := scalarSize(rest)
		if string(key) == name {
			if rest[0] == keyOther {
				return buf, false
			}
			return append(buf, rest[:size]...), true
		}
		if string(key) > name {
			break // sorted: it is not there
		}
		rest = rest[size:]
	}
	return append(buf, keyAbsent), true
}

// scalarSize is the length of the value encoding enc starts with.
func scalarSize(enc []byte) int {
	switch enc[0] {
	case keyString:
		n, w := binary.Uvarint(enc[1:])
		return 1 + w + int(n)
	case keyNumber, keyInt, keyUint:
		return 9
	}
	return 1
}

// AppendKey appends to buf an encoding of every input an evaluation of the
// caveat with these arguments (as for Eval) reads, and appends to keep the
// maps the key identifies by address. Equal keys, for the same *Caveat,
// mean equal results, provided the maps in keep are not modified and stay
// alive while the key is in use (a cache entry holds them).
//
// A reserved map is encoded by the values of the fields the expression
// reads when it reads it only through constant field names and those values
// are scalars; otherwise by its address. The relationship's context is
// encoded by its address; request context values by value. ok is false when
// a parameter takes a non-scalar value from the request context, which has
// no stable identity: such an evaluation cannot be keyed.
func (c *Caveat) AppendKey(buf []byte, relContext, reqContext map[string]any, b *Bindings, keep []map[string]any) (_ []byte, _ []map[string]any, ok bool) {
	stored := false
	for i := range c.params {
		if r := c.reserved[i]; r >= 0 {
			m, ok := b.lookup(r)
			if !ok {
				buf = append(buf, keyUnknown)
				continue
			}
			start := len(buf)
			byFields := !c.reads[i].whole
			if byFields {
				buf = append(buf, keyFields)
				enc := b.fields(r)
				for _, f := range c.reads[i].fields {
					if enc != nil {
						buf, byFields = enc.appendField(buf, f)
					} else {
						buf, byFields = appendLookup(buf, m, f)
					}
					if !byFields {
						break
					}
				}
			}
			if !byFields {
				buf = appendAddr(append(buf[:start], keyIdentity), m)
				keep = append(keep, m)
			}
			continue
		}
		name := c.params[i].Name
		if _, ok := relContext[name]; ok {
			buf = append(buf, keyStored)
			stored = true
			continue
		}
		var ok bool
		if buf, ok = appendLookup(buf, reqContext, name); !ok {
			return buf, keep, false
		}
	}
	if stored {
		buf = appendAddr(buf, relContext)
		keep = append(keep, relContext)
	}
	return buf, keep, true
}

// appendLookup encodes m[name] (keyAbsent when m has no such key); ok is
// false when the value is not a scalar.
func appendLookup(buf []byte, m map[string]any, name string) ([]byte, bool) {
	v, ok := m[name]
	if !ok {
		return append(buf, keyAbsent), true
	}
	return appendScalar(buf, v)
}

// appendScalar encodes a JSON-like scalar; ok is false for anything else.
func appendScalar(buf []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(buf, keyNull), true
	case string:
		buf = binary.AppendUvarint(append(buf, keyString), uint64(len(v)))
		return append(buf, v...), true
	case float64:
		return binary.LittleEndian.AppendUint64(append(buf, keyNumber), math.Float64bits(v)), true
	case int64:
		return binary.LittleEndian.AppendUint64(append(buf, keyInt), uint64(v)), true
	case uint64:
		return binary.LittleEndian.AppendUint64(append(buf, keyUint), v), true
	case bool:
		if v {
			return append(buf, keyTrue), true
		}
		return append(buf, keyFalse), true
	}
	return buf, false
}

func appendAddr(buf []byte, m map[string]any) []byte {
	return binary.LittleEndian.AppendUint64(buf, uint64(reflect.ValueOf(m).Pointer()))
}
