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
