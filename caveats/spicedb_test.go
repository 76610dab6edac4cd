package caveats

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	sdbcaveats "github.com/authzed/spicedb/pkg/caveats"
	sdbtypes "github.com/authzed/spicedb/pkg/caveats/types"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
)

// outcome is a comparable summary of one evaluation, by either
// implementation.
type outcome struct {
	Kind    string // "false", "true", "conditional", "compile", "param", "eval", "panic"
	Missing []string
	Param   string // for "param"
	Message string // for "param" and "eval": the error text SpiceDB would show
}

func (o outcome) String() string {
	s := o.Kind
	if len(o.Missing) > 0 {
		s += fmt.Sprintf(" missing=%q", o.Missing)
	}
	if o.Param != "" {
		s += " param=" + o.Param
	}
	if o.Message != "" {
		s += " msg=" + o.Message
	}
	return s
}

// diffParams is the parameter set of the differential tests: every type.
func diffParams() []Param {
	ref := func(name string, args ...TypeRef) TypeRef { return TypeRef{Name: name, Args: args} }
	return []Param{
		{"i", ref("int")}, {"j", ref("int")}, {"u", ref("uint")}, {"b", ref("bool")},
		{"s", ref("string")}, {"d", ref("double")}, {"by", ref("bytes")},
		{"du", ref("duration")}, {"ts", ref("timestamp")}, {"ip", ref("ipaddress")},
		{"x", ref("any")}, {"l", ref("list", ref("int"))}, {"ls", ref("list", ref("string"))},
		{"lt", ref("list", ref("timestamp"))}, {"m", ref("map", ref("int"))},
		{"ma", ref("map", ref("any"))}, {"mip", ref("map", ref("ipaddress"))},
		{"mm", ref("map", ref("map", ref("bool")))}, {"ld", ref("list", ref("duration"))},
	}
}

func toCoreType(t TypeRef) *core.CaveatTypeReference {
	out := &core.CaveatTypeReference{TypeName: t.Name}
	for _, a := range t.Args {
		out.ChildTypes = append(out.ChildTypes, toCoreType(a))
	}
	return out
}

// spicedbEval runs a caveat the way SpiceDB's check does (internal/caveats
// run.go): merge contexts with the relationship's winning, convert, evaluate.
func spicedbEval(t testing.TB, params []Param, expr string, rel, req map[string]any) (out outcome) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			out = outcome{Kind: "panic", Message: fmt.Sprint(r)}
		}
	}()
	ts := sdbtypes.Default.TypeSet
	coreTypes := map[string]*core.CaveatTypeReference{}
	vars := map[string]sdbtypes.VariableType{}
	for _, p := range params {
		ct := toCoreType(p.Type)
		vt, err := sdbtypes.DecodeParameterType(ts, ct)
		if err != nil {
			return outcome{Kind: "compile"}
		}
		coreTypes[p.Name] = ct
		vars[p.Name] = *vt
	}
	env, err := sdbcaveats.EnvForVariablesWithDefaultTypeSet(vars)
	if err != nil {
		return outcome{Kind: "compile"}
	}
	compiled, err := sdbcaveats.CompileCaveatWithName(env, expr, "c")
	if err != nil {
		return outcome{Kind: "compile"}
	}
	merged := maps.Clone(req)
	if merged == nil {
		merged = map[string]any{}
	}
	maps.Copy(merged, rel)
	typed, err := sdbcaveats.ConvertContextToParameters(ts, merged, coreTypes, sdbcaveats.SkipUnknownParameters)
	if err != nil {
		var pe sdbcaveats.ParameterConversionError
		if errors.As(err, &pe) {
			return outcome{Kind: "param", Param: pe.ParameterName(), Message: err.Error()}
		}
		return outcome{Kind: "param", Message: err.Error()}
	}
	res, err := sdbcaveats.EvaluateCaveat(compiled, typed)
	if err != nil {
		return outcome{Kind: "eval", Message: err.Error()}
	}
	if res.IsPartial() {
		missing, _ := res.MissingVarNames()
		missing = slices.Clone(missing)
		slices.Sort(missing)
		return outcome{Kind: "conditional", Missing: slices.Compact(missing)}
	}
	return outcome{Kind: fmt.Sprint(res.Value())}
}

