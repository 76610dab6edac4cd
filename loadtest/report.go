package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one system's figures for one workload, over all its timed rounds.
type Result struct {
	System   string  `json:"system"`
	Kind     string  `json:"kind"`
	Workload string  `json:"workload"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Wrong    int     `json:"wrong_answers"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"requests_per_second"`
	// ItemsPerSecond is checks/s for bulk checks and relationships/s for
	// imports; 0 (left out) for one-item requests.
	ItemsPerSecond float64   `json:"items_per_second,omitempty"`
	P50ms          float64   `json:"p50_ms"`
	P95ms          float64   `json:"p95_ms"`
	P99ms          float64   `json:"p99_ms"`
	RoundRPS       []float64 `json:"round_requests_per_second"`
	// ServerCPUSeconds is the server process's user+system CPU time over
	// the timed rounds.
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	// ServerCPUPer1000 is ServerCPUSeconds per 1000 answered requests.
	ServerCPUPer1000 float64 `json:"server_cpu_seconds_per_1000_requests"`
	// ServerPeakRSS is the server process's peak resident set size (VmHWM)
	// over its whole life, loading included, read after the timed rounds.
	ServerPeakRSS int64  `json:"server_peak_rss_bytes"`
	FirstError    string `json:"first_error,omitempty"`
}

func newResult(sys *System, workload string, r *roundResult, roundRPS []float64, peakRSS int64) Result {
	res := Result{
		System: sys.Name, Kind: sys.Kind, Workload: workload,
		Requests: r.requests, Errors: r.errors, Wrong: r.wrong,
		Seconds:  r.elapsed.Seconds(),
		P50ms:    ms(r.lat.Percentile(50)),
		P95ms:    ms(r.lat.Percentile(95)),
		P99ms:    ms(r.lat.Percentile(99)),
		RoundRPS: roundRPS,

		ServerCPUSeconds: r.cpu.Seconds(),
		ServerPeakRSS:    peakRSS,
	}
	if res.Seconds > 0 {
		res.RPS = float64(r.requests) / res.Seconds
		res.ItemsPerSecond = float64(r.items) / res.Seconds
	}
	if r.requests > 0 {
		res.ServerCPUPer1000 = res.ServerCPUSeconds * 1000 / float64(r.requests)
	}
	if r.firstErr != nil {
		res.FirstError = r.firstErr.Error()
	}
	return res
}

// Ratio compares gatehouse with the best SpiceDB configuration on one workload.
type Ratio struct {
	Workload  string `json:"workload"`
	Gatehouse string `json:"gatehouse"`
	SpiceDB   string `json:"spicedb"`
	// Throughput is gatehouse req/s over SpiceDB req/s; 0 when undefined.
	Throughput float64 `json:"throughput"`
	// P99 is gatehouse p99 over SpiceDB p99; 0 when undefined.
	P99 float64 `json:"p99"`
}

// ratios pairs, per workload, the fastest gatehouse configuration with the
// fastest SpiceDB configuration: ratios are never taken against a
// deliberately weak SpiceDB setup.
func ratios(results []Result) []Ratio {
	type pair struct{ g, s *Result }
	var order []string
	best := map[string]*pair{}
	for i := range results {
		r := &results[i]
		p, ok := best[r.Workload]
		if !ok {
			p = &pair{}
			best[r.Workload] = p
			order = append(order, r.Workload)
		}
		switch r.Kind {
		case "gatehouse":
			if p.g == nil || r.RPS > p.g.RPS {
				p.g = r
			}
		case "spicedb":
			if p.s == nil || r.RPS > p.s.RPS {
				p.s = r
			}
		}
	}
	var out []Ratio
	for _, w := range order {
		p := best[w]
		if p.g == nil || p.s == nil {
			continue
		}
		out = append(out, Ratio{Workload: w, Gatehouse: p.g.System, SpiceDB: p.s.System,
			Throughput: div(p.g.RPS, p.s.RPS), P99: div(p.g.P99ms, p.s.P99ms)})
	}
	return out
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Machine describes where a run happened.
type Machine struct {
	CPUs          int    `json:"cpus"`
	MemTotalBytes int64  `json:"mem_total_bytes,omitempty"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
}

func thisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.MemTotalBytes, _ = memTotal(f)
		f.Close()
	}
	return m
}

