package caveats

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func typ(name string, args ...TypeRef) TypeRef { return TypeRef{Name: name, Args: args} }

func mustCompile(t testing.TB, expr string, params ...Param) *Caveat {
	t.Helper()
	c, err := Compile("test", expr, params)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return c
}

func TestTypeRef_String(t *testing.T) {
	tests := []struct {
		ref  TypeRef
		want string
	}{
		{typ("int"), "int"},
		{typ("list", typ("int")), "list<int>"},
		{typ("map", typ("any")), "map<any>"},
		{typ("map", typ("list", typ("ipaddress"))), "map<list<ipaddress>>"},
	}
	for _, tt := range tests {
		if got := tt.ref.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestCompile_Errors(t *testing.T) {
	intA := []Param{{"a", typ("int")}}
	tests := []struct {
		name       string
		expr       string
		params     []Param
		line, col  int
		msgContain string
	}{
		{"syntax", "a +", intA, 1, 4, "Syntax error"},
		{"second line", "a == 1 &&\n  nope", intA, 2, 3, "undeclared reference to 'nope'"},
		{"type mismatch", "a == 'x'", intA, 1, 3, "found no matching overload for '_==_'"},
		{"not bool", "a + 1", intA, 0, 0, "must result in a boolean value: found `int`"},
		{"dyn result", "x", []Param{{"x", typ("any")}}, 0, 0, "found `dyn`"},
		{"empty", "", intA, 0, 0, "Syntax error"},
		{"no parameters", "true", nil, 0, 0, "must have at least one parameter defined"},
		{"unknown type", "true", []Param{{"a", typ("integer")}}, 0, 0, "unknown type `integer`"},
		{"list without element", "true", []Param{{"a", typ("list")}}, 0, 0, "requires 1 generic types; found 0"},
		{"map with two", "true", []Param{{"a", typ("map", typ("string"), typ("int"))}}, 0, 0, "requires 1 generic types; found 2"},
		{"args on basic type", "true", []Param{{"a", typ("int", typ("int"))}}, 0, 0, "requires 0 generic types"},
		{"bad nested type", "true", []Param{{"a", typ("list", typ("nope"))}}, 0, 0, "unknown type `nope`"},
		{"duplicate", "true", []Param{{"a", typ("int")}, {"a", typ("string")}}, 0, 0, "duplicate parameter `a`"},
		{"no name", "true", []Param{{"", typ("int")}}, 0, 0, "has no name"},
		{"too large", strings.Repeat("true && ", MaxExpressionSize/8) + "true", intA, 0, 0, "exceeds maximum allowed size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile("cav", tt.expr, tt.params)
			if err == nil {
				t.Fatalf("Compile succeeded with %v", c)
			}
			ce, ok := errors.AsType[*CompileError](err)
			if !ok {
				t.Fatalf("error %T is not a *CompileError: %v", err, err)
			}
			if ce.Caveat != "cav" || ce.Line != tt.line || ce.Column != tt.col || !strings.Contains(ce.Message, tt.msgContain) {
				t.Errorf("got %+v, want line %d column %d message containing %q", ce, tt.line, tt.col, tt.msgContain)
			}
			if !strings.Contains(err.Error(), "cav") {
				t.Errorf("Error() %q does not name the caveat", err)
			}
		})
	}
}

func TestCompile_LargeExpressionWithinLimit(t *testing.T) {
	// Surrounding space does not count toward the limit.
	expr := strings.Repeat(" ", MaxExpressionSize) + "true" + strings.Repeat("\n", 10)
	c := mustCompile(t, expr, Param{"a", typ("int")})
	if res, err := c.Eval(nil, nil, nil); err != nil || res.Outcome != True {
		t.Fatalf("Eval = %v, %v", res, err)
	}
}

func TestCaveat_Accessors(t *testing.T) {
	params := []Param{{"l", typ("list", typ("int"))}, {"s", typ("string")}}
	c := mustCompile(t, "s in ['a'] && size(l) > 0", params...)
	params[0].Type.Args[0].Name = "string" // the caveat keeps its own copy
	if c.Name() != "test" || c.Expr() != "s in ['a'] && size(l) > 0" {
		t.Errorf("Name/Expr = %q, %q", c.Name(), c.Expr())
	}
	got := c.Params()
	if len(got) != 2 || got[0].Name != "l" || got[0].Type.String() != "list<int>" || got[1].Type.String() != "string" {
		t.Fatalf("Params() = %+v", got)
	}
	got[0].Type.Args[0].Name = "bool"
	if c.Params()[0].Type.String() != "list<int>" {
		t.Error("Params() exposes internal state")
	}
}

// evalCase is one evaluation and its expected result: an outcome (with
// missing names) or an error (parameter type error when param is set).
type evalCase struct {
	name     string
	params   []Param
	expr     string
	rel, req map[string]any
	b        *Bindings

	want       Outcome
	missing    []string
	errParam   string // want an *EvalError for this parameter
	errContain string // want an *EvalError whose text contains this
}

func runEvalCases(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCompile(t, tt.expr, tt.params...)
			res, err := c.Eval(tt.rel, tt.req, tt.b)
			if tt.errParam != "" || tt.errContain != "" {
				ee, ok := errors.AsType[*EvalError](err)
				if !ok {
					t.Fatalf("Eval = %+v, %v; want *EvalError", res, err)
				}
				if ee.Param != tt.errParam || ee.Caveat != "test" || !strings.Contains(ee.Error(), tt.errContain) {
					t.Fatalf("error %+v (%q), want param %q containing %q", ee, ee, tt.errParam, tt.errContain)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if res.Outcome != tt.want || !slices.Equal(res.Missing, tt.missing) {
				t.Errorf("Eval = %v %q, want %v %q", res.Outcome, res.Missing, tt.want, tt.missing)
			}
		})
	}
}