// gatehouseEval runs a caveat with this package.
func gatehouseEval(t testing.TB, params []Param, expr string, rel, req map[string]any) outcome {
	t.Helper()
	c, err := Compile("c", expr, params)
	if err != nil {
		if _, ok := errors.AsType[*CompileError](err); !ok {
			t.Fatalf("Compile(%q) returned %T, want *CompileError: %v", expr, err, err)
		}
		return outcome{Kind: "compile"}
	}
	res, err := c.Eval(rel, req, nil)
	if err != nil {
		ee, ok := errors.AsType[*EvalError](err)
		if !ok {
			t.Fatalf("Eval(%q) returned %T, want *EvalError: %v", expr, err, err)
		}
		if ee.Param != "" {
			return outcome{Kind: "param", Param: ee.Param, Message: fmt.Sprintf("could not convert context parameter `%s`: %v", ee.Param, ee.Err)}
		}
		return outcome{Kind: "eval", Message: ee.Err.Error()}
	}
	return outcome{Kind: res.Outcome.String(), Missing: res.Missing}
}

type ctx = map[string]any

func TestEval_MatchesSpiceDB(t *testing.T) {
	tests := []struct {
		name     string
		expr     string
		rel, req ctx
		want     string // expected outcome kind, pinned so both cannot drift together
		// anyMessage skips comparing error text, for errors that SpiceDB
		// reports as a recovered Go panic.
		anyMessage bool
	}{
		{name: "int", expr: "i == 42", req: ctx{"i": 42.0}, want: "true"},
		{name: "int from string", expr: "i == 42", req: ctx{"i": "42"}, want: "true"},
		{name: "int from exponent string", expr: "i == 1000", req: ctx{"i": "1e3"}, want: "true"},
		{name: "int not integral", expr: "i == 42", req: ctx{"i": 42.5}, want: "param"},
		{name: "int from bool", expr: "i == 42", req: ctx{"i": true}, want: "param"},
		{name: "int from bad string", expr: "i == 42", req: ctx{"i": "forty"}, want: "param"},
		{name: "int saturates", expr: "i == 9223372036854775807", req: ctx{"i": 1e30}, want: "true"},
		{name: "int infinite string", expr: "i == 1", req: ctx{"i": "Inf"}, want: "param"},
		{name: "uint", expr: "u == 3 && u > 2", req: ctx{"u": 3.0}, want: "true"},
		{name: "uint negative", expr: "u == 3", req: ctx{"u": -3.0}, want: "param"},
		{name: "uint from string", expr: "u == 7", req: ctx{"u": "7"}, want: "true"},
		{name: "uint arithmetic fails", expr: "u + 1 == 4", req: ctx{"u": 3.0}, want: "eval"},
		{name: "uint literal rejected", expr: "u == 3u", want: "compile"},
		{name: "bool", expr: "b", req: ctx{"b": true}, want: "true"},
		{name: "bool from string", expr: "b", req: ctx{"b": "true"}, want: "param"},
		{name: "string", expr: "s.startsWith('ab') && size(s) == 3", req: ctx{"s": "abc"}, want: "true"},
		{name: "string from number", expr: "s == 'x'", req: ctx{"s": 1.0}, want: "param"},
		{name: "string null", expr: "s == 'x'", rel: ctx{"s": nil}, want: "param"},
		{name: "double", expr: "d > 1.5", req: ctx{"d": 2.0}, want: "true"},
		{name: "double from string", expr: "d == 2.5", req: ctx{"d": "2.5"}, want: "true"},
		{name: "double bad string", expr: "d == 2.5", req: ctx{"d": "2.5x"}, want: "param"},
		{name: "bytes", expr: "by == b'hi'", req: ctx{"by": "aGk="}, want: "true"},
		{name: "bytes not base64", expr: "by == b'hi'", req: ctx{"by": "!!"}, want: "param"},
		{name: "duration", expr: "du > duration('1h')", req: ctx{"du": "1h30m"}, want: "true"},
		{name: "duration number", expr: "du > duration('1h')", req: ctx{"du": 5.0}, want: "param"},
		{name: "duration bad", expr: "du > duration('1h')", req: ctx{"du": "5 min"}, want: "param"},
		{name: "timestamp", expr: "ts < timestamp('2030-01-01T00:00:00Z')", req: ctx{"ts": "2024-01-01T10:00:00+02:00"}, want: "true"},
		{name: "timestamp hours in utc", expr: "ts.getHours() == 8", req: ctx{"ts": "2024-01-01T10:00:00+02:00"}, want: "true"},
		{name: "timestamp bad", expr: "ts < timestamp('2030-01-01T00:00:00Z')", req: ctx{"ts": "2024-01-01"}, want: "param"},
		{name: "list", expr: "l.exists(e, e == 2) && size(l) == 2", req: ctx{"l": []any{1.0, 2.0}}, want: "true"},
		{name: "list bad element", expr: "l.exists(e, e == 2)", req: ctx{"l": []any{1.0, 2.5}}, want: "param"},
		{name: "list not a list", expr: "l.exists(e, e == 2)", req: ctx{"l": "1,2"}, want: "param"},
		{name: "list index out of range", expr: "ls[1] == 'a'", req: ctx{"ls": []any{"a"}}, want: "eval"},
		{name: "in list", expr: "i in l", req: ctx{"i": 2.0, "l": []any{1.0, 2.0}}, want: "true"},
		{name: "list of timestamps", expr: "lt[0] < timestamp('2030-01-01T00:00:00Z')", req: ctx{"lt": []any{"2024-01-01T00:00:00Z"}}, want: "true"},
		{name: "list of durations bad", expr: "size(ld) == 1", req: ctx{"ld": []any{"1x"}}, want: "param"},
		{name: "map", expr: "m.foo == 1", req: ctx{"m": ctx{"foo": 1.0}}, want: "true"},
		{name: "map missing key", expr: "m.foo == 1", req: ctx{"m": ctx{"bar": 1.0}}, want: "eval"},
		{name: "map index missing key", expr: "m['foo'] == 1", req: ctx{"m": ctx{}}, want: "eval"},
		{name: "map has guard", expr: "has(m.foo) && m.foo == 1", req: ctx{"m": ctx{}}, want: "false"},
		{name: "map optional", expr: "m[?'foo'].orValue(7) == 7", req: ctx{"m": ctx{}}, want: "true"},
		{name: "map bad value", expr: "m.foo == 1", req: ctx{"m": ctx{"foo": "one"}}, want: "param"},
		{name: "map of any nested", expr: "ma.a.b == 'c'", req: ctx{"ma": ctx{"a": ctx{"b": "c"}}}, want: "true"},
		{name: "map of maps", expr: "mm.a.b", req: ctx{"mm": ctx{"a": ctx{"b": true}}}, want: "true"},
		{name: "map of maps bad", expr: "mm.a.b", req: ctx{"mm": ctx{"a": ctx{"b": 1.0}}}, want: "param"},
		{name: "map missing key absorbed by unknown", expr: "m.foo == 1 || i == 1", req: ctx{"m": ctx{}}, want: "conditional"},
		{name: "isSubtreeOf", expr: "ma.isSubtreeOf({'a': 1.0}) == false && m.isSubtreeOf(ma)", req: ctx{"m": ctx{"a": 1.0}, "ma": ctx{"a": 1.0, "b": "x"}}, want: "eval", anyMessage: true},
		{name: "isSubtreeOf int and double differ", expr: "m.isSubtreeOf(ma)", req: ctx{"m": ctx{"a": 1.0}, "ma": ctx{"a": 1.0, "b": "x"}}, want: "false"},
		{name: "isSubtreeOf context maps", expr: "x.isSubtreeOf(ma) && !ma.isSubtreeOf(x)", req: ctx{"x": ctx{"a": 1.0}, "ma": ctx{"a": 1.0, "b": "x"}}, want: "true"},
		{name: "isSubtreeOf failure is not absorbed", expr: "ma.isSubtreeOf({'a': 1.0}) && false", req: ctx{"ma": ctx{}}, want: "eval", anyMessage: true},
		{name: "isSubtreeOf nested", expr: "ma.isSubtreeOf(x)", req: ctx{"ma": ctx{"a": ctx{"b": true}}, "x": ctx{"a": ctx{"b": true, "c": 1.0}}}, want: "true"},
		{name: "isSubtreeOf lists", expr: "ma.isSubtreeOf(ma)", req: ctx{"ma": ctx{"a": []any{1.0}}}, want: "eval", anyMessage: true},
		{name: "ipaddress", expr: "ip.in_cidr('10.0.0.0/8')", req: ctx{"ip": "10.1.2.3"}, want: "true"},
		{name: "ipaddress outside", expr: "ip.in_cidr('10.0.0.0/8')", req: ctx{"ip": "11.1.2.3"}, want: "false"},
		{name: "ipaddress v4 mapped", expr: "ip.in_cidr('10.0.0.0/8')", req: ctx{"ip": "::ffff:10.1.2.3"}, want: "true"},
		{name: "ipaddress v6", expr: "ip.in_cidr('2001:db8::/32')", req: ctx{"ip": "2001:db8::1"}, want: "true"},
		{name: "ipaddress bad", expr: "ip.in_cidr('10.0.0.0/8')", req: ctx{"ip": "10.1.2"}, want: "param"},
		{name: "ipaddress bad cidr", expr: "ip.in_cidr('10.0.0.0/33')", req: ctx{"ip": "10.1.2.3"}, want: "eval"},
		{name: "ipaddress equality", expr: "ip == ip", req: ctx{"ip": "10.1.2.3"}, want: "true"},
		{name: "ipaddress map", expr: "mip.a.in_cidr('1.0.0.0/8')", req: ctx{"mip": ctx{"a": "1.2.3.4"}}, want: "true"},
		{name: "ipaddress no fields", expr: "ip.foo == 1", want: "compile"},
		{name: "in_cidr on dyn string", expr: "x.in_cidr('1.2.3.0/24')", req: ctx{"x": "1.2.3.4"}, want: "eval"},
		{name: "any number", expr: "x == 1", req: ctx{"x": 1.0}, want: "true"},
		{name: "any nested", expr: "x.y == true", req: ctx{"x": ctx{"y": true}}, want: "true"},
		{name: "any null", expr: "x == null", req: ctx{"x": nil}, want: "true"},
		{name: "any alone is dyn", expr: "x", req: ctx{"x": true}, want: "compile"},
		{name: "missing one", expr: "i == 1", want: "conditional"},
		{name: "missing both", expr: "i == 1 || j == 2", want: "conditional"},
		{name: "or decided", expr: "i == 1 || j == 2", req: ctx{"i": 1.0}, want: "true"},
		{name: "and decided", expr: "i == 1 && j == 2", req: ctx{"i": 2.0}, want: "false"},
		{name: "and waits", expr: "i == 1 && j == 2", req: ctx{"i": 1.0}, want: "conditional"},
		{name: "repeated missing", expr: "i == 1 || i == 2 || (j == 1 && i == 3)", want: "conditional"},
		{name: "missing map", expr: "m.first == 1", want: "conditional"},
		{name: "missing in comprehension", expr: "l.all(e, e == i)", req: ctx{"l": []any{1.0}}, want: "conditional"},
		{name: "unused bad param still fails", expr: "i == 1", req: ctx{"i": 1.0, "s": 2.0}, want: "param"},
		{name: "relationship wins", expr: "s == 'rel'", rel: ctx{"s": "rel"}, req: ctx{"s": "req"}, want: "true"},
		{name: "request fills in", expr: "s == 'req' && i == 1", rel: ctx{"i": 1.0}, req: ctx{"s": "req"}, want: "true"},
		{name: "relationship bad value wins", expr: "s == 'req'", rel: ctx{"s": 1.0}, req: ctx{"s": "req"}, want: "param"},
		{name: "unknown keys ignored", expr: "i == 1", req: ctx{"i": 1.0, "zzz": ctx{}}, want: "true"},
		{name: "division by zero", expr: "i / j == 1", req: ctx{"i": 1.0, "j": 0.0}, want: "eval"},
		{name: "comprehension", expr: "[1, 2, 3].map(e, e * i).exists(e, e == 6)", req: ctx{"i": 2.0}, want: "true"},
		{name: "optional of", expr: "optional.of(i).hasValue()", req: ctx{"i": 2.0}, want: "true"},
		{name: "ternary", expr: "b ? i == 1 : j == 1", req: ctx{"b": false, "j": 1.0}, want: "true"},
		{name: "compile syntax", expr: "i +", want: "compile"},
		{name: "compile not bool", expr: "i + 1", want: "compile"},
		{name: "compile undeclared", expr: "nope == 1", want: "compile"},
		{name: "compile type mismatch", expr: "s == 1", want: "compile"},
		{name: "constant", expr: "1 + 2 == 3", want: "true"},
	}
	params := diffParams()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := spicedbEval(t, params, tt.expr, tt.rel, tt.req)
			got := gatehouseEval(t, params, tt.expr, tt.rel, tt.req)
			if want.Kind != tt.want {
				t.Fatalf("SpiceDB gave %v, table pins %q", want, tt.want)
			}
			if tt.anyMessage {
				want.Message, got.Message = "", ""
			}
			if got.String() != want.String() {
				t.Errorf("%q rel=%v req=%v\n got %v\nwant %v", tt.expr, tt.rel, tt.req, got, want)
			}
		})
	}
}

