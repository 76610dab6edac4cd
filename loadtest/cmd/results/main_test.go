package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures in testdata are real loadtest reports (/tmp/sample-results,
// 2s runs on a 2-core machine), trimmed: no per-round rates, and
// MultiTenantSaaS-10k keeps three of its workloads. Variants (a
// NestedGroups-100k report) are derived from them in the tests.

// fixtureDir copies the named testdata fixtures into a new directory,
// applying edit (when not nil) to each decoded report before writing it.
func fixtureDir(t *testing.T, edit func(name string, rep map[string]any), names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			var rep map[string]any
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			edit(name, rep)
			if b, err = json.Marshal(rep); err != nil {
				t.Fatal(err)
			}
			name, _ = rep["scenario"].(string)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// generateIn runs the command on in and returns the markdown and the
// output directory.
func generateIn(t *testing.T, in string) (string, string) {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"--in", in, "--out-md", filepath.Join(out, "RESULTS.md"),
		"--out-png", filepath.Join(out, "results.png"), "--command", "loadtest/scripts/results"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr: %s", code, stderr.String())
	}
	md, err := os.ReadFile(filepath.Join(out, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(md), out
}

// section is the markdown from the heading starting with prefix to the
// next heading of the same or a higher level.
func section(t *testing.T, md, prefix string) string {
	t.Helper()
	i := strings.Index(md, "\n"+prefix)
	if i < 0 {
		t.Fatalf("no heading %q in:\n%s", prefix, md)
	}
	level := strings.Index(prefix, " ") // number of '#'
	rest := md[i+1:]
	lines := strings.SplitAfter(rest, "\n")
	var b strings.Builder
	b.WriteString(lines[0])
	for _, l := range lines[1:] {
		if n := strings.Index(l, " "); n > 0 && n <= level && strings.Trim(l[:n], "#") == "" {
			break
		}
		b.WriteString(l)
	}
	return b.String()
}

func TestRun_Samples(t *testing.T) {
	md, out := generateIn(t, fixtureDir(t, nil, "MultiTenantSaaS-10k", "DeepArrow"))

	for _, want := range []string{
		"    loadtest/scripts/results\n",
		"- Machine: 2 cores, 23.5 GiB memory, linux/amd64, go1.26.8.\n",
		"| DeepArrow | 2026-11-29 05:56:58 | `loadtest --scenario DeepArrow --duration 2s --rounds 1 --warmup 0s --workloads check,checkbulk,noop --out /tmp/sample-results/DeepArrow.json` |\n",
		"![CheckPermission throughput and p99 latency per scenario](results.png)\n",
		"| gatehouse-memory | 31,562 | 0.386 | 1.16 | 3.03 | 0 | 0 | 30.4 | 91 |\n",
		"| spicedb-memory | 1,296 | 129,627 | 11.46 | 24.96 | 29.86 | 0 | 0 | 1339.4 | 118 |\n",
		"Ratio gatehouse-memory / spicedb-memory (the faster SpiceDB here): throughput 20.55x, p99 0.088x.\n",
		"CheckPermission throughput as a share of the no-op RPC's on the same server: gatehouse-memory 93.3%, spicedb-memory 69.3%, spicedb-postgres 59.6%.\n",
		"PostgreSQL's own processes",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	// SpiceDB's scenarios come before gatehouse's whatever the file order.
	if a, b := strings.Index(md, "### DeepArrow"), strings.Index(md, "### MultiTenantSaaS-10k"); a < 0 || b < a {
		t.Errorf("DeepArrow at %d, MultiTenantSaaS-10k at %d: want DeepArrow first", a, b)
	}

	a := section(t, md, "### (a)")
	for _, want := range []string{
		"Verdict: **not met** (1 of 2 scenarios meet it).",
		"- DeepArrow: throughput 1.63x, p99 0.728x (gatehouse-memory / spicedb-memory): **not met**\n",
		"- MultiTenantSaaS-10k: throughput 20.55x, p99 0.088x (gatehouse-memory / spicedb-memory): **met**\n",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("target (a) lacks %q:\n%s", want, a)
		}
	}
	if b := section(t, md, "### (b)"); !strings.Contains(b, "- DeepArrow: gatehouse-memory 407,761 checks/s: **met**") {
		t.Errorf("target (b):\n%s", b)
	}
	if c := section(t, md, "### (c)"); !strings.Contains(c, "Verdict: **not measured**.") {
		t.Errorf("target (c):\n%s", c)
	}
	if d := section(t, md, "### (d)"); !strings.Contains(d, "- DeepArrow: gatehouse-memory at 93.3%: **met**") ||
		strings.Contains(d, "spicedb") {
		t.Errorf("target (d) should list gatehouse systems only:\n%s", d)
	}

	f, err := os.Open(filepath.Join(out, "results.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("results.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 600 || st.Size() < 10_000 {
		t.Errorf("results.png is %dx%d, %d bytes: want a real figure", b.Dx(), b.Dy(), st.Size())
	}
}

func TestRun_TargetVerdicts(t *testing.T) {
	nested := func(lookupRatio float64) func(string, map[string]any) {
		return func(_ string, rep map[string]any) {
			rep["scenario"] = "NestedGroups-100k"
			for _, q := range rep["ratios"].([]any) {
				if q := q.(map[string]any); q["workload"] == "LookupResources" && lookupRatio > 0 {
					q["throughput"] = lookupRatio
				}
			}
		}
	}
	tests := []struct {
		name    string
		in      func(t *testing.T) string
		heading string
		want    []string
	}{
		{"check ratios met", func(t *testing.T) string { return fixtureDir(t, nil, "MultiTenantSaaS-10k") }, "### (a)",
			[]string{"Verdict: **met** (1 of 1 scenarios meet it)."}},
		{"check ratios not met", func(t *testing.T) string { return fixtureDir(t, nil, "DeepArrow") }, "### (a)",
			[]string{"Verdict: **not met** (0 of 1 scenarios meet it)."}},
		{"lookup not met", func(t *testing.T) string { return fixtureDir(t, nested(0), "MultiTenantSaaS-10k") }, "### (c)",
			[]string{"Verdict: **not met**", "- NestedGroups-100k: throughput 18.33x, p99 0.075x (gatehouse-memory / spicedb-memory): **not met**"}},
		{"lookup met", func(t *testing.T) string { return fixtureDir(t, nested(25), "MultiTenantSaaS-10k") }, "### (c)",
			[]string{"Verdict: **met** (1 of 1 runs meet it).", "- NestedGroups-100k: throughput 25.00x"}},
		{"bulk not measured", func(t *testing.T) string { return fixtureDir(t, nil, "MultiTenantSaaS-10k") }, "### (b)",
			[]string{"Verdict: **not measured**."}},
		{"noop not measured", func(t *testing.T) string { return fixtureDir(t, nil, "MultiTenantSaaS-10k") }, "### (d)",
			[]string{"Verdict: **not measured**."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, _ := generateIn(t, tt.in(t))
			sec := section(t, md, tt.heading)
			for _, want := range tt.want {
				if !strings.Contains(sec, want) {
					t.Errorf("%s lacks %q:\n%s", tt.heading, want, sec)
				}
			}
		})
	}
}

func TestRun_BadInput(t *testing.T) {
	malformed := t.TempDir()
	if err := os.WriteFile(filepath.Join(malformed, "broken.json"), []byte(`{"scenario": "DeepArrow", "results": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	notReport := t.TempDir()
	if err := os.WriteFile(filepath.Join(notReport, "other.json"), []byte(`{"name": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no json files", []string{"--in", t.TempDir()}, 1, "no *.json files in"},
		{"missing dir", []string{"--in", filepath.Join(t.TempDir(), "absent")}, 1, "read results:"},
		{"malformed json", []string{"--in", malformed}, 1, "broken.json: not a loadtest JSON report"},
		{"not a report", []string{"--in", notReport}, 1, "other.json: not a loadtest JSON report: no scenario or no results"},
		{"no --in", nil, 2, "--in DIR is required"},
		{"stray argument", []string{"--in", malformed, "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append(tt.args, "--out-md", filepath.Join(out, "RESULTS.md"), "--out-png", filepath.Join(out, "results.png"))
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("run = %d, want %d", code, tt.wantCode)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "results: ") || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("stderr = %q, want one line with %q", msg, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(out, "RESULTS.md")); err == nil {
				t.Error("RESULTS.md written despite the error")
			}
		})
	}
}

func TestRun_Deterministic(t *testing.T) {
	in := fixtureDir(t, nil, "DeepArrow", "MultiTenantSaaS-10k")
	md1, out1 := generateIn(t, in)
	md2, out2 := generateIn(t, in)
	if md1 != md2 {
		t.Error("markdown differs between two runs on the same input")
	}
	png1, err1 := os.ReadFile(filepath.Join(out1, "results.png"))
	png2, err2 := os.ReadFile(filepath.Join(out2, "results.png"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !bytes.Equal(png1, png2) {
		t.Error("results.png differs between two runs on the same input")
	}
}

// TestWriteMarkdown_Golden pins the whole markdown; refresh with REGEN=true.
func TestWriteMarkdown_Golden(t *testing.T) {
	runs, err := loadDir(fixtureDir(t, nil, "DeepArrow", "MultiTenantSaaS-10k"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeMarkdown(&b, runs, mdOptions{Command: "loadtest/scripts/results", Plot: "results.png", GeneratorCPUModel: "Test CPU"})
	golden := filepath.Join("testdata", "RESULTS.golden.md")
	if os.Getenv("REGEN") == "true" {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with REGEN=true)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("markdown differs from %s (REGEN=true to refresh):\n%s", golden, b.String())
	}
}

func TestCompareReports_Order(t *testing.T) {
	reps := []*Report{
		{Scenario: "MultiTenantSaaS-1M", Source: "gatehouse"},
		{Scenario: "NestedGroups-100k", Source: "gatehouse"},
		{Scenario: "WideArrow", Source: "spicedb"},
		{Scenario: "MultiTenantSaaS-100k", Source: "gatehouse"},
		{Scenario: "DeepArrow", Source: "spicedb"},
		{Scenario: "MultiTenantSaaS-10k", Source: "gatehouse"},
	}
	slices.SortStableFunc(reps, compareReports)
	var got []string
	for _, r := range reps {
		got = append(got, r.Scenario)
	}
	want := []string{"DeepArrow", "WideArrow", "MultiTenantSaaS-10k", "MultiTenantSaaS-100k", "MultiTenantSaaS-1M", "NestedGroups-100k"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}