func p(name string, t TypeRef) []Param { return []Param{{name, t}} }

func TestEval_ParameterTypes(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "int", params: p("v", typ("int")), expr: "v == -3", req: ctx{"v": -3.0}, want: True},
		{name: "int large exact", params: p("v", typ("int")), expr: "v == 9007199254740992", req: ctx{"v": 9007199254740992.0}, want: True},
		{name: "int string beyond float precision", params: p("v", typ("int")), expr: "v == 9007199254740993", req: ctx{"v": "9007199254740993"}, want: True},
		{name: "int min", params: p("v", typ("int")), expr: "v == -9223372036854775807 - 1", req: ctx{"v": -9223372036854775808.0}, want: True},
		{name: "int fraction", params: p("v", typ("int")), expr: "v == 1", req: ctx{"v": 1.5}, errParam: "v", errContain: "a int value is required, but found numeric value `1.5`"},
		{name: "int NaN", params: p("v", typ("int")), expr: "v == 1", req: ctx{"v": nan()}, errParam: "v", errContain: "NaN"},
		{name: "int null", params: p("v", typ("int")), expr: "v == 1", req: ctx{"v": nil}, errParam: "v", errContain: "for int"},
		{name: "uint", params: p("v", typ("uint")), expr: "v == 5 && v < 6", req: ctx{"v": 5.0}, want: True},
		{name: "uint negative", params: p("v", typ("uint")), expr: "v == 5", req: ctx{"v": -1.0}, errParam: "v", errContain: "a uint value is required, but found int64 value `-1`"},
		{name: "uint fraction", params: p("v", typ("uint")), expr: "v == 5", req: ctx{"v": "0.5"}, errParam: "v", errContain: "uint"},
		{name: "double", params: p("v", typ("double")), expr: "v == 0.25", req: ctx{"v": 0.25}, want: True},
		{name: "double from string", params: p("v", typ("double")), expr: "v == 1000.0", req: ctx{"v": "1e3"}, want: True},
		{name: "double from bool", params: p("v", typ("double")), expr: "v == 1.0", req: ctx{"v": true}, errParam: "v", errContain: "float64"},
		{name: "bool false", params: p("v", typ("bool")), expr: "v", req: ctx{"v": false}, want: False},
		{name: "bool from number", params: p("v", typ("bool")), expr: "v", req: ctx{"v": 1.0}, errParam: "v", errContain: "a bool value is required"},
		{name: "string", params: p("v", typ("string")), expr: "v.endsWith('z')", req: ctx{"v": "xyz"}, want: True},
		{name: "string from list", params: p("v", typ("string")), expr: "v == ''", req: ctx{"v": []any{}}, errParam: "v", errContain: "a string value is required"},
		{name: "bytes", params: p("v", typ("bytes")), expr: "v == b'\\x00\\xff'", req: ctx{"v": "AP8="}, want: True},
		{name: "bytes url alphabet", params: p("v", typ("bytes")), expr: "size(v) == 2", req: ctx{"v": "AP8"}, errParam: "v", errContain: "base64"},
		{name: "duration", params: p("v", typ("duration")), expr: "v == duration('5400s')", req: ctx{"v": "1h30m"}, want: True},
		{name: "duration bad", params: p("v", typ("duration")), expr: "v > duration('0s')", req: ctx{"v": "soon"}, errParam: "v", errContain: "could not parse duration string `soon`"},
		{name: "timestamp", params: p("v", typ("timestamp")), expr: "v == timestamp('2024-05-01T12:00:00Z')", req: ctx{"v": "2024-05-01T14:00:00+02:00"}, want: True},
		{name: "timestamp fractional", params: p("v", typ("timestamp")), expr: "v.getMilliseconds() == 500", req: ctx{"v": "2024-05-01T14:00:00.5Z"}, want: True},
		{name: "timestamp without zone", params: p("v", typ("timestamp")), expr: "v > timestamp('2000-01-01T00:00:00Z')", req: ctx{"v": "2024-05-01T14:00:00"}, errParam: "v", errContain: "RFC 3339"},
		{name: "list", params: p("v", typ("list", typ("int"))), expr: "v == [1, 2]", req: ctx{"v": []any{1.0, 2.0}}, want: True},
		{name: "list bad item", params: p("v", typ("list", typ("int"))), expr: "size(v) == 2", req: ctx{"v": []any{1.0, "x"}}, errParam: "v", errContain: "for list<int>: found an invalid value for item at index 1: for int"},
		{name: "list of lists", params: p("v", typ("list", typ("list", typ("string")))), expr: "v[1][0] == 'b'", req: ctx{"v": []any{[]any{"a"}, []any{"b"}}}, want: True},
		{name: "map", params: p("v", typ("map", typ("double"))), expr: "v.a + v['b c'] == 3.0", req: ctx{"v": ctx{"a": 1.0, "b c": "2"}}, want: True},
		{name: "map bad value", params: p("v", typ("map", typ("bool"))), expr: "v.a", req: ctx{"v": ctx{"a": "yes"}}, errParam: "v", errContain: "found an invalid value for key `a`"},
		{name: "map from list", params: p("v", typ("map", typ("bool"))), expr: "v.a", req: ctx{"v": []any{}}, errParam: "v", errContain: "map requires a map"},
		{name: "any", params: p("v", typ("any")), expr: "v.k[1] == 'b'", req: ctx{"v": ctx{"k": []any{"a", "b"}}}, want: True},
		{name: "any number is double", params: p("v", typ("any")), expr: "type(v) == double", req: ctx{"v": 3.0}, want: True},
		{name: "ipaddress", params: p("v", typ("ipaddress")), expr: "v.in_cidr('192.168.0.0/16')", req: ctx{"v": "192.168.10.1"}, want: True},
		{name: "ipaddress value", params: p("v", typ("ipaddress")), expr: "v.in_cidr('192.168.0.0/16')", req: ctx{"v": mustIP(t, "10.0.0.1")}, want: False},
		{name: "ipaddress v6 not in v4", params: p("v", typ("ipaddress")), expr: "v.in_cidr('0.0.0.0/0')", req: ctx{"v": "2001:db8::1"}, want: False},
		{name: "ipaddress equality", params: []Param{{"v", typ("ipaddress")}, {"w", typ("ipaddress")}}, expr: "v == w", req: ctx{"v": "::ffff:1.2.3.4", "w": "1.2.3.4"}, want: True},
		{name: "ipaddress bad", params: p("v", typ("ipaddress")), expr: "v.in_cidr('1.0.0.0/8')", req: ctx{"v": "1.2.3.256"}, errParam: "v", errContain: "could not parse ip address string `1.2.3.256`"},
		{name: "ipaddress number", params: p("v", typ("ipaddress")), expr: "v.in_cidr('1.0.0.0/8')", req: ctx{"v": 1.0}, errParam: "v", errContain: "ipaddress requires an ipaddress string"},
		{name: "list of ipaddress", params: p("v", typ("list", typ("ipaddress"))), expr: "v.exists(a, a.in_cidr('10.0.0.0/8'))", req: ctx{"v": []any{"1.1.1.1", "10.9.9.9"}}, want: True},
	})
}