// TestEval_MissingNamesMatchSpiceDB checks the names of missing parameters in
// conditional results over many combinations of present and absent values.
func TestEval_MissingNamesMatchSpiceDB(t *testing.T) {
	exprs := []string{
		"i == 1 || (j == 2 && s == 'a')",
		"(i == 1 && j == 2) || (b && ip.in_cidr('10.0.0.0/8'))",
		"l.exists(e, e == i) || m[s] == j",
		"has(ma.k) ? ma.k == s : (b || du > duration('1s'))",
		"ts < timestamp('2030-01-01T00:00:00Z') && (u > 2 || d < 1.0)",
	}
	values := ctx{
		"i": 1.0, "j": 3.0, "s": "a", "b": false, "ip": "10.0.0.1", "l": []any{5.0},
		"m": ctx{"a": 3.0}, "ma": ctx{"k": "z"}, "du": "2s", "ts": "2024-01-01T00:00:00Z",
		"u": 1.0, "d": 0.5,
	}
	names := slices.Sorted(maps.Keys(values))
	params := diffParams()
	for _, expr := range exprs {
		for mask := range 1 << 6 {
			// Each bit drops a different group of parameters.
			req := ctx{}
			for k, name := range names {
				if mask&(1<<(k%6)) == 0 {
					req[name] = values[name]
				}
			}
			want := spicedbEval(t, params, expr, nil, req)
			got := gatehouseEval(t, params, expr, nil, req)
			if got.String() != want.String() {
				t.Errorf("%q with %v:\n got %v\nwant %v", expr, slices.Sorted(maps.Keys(req)), got, want)
			}
		}
	}
}

