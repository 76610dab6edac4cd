package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Config is what one loadtest run is configured with.
type Config struct {
	Scenario    string
	Duration    time.Duration
	Concurrency int
	Conns       int
	Rounds      int
	Warmup      time.Duration
	Rels        int
	Seed        int64
	Verify      int
	Queries     string // "generated" or "scenario"
	QueryCount  int
	// Workloads are the workloads to time, in --workloads order, "all"
	// expanded and duplicates dropped.
	Workloads []string
	Batch     int // items per CheckBulkPermissions request
	PageSize  int // OptionalLimit for lookup-resources-page
	Out       string
	List      bool
	// Systems are the systems to run, in the order given.
	Systems []string
	// PostgresURL is the administrative connection for spicedb-postgres.
	PostgresURL string
	// Args are the command-line arguments as given, for the record.
	Args []string
}

// Flags is a Config as recorded in the JSON results, durations as Go
// duration strings ("20s").
type Flags struct {
	Args        []string `json:"args"`
	Scenario    string   `json:"scenario"`
	Duration    string   `json:"duration"`
	Concurrency int      `json:"concurrency"`
	Conns       int      `json:"connections"`
	Rounds      int      `json:"rounds"`
	Warmup      string   `json:"warmup"`
	Rels        int      `json:"relationships,omitempty"`
	Seed        int64    `json:"seed"`
	Verify      int      `json:"verify_sample"`
	Queries     string   `json:"queries"`
	QueryCount  int      `json:"query_count,omitempty"`
	Workloads   []string `json:"workloads"`
	Batch       int      `json:"batch,omitempty"`
	PageSize    int      `json:"page_size,omitempty"`
	Systems     []string `json:"systems"`
}

func (c Config) flags() Flags {
	f := Flags{
		Args: c.Args, Scenario: c.Scenario, Duration: c.Duration.String(), Concurrency: c.Concurrency, Conns: c.Conns,
		Rounds: c.Rounds, Warmup: c.Warmup.String(), Rels: c.Rels, Seed: c.Seed, Verify: c.Verify, Queries: c.Queries,
		Workloads: c.Workloads, Systems: c.Systems,
	}
	if c.Queries == queriesGenerated {
		f.QueryCount = c.QueryCount
	}
	if slices.Contains(c.Workloads, workloadCheckBulk) {
		f.Batch = c.Batch
	}
	if slices.Contains(c.Workloads, workloadLookupResourcesPage) {
		f.PageSize = c.PageSize
	}
	return f
}

// UsageError is a bad flag or argument: the process exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// defaultSystems is --systems's default.
const defaultSystems = "gatehouse-memory,spicedb-memory,spicedb-postgres"

// parseFlags reads args into a Config and checks it against the known
// scenario names. postgresURL is --postgres-url's default.
func parseFlags(args []string, stderr io.Writer, scenarioNames []string, postgresURL string) (Config, error) {
	c := Config{Args: args}
	var systems string
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Scenario, "scenario", "", "scenario to run (see --list)")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "measured time per workload for all systems together, split into rounds")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "concurrent callers per system")
	fs.IntVar(&c.Conns, "conns", 1, "gRPC connections per system, shared round-robin by the callers")
	fs.IntVar(&c.Rounds, "rounds", 4, "timed rounds per system; systems alternate ABBA so drift hits both alike")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "untimed warm-up per system before the first round")
	fs.IntVar(&c.Rels, "rels", 0, "relationship count for scenarios that scale (0 = the scenario's default)")
	fs.Int64Var(&c.Seed, "seed", 1, "seed for data generation, generated queries and the verification sample")
	fs.IntVar(&c.Verify, "verify", 200, "queries checked for identical answers before timing")
	fs.StringVar(&c.Queries, "queries", queriesGenerated, "check queries to time: \"generated\" (a seeded set of distinct queries over the loaded data, about half allowed) or \"scenario\" (the scenario's own)")
	fs.IntVar(&c.QueryCount, "query-count", 2000, "number of distinct queries with --queries generated")
	workloads := fs.String("workloads", workloadCheck, "comma-separated workloads to time, or \"all\": "+strings.Join(workloadNames(), ", "))
	fs.IntVar(&c.Batch, "batch", 100, "items per CheckBulkPermissions request (checkbulk)")
	fs.IntVar(&c.PageSize, "page-size", 100, "OptionalLimit of the one page read (lookup-resources-page)")
	fs.StringVar(&c.Out, "out", "", "write results as JSON to this file")
	fs.BoolVar(&c.List, "list", false, "list scenarios and exit")
	fs.StringVar(&systems, "systems", defaultSystems, "comma-separated systems to run, each in its own process: "+strings.Join(systemNames(), ", "))
	fs.StringVar(&c.PostgresURL, "postgres-url", postgresURL, "PostgreSQL to create spicedb-postgres's database on (default from $LOADTEST_POSTGRES_URL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, &UsageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected argument %q", fs.Arg(0))
	}
	if c.List {
		return c, nil
	}
	var err error
	if c.Workloads, err = parseWorkloads(*workloads); err != nil {
		return c, err
	}
	if c.Systems, err = parseSystems(systems); err != nil {
		return c, err
	}
	return c, c.validate(scenarioNames)
}