func TestEval_Partial(t *testing.T) {
	abc := []Param{{"a", typ("int")}, {"b", typ("bool")}, {"c", typ("map", typ("string"))}}
	runEvalCases(t, []evalCase{
		{name: "nothing given", params: abc, expr: "a > 1 && b", want: Conditional, missing: []string{"a", "b"}},
		{name: "short circuit true", params: abc, expr: "a > 1 || b", req: ctx{"a": 2.0}, want: True},
		{name: "short circuit false", params: abc, expr: "a > 1 && b", req: ctx{"a": 0.0}, want: False},
		{name: "right side missing", params: abc, expr: "a > 1 && b", req: ctx{"a": 2.0}, want: Conditional, missing: []string{"b"}},
		{name: "sorted and deduplicated", params: abc, expr: "b || c.k == 'x' || a == 1 || a == 2", want: Conditional, missing: []string{"a", "b", "c"}},
		{name: "map access names the map", params: abc, expr: "c.k.startsWith('x')", want: Conditional, missing: []string{"c"}},
		{name: "unused parameters are not missing", params: abc, expr: "b", want: Conditional, missing: []string{"b"}},
		{name: "static", params: abc, expr: "1 < 2", want: True},
		{name: "ternary picks known branch", params: abc, expr: "b ? a == 1 : c.k == 'x'", req: ctx{"b": false, "c": ctx{"k": "x"}}, want: True},
		{name: "error absorbed", params: abc, expr: "c.missing == 'x' || b", req: ctx{"c": ctx{}}, want: Conditional, missing: []string{"b"}},
	})
}

