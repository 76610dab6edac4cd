package service_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	sdbtuple "github.com/authzed/spicedb/pkg/tuple"
	"github.com/authzed/spicedb/pkg/validationfile"
	"github.com/authzed/spicedb/pkg/validationfile/blocks"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/store/postgres"
	"github.com/gatehouse-dev/gatehouse/store/postgres/pgtest"
)

// TestConformance_OverTheWire runs SpiceDB's conformance files through the real
// server with the authzed-go gRPC client: schema and relationships are written
// with the API and every assertion is a CheckPermission.
func TestConformance_OverTheWire(t *testing.T) {
	runConformance(t, func(t *testing.T) (string, string) {
		addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
		return addr, addr
	})
}

// TestConformance_OverTheWirePostgres runs the conformance files on PostgreSQL
// with two replicas: everything is written through one and every check goes to
// the other, which sees the writes only through the store's change stream.
func TestConformance_OverTheWirePostgres(t *testing.T) {
	pgtest.BaseURL(t)
	runConformance(t, postgresReplicas)
}

// postgresReplicas starts two servers on one new PostgreSQL schema and returns
// their addresses.
func postgresReplicas(t *testing.T) (string, string) {
	url := pgtest.URL(t)
	if _, err := postgres.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	replica := func() string {
		st, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return startServerWith(t, service.Config{Store: st, StoreID: st.ID(), Keys: []service.Key{{Secret: "k", Scopes: service.ScopeAll}}})
	}
	return replica(), replica()
}

// runConformance runs every conformance file against servers from start, which
// returns the address to write through and the address to check through.
func runConformance(t *testing.T, start func(t *testing.T) (writeAddr, checkAddr string)) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/authzed/spicedb").Output()
	if err != nil {
		t.Fatalf("locate spicedb module: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "internal/services/integrationtesting/testconfigs/*.yaml"))
	if len(files) != 73 {
		t.Fatalf("found %d conformance files, want 73", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			vf, err := validationfile.DecodeValidationFile(raw)
			if err != nil {
				t.Fatal(err)
			}
			writeAddr, checkAddr := start(t)
			c := client(t, writeAddr, "k")
			checker := client(t, checkAddr, "k")
			ctx := context.Background()
			if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: vf.Schema.Schema}); err != nil {
				t.Fatalf("WriteSchema: %v", err)
			}
			rels := vf.Relationships.Relationships
			for start := 0; start < len(rels); start += service.MaxUpdatesPerWrite {
				end := min(start+service.MaxUpdatesPerWrite, len(rels))
				var updates []*v1.RelationshipUpdate
				for _, r := range rels[start:end] {
					updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: sdbtuple.ToV1Relationship(r)})
				}
				if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates}); err != nil {
					t.Fatalf("WriteRelationships: %v", err)
				}
			}
			for _, g := range []struct {
				name string
				want v1.CheckPermissionResponse_Permissionship
				list []blocks.Assertion
			}{
				{"assertTrue", v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, vf.Assertions.AssertTrue},
				{"assertFalse", v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, vf.Assertions.AssertFalse},
				{"assertCaveated", v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION, vf.Assertions.AssertCaveated},
			} {
				for _, a := range g.list {
					rel := sdbtuple.ToV1Relationship(a.Relationship)
					req := &v1.CheckPermissionRequest{
						Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
						Resource:    rel.Resource, Permission: rel.Relation, Subject: rel.Subject,
					}
					if a.CaveatContext != nil {
						st, err := structpb.NewStruct(a.CaveatContext)
						if err != nil {
							t.Fatal(err)
						}
						req.Context = st
					}
					res, err := checker.CheckPermission(ctx, req)
					if err != nil {
						t.Errorf("%s %s: %v", g.name, a.RelationshipWithContextString, err)
						continue
					}
					if res.Permissionship != g.want {
						t.Errorf("%s %s: got %v", g.name, a.RelationshipWithContextString, res.Permissionship)
					}
				}
			}
		})
	}
}
