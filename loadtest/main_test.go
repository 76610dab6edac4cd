package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
