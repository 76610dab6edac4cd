package library_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	sdbcaveats "github.com/authzed/spicedb/pkg/caveats"
	sdbtypes "github.com/authzed/spicedb/pkg/caveats/types"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
	"github.com/authzed/spicedb/pkg/schemadsl/compiler"
	"github.com/authzed/spicedb/pkg/schemadsl/input"
	sdbtuple "github.com/authzed/spicedb/pkg/tuple"
	"github.com/authzed/spicedb/pkg/validationfile"
	"github.com/authzed/spicedb/pkg/validationfile/blocks"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/caveats/library"
	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

type ctx = map[string]any

var wantNames = []string{
	"clearance_covers_classification",
	"environment_allowed",
	"same_tenant",
	"source_ip_in_cidr",
	"within_time_window",
	"workload_identity",
}

// usageSchema is the schema of every example: object types and one relation
// per caveat.
func usageSchema(names []string) string {
	var sb strings.Builder
	sb.WriteString("definition user {}\n\ndefinition workload {}\n\ndefinition document {\n")
	var alts []string
	for _, n := range names {
		alts = append(alts, "user with "+n)
	}
	sb.WriteString("    relation viewer: " + strings.Join(alts, " | ") + " | workload:* with workload_identity\n")
	sb.WriteString("    permission view = viewer\n}\n")
	return sb.String()
}

// librarySchema compiles every caveat of the library with a definition that
// uses each of them.
func librarySchema(t *testing.T) *schema.Schema {
	t.Helper()
	sch, err := schema.Compile(library.All() + "\n" + usageSchema(library.Names()))
	if err != nil {
		t.Fatalf("compile library schema: %v", err)
	}
	return sch
}

func TestNames(t *testing.T) {
	got := library.Names()
	if !slices.Equal(got, wantNames) {
		t.Fatalf("Names() = %q, want %q", got, wantNames)
	}
	got[0] = "changed"
	if library.Names()[0] != wantNames[0] {
		t.Error("Names exposes mutable state")
	}
}

func TestSource(t *testing.T) {
	for _, name := range wantNames {
		src, ok := library.Source(name)
		if !ok || src == "" {
			t.Errorf("Source(%q) = %q, %v", name, src, ok)
		}
	}
	for _, name := range []string{"", "missing", "same_tenant.zed", "library", "../library/same_tenant", "./same_tenant"} {
		if src, ok := library.Source(name); ok || src != "" {
			t.Errorf("Source(%q) = %q, %v, want not found", name, src, ok)
		}
	}
}

// TestSource_Shape checks each file holds exactly its own caveat, preceded
// by a doc comment that starts with the caveat's name.
func TestSource_Shape(t *testing.T) {
	decl := regexp.MustCompile(`(?m)^caveat (\w+)\(`)
	for _, name := range wantNames {
		t.Run(name, func(t *testing.T) {
			src, _ := library.Source(name)
			if !strings.HasPrefix(src, "// "+name+" ") {
				t.Errorf("file does not start with a `// %s ...` doc comment", name)
			}
			m := decl.FindAllStringSubmatch(src, -1)
			if len(m) != 1 || m[0][1] != name {
				t.Fatalf("caveat declarations = %q, want exactly `caveat %s(`", m, name)
			}
			before := src[:strings.Index(src, "\ncaveat ")]
			for line := range strings.SplitSeq(before, "\n") {
				if !strings.HasPrefix(line, "//") {
					t.Errorf("line before the caveat is not a comment: %q", line)
				}
			}
			if !strings.HasSuffix(src, "}\n") {
				t.Error("file does not end with the caveat's closing brace and a newline")
			}
		})
	}
}

// TestSource_CompilesAlone compiles each file on its own and with a relation
// that uses it.
func TestSource_CompilesAlone(t *testing.T) {
	for _, name := range wantNames {
		t.Run(name, func(t *testing.T) {
			src, _ := library.Source(name)
			alone, err := schema.Compile(src)
			if err != nil {
				t.Fatalf("compile alone: %v", err)
			}
			if got := alone.Caveats(); !slices.Equal(got, []string{name}) {
				t.Errorf("Caveats() = %q, want [%s]", got, name)
			}
			used := "definition user {}\n" + src + "definition document {\n    relation viewer: user with " + name + "\n}\n"
			if _, err := schema.Compile(used); err != nil {
				t.Fatalf("compile with a relation: %v", err)
			}
		})
	}
}