func TestEval_Merge(t *testing.T) {
	st := []Param{{"s", typ("string")}, {"t", typ("string")}}
	runEvalCases(t, []evalCase{
		{name: "relationship wins", params: st, expr: "s == 'rel'", rel: ctx{"s": "rel"}, req: ctx{"s": "req"}, want: True},
		{name: "request used when relationship lacks key", params: st, expr: "s == 'req' && t == 'rel'", rel: ctx{"t": "rel"}, req: ctx{"s": "req"}, want: True},
		{name: "relationship null wins and fails", params: st, expr: "s == 'req'", rel: ctx{"s": nil}, req: ctx{"s": "req"}, errParam: "s", errContain: "a string value is required"},
		{name: "extra keys ignored", params: st, expr: "s == 'a'", rel: ctx{"zz": 1.0}, req: ctx{"s": "a", "yy": []any{}}, want: True},
		{name: "nil maps", params: st, expr: "s == 'a'", want: Conditional, missing: []string{"s"}},
	})
}

func TestEval_Reserved(t *testing.T) {
	params := []Param{
		{"caller", typ("map", typ("any"))},
		{"resource", typ("map", typ("any"))},
		{"subject", typ("map", typ("string"))},
		{"level", typ("int")},
	}
	const expr = "caller.team == resource.team && subject.tier == 'gold' && level > 1"
	full := &Bindings{Caller: ctx{"team": "a"}, Resource: ctx{"team": "a"}, Subject: ctx{"tier": "gold"}}
	runEvalCases(t, []evalCase{
		{name: "bound", params: params, expr: expr, req: ctx{"level": 2.0}, b: full, want: True},
		{name: "bound mismatch", params: params, expr: expr, req: ctx{"level": 2.0}, b: &Bindings{Caller: ctx{"team": "b"}, Resource: ctx{"team": "a"}, Subject: ctx{"tier": "gold"}}, want: False},
		{name: "nil bindings", params: params, expr: expr, req: ctx{"level": 2.0}, want: Conditional, missing: []string{"caller", "resource", "subject"}},
		{name: "nil caller", params: params, expr: expr, req: ctx{"level": 2.0}, b: &Bindings{Resource: ctx{"team": "a"}, Subject: ctx{"tier": "gold"}}, want: Conditional, missing: []string{"caller"}},
		{name: "empty caller is bound", params: params, expr: "has(caller.team)", b: &Bindings{Caller: ctx{}}, want: False},
		{name: "contexts cannot set reserved", params: params, expr: "caller.team == 'a'", rel: ctx{"caller": ctx{"team": "a"}}, req: ctx{"caller": ctx{"team": "a"}}, want: Conditional, missing: []string{"caller"}},
		{name: "contexts cannot override bindings", params: params, expr: "caller.team == 'a'", rel: ctx{"caller": ctx{"team": "b"}}, b: full, want: True},
		{name: "binding converted to declared type", params: params, expr: "subject.tier == 'gold'", b: &Bindings{Subject: ctx{"tier": 1.0}}, errParam: "subject", errContain: "for map<string>"},
		{name: "undeclared reserved ignored", params: p("level", typ("int")), expr: "level == 1", req: ctx{"level": 1.0}, b: full, want: True},
	})
}

