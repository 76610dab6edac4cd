package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func multiTenantScenario(t *testing.T, name string) Scenario {
	t.Helper()
	for _, s := range scenarios() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s", name)
	return Scenario{}
}

func TestMultiTenant_Size(t *testing.T) {
	tests := []struct {
		scenario string
		rels     int // --rels, 0 = default
		want     int
	}{
		{"MultiTenantSaaS-10k", 0, 10_000},
		{"MultiTenantSaaS-100k", 0, 100_000},
		{"MultiTenantSaaS-1M", 25_000, 25_000},
		{"MultiTenantSaaS-10k", 3_000, 3_000},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			sc := multiTenantScenario(t, tt.scenario)
			if !sc.Scales || sc.Source != "gatehouse" {
				t.Errorf("Scales = %v, Source = %q", sc.Scales, sc.Source)
			}
			d, err := sc.Build(context.Background(), BuildParams{Rels: tt.rels, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			got := len(d.Relationships)
			if got < tt.want || float64(got) > 1.02*float64(tt.want) {
				t.Errorf("%d relationships, want %d to %d", got, tt.want, tt.want*102/100)
			}
		})
	}
}

func TestMultiTenant_Deterministic(t *testing.T) {
	a := buildMultiTenant(10_000, 7)
	b := buildMultiTenant(10_000, 7)
	c := buildMultiTenant(10_000, 8)
	if !sameRels(a.Relationships, b.Relationships) {
		t.Error("seed 7 twice: relationships differ")
	}
	if sameRels(a.Relationships, c.Relationships) {
		t.Error("seeds 7 and 8: same relationships")
	}
	if len(a.Checks) != len(b.Checks) {
		t.Fatalf("seed 7 twice: %d and %d checks", len(a.Checks), len(b.Checks))
	}
	for i := range a.Checks {
		if a.Checks[i].String() != b.Checks[i].String() || a.Checks[i].Want != b.Checks[i].Want {
			t.Fatalf("seed 7 twice: check %d is %s and %s", i, a.Checks[i], b.Checks[i])
		}
	}
	res, sub := &v1.ObjectReference{ObjectType: "document", ObjectId: "t1-d3"}, mtSub(mtObj("user", "t2-u5"), "")
	if !proto.Equal(a.ContextFor(res, sub), b.ContextFor(res, sub)) {
		t.Error("seed 7 twice: ContextFor differs")
	}
}

func sameRels(a, b []*v1.Relationship) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestMultiTenant_Valid checks every relationship against the schema as
// gatehouse compiles it, that none repeats, and that the contexts the
// scenario sends fit the caveats' parameters without reserved names.
func TestMultiTenant_Valid(t *testing.T) {
	d := buildMultiTenant(10_000, 1)
	sch, err := schema.Compile(d.Schema)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[tuple.Key]bool{}
	caveated := map[string]int{}
	relKeys := map[string]map[string]bool{}
	for _, r := range d.Relationships {
		rel := service.RelationshipFromV1(r)
		if err := sch.ValidateRelationship(rel, false); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if seen[rel.Key()] {
			t.Fatalf("%s written twice", rel)
		}
		seen[rel.Key()] = true
		if rel.Caveat != nil {
			caveated[rel.Caveat.Name]++
			if relKeys[rel.Caveat.Name] == nil {
				relKeys[rel.Caveat.Name] = map[string]bool{}
			}
			for k := range rel.Caveat.Context {
				relKeys[rel.Caveat.Name][k] = true
			}
		}
	}
	// Every caveat parameter comes from the relationship's context or the
	// request's, and none is one gatehouse binds itself.
	reqKeys := mtContext("t0", "prod", "public").GetFields()
	for _, name := range []string{"tenant_match", "env_allowed", "clearance_covers"} {
		if caveated[name] == 0 {
			t.Errorf("no relationship with caveat %s", name)
		}
		c, ok := sch.Caveat(name)
		if !ok {
			t.Fatalf("schema lacks caveat %s", name)
		}
		if caller, resource, subject := c.Binds(); caller || resource || subject {
			t.Errorf("caveat %s declares a reserved parameter (caller %v, resource %v, subject %v)", name, caller, resource, subject)
		}
		for _, p := range c.Params() {
			if _, ok := reqKeys[p.Name]; !ok && !relKeys[name][p.Name] {
				t.Errorf("caveat %s: parameter %s is in no context", name, p.Name)
			}
		}
		own := map[string]any{}
		for k, v := range d.Checks[0].Context.AsMap() {
			if c.Declares(k) {
				own[k] = v
			}
		}
		if err := c.CheckContext(own); err != nil {
			t.Errorf("%s: request context of %s: %v", name, d.Checks[0], err)
		}
	}
}