func TestAll_CompilesInOneSchema(t *testing.T) {
	sch := librarySchema(t)
	if got := sch.Caveats(); !slices.Equal(got, wantNames) {
		t.Errorf("Caveats() = %q, want %q", got, wantNames)
	}
	rel, ok := sch.Relation("document", "viewer")
	if !ok {
		t.Fatal("document#viewer missing")
	}
	var used []string
	for _, a := range rel.Allowed {
		used = append(used, a.Source())
	}
	for _, name := range wantNames {
		if !slices.Contains(used, "user with "+name) {
			t.Errorf("document#viewer allows %q, want `user with %s`", used, name)
		}
	}
	for _, name := range wantNames {
		src, _ := library.Source(name)
		if !strings.Contains(library.All(), src) {
			t.Errorf("All() lacks the source of %s", name)
		}
	}
}

// TestSource_DocExamplesCompile compiles the usage block of each doc comment
// (the lines indented with a tab) with the caveat, and parses the
// relationship the comment tells the reader to write.
func TestSource_DocExamplesCompile(t *testing.T) {
	write := regexp.MustCompile("write\\s+`([^`]+)`")
	for _, name := range wantNames {
		t.Run(name, func(t *testing.T) {
			src, _ := library.Source(name)
			var usage, prose []string
			for line := range strings.SplitSeq(src, "\n") {
				if rest, ok := strings.CutPrefix(line, "//\t"); ok {
					usage = append(usage, rest)
				} else if rest, ok := strings.CutPrefix(line, "//"); ok {
					prose = append(prose, strings.TrimSpace(rest))
				}
			}
			if len(usage) == 0 {
				t.Fatal("doc comment has no usage block")
			}
			text := "definition user {}\ndefinition workload {}\n" + src + strings.Join(usage, "\n") + "\n"
			if _, err := schema.Compile(text); err != nil {
				t.Fatalf("usage does not compile: %v\n%s", err, text)
			}
			m := write.FindStringSubmatch(strings.Join(prose, " "))
			if m == nil {
				t.Fatal("doc comment has no `write `...`` relationship example")
			}
			r, err := tuple.Parse(m[1])
			if err != nil {
				t.Fatalf("relationship example %q: %v", m[1], err)
			}
			if r.Caveat == nil || r.Caveat.Name != name {
				t.Errorf("relationship example %q does not carry caveat %s", m[1], name)
			}
		})
	}
}

// evalCase is one evaluation of a library caveat. A nil Bindings map means
// the server had nothing to bind (no token, no attributes).
type evalCase struct {
	name             string
	caller, resource ctx
	rel, req         ctx
	want             caveats.Outcome
	missing          []string
	errParam         string // the evaluation fails, naming this parameter
	wantErr          string // the evaluation fails with this in its message
}

func runEval(t *testing.T, caveat string, tests []evalCase) {
	t.Helper()
	c, ok := librarySchema(t).Caveat(caveat)
	if !ok {
		t.Fatalf("caveat %s not in schema", caveat)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Eval(tt.rel, tt.req, &caveats.Bindings{Caller: tt.caller, Resource: tt.resource})
			if tt.wantErr != "" || tt.errParam != "" {
				ee, ok := errors.AsType[*caveats.EvalError](err)
				if !ok {
					t.Fatalf("Eval = %+v, %v; want an *EvalError", got, err)
				}
				if ee.Param != tt.errParam || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Eval error = %v (param %q), want param %q and %q", err, ee.Param, tt.errParam, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got.Outcome != tt.want || !slices.Equal(got.Missing, tt.missing) {
				t.Errorf("Eval = %v missing %q, want %v missing %q", got.Outcome, got.Missing, tt.want, tt.missing)
			}
		})
	}
}

const (
	T = caveats.True
	F = caveats.False
	C = caveats.Conditional
)

func TestSameTenant(t *testing.T) { runEval(t, "same_tenant", sameTenantCases()) }

func sameTenantCases() []evalCase {
	acme := ctx{"tenant": "acme"}
	return []evalCase{
		{name: "same tenant", caller: ctx{"sub": "alice", "tenant": "acme"}, resource: ctx{"tenant": "acme", "environment": "prod"}, want: T},
		{name: "other tenant", caller: ctx{"tenant": "globex"}, resource: acme, want: F},
		{name: "case differs", caller: ctx{"tenant": "ACME"}, resource: acme, want: F},
		{name: "resource lacks tenant", caller: acme, resource: ctx{"environment": "prod"}, want: F},
		{name: "resource has no attributes", caller: acme, resource: ctx{}, want: F},
		{name: "token lacks tenant claim", caller: ctx{"sub": "alice"}, resource: acme, want: F},
		{name: "both lack tenant", caller: ctx{}, resource: ctx{}, want: F},
		{name: "both empty", caller: ctx{"tenant": ""}, resource: ctx{"tenant": ""}, want: F},
		{name: "both null", caller: ctx{"tenant": nil}, resource: ctx{"tenant": nil}, want: F},
		{name: "both numbers", caller: ctx{"tenant": 7.0}, resource: ctx{"tenant": 7.0}, want: F},
		{name: "string and number", caller: ctx{"tenant": "7"}, resource: ctx{"tenant": 7.0}, want: F},
		{name: "both lists", caller: ctx{"tenant": []any{"acme"}}, resource: ctx{"tenant": []any{"acme"}}, want: F},
		{name: "no token", resource: acme, want: C, missing: []string{"caller"}},
		{name: "no token, resource lacks tenant", resource: ctx{}, want: F},
		{name: "no resource binding", caller: acme, want: C, missing: []string{"resource"}},
		{name: "request cannot supply the token", resource: acme, req: ctx{"caller": acme}, want: C, missing: []string{"caller"}},
		{name: "relationship cannot supply the token", resource: acme, rel: ctx{"caller": acme}, want: C, missing: []string{"caller"}},
	}
}

