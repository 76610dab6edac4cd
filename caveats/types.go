package caveats

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
)

// TypeRef is a caveat parameter type as written in a schema: a name ("int",
// "uint", "bool", "string", "double", "bytes", "duration", "timestamp", "list",
// "map", "ipaddress", "any") and type arguments (list<T> has one, map<T> has
// one: the value type; keys are strings).
type TypeRef struct {
	Name string
	Args []TypeRef
}

// String returns the type as written in a schema, e.g. "list<int>".
func (t TypeRef) String() string {
	if len(t.Args) == 0 {
		return t.Name
	}
	var sb strings.Builder
	sb.WriteString(t.Name)
	sb.WriteByte('<')
	for i, a := range t.Args {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(a.String())
	}
	sb.WriteByte('>')
	return sb.String()
}

// Param is a declared caveat parameter.
type Param struct {
	Name string
	Type TypeRef
}

// converter turns a JSON-like value into the value bound to a CEL variable.
type converter func(v any) (any, error)

// paramType is a resolved TypeRef: its CEL type and its value converter.
type paramType struct {
	cel     *cel.Type
	convert converter
}

// resolveType maps a schema type to its CEL declaration and converter. The
// CEL types match SpiceDB's, including uint being declared as CEL int.
func resolveType(t TypeRef) (paramType, error) {
	var base converter
	var ct *cel.Type
	switch t.Name {
	case "any":
		ct, base = cel.DynType, func(v any) (any, error) { return v, nil }
	case "bool":
		ct, base = cel.BoolType, convertBool
	case "string":
		ct, base = cel.StringType, convertString
	case "int":
		ct, base = cel.IntType, convertInt
	case "uint":
		ct, base = cel.IntType, convertUint
	case "double":
		ct, base = cel.DoubleType, convertDouble
	case "bytes":
		ct, base = cel.BytesType, convertBytes
	case "duration":
		ct, base = cel.DurationType, convertDuration
	case "timestamp":
		ct, base = cel.TimestampType, convertTimestamp
	case "ipaddress":
		ct, base = ipAddressDeclType(), convertIPAddress
	case "list", "map":
		if len(t.Args) != 1 {
			return paramType{}, fmt.Errorf("type `%s` requires 1 generic types; found %d", t.Name, len(t.Args))
		}
		elem, err := resolveType(t.Args[0])
		if err != nil {
			return paramType{}, err
		}
		// Elements of type any need no conversion, so the value is used as
		// is instead of copied.
		passThrough := t.Args[0].Name == "any"
		if t.Name == "list" {
			ct, base = cel.ListType(elem.cel), listConverter(elem.convert, passThrough)
		} else {
			ct, base = cel.MapType(cel.StringType, elem.cel), mapConverter(elem.convert, passThrough)
		}
	default:
		return paramType{}, fmt.Errorf("unknown type `%s`", t.Name)
	}
	if len(t.Args) > 0 && t.Name != "list" && t.Name != "map" {
		return paramType{}, fmt.Errorf("type `%s` requires 0 generic types; found %d", t.Name, len(t.Args))
	}
	name := t.String()
	return paramType{cel: ct, convert: func(v any) (any, error) {
		out, err := base(v)
		if err != nil {
			return nil, fmt.Errorf("for %s: %w", name, err)
		}
		return out, nil
	}}, nil
}

func convertBool(v any) (any, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	return nil, fmt.Errorf("a bool value is required, but found %T `%v`", v, v)
}

func convertString(v any) (any, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return nil, fmt.Errorf("a string value is required, but found %T `%v`", v, v)
}

// parseNumber reads a number the way SpiceDB does: a float64 as is, or a
// decimal string at 64 bits of precision. goName names the target type in
// messages.
func parseNumber(v any, goName string) (*big.Float, error) {
	switch n := v.(type) {
	case float64:
		if math.IsNaN(n) {
			// SpiceDB panics here (big.NewFloat rejects NaN); report it instead.
			return nil, fmt.Errorf("a %s value is required, but found numeric value `NaN`", goName)
		}
		return big.NewFloat(n), nil
	case string:
		f, _, err := big.ParseFloat(n, 10, 64, big.ToNearestEven)
		if err != nil {
			return nil, fmt.Errorf("a %s value is required, but found invalid string value `%v`", goName, n)
		}
		return f, nil
	default:
		return nil, fmt.Errorf("a %s value is required, but found %T `%v`", goName, v, v)
	}
}

