package main

import (
	"context"
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// loadBatch is the number of relationships per ImportBulkRelationships
// message, SpiceDB's default write limit.
const loadBatch = 1000

// load writes the dataset's schema and relationships to sys over the wire,
// through the same authzed-go client calls for every system.
func load(ctx context.Context, sys *System, d *Dataset) error {
	c := sys.Client(0)
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: d.Schema}); err != nil {
		return fmt.Errorf("%s: write schema: %w", sys.Name, err)
	}
	if len(d.Relationships) == 0 {
		return nil
	}
	stream, err := c.ImportBulkRelationships(ctx)
	if err != nil {
		return fmt.Errorf("%s: import relationships: %w", sys.Name, err)
	}
	for start := 0; start < len(d.Relationships); start += loadBatch {
		end := min(start+loadBatch, len(d.Relationships))
		if err := stream.Send(&v1.ImportBulkRelationshipsRequest{Relationships: d.Relationships[start:end]}); err != nil {
			// The server's reason, if any, comes from CloseAndRecv.
			_, rerr := stream.CloseAndRecv()
			return fmt.Errorf("%s: import relationships: %w (%v)", sys.Name, err, rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("%s: import relationships: %w", sys.Name, err)
	}
	if got := resp.GetNumLoaded(); got != uint64(len(d.Relationships)) {
		return fmt.Errorf("%s: import relationships: loaded %d of %d", sys.Name, got, len(d.Relationships))
	}
	return nil
}
