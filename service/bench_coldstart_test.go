package service

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/store/postgres"
	"github.com/gatehouse-dev/gatehouse/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const coldStartSchema = `definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation viewer: user | group#member
	permission view = viewer
}`

// BenchmarkColdStartPostgres measures what a new replica does before it can
// serve: load the PostgreSQL store's snapshot into the index (service.New). The
// store holds GATEHOUSE_BENCH_COLDSTART_RELS relationships (default 1,000,000):
// 80% direct grants, 10% group grants, 10% group memberships. It reports the
// load time per operation and the heap the index holds afterwards.
func BenchmarkColdStartPostgres(b *testing.B) {
	n := 1000000
	if v := os.Getenv("GATEHOUSE_BENCH_COLDSTART_RELS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	u := pgtest.URL(b)
	ctx := context.Background()
	if _, err := postgres.Migrate(ctx, u); err != nil {
		b.Fatal(err)
	}
	st, err := postgres.Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.WriteSchema(ctx, coldStartSchema); err != nil {
		b.Fatal(err)
	}
	const batch = 100000
	rels := make([]tuple.Relationship, 0, batch)
	for i := range n {
		var s string
		switch i % 10 {
		case 0:
			s = fmt.Sprintf("document:d%d#viewer@group:g%d#member", i, i%5000)
		case 1:
			s = fmt.Sprintf("group:g%d#member@user:u%d", i%5000, i)
		default:
			s = fmt.Sprintf("document:d%d#viewer@user:u%d", i, i%100000)
		}
		rels = append(rels, tuple.MustParse(s))
		if len(rels) == batch || i == n-1 {
			if _, err := st.Import(ctx, rels); err != nil {
				b.Fatal(err)
			}
			rels = rels[:0]
		}
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var heap uint64
	for range b.N {
		srv, err := New(ctx, Config{Store: st, Keys: []Key{{Secret: "k", Scopes: ScopeAll}}})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		srv.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(heap)/float64(n), "heap-bytes/rel")
}
