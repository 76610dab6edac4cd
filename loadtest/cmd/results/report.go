package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The types below mirror the JSON that `loadtest --out` writes (see
// loadtest/report.go); only the fields the generator reads are decoded.

// Report is one loadtest run.
type Report struct {
	StartedAt     time.Time    `json:"started_at"`
	Scenario      string       `json:"scenario"`
	Source        string       `json:"scenario_source"`
	Relationships int          `json:"relationships"`
	QueryMix      QueryMix     `json:"query_mix"`
	Flags         Flags        `json:"flags"`
	GoVersion     string       `json:"go_version"`
	Machine       Machine      `json:"machine"`
	Results       []Result     `json:"results"`
	Ratios        []Ratio      `json:"ratios"`
	CheckVsNoop   []FloorRatio `json:"check_vs_noop"`

	// File is the report's file name, set when loading.
	File string `json:"-"`
}

// QueryMix is the check queries' make-up.
type QueryMix struct {
	Source      string `json:"source"`
	Queries     int    `json:"queries"`
	Allowed     int    `json:"allowed"`
	Denied      int    `json:"denied"`
	Conditional int    `json:"conditional"`
}

// Flags are the run's settings; Args is its exact command line.
type Flags struct {
	Args        []string `json:"args"`
	Duration    string   `json:"duration"`
	Concurrency int      `json:"concurrency"`
	Rounds      int      `json:"rounds"`
}

// Machine is where the run happened. CPUModel is read when a report has it.
type Machine struct {
	CPUs          int    `json:"cpus"`
	MemTotalBytes int64  `json:"mem_total_bytes"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	CPUModel      string `json:"cpu_model"`
}

// Result is one system's figures for one workload.
type Result struct {
	System           string  `json:"system"`
	Kind             string  `json:"kind"`
	Workload         string  `json:"workload"`
	Requests         int     `json:"requests"`
	Errors           int     `json:"errors"`
	Wrong            int     `json:"wrong_answers"`
	RPS              float64 `json:"requests_per_second"`
	ItemsPerSecond   float64 `json:"items_per_second"`
	P50ms            float64 `json:"p50_ms"`
	P95ms            float64 `json:"p95_ms"`
	P99ms            float64 `json:"p99_ms"`
	ServerCPUPer1000 float64 `json:"server_cpu_seconds_per_1000_requests"`
	ServerPeakRSS    int64   `json:"server_peak_rss_bytes"`
}

// Ratio is gatehouse over the fastest SpiceDB configuration on one workload.
type Ratio struct {
	Workload   string  `json:"workload"`
	Gatehouse  string  `json:"gatehouse"`
	SpiceDB    string  `json:"spicedb"`
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
}

// FloorRatio is one system's CheckPermission throughput over its no-op RPC's.
type FloorRatio struct {
	System string  `json:"system"`
	Ratio  float64 `json:"ratio"`
}

// Workload names as the loadtest writes them.
const (
	workloadCheck           = "CheckPermission"
	workloadCheckBulk       = "CheckBulkPermissions"
	workloadLookupResources = "LookupResources"
)

// loadDir reads every *.json in dir, sorted for the report: SpiceDB's
// pkg/benchmarks scenarios first, then gatehouse's, each by name and size.
func loadDir(dir string) ([]*Report, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("read results: %s is not a directory", dir)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("read results: no *.json files in %s", dir)
	}
	runs := make([]*Report, 0, len(paths))
	for _, p := range paths {
		r, err := loadReport(p)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	slices.SortStableFunc(runs, compareReports)
	return runs, nil
}

func loadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: not a loadtest JSON report: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: not a loadtest JSON report: data after the JSON object", path)
	}
	if r.Scenario == "" || len(r.Results) == 0 {
		return nil, fmt.Errorf("%s: not a loadtest JSON report: no scenario or no results", path)
	}
	r.File = filepath.Base(path)
	return &r, nil
}

func compareReports(a, b *Report) int {
	if c := sourceRank(a.Source) - sourceRank(b.Source); c != 0 {
		return c
	}
	if c := compareScenarioNames(a.Scenario, b.Scenario); c != 0 {
		return c
	}
	if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
		return c
	}
	return strings.Compare(a.File, b.File)
}

func sourceRank(source string) int {
	switch source {
	case "spicedb":
		return 0
	case "gatehouse":
		return 1
	}
	return 2
}

var sizedName = regexp.MustCompile(`^(.*)-([0-9]+)([kM]?)$`)

// compareScenarioNames orders names by base name, then by size suffix as a
// number (MultiTenantSaaS-10k < -100k < -1M).
func compareScenarioNames(a, b string) int {
	ba, na := splitSize(a)
	bb, nb := splitSize(b)
	if c := strings.Compare(ba, bb); c != 0 {
		return c
	}
	switch {
	case na < nb:
		return -1
	case na > nb:
		return 1
	}
	return strings.Compare(a, b)
}

func splitSize(name string) (string, float64) {
	m := sizedName.FindStringSubmatch(name)
	if m == nil {
		return name, 0
	}
	n, _ := strconv.ParseFloat(m[2], 64)
	switch m[3] {
	case "k":
		n *= 1e3
	case "M":
		n *= 1e6
	}
	return m[1], n
}

// workloads lists a report's workloads in the order the run timed them.
func (r *Report) workloads() []string {
	var out []string
	for _, res := range r.Results {
		if !slices.Contains(out, res.Workload) {
			out = append(out, res.Workload)
		}
	}
	return out
}

func (r *Report) ratio(workload string) (Ratio, bool) {
	for _, q := range r.Ratios {
		if q.Workload == workload {
			return q, true
		}
	}
	return Ratio{}, false
}

func (r *Report) kind(system string) string {
	for _, res := range r.Results {
		if res.System == system {
			return res.Kind
		}
	}
	return ""
}

// result returns system's figures on workload.
func (r *Report) result(system, workload string) (Result, bool) {
	for _, res := range r.Results {
		if res.System == system && res.Workload == workload {
			return res, true
		}
	}
	return Result{}, false
}

func anyCPUModel(runs []*Report) bool {
	return slices.ContainsFunc(runs, func(r *Report) bool { return r.Machine.CPUModel != "" })
}

// cpuModel is the first "model name" in a /proc/cpuinfo file, or "" when it
// cannot be read.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