// TestMultiTenant_Checks checks that the scenario's own queries cover every
// kind of answer and always carry a context.
func TestMultiTenant_Checks(t *testing.T) {
	d := buildMultiTenant(10_000, 1)
	if len(d.Checks) < 100 {
		t.Fatalf("%d checks, want at least 100", len(d.Checks))
	}
	// What the relationships say about each document.
	envs, class, shares := map[string][]any{}, map[string]string{}, map[string]bool{}
	for _, r := range d.Relationships {
		id := r.GetResource().GetObjectId()
		ctx := r.GetOptionalCaveat().GetContext().AsMap()
		switch r.GetRelation() {
		case "deployed":
			envs[id] = ctx["allowed_envs"].([]any)
		case "cleared":
			class[id] = ctx["classification"].(string)
		case "shared":
			shares[id+"@"+r.GetSubject().GetObject().GetObjectId()] = true
		}
	}
	level := map[string]int{"public": 0, "internal": 1, "confidential": 2, "restricted": 3}
	var allowed, denied, open, wrongTenant, wrongEnv, lowClearance int
	for _, q := range d.Checks {
		if q.Context == nil {
			t.Fatalf("%s has no context", q)
		}
		switch q.Want {
		case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
			allowed++
		case v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION:
			denied++
		default:
			open++
		}
		if q.Want != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
			continue
		}
		doc, f := q.Resource.GetObjectId(), q.Context.GetFields()
		if shares[doc+"@"+q.Subject.GetObject().GetObjectId()] && f["caller_tenant"].GetStringValue() != tenantOf(doc) {
			wrongTenant++
		}
		if !slices.Contains(envs[doc], any(f["environment"].GetStringValue())) {
			wrongEnv++
		}
		if level[f["clearance"].GetStringValue()] < level[class[doc]] {
			lowClearance++
		}
	}
	if allowed == 0 || denied == 0 || open == 0 {
		t.Errorf("%d allowed, %d denied, %d unspecified; want some of each", allowed, denied, open)
	}
	if wrongTenant == 0 || wrongEnv == 0 || lowClearance == 0 {
		t.Errorf("denied: %d in the wrong tenant, %d in a disallowed environment, %d with too low a clearance; want some of each", wrongTenant, wrongEnv, lowClearance)
	}
}

