package caveats

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzEval compiles hostile expressions over parameters of every type and
// evaluates them with hostile JSON contexts. Eval must not panic, must
// return only the documented error types, and must agree with SpiceDB on the
// kind of result wherever both finish.
func FuzzEval(f *testing.F) {
	seeds := []struct{ expr, rel, req string }{
		{"i == 42", `{"i": 42}`, `{}`},
		{"u + 1 == 2", `{"u": 1}`, `{"u": "x"}`},
		{"ip.in_cidr('10.0.0.0/8') || ip.in_cidr(s)", `{"ip": "10.1.2.3"}`, `{"s": "::/0"}`},
		{"m.foo == 1 || has(ma.bar)", `{"m": {"foo": 1.5}}`, `{"ma": null}`},
		{"l.all(e, e > i) && ls.exists(x, x == s)", `{"l": [1, 2, 3]}`, `{"ls": ["a"], "s": "a", "i": 0}`},
		{"ts + du > timestamp('2020-01-01T00:00:00Z')", `{"ts": "2019-12-31T23:00:00Z"}`, `{"du": "2h"}`},
		{"by == b'abc' && d > 0.5 && b", `{"by": "YWJj"}`, `{"d": "1e309", "b": true}`},
		{"x.y.z[0] == null", `{"x": {"y": {"z": [null]}}}`, `{}`},
		{"ma.isSubtreeOf(x)", `{"ma": {"a": [1]}}`, `{"x": {"a": [1]}}`},
		{"mm.a.b && mip.k.in_cidr('1.2.3.4/32')", `{"mm": {"a": {"b": true}}}`, `{"mip": {"k": "1.2.3.4"}}`},
		{"lt.exists(t, t < ts) || ld[0] > du", `{"lt": ["2020-01-01T00:00:00Z"]}`, `{"ld": ["-1s"]}`},
		{"[1,2,3].map(a, [1,2,3].map(b, a * b)).size() == 3", `{}`, `{}`},
		{"i / j == 0 || i % j == 0", `{"i": 1}`, `{"j": 0}`},
		{"((((((((((i))))))))) == 1", `{"i": -9223372036854775808}`, `{}`},
		{"m[?s].orValue(0) == 0", `{"m": {}}`, `{"s": "k"}`},
		{"'\\u00ff'.size() == 1 && s.matches('^(a+)+$')", `{}`, `{"s": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}`},
		{"", `{`, `[]`},
		{"i +", `{"i": {}}`, `{"i": []}`},
		{"dyn(x) == dyn(ip)", `{"x": "1.2.3.4"}`, `{"ip": "1.2.3.4"}`},
		{"caller.a == resource.b && subject.c", `{"caller": {"a": 1}}`, `{"resource": {}}`},
	}
	for _, s := range seeds {
		f.Add(s.expr, s.rel, s.req)
	}
	params := append(diffParams(),
		Param{"caller", typ("map", typ("any"))}, Param{"resource", typ("map", typ("any"))}, Param{"subject", typ("map", typ("bool"))})
	cc, err := NewCompiler()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr, relJSON, reqJSON string) {
		if len(expr) > 2000 {
			return
		}
		c, err := cc.Compile("fuzz", expr, params)
		if err != nil {
			if _, ok := errors.AsType[*CompileError](err); !ok {
				t.Fatalf("Compile(%q) returned %T: %v", expr, err, err)
			}
			return
		}
		var rel, req map[string]any
		_ = json.Unmarshal([]byte(relJSON), &rel)
		_ = json.Unmarshal([]byte(reqJSON), &req)
		b := &Bindings{Caller: asMap(rel["caller"]), Resource: asMap(rel["resource"]), Subject: asMap(req["subject"])}

		res, err := c.Eval(rel, req, b)
		if err != nil {
			if _, ok := errors.AsType[*EvalError](err); !ok {
				t.Fatalf("Eval(%q) returned %T: %v", expr, err, err)
			}
		} else {
			switch res.Outcome {
			case True, False:
				if res.Missing != nil {
					t.Fatalf("%v result with missing %q", res.Outcome, res.Missing)
				}
			case Conditional:
				if len(res.Missing) == 0 || !slices.IsSorted(res.Missing) || len(slices.Compact(slices.Clone(res.Missing))) != len(res.Missing) {
					t.Fatalf("conditional result with missing %q", res.Missing)
				}
				for _, m := range res.Missing {
					if !slices.ContainsFunc(params, func(p Param) bool { return p.Name == m }) {
						t.Fatalf("missing %q is not a parameter", m)
					}
				}
			default:
				t.Fatalf("unknown outcome %d", res.Outcome)
			}
		}

		// Compare with SpiceDB where the semantics are the same: without the
		// reserved parameters and within the cost limit.
		if errors.Is(err, ErrCostLimit) || usesReserved(expr) {
			return
		}
		sdbRel, sdbReq := withoutReserved(rel), withoutReserved(req)
		got := gatehouseEval(t, diffParams(), expr, sdbRel, sdbReq)
		want := spicedbEval(t, diffParams(), expr, sdbRel, sdbReq)
		if want.Kind == "panic" || got.Message == "" && want.Message == "" && got.String() == want.String() {
			return
		}
		got.Message, want.Message = "", ""
		if got.Kind == "param" && want.Kind == "param" {
			// With several bad values SpiceDB names whichever its map
			// iteration meets first; this package names the first declared.
			got.Param, want.Param = "", ""
		}
		if got.String() != want.String() {
			t.Fatalf("%q rel=%s req=%s\n got %v\nwant %v (SpiceDB)", expr, relJSON, reqJSON, got, want)
		}
	})
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func usesReserved(expr string) bool {
	for _, name := range ReservedParams() {
		if strings.Contains(expr, name) { // conservative: any occurrence counts
			return true
		}
	}
	return false
}

func withoutReserved(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !IsReserved(k) {
			out[k] = v
		}
	}
	return out
}