// memTotal reads MemTotal from /proc/meminfo text, in bytes.
func memTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("meminfo: unexpected MemTotal line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("meminfo: %w", err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("meminfo: no MemTotal")
}

// Report is everything one run measured, as written with --out.
type Report struct {
	StartedAt     time.Time `json:"started_at"`
	Scenario      string    `json:"scenario"`
	Source        string    `json:"scenario_source"`
	Relationships int       `json:"relationships"`
	Queries       int       `json:"check_queries"`
	QueryMix      QueryMix  `json:"query_mix"`
	// LookupResourcesQueries and LookupSubjectsQueries count the distinct
	// lookup queries taken from the check queries, when timed.
	LookupResourcesQueries int      `json:"lookup_resources_queries,omitempty"`
	LookupSubjectsQueries  int      `json:"lookup_subjects_queries,omitempty"`
	Flags                  Flags    `json:"flags"`
	GoVersion              string   `json:"go_version"`
	Machine                Machine  `json:"machine"`
	Results                []Result `json:"results"`
	Ratios                 []Ratio  `json:"ratios"`
	// CheckVsNoop is, per system that ran both, CheckPermission throughput
	// over the no-op RPC's on the same server: how close checks come to
	// the transport's ceiling.
	CheckVsNoop []FloorRatio `json:"check_vs_noop,omitempty"`
}

// FloorRatio is one system's CheckPermission throughput over its no-op RPC
// throughput.
type FloorRatio struct {
	System string  `json:"system"`
	Ratio  float64 `json:"ratio"`
}

// checkVsNoop pairs each system's CheckPermission and no-op results.
func checkVsNoop(results []Result) []FloorRatio {
	var out []FloorRatio
	for _, c := range results {
		if c.Workload != checkWorkloadName {
			continue
		}
		for _, n := range results {
			if n.System == c.System && n.Workload == noopWorkloadName {
				out = append(out, FloorRatio{System: c.System, Ratio: div(c.RPS, n.RPS)})
			}
		}
	}
	return out
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// writeTable prints the results and the gatehouse/SpiceDB ratios.
func writeTable(w io.Writer, rep *Report) error {
	queries := fmt.Sprintf("%d check queries", rep.Queries)
	if rep.QueryMix.Source != "" {
		queries = rep.QueryMix.String()
	}
	fmt.Fprintf(w, "scenario %s (%s): %d relationships, %s; %v over %d rounds per system, concurrency %d; %d CPUs, %s\n\n",
		rep.Scenario, rep.Source, rep.Relationships, queries, rep.Flags.Duration, rep.Flags.Rounds, rep.Flags.Concurrency,
		rep.Machine.CPUs, rep.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tworkload\treq/s\titems/s\tp50\tp95\tp99\terrors\twrong\tserver cpu\tcpu ms/1k req\tpeak rss\t")
	for _, r := range rep.Results {
		items := "-"
		if r.ItemsPerSecond > 0 {
			items = strconv.FormatFloat(r.ItemsPerSecond, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%d\t%d\t%.2fs\t%.1f\t%s\t\n", r.System, r.Workload, r.RPS, items,
			fmtMs(r.P50ms), fmtMs(r.P95ms), fmtMs(r.P99ms), r.Errors, r.Wrong,
			r.ServerCPUSeconds, r.ServerCPUPer1000*1000, fmtMiB(r.ServerPeakRSS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "ratio gatehouse/spicedb\tworkload\tthroughput\tp99\t")
		for _, r := range rep.Ratios {
			fmt.Fprintf(tw, "%s / %s\t%s\t%s\t%s\t\n", r.Gatehouse, r.SpiceDB, r.Workload, fmtRatio(r.Throughput), fmtRatio(r.P99))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, f := range rep.CheckVsNoop {
		fmt.Fprintf(w, "%s: CheckPermission at %.0f%% of the no-op RPC's throughput on the same server\n", f.System, 100*f.Ratio)
	}
	for _, r := range rep.Results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "first error from %s on %s: %s\n", r.System, r.Workload, r.FirstError)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMs(v float64) string { return fmtDur(time.Duration(v * float64(time.Millisecond))) }

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(ms(d), 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "µs"
	}
}

func fmtMiB(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 0, 64) + " MiB"
}

func fmtRatio(v float64) string {
	if v == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "x"
}
