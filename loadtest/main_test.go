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
	code := run(context.Background(), []string{"--scenario", "Nope"}, &stdout, &stderr)
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

// TestRun_EndToEnd boots both real servers on loopback and runs a tiny
// scenario through load, verification and timed rounds.
func TestRun_EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse and SpiceDB")
	}
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--scenario", "DeepArrow", "--duration", "800ms", "--warmup", "0s", "--concurrency", "4", "--out", out}, &stdout, &stderr)
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
	if len(rep.Results) != 2 || len(rep.Ratios) != 1 || rep.Machine.CPUs == 0 || rep.GoVersion == "" ||
		rep.QueryMix.Source != "generated" || rep.QueryMix.Allowed == 0 || rep.QueryMix.Denied == 0 || rep.Flags.Queries != "generated" {
		t.Fatalf("report = %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Requests == 0 || r.Errors != 0 || r.Wrong != 0 {
			t.Errorf("%s: %d requests, %d errors, %d wrong (%s)", r.System, r.Requests, r.Errors, r.Wrong, r.FirstError)
		}
	}
	if !strings.Contains(stdout.String(), "ratio gatehouse/spicedb") {
		t.Errorf("stdout lacks the ratio table:\n%s", stdout.String())
	}
}
