// Command loadtest runs gatehouse and SpiceDB side by side on the same data,
// over the same wire, with the same authzed-go client, and reports throughput
// and latency for each, with the ratio between them.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/schema"
)

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain runs the program with the process's signals and standard streams.
func runMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// run is the whole program; it returns the exit status: 0 ok, 1 failed run,
// 2 bad usage. With the hidden first argument serve-system it is instead a
// child serving one system (see serveSystem).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == serveCommand {
		return serveSystem(ctx, args[1:], stdin, stdout, stderr)
	}
	all := scenarios()
	postgresURL := os.Getenv("LOADTEST_POSTGRES_URL")
	if postgresURL == "" {
		postgresURL = defaultPostgresURL
	}
	cfg, err := parseFlags(args, stderr, scenarioNames(all), postgresURL)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	if cfg.List {
		listScenarios(stdout, all)
		return 0
	}
	if err := runScenario(ctx, cfg, all, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	return 0
}

func listScenarios(w io.Writer, all []Scenario) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tsource\ttags\tscales with --rels")
	for _, s := range all {
		scales := "no"
		if s.Scales {
			scales = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Source, strings.Join(s.Tags, ","), scales)
	}
	tw.Flush()
}

func runScenario(ctx context.Context, cfg Config, all []Scenario, stdout, stderr io.Writer) error {
	var sc Scenario
	for _, s := range all {
		if s.Name == cfg.Scenario {
			sc = s
		}
	}
	started := time.Now()
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }

	systems, err := startSystems(ctx, cfg, logf)
	defer func() {
		for _, sys := range systems {
			sys.Close()
		}
	}()
	if err != nil {
		return err
	}
	d, err := buildDataset(ctx, cfg, sc, logf)
	if err != nil {
		return err
	}
	imports, err := loadAll(ctx, systems, d, logf)
	if err != nil {
		return err
	}
	ref := referenceSystem(systems)
	mix, err := prepareChecks(ctx, cfg, sc, d, ref, logf)
	if err != nil {
		return err
	}
	plan, err := planWorkloads(ctx, cfg, d, ref, logf)
	if err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if err := verifyAll(ctx, cfg, systems, d, plan, stderr, logf); err != nil {
		return err
	}
	results, err := runWorkloads(ctx, cfg, systems, plan, imports, stderr, logf)
	if err != nil {
		return err
	}
	rep := &Report{
		StartedAt: started.UTC(), Scenario: sc.Name, Source: sc.Source,
		Relationships: len(d.Relationships), Queries: len(d.Checks), QueryMix: mix,
		LookupResourcesQueries: plan.resources.size(), LookupSubjectsQueries: plan.subjects.size(),
		Flags: cfg.flags(), GoVersion: runtime.Version(), Machine: thisMachine(),
		Results: results, Ratios: ratios(results), CheckVsNoop: checkVsNoop(results),
	}
	if err := writeTable(stdout, rep); err != nil {
		return err
	}
	if cfg.Out != "" {
		if err := writeJSON(cfg.Out, rep); err != nil {
			return err
		}
		logf("wrote %s", cfg.Out)
	}
	return nil
}