func TestValidateRequestContext(t *testing.T) {
	tests := []struct {
		ctx     map[string]any
		wantKey string
	}{
		{nil, ""},
		{ctx{"level": 1.0, "callers": 1.0}, ""},
		{ctx{"caller": ctx{}}, "caller"},
		{ctx{"x": 1.0, "resource": nil}, "resource"},
		{ctx{"subject": "s"}, "subject"},
	}
	for _, tt := range tests {
		err := ValidateRequestContext(tt.ctx)
		if tt.wantKey == "" {
			if err != nil {
				t.Errorf("ValidateRequestContext(%v) = %v, want nil", tt.ctx, err)
			}
			continue
		}
		if !errors.Is(err, ErrReservedParameter) || !strings.Contains(err.Error(), "`"+tt.wantKey+"`") {
			t.Errorf("ValidateRequestContext(%v) = %v, want ErrReservedParameter naming %q", tt.ctx, err, tt.wantKey)
		}
	}
	if got := ReservedParams(); !slices.Equal(got, []string{"caller", "resource", "subject"}) {
		t.Errorf("ReservedParams() = %q", got)
	}
	ReservedParams()[0] = "changed"
	if !IsReserved("caller") || IsReserved("changed") {
		t.Error("ReservedParams exposes mutable state")
	}
}

func TestEval_RuntimeErrors(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "missing map key", params: p("m", typ("map", typ("int"))), expr: "m.foo == 1", req: ctx{"m": ctx{}}, errContain: "no such key: foo"},
		{name: "missing map index", params: p("m", typ("map", typ("int"))), expr: "m['foo'] == 1", req: ctx{"m": ctx{"bar": 1.0}}, errContain: "no such key: foo"},
		{name: "division by zero", params: p("i", typ("int")), expr: "10 / i == 1", req: ctx{"i": 0.0}, errContain: "division by zero"},
		{name: "modulus by zero", params: p("i", typ("int")), expr: "10 % i == 1", req: ctx{"i": 0.0}, errContain: "modulus by zero"},
		{name: "overflow", params: p("i", typ("int")), expr: "i * 2 > 0", req: ctx{"i": 9e18}, errContain: "overflow"},
		{name: "bad cidr", params: p("ip", typ("ipaddress")), expr: "ip.in_cidr('1.2.3.4')", req: ctx{"ip": "1.2.3.4"}, errContain: "invalid CIDR string: `1.2.3.4`"},
		{name: "index out of range", params: p("l", typ("list", typ("int"))), expr: "l[3] == 1", req: ctx{"l": []any{}}, errContain: "index out of bounds: 3"},
		{name: "uint arithmetic", params: p("u", typ("uint")), expr: "u + 1 > 1", req: ctx{"u": 1.0}, errContain: "no such overload"},
		{name: "bad timestamp literal", params: p("i", typ("int")), expr: "timestamp('yesterday') < timestamp('2030-01-01T00:00:00Z')", errContain: "evaluation error for caveat `test`"},
		{name: "subtree of literal", params: p("m", typ("map", typ("any"))), expr: "m.isSubtreeOf({'a': 1}) || true", req: ctx{"m": ctx{}}, errContain: "isSubtreeOf"},
	})
}