// integral reports whether f is a finite whole number that converts to int64
// exactly, and the value.
func integral(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// toInt64 converts an integral number to int64, saturating out-of-range
// values as SpiceDB does.
func toInt64(v any, kind string) (int64, error) {
	// Fast path for the common JSON case; the slow path handles strings,
	// non-integral values and saturation.
	if f, ok := v.(float64); ok {
		if i, ok := integral(f); ok {
			return i, nil
		}
	}
	goName := "int64"
	if kind == "uint" {
		goName = "uint64"
	}
	bf, err := parseNumber(v, goName)
	if err != nil {
		return 0, err
	}
	if !bf.IsInt() {
		return 0, fmt.Errorf("a %s value is required, but found numeric value `%s`", kind, bf.String())
	}
	i, _ := bf.Int64()
	return i, nil
}

func convertInt(v any) (any, error) {
	if i, ok := v.(int64); ok {
		return i, nil
	}
	i, err := toInt64(v, "int")
	if err != nil {
		return nil, err
	}
	return i, nil
}

func convertUint(v any) (any, error) {
	if u, ok := v.(uint64); ok {
		return u, nil
	}
	i, err := toInt64(v, "uint")
	if err != nil {
		return nil, err
	}
	if i < 0 {
		bf, _ := parseNumber(v, "uint64") // cannot fail: toInt64 parsed it
		return nil, fmt.Errorf("a uint value is required, but found int64 value `%s`", bf.String())
	}
	return uint64(i), nil
}

func convertDouble(v any) (any, error) {
	if f, ok := v.(float64); ok {
		return f, nil
	}
	bf, err := parseNumber(v, "float64")
	if err != nil {
		return nil, err
	}
	f, _ := bf.Float64()
	return f, nil
}

func convertBytes(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("bytes requires a base64 unicode string, found: %T `%v`", v, v)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bytes requires a base64 encoded string: %w", err)
	}
	return b, nil
}

func convertDuration(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("durations requires a duration string, found: %T", v)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("could not parse duration string `%s`: %w", s, err)
	}
	return d, nil
}

func convertTimestamp(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("timestamps requires a RFC 3339 formatted timestamp string, found: %T `%v`", v, v)
	}
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("could not parse RFC 3339 formatted timestamp string `%s`: %w", s, err)
	}
	return ts, nil
}

func convertIPAddress(v any) (any, error) {
	switch ip := v.(type) {
	case IPAddress:
		return ip, nil
	case string:
		parsed, err := ParseIPAddress(ip)
		if err != nil {
			return nil, fmt.Errorf("could not parse ip address string `%s`: %w", ip, err)
		}
		return parsed, nil
	default:
		return nil, fmt.Errorf("ipaddress requires an ipaddress string, found: %T `%v`", v, v)
	}
}

func listConverter(elem converter, passThrough bool) converter {
	return func(v any) (any, error) {
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("list requires a list, found: %T", v)
		}
		if passThrough {
			return items, nil
		}
		out := make([]any, len(items))
		for i, item := range items {
			c, err := elem(item)
			if err != nil {
				return nil, fmt.Errorf("found an invalid value for item at index %d: %w", i, err)
			}
			out[i] = c
		}
		return out, nil
	}
}

func mapConverter(elem converter, passThrough bool) converter {
	return func(v any) (any, error) {
		entries, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("map requires a map, found: %T", v)
		}
		if passThrough {
			return entries, nil
		}
		out := make(map[string]any, len(entries))
		for k, item := range entries {
			c, err := elem(item)
			if err != nil {
				return nil, fmt.Errorf("found an invalid value for key `%s`: %w", k, err)
			}
			out[k] = c
		}
		return out, nil
	}
}
