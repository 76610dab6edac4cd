package multitenant

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWalkthrough runs walkthrough.sh against a freshly built gatehouse, so
// the example's README stays true: every decision it lists comes out as
// documented.
func TestWalkthrough(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash not found: %v", err)
	}

	bin := filepath.Join(t.TempDir(), "gatehouse")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build gatehouse: %v\n%s", err, out)
	}

	script := exec.CommandContext(t.Context(), bash, "walkthrough.sh")
	script.Env = append(os.Environ(), "GATEHOUSE_BIN="+bin)
	out, err := script.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough.sh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "decisions as expected") {
		t.Fatalf("walkthrough.sh exited 0 without its summary line:\n%s", out)
	}
	t.Logf("walkthrough.sh:\n%s", out)
}