func TestEval_CostLimit(t *testing.T) {
	c := mustCompile(t, "l.all(x, l.all(y, x + y >= 0))", Param{"l", typ("list", typ("int"))})
	small := make([]any, 10)
	big := make([]any, 2000)
	for i := range big {
		big[i] = float64(i)
		if i < len(small) {
			small[i] = float64(i)
		}
	}
	if res, err := c.Eval(nil, ctx{"l": small}, nil); err != nil || res.Outcome != True {
		t.Fatalf("small list: Eval = %v, %v", res, err)
	}
	_, err := c.Eval(nil, ctx{"l": big}, nil)
	ee, ok := errors.AsType[*EvalError](err)
	if !ok || !errors.Is(err, ErrCostLimit) || ee.Param != "" {
		t.Fatalf("big list: Eval error = %v, want *EvalError wrapping ErrCostLimit", err)
	}
	// Other failures do not claim the cost limit.
	_, err = c.Eval(nil, ctx{"l": []any{"x"}}, nil)
	if err == nil || errors.Is(err, ErrCostLimit) {
		t.Fatalf("conversion error = %v", err)
	}
}

// TestEval_NoStateBetweenCalls guards the pooled activations: a value bound
// in one call must not leak into the next.
func TestEval_NoStateBetweenCalls(t *testing.T) {
	c := mustCompile(t, "a == 1 && caller.ok", Param{"a", typ("int")}, Param{"caller", typ("map", typ("bool"))})
	b := &Bindings{Caller: ctx{"ok": true}}
	for range 3 {
		if res, err := c.Eval(ctx{"a": 1.0}, nil, b); err != nil || res.Outcome != True {
			t.Fatalf("full: %v, %v", res, err)
		}
		res, err := c.Eval(nil, nil, nil)
		if err != nil || res.Outcome != Conditional || !slices.Equal(res.Missing, []string{"a", "caller"}) {
			t.Fatalf("empty: %v, %v", res, err)
		}
		if _, err := c.Eval(ctx{"a": "x"}, nil, b); err == nil {
			t.Fatal("conversion error expected")
		}
	}
}

func TestEval_Concurrent(t *testing.T) {
	c := mustCompile(t, "ip.in_cidr('10.0.0.0/8') && n < 50", Param{"ip", typ("ipaddress")}, Param{"n", typ("int")})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := (g*200 + i) % 100
				res, err := c.Eval(ctx{"n": float64(n)}, ctx{"ip": fmt.Sprintf("10.0.0.%d", n)}, nil)
				want := False
				if n < 50 {
					want = True
				}
				if err != nil || res.Outcome != want {
					errs <- fmt.Errorf("n=%d: %v, %v", n, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCompiler_Reuse(t *testing.T) {
	cc, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	a, err := cc.Compile("a", "x == 1", p("x", typ("int")))
	if err != nil {
		t.Fatal(err)
	}
	// The same name with another type in another caveat must not clash.
	b, err := cc.Compile("b", "x == 'one'", p("x", typ("string")))
	if err != nil {
		t.Fatal(err)
	}
	ra, errA := a.Eval(ctx{"x": 1.0}, nil, nil)
	rb, errB := b.Eval(ctx{"x": "one"}, nil, nil)
	if errA != nil || errB != nil || ra.Outcome != True || rb.Outcome != True {
		t.Fatalf("got %v %v / %v %v", ra, errA, rb, errB)
	}
	if _, err := cc.Compile("c", "y == 1", p("x", typ("int"))); err == nil {
		t.Fatal("parameter of an earlier caveat leaked into the compiler")
	}
}

func TestIPAddress(t *testing.T) {
	ip := mustIP(t, "::ffff:192.0.2.1")
	if ip.String() != "192.0.2.1" || !ip.Addr().Is4() {
		t.Errorf("ParseIPAddress unmapped to %v", ip)
	}
	if in, err := ip.InCIDR("192.0.2.0/24"); err != nil || !in {
		t.Errorf("InCIDR = %v, %v", in, err)
	}
	if _, err := ip.InCIDR("192.0.2.0"); err == nil {
		t.Error("InCIDR accepted an address without prefix length")
	}
	if _, err := ParseIPAddress("example.com"); err == nil {
		t.Error("ParseIPAddress accepted a host name")
	}
}

func TestOutcome_String(t *testing.T) {
	for o, want := range map[Outcome]string{False: "false", True: "true", Conditional: "conditional", 7: "Outcome(7)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), want)
		}
	}
}

func mustIP(t testing.TB, s string) IPAddress {
	t.Helper()
	ip, err := ParseIPAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}