// TestCompile_MatchesSpiceDB compares which expressions compile.
func TestCompile_MatchesSpiceDB(t *testing.T) {
	exprs := []string{
		"true", "1", "i", "b", "x", "dyn(true)", "bool(x)", "[true][0]", "{'a': true}.a",
		"optional.of(true).orValue(false)", "m[?'a'].orValue(1) == 1", "ma.?a.orValue(false) == true",
		"b ? true : false", "has(ma.a)", "ip == ip", "ip.in_cidr(s)", "ip.in_cidr(1)",
		"i == 1u", "u == 1", "u == 1u", "d == 1", "i == 1.0", "s + 1 == 's'", "size(by) > 0",
		"ts - du > ts", "du.getSeconds() > 0", "int(u) == 1", "uint(i) == 1u", "type(ip) == type(ip)",
		"string(ip) == 'x'", "l.filter(e, e > 1).size() > 0", "ma.isSubtreeOf(m)", "mm.isSubtreeOf(m)",
		"l.isSubtreeOf(m)", "matches(s, '^a+$')", "s.matches('[')", "now", "i ==", "'unterminated",
		"timestamp('bad') < ts", "1 / 0 == 1", "  ", "",
	}
	params := diffParams()
	for _, expr := range exprs {
		want := spicedbEval(t, params, expr, nil, ctx{}).Kind == "compile"
		got := gatehouseEval(t, params, expr, nil, ctx{}).Kind == "compile"
		if got != want {
			t.Errorf("Compile(%q): gatehouse compile error %v, SpiceDB %v", expr, got, want)
		}
	}
}

func TestSpicedbEval_DetectsDifferences(t *testing.T) {
	// Guard against a harness that always agrees: different expressions must
	// give different summaries.
	params := diffParams()
	a := spicedbEval(t, params, "i == 1", nil, ctx{"i": 1.0})
	b := spicedbEval(t, params, "i == 2", nil, ctx{"i": 1.0})
	if a.String() == b.String() || !strings.Contains(a.String()+b.String(), "true") {
		t.Fatalf("harness summaries %v and %v should differ", a, b)
	}
}
