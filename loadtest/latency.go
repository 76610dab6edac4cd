package main

import (
	"math"
	"slices"
	"time"
)

// Latencies holds every recorded request latency of one system and workload.
// The loads here are at most a few million requests, so keeping each sample
// and sorting once is exact and cheap; an HDR histogram can replace it if
// runs grow past memory.
type Latencies struct {
	samples []time.Duration
	sorted  bool
}

// Add records one latency.
func (l *Latencies) Add(d time.Duration) {
	l.samples = append(l.samples, d)
	l.sorted = false
}

// Merge appends every sample of o.
func (l *Latencies) Merge(o *Latencies) {
	l.samples = append(l.samples, o.samples...)
	l.sorted = false
}

// Count is the number of samples.
func (l *Latencies) Count() int { return len(l.samples) }

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100), or 0
// with no samples.
func (l *Latencies) Percentile(p float64) time.Duration {
	n := len(l.samples)
	if n == 0 {
		return 0
	}
	if !l.sorted {
		slices.Sort(l.samples)
		l.sorted = true
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return l.samples[rank-1]
}