func TestEnvironmentAllowed(t *testing.T) {
	runEval(t, "environment_allowed", environmentAllowedCases())
}

func environmentAllowedCases() []evalCase {
	envs := ctx{"environments": []any{"staging", "prod"}}
	return []evalCase{
		{name: "listed", resource: envs, req: ctx{"environment": "prod"}, want: T},
		{name: "first listed", resource: envs, req: ctx{"environment": "staging"}, want: T},
		{name: "not listed", resource: envs, req: ctx{"environment": "dev"}, want: F},
		{name: "case differs", resource: envs, req: ctx{"environment": "Prod"}, want: F},
		{name: "empty string", resource: envs, req: ctx{"environment": ""}, want: F},
		{name: "empty list", resource: ctx{"environments": []any{}}, req: ctx{"environment": "prod"}, want: F},
		{name: "request lacks environment", resource: envs, want: C, missing: []string{"environment"}},
		{name: "resource lacks attribute", resource: ctx{"tenant": "acme"}, req: ctx{"environment": "prod"}, want: F},
		{name: "resource lacks attribute and request lacks environment", resource: ctx{}, want: F},
		{name: "singular attribute is not read", resource: ctx{"environment": "prod"}, req: ctx{"environment": "prod"}, want: F},
		{name: "attribute is a string", resource: ctx{"environments": "prod"}, req: ctx{"environment": "prod"}, want: F},
		{name: "attribute is a map", resource: ctx{"environments": ctx{"prod": true}}, req: ctx{"environment": "prod"}, want: F},
		{name: "relationship context wins", resource: envs, rel: ctx{"environment": "staging"}, req: ctx{"environment": "dev"}, want: T},
		{name: "no resource binding", req: ctx{"environment": "prod"}, want: C, missing: []string{"resource"}},
		{name: "environment not a string", resource: envs, req: ctx{"environment": 1.0}, errParam: "environment", wantErr: "a string value is required"},
	}
}

func TestClearanceCoversClassification(t *testing.T) {
	runEval(t, "clearance_covers_classification", clearanceCases())
}

func clearanceCases() []evalCase {
	cls := func(v any) ctx { return ctx{"classification": v} }
	clr := func(v any) ctx { return ctx{"clearance": v} }
	return []evalCase{
		{name: "equal levels", caller: clr("confidential"), resource: cls("confidential"), want: T},
		{name: "higher clearance", caller: clr("restricted"), resource: cls("internal"), want: T},
		{name: "lower clearance", caller: clr("internal"), resource: cls("confidential"), want: F},
		{name: "public reads public", caller: clr("public"), resource: cls("public"), want: T},
		{name: "public cannot read restricted", caller: clr("public"), resource: cls("restricted"), want: F},
		{name: "unknown clearance", caller: clr("top-secret"), resource: cls("public"), want: F},
		{name: "unknown classification", caller: clr("restricted"), resource: cls("secret"), want: F},
		{name: "level names are case-sensitive", caller: clr("Restricted"), resource: cls("public"), want: F},
		{name: "classification case", caller: clr("restricted"), resource: cls("Public"), want: F},
		{name: "empty clearance", caller: clr(""), resource: cls("public"), want: F},
		{name: "numeric clearance", caller: clr(3.0), resource: cls("public"), want: F},
		{name: "null clearance", caller: clr(nil), resource: cls("public"), want: F},
		{name: "list clearance", caller: clr([]any{"restricted"}), resource: cls("public"), want: F},
		{name: "numeric classification", caller: clr("restricted"), resource: cls(0.0), want: F},
		{name: "null classification", caller: clr("restricted"), resource: cls(nil), want: F},
		{name: "token lacks clearance", caller: ctx{"sub": "bob"}, resource: cls("public"), want: F},
		{name: "resource lacks classification", caller: clr("restricted"), resource: ctx{"tenant": "acme"}, want: F},
		{name: "no token", resource: cls("public"), want: C, missing: []string{"caller"}},
		{name: "no token, resource lacks classification", resource: ctx{}, want: F},
	}
}

