package main

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// loadBatch is the number of relationships per ImportBulkRelationships
// message, SpiceDB's default write limit.
const loadBatch = 1000

// importStats is how one system's ImportBulkRelationships load went.
type importStats struct {
	messages      int
	relationships int
	elapsed       time.Duration // from opening the stream to its response
	cpu           time.Duration // the server process's CPU time during the load
	peakRSS       int64         // the server's peak RSS after the load
}

// result is the import as a workload Result: requests are messages, items
// relationships, and the one latency sample the whole import.
func (s importStats) result(sys *System) Result {
	r := &roundResult{requests: s.messages, items: s.relationships, elapsed: s.elapsed, cpu: s.cpu}
	r.lat.Add(s.elapsed)
	rps := 0.0
	if s.elapsed > 0 {
		rps = float64(s.messages) / s.elapsed.Seconds()
	}
	return newResult(sys, importWorkloadName, r, []float64{rps}, s.peakRSS)
}

// importWorkloadName names the import in results.
const importWorkloadName = "ImportBulkRelationships"

// load writes the dataset's schema and relationships to sys over the wire,
// through the same authzed-go client calls for every system, and times the
// import.
func load(ctx context.Context, sys *System, d *Dataset) (importStats, error) {
	var st importStats
	c := sys.Client(0)
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: d.Schema}); err != nil {
		return st, fmt.Errorf("%s: write schema: %w", sys.Name, err)
	}
	if len(d.Relationships) == 0 {
		return st, nil
	}
	t0 := time.Now()
	stream, err := c.ImportBulkRelationships(ctx)
	if err != nil {
		return st, fmt.Errorf("%s: import relationships: %w", sys.Name, err)
	}
	for start := 0; start < len(d.Relationships); start += loadBatch {
		end := min(start+loadBatch, len(d.Relationships))
		if err := stream.Send(&v1.ImportBulkRelationshipsRequest{Relationships: d.Relationships[start:end]}); err != nil {
			// The server's reason, if any, comes from CloseAndRecv.
			_, rerr := stream.CloseAndRecv()
			return st, fmt.Errorf("%s: import relationships: %w (%v)", sys.Name, err, rerr)
		}
		st.messages++
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return st, fmt.Errorf("%s: import relationships: %w", sys.Name, err)
	}
	st.elapsed = time.Since(t0)
	if got := resp.GetNumLoaded(); got != uint64(len(d.Relationships)) {
		return st, fmt.Errorf("%s: import relationships: loaded %d of %d", sys.Name, got, len(d.Relationships))
	}
	st.relationships = len(d.Relationships)
	return st, nil
}
