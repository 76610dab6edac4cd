package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

func TestRun_UnknownScenario(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--scenario", "Nope"}, nil, &stdout, &stderr)
	if code != 2 {
		t.Errorf("exit = %d, want 2", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `unknown scenario "Nope"; valid scenarios: `) || !strings.Contains(lines[0], "DeepArrow") {
		t.Errorf("stderr = %q, want one line naming the valid scenarios", stderr.String())
	}
}

func TestMismatchError_Message(t *testing.T) {
	e := &MismatchError{
		Query: CheckQuery{
			Resource:   &v1.ObjectReference{ObjectType: "doc", ObjectId: "1"},
			Permission: "view",
			Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "group", ObjectId: "g"}, OptionalRelation: "member"},
		},
		A: "gatehouse-memory", B: "spicedb-memory",
		GotA:    v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
		GotB:    v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION,
		Checked: 3, Sampled: 10,
	}
	want := "answers differ on doc:1#view@group:g#member: gatehouse-memory=PERMISSIONSHIP_HAS_PERMISSION spicedb-memory=PERMISSIONSHIP_NO_PERMISSION (query 3 of 10 sampled)"
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestRun_PostgresUnreachable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--scenario", "DeepArrow", "--systems", "spicedb-postgres",
		"--postgres-url", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable"}, nil, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit = %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "loadtest: spicedb-postgres: PostgreSQL at 127.0.0.1:1 unreachable: ") {
		t.Errorf("stderr = %q, want it to end with one line saying PostgreSQL is unreachable", stderr.String())
	}
}

// TestRun_EndToEnd boots real servers as child processes on loopback and
// runs a tiny scenario through load, verification and timed rounds. It adds
// spicedb-postgres when GATEHOUSE_TEST_POSTGRES_URL is set.
func TestRun_EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse and SpiceDB")
	}
	systems := "gatehouse-memory,gatehouse-bolt,spicedb-memory"
	args := []string{"--scenario", "DeepArrow", "--duration", "1200ms", "--warmup", "0s", "--concurrency", "4", "--query-count", "200", "--verify", "50"}
	if url := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL"); url != "" {
		systems += ",spicedb-postgres"
		args = append(args, "--postgres-url", url)
	}
	want := len(strings.Split(systems, ","))
	out := filepath.Join(t.TempDir(), "results.json")
	args = append(args, "--systems", systems, "--out", out)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != want || len(rep.Ratios) != 1 || rep.Machine.CPUs == 0 || rep.GoVersion == "" ||
		rep.QueryMix.Source != "generated" || rep.QueryMix.Allowed == 0 || rep.QueryMix.Denied == 0 || rep.Flags.Queries != "generated" {
		t.Fatalf("report = %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Requests == 0 || r.Errors != 0 || r.Wrong != 0 {
			t.Errorf("%s: %d requests, %d errors, %d wrong (%s)", r.System, r.Requests, r.Errors, r.Wrong, r.FirstError)
		}
		if r.ServerCPUSeconds <= 0 || r.ServerPeakRSS < 1<<20 {
			t.Errorf("%s: server cpu %vs, peak rss %d bytes", r.System, r.ServerCPUSeconds, r.ServerPeakRSS)
		}
	}
	if !strings.Contains(stdout.String(), "ratio gatehouse/spicedb") {
		t.Errorf("stdout lacks the ratio table:\n%s", stdout.String())
	}
}

func TestCompareLookup_Mismatch(t *testing.T) {
	tests := []struct {
		name      string
		ref, got  []string
		wantFirst string // "" = no mismatch
		wantHas   string
	}{
		{"same", []string{"a", "b (CONDITIONAL_PERMISSION)", "c"}, []string{"a", "b (CONDITIONAL_PERMISSION)", "c"}, "", ""},
		{"both empty", nil, []string{}, "", ""},
		{"reference has one more", []string{"a", "b", "c"}, []string{"a", "c"}, "b", "ref"},
		{"other has one more", []string{"a", "c"}, []string{"a", "b", "c"}, "b", "other"},
		{"other has more at the end", []string{"a"}, []string{"a", "z"}, "z", "other"},
		{"permissionship differs", []string{"a", "b"}, []string{"a", "b (CONDITIONAL_PERMISSION)"}, "b", "ref"},
		{"first of several", []string{"b", "d"}, []string{"a", "b", "e"}, "a", "other"},
		{"duplicate", []string{"a", "a"}, []string{"a"}, "a", "ref"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := compareLookup("LookupResources", "doc#view@user:u", "ref", tt.ref, "other", tt.got)
			if tt.wantFirst == "" {
				if e != nil {
					t.Fatalf("compareLookup = %v, want no mismatch", e)
				}
				return
			}
			if e == nil {
				t.Fatalf("compareLookup = nil, want a mismatch on %q", tt.wantFirst)
			}
			if e.ID != tt.wantFirst || e.Has != tt.wantHas {
				t.Errorf("mismatch on %q held by %s, want %q held by %s", e.ID, e.Has, tt.wantFirst, tt.wantHas)
			}
		})
	}
}