// TestClearanceCoversClassification_Order checks every pair of levels.
func TestClearanceCoversClassification_Order(t *testing.T) {
	runEval(t, "clearance_covers_classification", clearanceOrderCases())
}

func clearanceOrderCases() []evalCase {
	levels := []string{"public", "internal", "confidential", "restricted"}
	var tests []evalCase
	for i, clearance := range levels {
		for j, classification := range levels {
			want := F
			if i >= j {
				want = T
			}
			tests = append(tests, evalCase{
				name:   clearance + " reads " + classification,
				caller: ctx{"clearance": clearance}, resource: ctx{"classification": classification},
				want: want,
			})
		}
	}
	return tests
}

func TestWithinTimeWindow(t *testing.T) { runEval(t, "within_time_window", timeWindowCases()) }

func timeWindowCases() []evalCase {
	window := ctx{"not_before": "2026-01-01T00:00:00Z", "not_after": "2026-03-31T23:59:59Z"}
	now := func(s string) ctx { return ctx{"now": s} }
	return []evalCase{
		{name: "inside", rel: window, req: now("2026-02-01T12:00:00Z"), want: T},
		{name: "at not_before", rel: window, req: now("2026-01-01T00:00:00Z"), want: T},
		{name: "at not_after", rel: window, req: now("2026-03-31T23:59:59Z"), want: T},
		{name: "just before not_before", rel: window, req: now("2025-12-31T23:59:59.999999999Z"), want: F},
		{name: "just after not_after", rel: window, req: now("2026-03-31T23:59:59.000000001Z"), want: F},
		{name: "long after", rel: window, req: now("2027-01-01T00:00:00Z"), want: F},
		{name: "offset is honoured", rel: window, req: now("2026-01-01T00:30:00+01:00"), want: F},
		{name: "offset inside", rel: window, req: now("2025-12-31T20:00:00-05:00"), want: T},
		{name: "inverted window", rel: ctx{"not_before": "2026-03-01T00:00:00Z", "not_after": "2026-01-01T00:00:00Z"}, req: now("2026-02-01T00:00:00Z"), want: F},
		{name: "single instant", rel: ctx{"not_before": "2026-01-01T00:00:00Z", "not_after": "2026-01-01T00:00:00Z"}, req: now("2026-01-01T00:00:00Z"), want: T},
		{name: "request lacks now", rel: window, want: C, missing: []string{"now"}},
		{name: "relationship lacks not_after", rel: ctx{"not_before": "2026-01-01T00:00:00Z"}, req: now("2026-02-01T00:00:00Z"), want: C, missing: []string{"not_after"}},
		{name: "lacks not_after but before not_before", rel: ctx{"not_before": "2026-01-01T00:00:00Z"}, req: now("2025-06-01T00:00:00Z"), want: F},
		{name: "nothing given", want: C, missing: []string{"not_after", "not_before", "now"}},
		{name: "relationship context wins", rel: window, req: ctx{"now": "2026-06-01T00:00:00Z", "not_after": "2030-01-01T00:00:00Z"}, want: F},
		{name: "request may fill what the relationship lacks", req: ctx{"now": "2026-02-01T00:00:00Z", "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-03-01T00:00:00Z"}, want: T},
		{name: "malformed now", rel: window, req: now("yesterday"), errParam: "now", wantErr: "timestamp"},
	}
}

func TestSourceIPInCIDR(t *testing.T) { runEval(t, "source_ip_in_cidr", sourceIPCases()) }

