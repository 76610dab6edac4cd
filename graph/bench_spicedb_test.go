package graph_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sort"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	dscfg "github.com/authzed/spicedb/pkg/cmd/datastore"
	"github.com/authzed/spicedb/pkg/datalayer"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/development"
	"github.com/authzed/spicedb/pkg/embedded"
	devinterface "github.com/authzed/spicedb/pkg/proto/developer/v1"
	sdbtuple "github.com/authzed/spicedb/pkg/tuple"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// benchSpiceDBBatch is the number of relationships per SpiceDB write transaction.
const benchSpiceDBBatch = 1000

// newSpiceDBMemory returns an empty SpiceDB memory datastore. Quantization is
// off so that every read sees the newest write.
func newSpiceDBMemory(b testing.TB) datastore.Datastore {
	b.Helper()
	ds, err := dscfg.NewDatastore(context.Background(),
		dscfg.DefaultDatastoreConfig().ToOption(),
		dscfg.WithRevisionQuantization(0),
	)
	if err != nil {
		b.Fatalf("spicedb memory datastore: %v", err)
	}
	b.Cleanup(func() { ds.Close() })
	return ds
}

// newSpiceDBPermissions returns SpiceDB's in-process checker over ds, reading
// the unified schema with the schema cache on, as pkg/embedded recommends.
func newSpiceDBPermissions(b testing.TB, ds datastore.Datastore, maxDepth int) *embedded.Permissions {
	b.Helper()
	p, err := embedded.NewPermissions(embedded.Config{
		Datastore:               ds,
		SchemaMode:              datalayer.SchemaModeReadNewWriteNew,
		SchemaCacheMaxCostBytes: 16 << 20,
		MaxDepth:                uint32(maxDepth),
	})
	if err != nil {
		b.Fatalf("spicedb embedded: %v", err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

func toSpiceDB(r tuple.Relationship) sdbtuple.Relationship {
	srel := r.Subject.Relation
	if srel == "" {
		srel = sdbtuple.Ellipsis
	}
	return sdbtuple.Relationship{RelationshipReference: sdbtuple.RelationshipReference{
		Resource: sdbtuple.ONR(r.Resource.Type, r.Resource.ID, r.Relation),
		Subject:  sdbtuple.ONR(r.Subject.Type, r.Subject.ID, srel),
	}}
}

func fromSpiceDBRel(b testing.TB, r sdbtuple.Relationship) tuple.Relationship {
	if r.OptionalCaveat != nil || r.OptionalExpiration != nil {
		b.Fatalf("relationship with caveat or expiration not supported here: %v", r)
	}
	srel := r.Subject.Relation
	if srel == sdbtuple.Ellipsis {
		srel = ""
	}
	return tuple.Relationship{
		Resource: tuple.Object{Type: r.Resource.ObjectType, ID: r.Resource.ObjectID},
		Relation: r.Resource.Relation,
		Subject:  tuple.Subject{Type: r.Subject.ObjectType, ID: r.Subject.ObjectID, Relation: srel},
	}
}

// writeSpiceDB writes schema text and relationships into ds, in batches of
// benchSpiceDBBatch, and returns how many relationships it wrote.
func writeSpiceDB(b testing.TB, ds datastore.Datastore, schemaText string, rels iter.Seq[tuple.Relationship]) int {
	b.Helper()
	ctx := context.Background()
	if _, err := datalayer.WriteStoredSchemaForTest(ctx, ds, schemaText); err != nil {
		b.Fatalf("spicedb write schema: %v", err)
	}
	n := 0
	batch := make([]sdbtuple.RelationshipUpdate, 0, benchSpiceDBBatch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			return rwt.WriteRelationships(ctx, batch)
		}); err != nil {
			b.Fatalf("spicedb write relationships: %v", err)
		}
		n += len(batch)
		batch = batch[:0]
	}
	for r := range rels {
		batch = append(batch, sdbtuple.Create(toSpiceDB(r)))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	return n
}

// readSpiceDB reads back the schema text and every relationship of ds, so that
// gatehouse is loaded with exactly what a SpiceDB benchmark scenario wrote.
func readSpiceDB(b testing.TB, ds datastore.Datastore) (string, []tuple.Relationship) {
	b.Helper()
	ctx := context.Background()
	head, err := ds.HeadRevision(ctx)
	if err != nil {
		b.Fatal(err)
	}
	reader := ds.SnapshotReader(head.Revision)
	stored, err := reader.ReadStoredSchema(ctx)
	if err != nil {
		b.Fatalf("spicedb read schema: %v", err)
	}
	text := stored.Get().GetV1().GetSchemaText()
	it, err := reader.QueryRelationships(ctx, datastore.RelationshipsFilter{})
	if err != nil {
		b.Fatalf("spicedb read relationships: %v", err)
	}
	var rels []tuple.Relationship
	for r, err := range it {
		if err != nil {
			b.Fatal(err)
		}
		rels = append(rels, fromSpiceDBRel(b, r))
	}
	return text, rels
}

// newGatehouse compiles schemaText and loads rels into a fresh index.
func newGatehouse(b testing.TB, schemaText string, rels iter.Seq[tuple.Relationship]) (*schema.Schema, *graph.Index) {
	b.Helper()
	sch, err := schema.Compile(schemaText)
	if err != nil {
		b.Fatalf("compile schema: %v", err)
	}
	return sch, loadIndex(b, rels)
}

// loadIndex loads rels into a fresh index at revision 1, in batches of 10,000.
func loadIndex(b testing.TB, rels iter.Seq[tuple.Relationship]) *graph.Index {
	b.Helper()
	ix := graph.NewIndex()
	batch := make([]tuple.Relationship, 0, 10000)
	for r := range rels {
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			if err := ix.Load(1, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := ix.Load(1, batch); err != nil {
		b.Fatal(err)
	}
	return ix
}

// spicedbLookupServer serves SpiceDB's v1 PermissionsService in-process over
// bufconn (pkg/development's RunV1InMemoryService) against ds, and returns a
// client. pkg/embedded has no LookupResources, and a DevContext can only be
// filled through one validated transaction; so the DevContext is made with the
// schema alone and then pointed at ds, whose data was written batch by batch.
func spicedbLookupServer(b testing.TB, ds datastore.Datastore, schemaText string) v1.PermissionsServiceClient {
	b.Helper()
	ctx := context.Background()
	dc, devErrs, err := development.NewDevContext(ctx, &devinterface.RequestContext{Schema: schemaText})
	if err != nil || devErrs != nil {
		b.Fatalf("spicedb dev context: %v %v", err, devErrs)
	}
	if err := dc.DataLayer.Close(); err != nil {
		b.Fatal(err)
	}
	dc.DataLayer = datalayer.NewDataLayer(ds)
	conn, stop, err := dc.RunV1InMemoryService()
	if err != nil {
		b.Fatalf("spicedb in-memory service: %v", err)
	}
	b.Cleanup(func() {
		stop()
		if err := dc.Dispatcher.Close(); err != nil {
			b.Error(err)
		}
	})
	return v1.NewPermissionsServiceClient(conn)
}

// spicedbLookup runs LookupResources, fully consistent, and returns the sorted IDs.
func spicedbLookup(ctx context.Context, c v1.PermissionsServiceClient, resourceType, permission string, subject tuple.Subject) ([]string, error) {
	req := &v1.LookupResourcesRequest{
		Consistency:        &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		ResourceObjectType: resourceType,
		Permission:         permission,
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: subject.Type, ObjectId: subject.ID},
			OptionalRelation: subject.Relation,
		},
	}
	stream, err := c.LookupResources(ctx, req)
	if err != nil {
		return nil, err
	}
	var ids []string
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if resp.Permissionship != v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION {
			return nil, fmt.Errorf("unexpected permissionship %v for %s", resp.Permissionship, resp.ResourceObjectId)
		}
		ids = append(ids, resp.ResourceObjectId)
	}
	sort.Strings(ids)
	return ids, nil
}

// gatehouseLookup runs LookupResources and returns the IDs (already sorted).
func gatehouseLookup(ctx context.Context, snap *graph.Snapshot, sch *schema.Schema, resourceType, permission string, subject tuple.Subject) ([]string, error) {
	res, err := snap.LookupResources(ctx, sch, graph.LookupResourcesRequest{
		ResourceType: resourceType, Permission: permission, Subject: subject,
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Permissionship != graph.HasPermission {
			return nil, fmt.Errorf("unexpected permissionship %v for %s", r.Permissionship, r.ID)
		}
		ids[i] = r.ID
	}
	return ids, nil
}
