package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// BenchmarkImport imports 100,000 relationships per operation (one Import, one
// transaction) into a store that grows with every operation, and reports
// relationships per second.
func BenchmarkImport(b *testing.B) {
	const batch = 100000
	s, _ := open(b)
	ctx := context.Background()
	rels := make([]tuple.Relationship, batch)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for j := range rels {
			rels[j] = tuple.MustParse(fmt.Sprintf("document:b%d_%d#viewer@user:u%d", i, j, j%1000))
		}
		b.StartTimer()
		if _, err := s.Import(ctx, rels); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "rels/s")
}

// BenchmarkWrite commits one-relationship write transactions (a TOUCH) one
// after another and reports their median and 99th percentile latency.
func BenchmarkWrite(b *testing.B) {
	s, _ := open(b)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		u := []store.Update{{Op: store.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:w%d#viewer@user:u%d", i%5000, i%7))}}
		start := time.Now()
		if _, err := s.Write(ctx, nil, u); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
