package main

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlags_Validation(t *testing.T) {
	names := []string{"DeepArrow", "WideArrow"}
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; empty means success
	}{
		{"ok", []string{"--scenario", "DeepArrow", "--duration", "8s"}, ""},
		{"list needs no scenario", []string{"--list"}, ""},
		{"missing scenario", []string{}, "--scenario is required; valid scenarios: DeepArrow, WideArrow"},
		{"unknown scenario", []string{"--scenario", "Nope"}, `unknown scenario "Nope"; valid scenarios: DeepArrow, WideArrow`},
		{"zero duration", []string{"--scenario", "DeepArrow", "--duration", "0s"}, "--duration must be positive"},
		{"zero concurrency", []string{"--scenario", "DeepArrow", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{"more conns than callers", []string{"--scenario", "DeepArrow", "--concurrency", "2", "--conns", "3"}, "--conns"},
		{"rounds too short", []string{"--scenario", "DeepArrow", "--duration", "1s", "--rounds", "8"}, "too short"},
		{"negative rels", []string{"--scenario", "DeepArrow", "--rels", "-1"}, "--rels"},
		{"stray argument", []string{"--scenario", "DeepArrow", "extra"}, `unexpected argument "extra"`},
		{"scenario queries", []string{"--scenario", "DeepArrow", "--queries", "scenario"}, ""},
		{"unknown queries", []string{"--scenario", "DeepArrow", "--queries", "random"}, `--queries must be "generated" or "scenario", not "random"`},
		{"too few queries", []string{"--scenario", "DeepArrow", "--query-count", "1"}, "--query-count must be at least 2"},
		{"undefined flag", []string{"--nope"}, "flag provided but not defined"},
		{"one system", []string{"--scenario", "DeepArrow", "--systems", "gatehouse-bolt"}, ""},
		{"all systems", []string{"--scenario", "DeepArrow", "--systems", "gatehouse-memory, gatehouse-bolt,spicedb-memory,spicedb-postgres"}, ""},
		{"unknown system", []string{"--scenario", "DeepArrow", "--systems", "gatehouse-memory,spicedb-crdb"}, `unknown system "spicedb-crdb"; valid systems: gatehouse-memory, gatehouse-bolt, spicedb-memory, spicedb-postgres`},
		{"empty system", []string{"--scenario", "DeepArrow", "--systems", "gatehouse-memory,,spicedb-memory"}, "--systems has an empty name; valid systems: gatehouse-memory"},
		{"no systems", []string{"--scenario", "DeepArrow", "--systems", ""}, "--systems has an empty name"},
		{"system twice", []string{"--scenario", "DeepArrow", "--systems", "spicedb-memory,spicedb-memory"}, "--systems names spicedb-memory twice"},
		{"postgres url not a url", []string{"--scenario", "DeepArrow", "--postgres-url", "host=localhost dbname=x"}, "--postgres-url must be a URL like postgres://"},
		{"postgres url unused", []string{"--scenario", "DeepArrow", "--systems", "spicedb-memory", "--postgres-url", "host=localhost"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard, names, defaultPostgresURL)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseFlags(%q) = %v, want nil", tt.args, err)
				}
				return
			}
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseFlags(%q) = %v, want a *UsageError", tt.args, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseFlags(%q) = %q, want it to contain %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestParseFlags_Defaults(t *testing.T) {
	c, err := parseFlags([]string{"--scenario", "DeepArrow"}, io.Discard, []string{"DeepArrow"}, "postgres://db.example/x")
	if err != nil {
		t.Fatal(err)
	}
	if c.Duration != 20*time.Second || c.Concurrency != 16 || c.Rounds != 4 || c.Conns != 1 || c.Queries != "generated" || c.QueryCount != 2000 ||
		!slices.Equal(c.Systems, []string{"gatehouse-memory", "spicedb-memory", "spicedb-postgres"}) || c.PostgresURL != "postgres://db.example/x" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestParseFlags_Workloads(t *testing.T) {
	names := []string{"DeepArrow"}
	all := []string{"check", "checkbulk", "lookup-resources", "lookup-resources-page", "lookup-subjects", "mixed", "import", "noop"}
	tests := []struct {
		name     string
		args     []string
		want     []string
		batch    int
		pageSize int
		wantErr  string
	}{
		{name: "default", args: nil, want: []string{"check"}, batch: 100, pageSize: 100},
		{name: "all", args: []string{"--workloads", "all"}, want: all, batch: 100, pageSize: 100},
		{name: "list kept in order without duplicates", args: []string{"--workloads", "mixed, check,mixed", "--batch", "7", "--page-size", "3"},
			want: []string{"mixed", "check"}, batch: 7, pageSize: 3},
		{name: "all after one", args: []string{"--workloads", "import,all"}, want: append(append([]string{"import"}, all[:6]...), "noop"), batch: 100, pageSize: 100},
		{name: "unknown", args: []string{"--workloads", "check,lookup"},
			wantErr: `unknown workload "lookup"; valid workloads: check, checkbulk, lookup-resources, lookup-resources-page, lookup-subjects, mixed, import, noop, all`},
		{name: "empty name", args: []string{"--workloads", "check,"}, wantErr: `unknown workload ""`},
		{name: "zero batch", args: []string{"--batch", "0"}, wantErr: "--batch must be between 1 and 1000"},
		{name: "huge batch", args: []string{"--batch", "1001"}, wantErr: "--batch must be between 1 and 1000"},
		{name: "zero page size", args: []string{"--page-size", "0"}, wantErr: "--page-size must be between 1 and 1000"},
		{name: "non-numeric batch", args: []string{"--batch", "ten"}, wantErr: "invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(append([]string{"--scenario", "DeepArrow"}, tt.args...), io.Discard, names, defaultPostgresURL)
			if tt.wantErr != "" {
				var ue *UsageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) = %v, want a *UsageError containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q) = %v", tt.args, err)
			}
			if !slices.Equal(c.Workloads, tt.want) || c.Batch != tt.batch || c.PageSize != tt.pageSize {
				t.Errorf("workloads %q batch %d page size %d; want %q %d %d", c.Workloads, c.Batch, c.PageSize, tt.want, tt.batch, tt.pageSize)
			}
		})
	}
}

func TestConfigFlags_RecordsWorkloadKnobsInUse(t *testing.T) {
	c := Config{Queries: queriesGenerated, Workloads: []string{"check"}, Batch: 100, PageSize: 50}
	if f := c.flags(); f.Batch != 0 || f.PageSize != 0 || !slices.Equal(f.Workloads, []string{"check"}) {
		t.Errorf("flags = %+v, want no batch or page size", f)
	}
	c.Workloads = []string{"checkbulk", "lookup-resources-page"}
	if f := c.flags(); f.Batch != 100 || f.PageSize != 50 {
		t.Errorf("flags = %+v, want batch 100 and page size 50", f)
	}
}
