package caveats

import "testing"

func BenchmarkEval(b *testing.B) {
	benches := []struct {
		name   string
		expr   string
		params []Param
		rel    map[string]any
		req    map[string]any
		bind   *Bindings
		want   Outcome
	}{
		{name: "int compare", expr: "n < 10", params: p("n", typ("int")), rel: ctx{"n": 3.0}, want: True},
		{name: "string and bool", expr: "enabled && region == 'eu'", params: []Param{{"enabled", typ("bool")}, {"region", typ("string")}}, rel: ctx{"region": "eu"}, req: ctx{"enabled": true}, want: True},
		{name: "in_cidr", expr: "ip.in_cidr('10.0.0.0/8')", params: p("ip", typ("ipaddress")), req: ctx{"ip": "10.1.2.3"}, want: True},
		{name: "timestamp", expr: "now < expires", params: []Param{{"now", typ("timestamp")}, {"expires", typ("timestamp")}}, rel: ctx{"expires": "2030-01-01T00:00:00Z"}, req: ctx{"now": "2026-01-01T00:00:00Z"}, want: True},
		{name: "reserved map", expr: "caller.team == resource.team", params: []Param{{"caller", typ("map", typ("any"))}, {"resource", typ("map", typ("any"))}}, bind: &Bindings{Caller: ctx{"team": "a"}, Resource: ctx{"team": "a"}}, want: True},
		{name: "same tenant guarded", expr: "has(caller.tenant) && has(resource.tenant) && caller.tenant == resource.tenant", params: []Param{{"caller", typ("map", typ("any"))}, {"resource", typ("map", typ("any"))}}, bind: &Bindings{Caller: ctx{"tenant": "a", "sub": "u"}, Resource: ctx{"tenant": "a", "classification": "internal"}}, want: True},
		{name: "conditional", expr: "a == 1 && b == 2", params: []Param{{"a", typ("int")}, {"b", typ("int")}}, rel: ctx{"a": 1.0}, want: Conditional},
		{name: "list exists", expr: "l.exists(x, x == 'z')", params: p("l", typ("list", typ("string"))), req: ctx{"l": []any{"a", "b", "c", "z"}}, want: True},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			c := mustCompile(b, bb.expr, bb.params...)
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.Eval(bb.rel, bb.req, bb.bind)
				if err != nil || res.Outcome != bb.want {
					b.Fatalf("Eval = %v, %v", res, err)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	params := []Param{{"ip", typ("ipaddress")}, {"n", typ("int")}}
	b.Run("package", func(b *testing.B) {
		for b.Loop() {
			if _, err := Compile("c", "ip.in_cidr('10.0.0.0/8') && n < 5", params); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compiler", func(b *testing.B) {
		cc, err := NewCompiler()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := cc.Compile("c", "ip.in_cidr('10.0.0.0/8') && n < 5", params); err != nil {
				b.Fatal(err)
			}
		}
	})
}
