package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr string
	}{
		{
			name: "plain name",
			stat: "4242 (loadtest) S 1 4242 4242 0 -1 4194560 2375 0 0 0 123 45 0 0 20 0 9 0 81234 1287659520 5981 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n",
			want: 1680 * time.Millisecond,
		},
		{
			name: "name with spaces and parentheses",
			stat: "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1\n",
			want: 100 * time.Millisecond,
		},
		{name: "no name", stat: "7 R 1", wantErr: "no command name"},
		{name: "truncated", stat: "7 (x) R 1 2 3", wantErr: "fields after the command name"},
		{name: "not a number", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 3 0", wantErr: "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.stat)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStatCPU = %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tloadtest\nVmPeak:\t 1300000 kB\nVmHWM:\t   24120 kB\nVmRSS:\t   23000 kB\n"
	got, err := parseStatusKB(strings.NewReader(status), "VmHWM")
	if err != nil || got != 24120*1024 {
		t.Errorf("VmHWM = %d, %v; want %d", got, err, 24120*1024)
	}
	if _, err := parseStatusKB(strings.NewReader(status), "VmSwap"); err == nil {
		t.Error("missing key: want an error")
	}
	if _, err := parseStatusKB(strings.NewReader("VmHWM:\t12 MB\n"), "VmHWM"); err == nil {
		t.Error("unexpected unit: want an error")
	}
}

// TestProcessUsage_Self reads this test process's own figures.
func TestProcessUsage_Self(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	before, err := processCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has charged at least two ticks.
	start := time.Now()
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		now, err := processCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 2*time.Second/userHZ {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("cpu time stayed at %v after 10s of spinning (%d)", now, x)
		}
	}
	wall := time.Since(start)
	after, _ := processCPU(pid)
	if used := after - before; used > wall*time.Duration(runtime.NumCPU())+time.Second {
		t.Errorf("used %v cpu in %v wall on %d cpus", used, wall, runtime.NumCPU())
	}
	rss, err := processPeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<40 {
		t.Errorf("peak rss = %d bytes, want between 1 MiB and 1 TiB", rss)
	}
}
