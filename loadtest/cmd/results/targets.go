package main

import (
	"fmt"
	"io"
)

// The targets, evaluated from the reports.
const (
	targetCheckThroughput = 5.0     // (a) CheckPermission throughput ratio, at least
	targetCheckP99        = 0.2     // (a) CheckPermission p99 ratio, at most
	targetBulkChecks      = 100_000 // (b) gatehouse CheckBulkPermissions checks/s, at least
	targetLookupScenario  = "NestedGroups-100k"
	targetLookupRatio     = 20.0 // (c) LookupResources throughput ratio, at least
	targetNoopShare       = 0.70 // (d) gatehouse CheckPermission over its no-op RPC, at least
)

// Verdicts.
const (
	verdictMet         = "met"
	verdictNotMet      = "not met"
	verdictNotMeasured = "not measured"
)

// target is one target's verdict and the figures behind it.
type target struct {
	Title   string
	Verdict string
	// Detail qualifies the verdict, e.g. how many scenarios meet it.
	Detail string
	Lines  []string
}

// check collects per-item verdicts into an overall one: met when every
// measured item is, not measured when there is none.
type check struct {
	t          target
	met, total int
}

func (c *check) add(ok bool, line string) {
	c.total++
	v := verdictNotMet
	if ok {
		c.met++
		v = verdictMet
	}
	c.t.Lines = append(c.t.Lines, line+": **"+v+"**")
}

func (c *check) done(unit string) target {
	switch {
	case c.total == 0:
		c.t.Verdict = verdictNotMeasured
	case c.met == c.total:
		c.t.Verdict = verdictMet
		c.t.Detail = fmt.Sprintf("%d of %d %s", c.met, c.total, unit)
	default:
		c.t.Verdict = verdictNotMet
		c.t.Detail = fmt.Sprintf("%d of %d %s", c.met, c.total, unit)
	}
	return c.t
}

func evaluateTargets(runs []*Report) []target {
	return []target{checkRatioTarget(runs), bulkTarget(runs), lookupTarget(runs), noopTarget(runs)}
}

// (a) CheckPermission ≥ 5x throughput and ≤ 0.2x p99 on every scenario.
func checkRatioTarget(runs []*Report) target {
	c := check{t: target{Title: fmt.Sprintf("(a) CheckPermission: throughput ≥ %gx and p99 ≤ %gx SpiceDB's on every scenario",
		targetCheckThroughput, targetCheckP99)}}
	for _, r := range runs {
		q, ok := r.ratio(workloadCheck)
		if !ok {
			continue
		}
		ok = q.Throughput >= targetCheckThroughput && q.P99 > 0 && q.P99 <= targetCheckP99
		c.add(ok, fmt.Sprintf("%s: throughput %s, p99 %s (%s / %s)", r.Scenario, fmtRatio(q.Throughput), fmtRatio(q.P99),
			q.Gatehouse, q.SpiceDB))
	}
	return c.done("scenarios")
}

// (b) gatehouse CheckBulkPermissions ≥ 100,000 checks/s on every scenario.
func bulkTarget(runs []*Report) target {
	c := check{t: target{Title: "(b) CheckBulkPermissions: gatehouse ≥ " + fmtCount(targetBulkChecks) + " checks/s"}}
	for _, r := range runs {
		var best *Result
		for i, res := range r.Results {
			if res.Workload == workloadCheckBulk && res.Kind == "gatehouse" && (best == nil || res.ItemsPerSecond > best.ItemsPerSecond) {
				best = &r.Results[i]
			}
		}
		if best == nil {
			continue
		}
		c.add(best.ItemsPerSecond >= targetBulkChecks, fmt.Sprintf("%s: %s %s checks/s", r.Scenario, best.System,
			fmtCount(best.ItemsPerSecond)))
	}
	return c.done("scenarios")
}

// (c) LookupResources (full result) on NestedGroups-100k ≥ 20x SpiceDB.
func lookupTarget(runs []*Report) target {
	c := check{t: target{Title: fmt.Sprintf("(c) LookupResources (full result) on %s: throughput ≥ %gx SpiceDB's",
		targetLookupScenario, targetLookupRatio)}}
	for _, r := range runs {
		if r.Scenario != targetLookupScenario {
			continue
		}
		q, ok := r.ratio(workloadLookupResources)
		if !ok {
			continue
		}
		c.add(q.Throughput >= targetLookupRatio, fmt.Sprintf("%s: throughput %s, p99 %s (%s / %s)", r.Scenario,
			fmtRatio(q.Throughput), fmtRatio(q.P99), q.Gatehouse, q.SpiceDB))
	}
	return c.done("runs")
}

// (d) gatehouse CheckPermission ≥ 70% of its no-op RPC's throughput.
func noopTarget(runs []*Report) target {
	c := check{t: target{Title: "(d) gatehouse CheckPermission throughput ≥ " + fmtPercent(targetNoopShare) +
		" of the no-op RPC's on the same server"}}
	for _, r := range runs {
		for _, f := range r.CheckVsNoop {
			if r.kind(f.System) != "gatehouse" {
				continue
			}
			c.add(f.Ratio >= targetNoopShare, fmt.Sprintf("%s: %s at %s", r.Scenario, f.System, fmtPercent(f.Ratio)))
		}
	}
	return c.done("measurements")
}

func writeTargets(w io.Writer, targets []target) {
	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Evaluated from the reports above (gatehouse's fastest system against the faster SpiceDB configuration).")
	fmt.Fprintln(w)
	for _, t := range targets {
		fmt.Fprintf(w, "### %s\n\nVerdict: **%s**", t.Title, t.Verdict)
		if t.Detail != "" {
			fmt.Fprintf(w, " (%s meet it)", t.Detail)
		}
		fmt.Fprint(w, ".\n\n")
		for _, l := range t.Lines {
			fmt.Fprintf(w, "- %s\n", l)
		}
		if len(t.Lines) > 0 {
			fmt.Fprintln(w)
		}
	}
}
