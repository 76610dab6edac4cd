package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/benchmarks"
	dscfg "github.com/authzed/spicedb/pkg/cmd/datastore"
	"github.com/authzed/spicedb/pkg/datastore"
	sdbtuple "github.com/authzed/spicedb/pkg/tuple"
	"google.golang.org/protobuf/types/known/structpb"
)

// Scenario is a named data set with the queries to run against it.
type Scenario struct {
	Name string
	// Source says where the scenario comes from: "spicedb" for SpiceDB's
	// pkg/benchmarks, "gatehouse" for our own.
	Source string
	Tags   []string
	// Scales is true when the scenario honours --rels.
	Scales bool
	Build  func(ctx context.Context, p BuildParams) (*Dataset, error)
}

// BuildParams are the knobs a scenario may honour.
type BuildParams struct {
	Rels int   // 0 = the scenario's default
	Seed int64 //
}

// Dataset is what both systems are loaded with and queried on.
type Dataset struct {
	Schema        string
	Relationships []*v1.Relationship
	Checks        []CheckQuery
	// MaxDepth is the dispatch depth the scenario needs; 0 = the default (50).
	MaxDepth int
	// ContextFor, when set, gives the request context of a generated check
	// query (--queries generated); nil means generated queries carry none.
	ContextFor ContextFunc
	// QueryPermissions, when not empty, are the "type#relation" pairs
	// generated queries ask about; empty means every one in the schema.
	QueryPermissions []string
}

// ContextFunc returns the CheckPermission request context for a query on
// resource by subject: the caller's side of the scenario's caveats. It must
// be a function of its arguments only, so that generated sets stay seeded.
type ContextFunc func(resource *v1.ObjectReference, subject *v1.SubjectReference) *structpb.Struct

// CheckQuery is one CheckPermission question. Want is the answer the
// scenario expects, or UNSPECIFIED when it does not say.
type CheckQuery struct {
	Resource   *v1.ObjectReference
	Permission string
	Subject    *v1.SubjectReference
	// Context is the request's caveat context, or nil.
	Context *structpb.Struct
	Want    v1.CheckPermissionResponse_Permissionship
}

func (q CheckQuery) String() string {
	s := q.Subject.GetObject().GetObjectType() + ":" + q.Subject.GetObject().GetObjectId()
	if r := q.Subject.GetOptionalRelation(); r != "" {
		s += "#" + r
	}
	s = q.Resource.GetObjectType() + ":" + q.Resource.GetObjectId() + "#" + q.Permission + "@" + s
	if q.Context != nil {
		// encoding/json sorts map keys, so equal contexts print alike.
		b, err := json.Marshal(q.Context.AsMap())
		if err == nil {
			s += " with " + string(b)
		}
	}
	return s
}

// scenarios returns every known scenario, sorted by name.
func scenarios() []Scenario {
	var out []Scenario
	for _, b := range benchmarks.All() {
		tags := make([]string, 0, len(b.Tags))
		for _, t := range b.Tags {
			tags = append(tags, string(t))
		}
		out = append(out, Scenario{Name: b.Name, Source: "spicedb", Tags: tags, Build: spicedbBenchmark(b)})
	}
	out = append(out, multiTenantScenarios()...)
	out = append(out, nestedGroupsScenario())
	slices.SortFunc(out, func(a, b Scenario) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func scenarioNames(all []Scenario) []string {
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	return names
}

// spicedbBenchmark builds a Dataset from one of SpiceDB's pkg/benchmarks
// scenarios: it runs the scenario's own setup against a scratch SpiceDB memory
// datastore, then reads the schema and relationships back, so that both
// servers are later loaded with exactly that data over the wire.
func spicedbBenchmark(b benchmarks.Benchmark) func(context.Context, BuildParams) (*Dataset, error) {
	return func(ctx context.Context, _ BuildParams) (*Dataset, error) {
		ds, err := dscfg.NewDatastore(ctx, dscfg.DefaultDatastoreConfig().ToOption(), dscfg.WithRevisionQuantization(0))
		if err != nil {
			return nil, fmt.Errorf("scratch datastore: %w", err)
		}
		defer ds.Close()
		qs, err := b.Setup(ctx, ds)
		if err != nil {
			return nil, fmt.Errorf("%s setup: %w", b.Name, err)
		}
		d, err := readDatastore(ctx, ds)
		if err != nil {
			return nil, fmt.Errorf("%s read back: %w", b.Name, err)
		}
		d.MaxDepth = qs.MaxRecursionDepth
		for _, c := range qs.Checks {
			rel := c.SubjectRelation
			if rel == sdbtuple.Ellipsis {
				rel = ""
			}
			d.Checks = append(d.Checks, CheckQuery{
				Resource:   &v1.ObjectReference{ObjectType: c.ResourceType, ObjectId: c.ResourceID},
				Permission: c.Permission,
				Subject: &v1.SubjectReference{
					Object:           &v1.ObjectReference{ObjectType: c.SubjectType, ObjectId: c.SubjectID},
					OptionalRelation: rel,
				},
				// pkg/benchmarks check queries are positive by contract.
				Want: v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
			})
		}
		return d, nil
	}
}

// readDatastore reads the schema text and every relationship at the head
// revision of ds.
func readDatastore(ctx context.Context, ds datastore.Datastore) (*Dataset, error) {
	head, err := ds.HeadRevision(ctx)
	if err != nil {
		return nil, err
	}
	reader := ds.SnapshotReader(head.Revision)
	stored, err := reader.ReadStoredSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	d := &Dataset{Schema: stored.Get().GetV1().GetSchemaText()}
	it, err := reader.QueryRelationships(ctx, datastore.RelationshipsFilter{})
	if err != nil {
		return nil, fmt.Errorf("read relationships: %w", err)
	}
	for r, err := range it {
		if err != nil {
			return nil, fmt.Errorf("read relationships: %w", err)
		}
		d.Relationships = append(d.Relationships, sdbtuple.ToV1Relationship(r))
	}
	return d, nil
}