// buildDataset builds the scenario's schema and relationships.
func buildDataset(ctx context.Context, cfg Config, sc Scenario, logf func(string, ...any)) (*Dataset, error) {
	if cfg.Rels != 0 && !sc.Scales {
		logf("note: scenario %s has a fixed size; --rels %d is ignored", sc.Name, cfg.Rels)
	}
	logf("building scenario %s ...", sc.Name)
	d, err := sc.Build(ctx, BuildParams{Rels: cfg.Rels, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if d.MaxDepth > 50 {
		logf("note: scenario %s asks for dispatch depth %d; every server runs with the default 50", sc.Name, d.MaxDepth)
	}
	return d, nil
}

// referenceSystem is the system whose fully consistent answers are the
// expected ones: the first gatehouse system, else the first system.
func referenceSystem(systems []*System) *System {
	for _, sys := range systems {
		if sys.Kind == "gatehouse" {
			return sys
		}
	}
	return systems[0]
}

// loadAll loads the dataset into every system, one after the other, and
// returns how each import went.
func loadAll(ctx context.Context, systems []*System, d *Dataset, logf func(string, ...any)) ([]importStats, error) {
	out := make([]importStats, len(systems))
	for i, sys := range systems {
		t0 := time.Now()
		cpu0, err := sys.CPU()
		if err != nil {
			return nil, err
		}
		st, err := load(ctx, sys, d)
		if err != nil {
			return nil, err
		}
		cpu1, err := sys.CPU()
		if err != nil {
			return nil, err
		}
		st.cpu = cpu1 - cpu0
		if st.peakRSS, err = sys.PeakRSS(); err != nil {
			return nil, err
		}
		out[i] = st
		logf("loaded %s at %s: schema + %d relationships in %v", sys.Name, sys.Addr, len(d.Relationships), time.Since(t0).Round(time.Millisecond))
	}
	return out, nil
}

// prepareChecks sets d.Checks to the check queries to time (generated or the
// scenario's own), each classified by ref fully consistent, and returns
// their mix.
func prepareChecks(ctx context.Context, cfg Config, sc Scenario, d *Dataset, ref *System, logf func(string, ...any)) (QueryMix, error) {
	classify := func(ctx context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		return check(ctx, ref, q, fullyConsistent)
	}
	var mix QueryMix
	t0 := time.Now()
	if cfg.Queries == queriesGenerated {
		sch, err := readSchema(ctx, ref)
		if err != nil {
			return mix, err
		}
		d.Checks, mix, err = generateQueries(ctx, sch, d.Relationships, cfg.QueryCount, cfg.Seed, QueryShape{Permissions: d.QueryPermissions, Context: d.ContextFor}, classify)
		if err != nil {
			return mix, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		if mix.Queries < cfg.QueryCount {
			logf("note: kept %d generated queries of the %d asked for: the data gives no more distinct ones with at least a third allowed", mix.Queries, cfg.QueryCount)
		}
	} else {
		if len(d.Checks) == 0 {
			return mix, fmt.Errorf("scenario %s: scenario has no check queries", sc.Name)
		}
		var err error
		mix, err = classifyQueries(ctx, d.Checks, classify)
		if err != nil {
			return mix, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
	}
	logf("queries: %s (classified by %s, fully consistent; %d candidates, %d rejected, in %v)", mix, ref.Name, mix.Candidates, mix.Rejected, time.Since(t0).Round(time.Millisecond))
	return mix, nil
}

// workloadPlan is the workloads chosen with --workloads, built and with
// their expected answers, and the lookup query sets they use.
type workloadPlan struct {
	names     []string   // --workloads names, in order
	workloads []Workload // by name; nil for import, which was timed by loadAll
	resources *lookupSet // LookupResources queries and answers; nil unless used
	subjects  *lookupSet // LookupSubjects queries and answers; nil unless used
}

// planWorkloads builds the chosen workloads over the check queries. Lookup
// workloads' expected answers come from ref, fully consistent.
func planWorkloads(ctx context.Context, cfg Config, d *Dataset, ref *System, logf func(string, ...any)) (*workloadPlan, error) {
	p := &workloadPlan{names: cfg.Workloads}
	checks, err := newCheckWorkload(d)
	if err != nil {
		return nil, err
	}
	answer := func(kind string, qs []lookupQuery) (*lookupSet, error) {
		t0 := time.Now()
		s, err := answerLookups(ctx, ref, kind, qs)
		if err != nil {
			return nil, err
		}
		logf("lookup queries: %d %s, %d results in all (answered by %s, fully consistent, in %v)",
			len(s.queries), kind, s.results(), ref.Name, time.Since(t0).Round(time.Millisecond))
		return s, nil
	}
	for _, name := range cfg.Workloads {
		var w Workload
		switch name {
		case workloadCheck:
			w = checks
		case workloadCheckBulk:
			w, err = newCheckBulkWorkload(d, cfg.Batch)
		case workloadLookupResources, workloadLookupResourcesPage:
			if p.resources == nil {
				if p.resources, err = answer("LookupResources", resourcesQueries(d.Checks)); err != nil {
					break
				}
			}
			if name == workloadLookupResources {
				w, err = newLookupWorkload("LookupResources", p.resources, 0)
			} else {
				w, err = newLookupWorkload("LookupResourcesPage", p.resources, uint32(cfg.PageSize))
			}
		case workloadLookupSubjects:
			if p.subjects, err = answer("LookupSubjects", subjectsQueries(d.Checks)); err != nil {
				break
			}
			w, err = newLookupWorkload("LookupSubjects", p.subjects, 0)
		case workloadMixed:
			w, err = newMixedWorkload(d, checks)
		case workloadNoop:
			w = noopWorkload{}
		case workloadImport:
		default:
			err = fmt.Errorf("unknown workload %q", name)
		}
		if err != nil {
			return nil, err
		}
		p.workloads = append(p.workloads, w)
	}
	return p, nil
}

// verifyAll asks every system a sample of the check queries and of the
// lookup queries in use, fully consistent, and fails on the first answer
// that differs from the first system's. It then waits until every system's
// minimize_latency answers are current.
func verifyAll(ctx context.Context, cfg Config, systems []*System, d *Dataset, p *workloadPlan, warn io.Writer, logf func(string, ...any)) error {
	qs := sample(d.Checks, cfg.Verify, cfg.Seed)
	if err := verify(ctx, systems, qs, warn); err != nil {
		return err
	}
	logf("verified: identical answers on %d sampled check queries", len(qs))
	for _, set := range []*lookupSet{p.resources, p.subjects} {
		if set == nil {
			continue
		}
		if err := verifyLookups(ctx, systems, set, cfg.Verify, cfg.Seed); err != nil {
			return err
		}
		logf("verified: identical result sets on %d sampled %s queries", min(cfg.Verify, len(set.queries)), set.kind)
	}
	return settle(ctx, systems, qs, 15*time.Second)
}

// runWorkloads times each planned workload on every system, interleaved
// ABBA, one after the other; import reports the load loadAll timed.
func runWorkloads(ctx context.Context, cfg Config, systems []*System, p *workloadPlan, imports []importStats, stderr io.Writer, logf func(string, ...any)) ([]Result, error) {
	var progress io.Writer
	if cfg.Duration > 3*time.Second {
		progress = stderr
	}
	var results []Result
	for i, w := range p.workloads {
		if p.names[i] == workloadImport {
			for j, sys := range systems {
				results = append(results, imports[j].result(sys))
			}
			continue
		}
		logf("running %s for %v (%d rounds per system, concurrency %d) ...", w.Name(), cfg.Duration, cfg.Rounds, cfg.Concurrency)
		rs, err := runInterleaved(ctx, cfg, systems, w, progress)
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	}
	return results, nil
}

// readSchema reads sys's schema over the wire and compiles it with
// gatehouse's schema package (SpiceDB's compiler and type checks).
func readSchema(ctx context.Context, sys *System) (*schema.Schema, error) {
	resp, err := sys.Client(0).ReadSchema(ctx, &v1.ReadSchemaRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: read schema: %w", sys.Name, err)
	}
	sch, err := schema.Compile(resp.GetSchemaText())
	if err != nil {
		return nil, fmt.Errorf("%s: compile schema read back: %w", sys.Name, err)
	}
	return sch, nil
}

// startSystems starts cfg.Systems, each in a child process of this
// executable. The systems started so far are returned with any error, for
// the caller to close.
func startSystems(ctx context.Context, cfg Config, logf func(string, ...any)) ([]*System, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	key, err := randomKey()
	if err != nil {
		return nil, err
	}
	o := systemOptions{exe: exe, key: key, conns: cfg.Conns, postgresURL: cfg.PostgresURL}
	var systems []*System
	for _, name := range cfg.Systems {
		t0 := time.Now()
		sys, err := startSystem(ctx, name, o)
		if err != nil {
			return systems, err
		}
		systems = append(systems, sys)
		logf("started %s: pid %d, %s, in %v", name, sys.PID(), sys.Addr, time.Since(t0).Round(time.Millisecond))
	}
	return systems, nil
}

// randomKey makes the preshared key every server require for this run.
func randomKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("preshared key: %w", err)
	}
	return hex.EncodeToString(b), nil
}
