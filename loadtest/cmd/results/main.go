// Command results turns a directory of loadtest JSON reports into a
// markdown summary (RESULTS.md) and a plot of CheckPermission throughput and
// p99 latency.
//
//	go run ./cmd/results --in results --out-md RESULTS.md --out-png results.png --command loadtest/scripts/results
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the command line asks for.
type config struct {
	in      string
	outMD   string
	outPNG  string
	command string
}

// run is the whole command: 0 on success, 1 on a failed generation, 2 on
// bad usage. Errors are one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "results: %v\n", err)
		return 2
	}
	if err := generate(cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "results: %v\n", err)
		return 1
	}
	return 0
}

func parseArgs(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("results", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.in, "in", "", "directory of loadtest JSON reports (every *.json in it)")
	fs.StringVar(&cfg.outMD, "out-md", "RESULTS.md", "markdown file to write")
	fs.StringVar(&cfg.outPNG, "out-png", "results.png", "PNG plot to write, embedded in the markdown")
	fs.StringVar(&cfg.command, "command", "", "the command that regenerates everything, quoted in the markdown (default: this generator's command line)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.in == "":
		return cfg, errors.New("--in DIR is required")
	case cfg.outMD == "" || cfg.outPNG == "":
		return cfg, errors.New("--out-md and --out-png must not be empty")
	}
	if cfg.command == "" {
		cfg.command = "go run ./cmd/results --in " + shellQuote(cfg.in) + " --out-md " + shellQuote(cfg.outMD) +
			" --out-png " + shellQuote(cfg.outPNG)
	}
	return cfg, nil
}

func generate(cfg config, stdout io.Writer) error {
	runs, err := loadDir(cfg.in)
	if err != nil {
		return err
	}
	opts := mdOptions{Command: cfg.command}
	if !anyCPUModel(runs) {
		opts.GeneratorCPUModel = cpuModel("/proc/cpuinfo")
	}
	wrotePlot, err := writePlotFile(cfg.outPNG, runs)
	if err != nil {
		return err
	}
	if wrotePlot {
		rel, err := filepath.Rel(filepath.Dir(cfg.outMD), cfg.outPNG)
		if err != nil {
			rel = cfg.outPNG
		}
		opts.Plot = filepath.ToSlash(rel)
	}
	var b strings.Builder
	writeMarkdown(&b, runs, opts)
	if err := os.WriteFile(cfg.outMD, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write markdown: %w", err)
	}
	fmt.Fprintf(stdout, "results: %d reports from %s -> %s", len(runs), cfg.in, cfg.outMD)
	if wrotePlot {
		fmt.Fprintf(stdout, ", %s", cfg.outPNG)
	}
	fmt.Fprintln(stdout)
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./,=:@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