func (c Config) validate(scenarioNames []string) error {
	switch {
	case c.Scenario == "":
		return usagef("--scenario is required; valid scenarios: %s", strings.Join(scenarioNames, ", "))
	case !contains(scenarioNames, c.Scenario):
		return usagef("unknown scenario %q; valid scenarios: %s", c.Scenario, strings.Join(scenarioNames, ", "))
	case c.Duration <= 0:
		return usagef("--duration must be positive")
	case c.Concurrency < 1:
		return usagef("--concurrency must be at least 1")
	case c.Conns < 1 || c.Conns > c.Concurrency:
		return usagef("--conns must be between 1 and --concurrency")
	case c.Rounds < 1:
		return usagef("--rounds must be at least 1")
	case c.Duration/time.Duration(2*c.Rounds) < 100*time.Millisecond:
		return usagef("--duration %v is too short for %d rounds per system (each round would be under 100ms)", c.Duration, c.Rounds)
	case c.Warmup < 0:
		return usagef("--warmup must not be negative")
	case c.Rels < 0:
		return usagef("--rels must not be negative")
	case c.Verify < 1:
		return usagef("--verify must be at least 1")
	case c.Queries != queriesGenerated && c.Queries != queriesScenario:
		return usagef("--queries must be %q or %q, not %q", queriesGenerated, queriesScenario, c.Queries)
	case c.QueryCount < 2:
		return usagef("--query-count must be at least 2 (one allowed and one denied query)")
	case c.Batch < 1 || c.Batch > maxBatch:
		return usagef("--batch must be between 1 and %d", maxBatch)
	case c.PageSize < 1 || c.PageSize > maxPageSize:
		return usagef("--page-size must be between 1 and %d", maxPageSize)
	case contains(c.Systems, "spicedb-postgres"):
		if err := checkPostgresURL(c.PostgresURL); err != nil {
			return &UsageError{Msg: err.Error()}
		}
	}
	return nil
}

// Limits on --batch and --page-size: SpiceDB's defaults for the most items
// in one bulk check and the largest LookupResources limit are 1000.
const (
	maxBatch    = 1000
	maxPageSize = 1000
)

// parseWorkloads reads a --workloads value: comma-separated workload names,
// or "all" for every one. Duplicates are dropped; order is kept.
func parseWorkloads(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == workloadAll:
			for _, n := range workloadNames() {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		case slices.Contains(workloadNames(), name):
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		default:
			return nil, usagef("unknown workload %q; valid workloads: %s, %s", name, strings.Join(workloadNames(), ", "), workloadAll)
		}
	}
	return out, nil
}

// parseSystems splits --systems into known, distinct system names.
func parseSystems(s string) ([]string, error) {
	valid := systemNames()
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return nil, usagef("--systems has an empty name; valid systems: %s", strings.Join(valid, ", "))
		case !contains(valid, name):
			return nil, usagef("unknown system %q; valid systems: %s", name, strings.Join(valid, ", "))
		case contains(out, name):
			return nil, usagef("--systems names %s twice", name)
		}
		out = append(out, name)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
