package main

import (
	"testing"
	"time"
)

func TestLatencies_Percentile(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- { // added out of order on purpose
		l.Add(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		name string
		p    float64
		want time.Duration
	}{
		{"p50", 50, 50 * time.Millisecond},
		{"p95", 95, 95 * time.Millisecond},
		{"p99", 99, 99 * time.Millisecond},
		{"p100", 100, 100 * time.Millisecond},
		{"tiny p rounds up to the first sample", 0.001, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.Percentile(tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestLatencies_Empty(t *testing.T) {
	var l Latencies
	if got := l.Percentile(99); got != 0 {
		t.Errorf("empty Percentile(99) = %v, want 0", got)
	}
}

func TestLatencies_MergeResorts(t *testing.T) {
	var a, b Latencies
	a.Add(3 * time.Millisecond)
	a.Add(1 * time.Millisecond)
	_ = a.Percentile(50) // sorts a
	b.Add(2 * time.Millisecond)
	a.Merge(&b)
	if a.Count() != 3 {
		t.Fatalf("Count = %d, want 3", a.Count())
	}
	if got := a.Percentile(50); got != 2*time.Millisecond {
		t.Errorf("p50 after merge = %v, want 2ms", got)
	}
}