func sourceIPCases() []evalCase {
	cidrs := func(c ...any) ctx { return ctx{"allowed_cidrs": c} }
	ip := func(s string) ctx { return ctx{"source_ip": s} }
	return []evalCase{
		{name: "/8 first address", rel: cidrs("10.0.0.0/8"), req: ip("10.0.0.0"), want: T},
		{name: "/8 last address", rel: cidrs("10.0.0.0/8"), req: ip("10.255.255.255"), want: T},
		{name: "/8 next network", rel: cidrs("10.0.0.0/8"), req: ip("11.0.0.0"), want: F},
		{name: "/8 previous network", rel: cidrs("10.0.0.0/8"), req: ip("9.255.255.255"), want: F},
		{name: "/32 exact", rel: cidrs("203.0.113.7/32"), req: ip("203.0.113.7"), want: T},
		{name: "/32 neighbour", rel: cidrs("203.0.113.7/32"), req: ip("203.0.113.8"), want: F},
		{name: "/0 matches every IPv4", rel: cidrs("0.0.0.0/0"), req: ip("198.51.100.1"), want: T},
		{name: "any entry matches", rel: cidrs("192.168.0.0/16", "203.0.113.7/32", "10.0.0.0/8"), req: ip("10.1.2.3"), want: T},
		{name: "no entry matches", rel: cidrs("192.168.0.0/16", "203.0.113.7/32"), req: ip("10.1.2.3"), want: F},
		{name: "empty list", rel: cidrs(), req: ip("10.1.2.3"), want: F},
		{name: "IPv6 in /32", rel: cidrs("2001:db8::/32"), req: ip("2001:db8:ffff::1"), want: T},
		{name: "IPv6 outside /32", rel: cidrs("2001:db8::/32"), req: ip("2001:db9::1"), want: F},
		{name: "IPv4-mapped IPv6 in IPv4 network", rel: cidrs("10.0.0.0/8"), req: ip("::ffff:10.1.2.3"), want: T},
		{name: "IPv4 not in IPv6 network", rel: cidrs("::/0"), req: ip("10.1.2.3"), want: F},
		{name: "request lacks source_ip", rel: cidrs("10.0.0.0/8"), want: C, missing: []string{"source_ip"}},
		{name: "empty list decides without source_ip", rel: cidrs(), want: F},
		{name: "relationship lacks allowed_cidrs", req: ip("10.1.2.3"), want: C, missing: []string{"allowed_cidrs"}},
		{name: "relationship context wins", rel: cidrs("10.0.0.0/8"), req: ctx{"source_ip": "192.0.2.1", "allowed_cidrs": []any{"0.0.0.0/0"}}, want: F},
		{name: "malformed CIDR", rel: cidrs("10.0.0.0"), req: ip("10.1.2.3"), wantErr: "invalid CIDR string: `10.0.0.0`"},
		{name: "malformed CIDR before a match", rel: cidrs("nonsense", "10.0.0.0/8"), req: ip("10.1.2.3"), want: T},
		{name: "malformed CIDR and no match", rel: cidrs("nonsense", "192.168.0.0/16"), req: ip("10.1.2.3"), wantErr: "invalid CIDR string: `nonsense`"},
		{name: "malformed address", rel: cidrs("10.0.0.0/8"), req: ip("10.1.2"), errParam: "source_ip", wantErr: "ipaddress"},
	}
}

func TestWorkloadIdentity(t *testing.T) { runEval(t, "workload_identity", workloadIdentityCases()) }

func workloadIdentityCases() []evalCase {
	const (
		payments = "spiffe://prod.example.com/ns/payments/"
		api      = "spiffe://prod.example.com/ns/payments/sa/api"
	)
	sub := func(s any) ctx { return ctx{"sub": s} }
	prefix := func(s string) ctx { return ctx{"allowed_prefix": s} }
	return []evalCase{
		{name: "under prefix", caller: sub(api), rel: prefix(payments), want: T},
		{name: "deep under prefix", caller: sub(api + "/v2/x"), rel: prefix(payments), want: T},
		{name: "exact id", caller: sub(api), rel: prefix(api), want: T},
		{name: "trust domain prefix", caller: sub(api), rel: prefix("spiffe://prod.example.com/"), want: T},
		{name: "sibling namespace", caller: sub("spiffe://prod.example.com/ns/orders/sa/api"), rel: prefix(payments), want: F},
		{name: "partial segment without slash", caller: sub("spiffe://x/ns/payments/sa/api"), rel: prefix("spiffe://x/ns/pay"), want: F},
		{name: "partial segment with slash", caller: sub("spiffe://x/ns/payments/sa/api"), rel: prefix("spiffe://x/ns/pay/"), want: F},
		{name: "longer sibling segment", caller: sub("spiffe://prod.example.com/ns/payments-admin/sa/api"), rel: prefix(payments), want: F},
		{name: "id prefix without slash is exact only", caller: sub(api + "2"), rel: prefix(api), want: F},
		{name: "id below exact id", caller: sub(api + "/x"), rel: prefix(api), want: F},
		{name: "trust domain without slash", caller: sub(api), rel: prefix("spiffe://prod.example.com"), want: F},
		{name: "trust domain extended", caller: sub("spiffe://prod.example.com.evil.org/ns/payments/sa/api"), rel: prefix("spiffe://prod.example.com"), want: F},
		{name: "other trust domain", caller: sub("spiffe://staging.example.com/ns/payments/sa/api"), rel: prefix(payments), want: F},
		{name: "the prefix itself", caller: sub("spiffe://prod.example.com/ns/payments"), rel: prefix(payments), want: F},
		{name: "bare scheme prefix", caller: sub(api), rel: prefix("spiffe://"), want: F},
		{name: "scheme-only prefix", caller: sub(api), rel: prefix("spiffe:"), want: F},
		{name: "empty prefix", caller: sub(api), rel: prefix(""), want: F},
		{name: "slash prefix", caller: sub(api), rel: prefix("/"), want: F},
		{name: "dot-dot segment", caller: sub("spiffe://prod.example.com/ns/payments/../admin"), rel: prefix(payments), want: F},
		{name: "dot segment", caller: sub("spiffe://prod.example.com/ns/payments/./sa"), rel: prefix(payments), want: F},
		{name: "trailing dot-dot", caller: sub("spiffe://prod.example.com/ns/payments/.."), rel: prefix(payments), want: F},
		{name: "dotted names are fine", caller: sub("spiffe://prod.example.com/ns/payments/sa/api.v2"), rel: prefix(payments), want: T},
		{name: "empty segment", caller: sub("spiffe://prod.example.com/ns/payments//sa"), rel: prefix(payments), want: F},
		{name: "trailing slash id", caller: sub(api + "/"), rel: prefix(payments), want: F},
		{name: "query in id", caller: sub(api + "?x=1"), rel: prefix(payments), want: F},
		{name: "percent-encoded id", caller: sub("spiffe://prod.example.com/ns/payments/%2e%2e/admin"), rel: prefix(payments), want: F},
		{name: "uppercase trust domain", caller: sub("spiffe://PROD.example.com/ns/payments/sa/api"), rel: prefix(payments), want: F},
		{name: "other scheme", caller: sub("https://prod.example.com/ns/payments/sa/api"), rel: prefix(payments), want: F},
		{name: "sub is a user", caller: sub("alice"), rel: prefix(payments), want: F},
		{name: "spiffe_id claim is not read", caller: ctx{"sub": "alice", "spiffe_id": api}, rel: prefix(payments), want: F},
		{name: "token lacks sub", caller: ctx{}, rel: prefix(payments), want: F},
		{name: "sub not a string", caller: sub(1.0), rel: prefix(payments), want: F},
		{name: "relationship lacks prefix", caller: sub(api), want: C, missing: []string{"allowed_prefix"}},
		{name: "no token", rel: prefix(payments), want: C, missing: []string{"caller"}},
		{name: "no token and no prefix", want: C, missing: []string{"allowed_prefix", "caller"}},
		{name: "relationship context wins", caller: sub(api), rel: prefix("spiffe://prod.example.com/ns/orders/"), req: prefix(payments), want: F},
		// The hazard the doc comment warns about: a relationship written
		// without allowed_prefix lets the request choose it.
		{name: "request fills a missing prefix", caller: sub(api), req: prefix("spiffe://prod.example.com/"), want: T},
	}
}

