package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRatios_AgainstFastestSpiceDB(t *testing.T) {
	results := []Result{
		{System: "gatehouse-memory", Kind: "gatehouse", Workload: "CheckPermission", RPS: 50000, P99ms: 1},
		{System: "spicedb-memory", Kind: "spicedb", Workload: "CheckPermission", RPS: 2000, P99ms: 40},
		{System: "spicedb-postgres", Kind: "spicedb", Workload: "CheckPermission", RPS: 10000, P99ms: 10},
		{System: "gatehouse-memory", Kind: "gatehouse", Workload: "LookupResources", RPS: 100, P99ms: 5},
		{System: "spicedb-memory", Kind: "spicedb", Workload: "LookupResources", RPS: 0, P99ms: 0},
		{System: "gatehouse-memory", Kind: "gatehouse", Workload: "GatehouseOnly", RPS: 1},
	}
	got := ratios(results)
	want := []Ratio{
		{Workload: "CheckPermission", Gatehouse: "gatehouse-memory", SpiceDB: "spicedb-postgres", Throughput: 5, P99: 0.1},
		{Workload: "LookupResources", Gatehouse: "gatehouse-memory", SpiceDB: "spicedb-memory", Throughput: 0, P99: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("ratios = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ratio %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestWriteTable_ShowsRatiosAndNA(t *testing.T) {
	results := []Result{
		{System: "gatehouse-memory", Kind: "gatehouse", Workload: "CheckPermission", RPS: 30000, P50ms: 0.4, P95ms: 0.9, P99ms: 1.5,
			ServerCPUSeconds: 1.25, ServerCPUPer1000: 0.0125, ServerPeakRSS: 48 << 20},
		{System: "spicedb-memory", Kind: "spicedb", Workload: "CheckPermission", RPS: 10000, P50ms: 1, P95ms: 3, P99ms: 0},
	}
	rep := &Report{Scenario: "DeepArrow", Source: "spicedb", Results: results, Ratios: ratios(results),
		QueryMix: QueryMix{Source: "generated", Seed: 3, Queries: 2000, Allowed: 1000, Denied: 990, Conditional: 10}}
	var buf bytes.Buffer
	if err := writeTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{"2000 generated check queries (seed 3): 1000 allowed, 990 denied, 10 conditional", "gatehouse-memory / spicedb-memory", "3.00x", "n/a", "400µs", "1.50ms", "30000", "1.25s", "12.5", "48 MiB", "peak rss"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

func TestMemTotal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"ok", "MemFree:  10 kB\nMemTotal:       8048576 kB\n", 8048576 * 1024, false},
		{"missing", "MemFree:  10 kB\n", 0, true},
		{"bad unit", "MemTotal: 12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := memTotal(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("memTotal = %d, %v; want %d, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestWriteTable_ItemsPerSecond(t *testing.T) {
	sys := &System{Name: "gatehouse-memory", Kind: "gatehouse"}
	imp := importStats{messages: 3, relationships: 2500, elapsed: 500 * time.Millisecond}.result(sys)
	if imp.Workload != "ImportBulkRelationships" || imp.Requests != 3 || imp.RPS != 6 || imp.ItemsPerSecond != 5000 || imp.P99ms != 500 {
		t.Fatalf("import result = %+v", imp)
	}
	results := []Result{
		{System: "gatehouse-memory", Kind: "gatehouse", Workload: "CheckBulkPermissions", RPS: 120, ItemsPerSecond: 12000},
		{System: "gatehouse-memory", Kind: "gatehouse", Workload: "CheckPermission", RPS: 9000},
		imp,
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, &Report{Results: results}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	for _, want := range [][]string{{"items/s"}, {"CheckBulkPermissions", "120", "12000"}, {"CheckPermission", "9000", " - "}, {"ImportBulkRelationships", "6", "5000", "500.00ms"}} {
		found := false
		for _, l := range lines {
			ok := true
			for _, s := range want {
				ok = ok && strings.Contains(l, s)
			}
			found = found || ok
		}
		if !found {
			t.Errorf("no table line has %q:\n%s", want, buf.String())
		}
	}
}

func TestCheckVsNoop(t *testing.T) {
	results := []Result{
		{System: "gatehouse-memory", Workload: checkWorkloadName, RPS: 800},
		{System: "gatehouse-memory", Workload: noopWorkloadName, RPS: 1000},
		{System: "spicedb-memory", Workload: checkWorkloadName, RPS: 300},
		{System: "spicedb-memory", Workload: "LookupResources", RPS: 50},
	}
	got := checkVsNoop(results)
	if len(got) != 1 || got[0].System != "gatehouse-memory" || got[0].Ratio != 0.8 {
		t.Errorf("checkVsNoop = %+v, want gatehouse-memory 0.8 only (spicedb ran no no-op)", got)
	}
	var b strings.Builder
	if err := writeTable(&b, &Report{Results: results, CheckVsNoop: got}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "gatehouse-memory: CheckPermission at 80% of the no-op RPC's throughput") {
		t.Errorf("table lacks the check/no-op line:\n%s", b.String())
	}
}
