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
	if cfg.Rels != 0 && !sc.Scales {
		logf("note: scenario %s has a fixed size; --rels %d is ignored", sc.Name, cfg.Rels)
	}

	systems, err := startSystems(ctx, cfg, logf)
	defer func() {
		for _, sys := range systems {
			sys.Close()
		}
	}()
	if err != nil {
		return err
	}

	logf("building scenario %s ...", sc.Name)
	d, err := sc.Build(ctx, BuildParams{Rels: cfg.Rels, Seed: cfg.Seed})
	if err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if d.MaxDepth > 50 {
		logf("note: scenario %s asks for dispatch depth %d; every server runs with the default 50", sc.Name, d.MaxDepth)
	}
	for _, sys := range systems {
		t0 := time.Now()
		if err := load(ctx, sys, d); err != nil {
			return err
		}
		logf("loaded %s at %s: schema + %d relationships in %v", sys.Name, sys.Addr, len(d.Relationships), time.Since(t0).Round(time.Millisecond))
	}
	// Queries are classified by gatehouse where it runs: its answers are the
	// ones the README describes; else by the first system.
	classifier := systems[0]
	for _, sys := range systems {
		if sys.Kind == "gatehouse" {
			classifier = sys
			break
		}
	}
	classify := func(ctx context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		return check(ctx, classifier, q, fullyConsistent)
	}
	var mix QueryMix
	t0 := time.Now()
	if cfg.Queries == queriesGenerated {
		sch, err := readSchema(ctx, classifier)
		if err != nil {
			return err
		}
		d.Checks, mix, err = generateQueries(ctx, sch, d.Relationships, cfg.QueryCount, cfg.Seed, classify)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		if mix.Queries < cfg.QueryCount {
			logf("note: kept %d generated queries of the %d asked for: the data gives no more distinct ones with at least a third allowed", mix.Queries, cfg.QueryCount)
		}
	} else {
		if len(d.Checks) == 0 {
			return fmt.Errorf("scenario %s: scenario has no check queries", sc.Name)
		}
		mix, err = classifyQueries(ctx, d.Checks, classify)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
	}
	logf("queries: %s (classified by %s, fully consistent; %d candidates, %d rejected, in %v)", mix, classifier.Name, mix.Candidates, mix.Rejected, time.Since(t0).Round(time.Millisecond))
	w, err := newCheckWorkload(d)
	if err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	qs := sample(d.Checks, cfg.Verify, cfg.Seed)
	if err := verify(ctx, systems, qs, stderr); err != nil {
		return err
	}
	logf("verified: identical answers on %d sampled check queries", len(qs))
	if err := settle(ctx, systems, qs, 15*time.Second); err != nil {
		return err
	}

	var progress io.Writer
	if cfg.Duration > 3*time.Second {
		progress = stderr
	}
	logf("running %s for %v (%d rounds per system, concurrency %d) ...", w.Name(), cfg.Duration, cfg.Rounds, cfg.Concurrency)
	results, err := runInterleaved(ctx, cfg, systems, w, progress)
	if err != nil {
		return err
	}
	rep := &Report{
		StartedAt: started.UTC(), Scenario: sc.Name, Source: sc.Source,
		Relationships: len(d.Relationships), Queries: len(d.Checks), QueryMix: mix,
		Flags: cfg.flags(), GoVersion: runtime.Version(), Machine: thisMachine(),
		Results: results, Ratios: ratios(results),
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