// evalTables are the evaluation tables above, by caveat.
func evalTables() map[string][]evalCase {
	return map[string][]evalCase{
		"same_tenant":                     sameTenantCases(),
		"environment_allowed":             environmentAllowedCases(),
		"clearance_covers_classification": slices.Concat(clearanceCases(), clearanceOrderCases()),
		"within_time_window":              timeWindowCases(),
		"source_ip_in_cidr":               sourceIPCases(),
		"workload_identity":               workloadIdentityCases(),
	}
}

// TestLibrary_AgreesWithSpiceDB runs every table case through SpiceDB's own
// caveat compiler and evaluator, with the reserved parameters passed as
// ordinary context values (SpiceDB has no bindings), so the library means
// the same in SpiceDB as in gatehouse.
func TestLibrary_AgreesWithSpiceDB(t *testing.T) {
	compiled, err := compiler.Compile(compiler.InputSchema{Source: input.Source("library"), SchemaString: library.All()}, compiler.AllowUnprefixedObjectType())
	if err != nil {
		t.Fatalf("spicedb compile: %v", err)
	}
	tables := evalTables()
	if len(compiled.CaveatDefinitions) != len(tables) {
		t.Fatalf("spicedb compiled %d caveats, tables cover %d", len(compiled.CaveatDefinitions), len(tables))
	}
	for _, cd := range compiled.CaveatDefinitions {
		cav := spicedbCaveat(t, cd)
		for _, tt := range tables[cd.Name] {
			t.Run(cd.Name+"/"+tt.name, func(t *testing.T) {
				merged := maps.Clone(tt.req)
				if merged == nil {
					merged = map[string]any{}
				}
				maps.Copy(merged, tt.rel)
				for _, name := range caveats.ReservedParams() {
					delete(merged, name)
				}
				if tt.caller != nil {
					merged[caveats.ParamCaller] = tt.caller
				}
				if tt.resource != nil {
					merged[caveats.ParamResource] = tt.resource
				}
				got := spicedbEval(cd, cav, merged)
				want := "error"
				if tt.wantErr == "" && tt.errParam == "" {
					want = tt.want.String()
					if tt.want == caveats.Conditional {
						want += " " + strings.Join(tt.missing, ",")
					}
				}
				if got != want {
					t.Errorf("spicedb = %s, want %s", got, want)
				}
			})
		}
	}
}