func TestLookupMismatchError_Message(t *testing.T) {
	e := compareLookup("LookupSubjects", "doc:1#view@user", "gatehouse-memory", []string{"u1", "u3"}, "spicedb-memory", []string{"u1", "u2", "u3"})
	e.Checked, e.Sampled = 4, 20
	want := `LookupSubjects answers differ on doc:1#view@user: spicedb-memory returns "u2", gatehouse-memory does not (query 4 of 20 sampled)`
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if strings.Contains(e.Error(), "\n") {
		t.Error("message spans lines")
	}
}

// TestVerifyLookups_Mismatch loads two gatehouse servers with data that
// differs in one relationship and expects verification to name the query
// and the one resource and subject that differ.
func TestVerifyLookups_Mismatch(t *testing.T) {
	ctx := context.Background()
	var systems []*System
	for i, name := range []string{"full", "short"} {
		sys := startTestSystem(t, "gatehouse-memory")
		sys.Name = name
		rels := testRels()
		if i == 1 {
			rels = slices.DeleteFunc(rels, func(r *v1.Relationship) bool {
				return r.GetResource().GetObjectId() == "d4" && r.GetRelation() == "viewer"
			})
		}
		if _, err := load(ctx, sys, &Dataset{Schema: testSchema, Relationships: rels}); err != nil {
			t.Fatal(err)
		}
		systems = append(systems, sys)
	}
	frank := &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "frank"}}
	tests := []struct {
		name    string
		kind    string
		queries []lookupQuery
		want    string
	}{
		{"resources", "LookupResources",
			[]lookupQuery{resourcesQuery{ResourceType: "doc", Permission: "edit", Subject: frank}, resourcesQuery{ResourceType: "doc", Permission: "view", Subject: frank}},
			`LookupResources answers differ on doc#view@user:frank: full returns "d4", short does not`},
		{"subjects", "LookupSubjects",
			[]lookupQuery{subjectsQuery{Resource: &v1.ObjectReference{ObjectType: "doc", ObjectId: "d4"}, Permission: "view", SubjectType: "user"}},
			`LookupSubjects answers differ on doc:d4#view@user: full returns "frank", short does not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := answerLookups(ctx, systems[0], tt.kind, tt.queries)
			if err != nil {
				t.Fatal(err)
			}
			err = verifyLookups(ctx, systems, set, 10, 1)
			var me *LookupMismatchError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verifyLookups = %v, want a *LookupMismatchError containing %q", err, tt.want)
			}
			if err := verifyLookups(ctx, systems[:1], set, 10, 1); err != nil {
				t.Errorf("one system: verifyLookups = %v, want nil", err)
			}
		})
	}
}

// TestRun_AllWorkloads boots both real servers and runs every workload on a
// small scenario: each must have results for both systems, without errors
// or wrong answers, in the table and the JSON.
func TestRun_AllWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse and SpiceDB")
	}
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--scenario", "DeepArrow", "--workloads", "all", "--query-count", "50",
		"--duration", "1s", "--rounds", "1", "--warmup", "0s", "--concurrency", "4", "--batch", "20", "--page-size", "2", "--out", out, "--systems", "gatehouse-memory,spicedb-memory"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	workloads := []string{"CheckPermission", "CheckBulkPermissions", "LookupResources", "LookupResourcesPage",
		"LookupSubjects", "Mixed(99% check, 1% write)", "ImportBulkRelationships", "NoOp(health check)"}
	withItems := map[string]bool{"CheckBulkPermissions": true, "ImportBulkRelationships": true}
	got := map[string][]string{}
	for _, r := range rep.Results {
		got[r.Workload] = append(got[r.Workload], r.System)
		if r.Requests == 0 || r.Errors != 0 || r.Wrong != 0 {
			t.Errorf("%s on %s: %d requests, %d errors, %d wrong (%s)", r.Workload, r.System, r.Requests, r.Errors, r.Wrong, r.FirstError)
		}
		if withItems[r.Workload] != (r.ItemsPerSecond > 0) {
			t.Errorf("%s on %s: items/s %.0f", r.Workload, r.System, r.ItemsPerSecond)
		}
	}
	for _, w := range workloads {
		if fmt.Sprint(got[w]) != "[gatehouse-memory spicedb-memory]" {
			t.Errorf("workload %s has results for %v, want both systems", w, got[w])
		}
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("table lacks %s", w)
		}
	}
	if len(rep.Results) != 2*len(workloads) || len(rep.Ratios) != len(workloads) {
		t.Errorf("%d results and %d ratios, want %d and %d", len(rep.Results), len(rep.Ratios), 2*len(workloads), len(workloads))
	}
	if rep.LookupResourcesQueries == 0 || rep.LookupSubjectsQueries == 0 || len(rep.Flags.Workloads) != len(workloads) || rep.Flags.Batch != 20 || rep.Flags.PageSize != 2 {
		t.Errorf("report = %+v", rep)
	}
	if len(rep.CheckVsNoop) != 2 || rep.CheckVsNoop[0].Ratio <= 0 {
		t.Errorf("check_vs_noop = %+v, want a positive ratio per system", rep.CheckVsNoop)
	}
	if !strings.Contains(stderr.String(), "sampled LookupResources queries") || !strings.Contains(stderr.String(), "sampled LookupSubjects queries") {
		t.Errorf("stderr does not report lookup verification:\n%s", stderr.String())
	}
}