func TestCheckQuery_StringWithContext(t *testing.T) {
	q := CheckQuery{
		Resource: mtObj("document", "t1-d1"), Permission: "view", Subject: mtSub(mtObj("user", "t1-u2"), ""),
		Context: mtContext("t1", "prod", "internal"),
	}
	want := `document:t1-d1#view@user:t1-u2 with {"caller_tenant":"t1","clearance":"internal","environment":"prod"}`
	if got := q.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestGenerateQueries_Context checks that every generated query asks one of
// the scenario's permissions and carries its request context, and that the
// classifier sees it.
func TestGenerateQueries_Context(t *testing.T) {
	ctx := context.Background()
	d := buildMultiTenant(3_000, 2)
	sch := schema.MustCompile(d.Schema)
	reach := reachClassifier(d.Relationships)
	withoutContext := 0
	classify := func(ctx context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		if q.Context == nil {
			withoutContext++
		}
		return reach(ctx, q)
	}
	qs, _, err := generateQueries(ctx, sch, d.Relationships, 100, 2, QueryShape{Permissions: d.QueryPermissions, Context: d.ContextFor}, classify)
	if err != nil {
		t.Fatal(err)
	}
	if withoutContext > 0 {
		t.Errorf("classifier saw %d queries without context", withoutContext)
	}
	for _, q := range qs {
		if !proto.Equal(q.Context, d.ContextFor(q.Resource, q.Subject)) {
			t.Fatalf("%s: context is not ContextFor's", q)
		}
		if !slices.Contains(d.QueryPermissions, q.Resource.GetObjectType()+"#"+q.Permission) {
			t.Fatalf("%s: not one of %v", q, d.QueryPermissions)
		}
	}
}

// TestMultiTenant_Differential loads the 10k scenario into gatehouse and
// SpiceDB, asks both every scenario query and a generated set of 200 with
// the scenario's contexts, and checks that they agree, that the scenario's
// expected answers hold, and that allowed, plain-denied and caveat-denied
// answers all occur (and none is CONDITIONAL).
func TestMultiTenant_Differential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse and SpiceDB")
	}
	ctx := context.Background()
	d := buildMultiTenant(10_000, 1)
	gh := startTestSystem(t, "gatehouse-memory")
	sdb := startTestSystem(t, "spicedb-memory")
	systems := []*System{gh, sdb}
	for _, sys := range systems {
		if _, err := load(ctx, sys, d); err != nil {
			t.Fatal(err)
		}
	}

	var warn bytes.Buffer
	if err := verify(ctx, systems, d.Checks, &warn); err != nil {
		t.Fatal(err)
	}
	if warn.Len() > 0 {
		for _, q := range d.Checks {
			got, _ := check(ctx, gh, q, fullyConsistent)
			if q.Want != v1.CheckPermissionResponse_PERMISSIONSHIP_UNSPECIFIED && got != q.Want {
				t.Errorf("%s: got %s, want %s", q, got, q.Want)
			}
		}
		t.Fatalf("scenario checks: %s", warn.String())
	}

	classify := func(ctx context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		return check(ctx, gh, q, fullyConsistent)
	}
	sch, err := readSchema(ctx, gh)
	if err != nil {
		t.Fatal(err)
	}
	qs, mix, err := generateQueries(ctx, sch, d.Relationships, 200, 1, QueryShape{Permissions: d.QueryPermissions, Context: d.ContextFor}, classify)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(ctx, systems, qs, &warn); err != nil {
		t.Fatal(err)
	}
	if warn.Len() > 0 {
		t.Fatalf("generated checks: %s", warn.String())
	}
	// A denied query is caveat-denied when some context lets it through.
	var plain, caveated int
	for _, q := range qs {
		if q.Want != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
			continue
		}
		allowedSomewhere := false
		for i := range mtEnvs {
			open := q
			open.Context = mtContext(tenantOf(q.Resource.GetObjectId()), mtEnv(i), "restricted")
			p, err := classify(ctx, open)
			if err != nil {
				t.Fatal(err)
			}
			allowedSomewhere = allowedSomewhere || p == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
		}
		if allowedSomewhere {
			caveated++
		} else {
			plain++
		}
	}
	t.Logf("generated: %s; %d plain denied, %d caveat-denied", mix, plain, caveated)
	if mix.Allowed == 0 || plain == 0 || caveated == 0 || mix.Conditional != 0 {
		t.Errorf("generated: %s; %d plain denied, %d caveat-denied; want allowed, both kinds of denied and no conditional", mix, plain, caveated)
	}
}

// BenchmarkMultiTenant_Build times generating each size of the scenario
// (go test -run '^$' -bench MultiTenant_Build -benchtime 1x).
func BenchmarkMultiTenant_Build(b *testing.B) {
	for _, sc := range multiTenantScenarios() {
		b.Run(strings.TrimPrefix(sc.Name, "MultiTenantSaaS-"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := sc.Build(context.Background(), BuildParams{Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(d.Relationships)), "rels")
			}
		})
	}
}