// spicedbCaveat deserializes a caveat compiled by SpiceDB's schema compiler.
func spicedbCaveat(t *testing.T, cd *core.CaveatDefinition) *sdbcaveats.CompiledCaveat {
	t.Helper()
	params, err := sdbtypes.DecodeParameterTypes(sdbtypes.Default.TypeSet, cd.ParameterTypes)
	if err != nil {
		t.Fatal(err)
	}
	cav, err := sdbcaveats.DeserializeCaveatWithDefaultTypeSet(cd.SerializedExpression, params)
	if err != nil {
		t.Fatal(err)
	}
	return cav
}

// spicedbEval evaluates as SpiceDB's check does: convert the merged context
// to the parameter types, then evaluate. It returns "true", "false",
// "conditional <missing,...>" or "error".
func spicedbEval(cd *core.CaveatDefinition, cav *sdbcaveats.CompiledCaveat, merged map[string]any) string {
	typed, err := sdbcaveats.ConvertContextToParameters(sdbtypes.Default.TypeSet, merged, cd.ParameterTypes, sdbcaveats.SkipUnknownParameters)
	if err != nil {
		return "error"
	}
	res, err := sdbcaveats.EvaluateCaveat(cav, typed)
	if err != nil {
		return "error"
	}
	if res.IsPartial() {
		missing, _ := res.MissingVarNames()
		missing = slices.Clone(missing)
		slices.Sort(missing)
		return "conditional " + strings.Join(slices.Compact(missing), ",")
	}
	return fmt.Sprint(res.Value())
}

// TestUnguardedSelect_IsError pins what the library's has() guards avoid:
// selecting an attribute the resource does not have fails the evaluation,
// which gatehouse surfaces as an error, neither allowed nor denied.
func TestUnguardedSelect_IsError(t *testing.T) {
	sch, err := schema.Compile(`
caveat unguarded_same_tenant(caller map<any>, resource map<any>) {
    caller.tenant == resource.tenant
}`)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sch.Caveat("unguarded_same_tenant")
	b := &caveats.Bindings{Caller: ctx{"tenant": "acme"}, Resource: ctx{"environment": "prod"}}
	got, err := c.Eval(nil, nil, b)
	if _, ok := errors.AsType[*caveats.EvalError](err); !ok || !strings.Contains(err.Error(), "no such key: tenant") {
		t.Fatalf("unguarded Eval = %+v, %v; want an *EvalError with \"no such key: tenant\"", got, err)
	}
	if got.Outcome == caveats.True {
		t.Errorf("unguarded Eval outcome = %v alongside the error", got.Outcome)
	}

	spiced, err := compiler.Compile(compiler.InputSchema{Source: input.Source("unguarded"), SchemaString: sch.Text()}, compiler.AllowUnprefixedObjectType())
	if err != nil {
		t.Fatal(err)
	}
	cd := spiced.CaveatDefinitions[0]
	if got := spicedbEval(cd, spicedbCaveat(t, cd), ctx{"caller": b.Caller, "resource": b.Resource}); got != "error" {
		t.Errorf("spicedb evaluates the unguarded caveat to %s, want error", got)
	}

	guarded, _ := librarySchema(t).Caveat("same_tenant")
	res, err := guarded.Eval(nil, nil, b)
	if err != nil || res.Outcome != caveats.False {
		t.Errorf("same_tenant Eval = %+v, %v; want false without error", res, err)
	}
}

// validationExamples are the caveats whose parameters need no reserved
// binding, so a plain SpiceDB validation file can exercise them.
var validationExamples = []string{"source_ip_in_cidr", "within_time_window"}

// markdownExamples are the caveats that read caller or resource, documented
// by a decision table instead.
var markdownExamples = []string{"clearance_covers_classification", "environment_allowed", "same_tenant", "workload_identity"}

func TestExamples_EveryCaveatHasOne(t *testing.T) {
	all := slices.Concat(validationExamples, markdownExamples)
	slices.Sort(all)
	if !slices.Equal(all, wantNames) {
		t.Errorf("examples cover %q, want %q", all, wantNames)
	}
	for _, name := range validationExamples {
		if _, err := os.Stat(filepath.Join("testdata", name+".yaml")); err != nil {
			t.Error(err)
		}
	}
	for _, name := range markdownExamples {
		if _, err := os.Stat(filepath.Join("testdata", name+".example.md")); err != nil {
			t.Error(err)
		}
	}
}

