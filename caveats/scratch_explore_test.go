package caveats

import (
	"fmt"
	"testing"

	sc "github.com/authzed/spicedb/pkg/caveats"
	st "github.com/authzed/spicedb/pkg/caveats/types"
)

func TestScratchExplore(t *testing.T) {
	d := st.Default
	vars := map[string]st.VariableType{
		"a": d.IntType, "b": d.IntType, "u": d.UIntType, "m": d.MustMapType(d.IntType),
		"ip": d.IPAddressType, "x": d.AnyType, "l": d.MustListType(d.StringType), "s": d.StringType,
		"ts": d.TimestampType, "du": d.DurationType, "mm": d.MustMapType(d.AnyType),
	}
	env := sc.MustEnvForVariablesWithDefaultTypeSet(vars)
	cases := []struct {
		expr string
		ctx  map[string]any
	}{
		{"m.foo == 1", map[string]any{"m": map[string]any{"bar": 1.0}}},
		{"m.foo == 1", map[string]any{}},
		{"m['foo'] == 1 || a == 1", map[string]any{}},
		{"a == 1 || a == 2", map[string]any{}},
		{"b == 1 && (a == 1 || a == 2)", map[string]any{}},
		{"u == 1", map[string]any{"u": 1.0}},
		{"u > 0", map[string]any{"u": 1.0}},
		{"u + 1 == 2", map[string]any{"u": 1.0}},
		{"ip.in_cidr('1.2.3.0/24')", map[string]any{"ip": "1.2.3.4"}},
		{"ip.in_cidr('bad')", map[string]any{"ip": "1.2.3.4"}},
		{"ip == ip", map[string]any{"ip": "1.2.3.4"}},
		{"x.in_cidr('1.2.3.0/24')", map[string]any{"x": "1.2.3.4"}},
		{"x", map[string]any{"x": true}},
		{"x == 1", map[string]any{"x": 1.0}},
		{"a / b == 1", map[string]any{"a": 1.0, "b": 0.0}},
		{"has(m.foo) && m.foo == 1", map[string]any{"m": map[string]any{}}},
		{"m.isSubtreeOf(mm)", map[string]any{"m": map[string]any{"a": 1.0}, "mm": map[string]any{"a": 1.0}}},
		{"{'a': 1}.isSubtreeOf(mm)", map[string]any{"mm": map[string]any{"a": 1.0}}},
		{"mm.isSubtreeOf(mm)", map[string]any{"mm": map[string]any{"a": []any{1.0}}}},
		{"m[s] == 1", map[string]any{"s": "x"}},
		{"l[a] == 'x'", map[string]any{}},
		{"mm.q.r == 1", map[string]any{}},
		{"ts < timestamp('2030-01-01T00:00:00Z')", map[string]any{"ts": "2020-01-01T00:00:00Z"}},
		{"du > duration('1h')", map[string]any{"du": "90m"}},
		{"type(ip) == type(ip)", map[string]any{"ip": "1.2.3.4"}},
		{"string(type(ip)) == 'x'", map[string]any{"ip": "1.2.3.4"}},
		{"l.all(e, e == s)", map[string]any{"l": []any{"a"}}},
		{"[1,2].exists(e, e == a)", map[string]any{}},
		{"a == 1 || m.foo == 1", map[string]any{"m": map[string]any{}}},
		{"m.foo == 1 || a == 1", map[string]any{"m": map[string]any{}}},
		{"m.foo == 1 && a == 1", map[string]any{"m": map[string]any{}}},
		{"x.foo", map[string]any{"x": map[string]any{"foo": true}}},
	}
	for _, c := range cases {
		cc, err := sc.CompileCaveatWithName(env, c.expr, "t")
		if err != nil {
			fmt.Printf("%-40s COMPILE ERR %v\n", c.expr, err)
			continue
		}
		params, err := sc.ConvertContextToParameters(d.TypeSet, c.ctx, env.EncodedParametersTypes(), sc.SkipUnknownParameters)
		if err != nil {
			fmt.Printf("%-40s CONV ERR %v\n", c.expr, err)
			continue
		}
		r, err := sc.EvaluateCaveat(cc, params)
		if err != nil {
			fmt.Printf("%-40s EVAL ERR %T %v\n", c.expr, err, err)
			continue
		}
		mv, _ := r.MissingVarNames()
		fmt.Printf("%-40s partial=%v value=%v missing=%q\n", c.expr, r.IsPartial(), r.Value(), mv)
	}
	for _, e := range []string{"a +", "a\n  && foo", "1", "x", "m[?s].orValue(1) == 1", "m[?s].orValue(true)"} {
		_, err := sc.CompileCaveatWithName(env, e, "t")
		if err != nil {
			me := err.(sc.MultipleCompilationError)
			fmt.Printf("%q -> %v line=%d col=%d\n", e, err, me.LineNumber(), me.ColumnPosition())
		} else {
			fmt.Printf("%q -> ok\n", e)
		}
	}
}