// TestValidationFiles parses each SpiceDB validation file, checks that its
// schema embeds the library caveat verbatim and compiles, and runs its
// assertions through the graph engine.
func TestValidationFiles(t *testing.T) {
	for _, name := range validationExamples {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			vf, err := validationfile.DecodeValidationFile(raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			src, _ := library.Source(name)
			if !strings.Contains(vf.Schema.Schema, strings.TrimSpace(src)) {
				t.Errorf("schema does not embed %s.zed verbatim", name)
			}
			sch, err := schema.Compile(vf.Schema.Schema)
			if err != nil {
				t.Fatalf("compile schema: %v", err)
			}
			if _, ok := sch.Caveat(name); !ok {
				t.Fatalf("schema lacks caveat %s", name)
			}
			var rels []tuple.Relationship
			for _, r := range vf.Relationships.Relationships {
				rels = append(rels, fromSpiceDB(t, r))
			}
			ix := graph.NewIndex()
			if err := ix.Load(1, rels); err != nil {
				t.Fatal(err)
			}
			snap, err := ix.Snapshot(0)
			if err != nil {
				t.Fatal(err)
			}
			groups := []struct {
				name string
				want graph.Permissionship
				list []blocks.Assertion
			}{
				{"assertTrue", graph.HasPermission, vf.Assertions.AssertTrue},
				{"assertFalse", graph.NoPermission, vf.Assertions.AssertFalse},
				{"assertCaveated", graph.ConditionalPermission, vf.Assertions.AssertCaveated},
			}
			for _, g := range groups {
				if len(g.list) == 0 {
					t.Errorf("no %s assertions", g.name)
				}
				for _, a := range g.list {
					rel := fromSpiceDB(t, a.Relationship)
					res, err := snap.Check(context.Background(), sch, graph.CheckRequest{
						Resource: rel.Resource, Permission: rel.Relation, Subject: rel.Subject,
						Context: graph.Context{Values: a.CaveatContext},
					})
					if err != nil {
						t.Errorf("%s %s: %v", g.name, a.RelationshipWithContextString, err)
						continue
					}
					if res.Permissionship != g.want {
						t.Errorf("%s %s: got %v", g.name, a.RelationshipWithContextString, res.Permissionship)
					}
				}
			}
		})
	}
}

func fromSpiceDB(t *testing.T, r sdbtuple.Relationship) tuple.Relationship {
	t.Helper()
	s, err := sdbtuple.String(r)
	if err != nil {
		t.Fatalf("render relationship: %v", err)
	}
	out, err := tuple.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return out
}

// TestMarkdownExamples evaluates the decision table of each example against
// the caveat, so the documented decisions stay true. A table row is
//
//	| case | token claims | resource attributes | request context | decision |
//
// with JSON cells in backquotes, `none` for an absent token or attribute
// set, and decisions HAS_PERMISSION, NO_PERMISSION, error or
// CONDITIONAL_PERMISSION (missing: a, b).
func TestMarkdownExamples(t *testing.T) {
	relLine := regexp.MustCompile("(?m)^Relationship: `([^`]+)`")
	sch := librarySchema(t)
	for _, name := range markdownExamples {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", name+".example.md"))
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			m := relLine.FindStringSubmatch(text)
			if m == nil {
				t.Fatal("no `Relationship: ` line")
			}
			r, err := tuple.Parse(m[1])
			if err != nil {
				t.Fatalf("relationship %q: %v", m[1], err)
			}
			if r.Caveat == nil || r.Caveat.Name != name {
				t.Fatalf("relationship %q does not carry caveat %s", m[1], name)
			}
			c, _ := sch.Caveat(name)
			rows := 0
			for line := range strings.SplitSeq(text, "\n") {
				cells := tableRow(line)
				if cells == nil {
					continue
				}
				rows++
				t.Run(cells[0], func(t *testing.T) {
					b := &caveats.Bindings{Caller: jsonCell(t, cells[1]), Resource: jsonCell(t, cells[2])}
					got, err := c.Eval(r.Caveat.Context, jsonCell(t, cells[3]), b)
					want := cells[4]
					switch {
					case want == "error":
						if err == nil {
							t.Errorf("Eval = %+v, want an error", got)
						}
						return
					case err != nil:
						t.Fatalf("Eval: %v", err)
					}
					if decision := decisionOf(got); decision != want {
						t.Errorf("decision = %s, want %s", decision, want)
					}
				})
			}
			if rows < 4 {
				t.Errorf("decision table has %d rows, want at least 4", rows)
			}
		})
	}
}

// tableRow returns the five trimmed cells of a decision table row, or nil
// for any other line, including the header and separator.
func tableRow(line string) []string {
	if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "| case ") || strings.HasPrefix(line, "|--") {
		return nil
	}
	parts := strings.Split(strings.Trim(line, "|"), "|")
	if len(parts) != 5 {
		return nil
	}
	for i := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(parts[i]), "`")
	}
	return parts
}

func jsonCell(t *testing.T, cell string) map[string]any {
	t.Helper()
	if cell == "none" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(cell), &m); err != nil {
		t.Fatalf("cell %q: %v", cell, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func decisionOf(r caveats.Result) string {
	switch r.Outcome {
	case caveats.True:
		return "HAS_PERMISSION"
	case caveats.False:
		return "NO_PERMISSION"
	}
	return "CONDITIONAL_PERMISSION (missing: " + strings.Join(r.Missing, ", ") + ")"
}
