package graph_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	sdbtuple "github.com/authzed/spicedb/pkg/tuple"
	"github.com/authzed/spicedb/pkg/validationfile"
	"github.com/authzed/spicedb/pkg/validationfile/blocks"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// spicedbDir locates the pinned SpiceDB module, whose conformance files we run.
func spicedbDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/authzed/spicedb").Output()
	if err != nil {
		t.Fatalf("locate spicedb module: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func conformanceFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(spicedbDir(t), "internal/services/integrationtesting/testconfigs/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files found: %v", err)
	}
	return files
}

func fromSpiceDB(t testing.TB, r sdbtuple.Relationship) tuple.Relationship {
	t.Helper()
	s, err := sdbtuple.String(r)
	if err != nil {
		t.Fatalf("render relationship: %v", err)
	}
	out, err := tuple.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return out
}

type fixture struct {
	sch  *schema.Schema
	snap *graph.Snapshot
	rels []tuple.Relationship
	file *validationfile.ValidationFile
}

func loadFixture(t testing.TB, path string) fixture {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vf, err := validationfile.DecodeValidationFile(raw)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	sch, err := schema.Compile(vf.Schema.Schema)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	var rels []tuple.Relationship
	for _, r := range vf.Relationships.Relationships {
		rels = append(rels, fromSpiceDB(t, r))
	}
	ix := graph.NewIndex()
	if err := ix.Load(1, rels); err != nil {
		t.Fatal(err)
	}
	snap, err := ix.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{sch: sch, snap: snap, rels: rels, file: vf}
}

func TestConformance_SpiceDBFiles(t *testing.T) {
	files := conformanceFiles(t)
	if len(files) != 73 {
		t.Errorf("found %d conformance files, want 73", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			fx := loadFixture(t, path)
			runAssertions(t, fx)
			checkLookupResourcesAgrees(t, fx)
			checkLookupSubjectsAgrees(t, fx)
		})
	}
}

func runAssertions(t *testing.T, fx fixture) {
	ctx := context.Background()
	groups := []struct {
		name string
		want graph.Permissionship
		list []assertion
	}{
		{"assertTrue", graph.HasPermission, assertionsOf(t, fx.file.Assertions.AssertTrue)},
		{"assertFalse", graph.NoPermission, assertionsOf(t, fx.file.Assertions.AssertFalse)},
		{"assertCaveated", graph.ConditionalPermission, assertionsOf(t, fx.file.Assertions.AssertCaveated)},
	}
	total := 0
	for _, g := range groups {
		for _, a := range g.list {
			total++
			res, err := fx.snap.Check(ctx, fx.sch, graph.CheckRequest{
				Resource: a.rel.Resource, Permission: a.rel.Relation, Subject: a.rel.Subject,
				Context: graph.Context{Values: a.ctx},
			})
			if err != nil {
				t.Errorf("%s %s: %v", g.name, a.text, err)
				continue
			}
			if res.Permissionship != g.want {
				t.Errorf("%s %s: got %v", g.name, a.text, res.Permissionship)
			}
			checkExplainAgrees(t, fx, graph.CheckRequest{Resource: a.rel.Resource, Permission: a.rel.Relation, Subject: a.rel.Subject,
				Context: graph.Context{Values: a.ctx}}, res)
		}
	}
	if total == 0 {
		t.Log("file has no assertions")
	}
}

type assertion struct {
	text string
	rel  tuple.Relationship
	ctx  map[string]any
}

func assertionsOf(t *testing.T, in []blocks.Assertion) []assertion {
	out := make([]assertion, 0, len(in))
	for _, a := range in {
		out = append(out, assertion{text: a.RelationshipWithContextString, rel: fromSpiceDB(t, a.Relationship), ctx: a.CaveatContext})
	}
	return out
}

// checkLookupResourcesAgrees: for every subject in the file and every relation or
// permission of every definition, LookupResources returns exactly the objects
// for which Check does not say NoPermission, with the same permissionship.
func checkLookupResourcesAgrees(t *testing.T, fx fixture) {
	ctx := context.Background()
	objects := map[string]map[string]bool{} // type -> ids
	subjects := map[tuple.Subject]bool{}
	add := func(typ, id string) {
		if objects[typ] == nil {
			objects[typ] = map[string]bool{}
		}
		objects[typ][id] = true
	}
	for _, r := range fx.rels {
		add(r.Resource.Type, r.Resource.ID)
		if !r.Subject.IsWildcard() {
			add(r.Subject.Type, r.Subject.ID)
			subjects[r.Subject] = true
			subjects[tuple.Subject{Type: r.Subject.Type, ID: r.Subject.ID}] = true
		}
	}
	now := time.Now()
	for subj := range subjects {
		for _, def := range fx.sch.Definitions() {
			for _, perm := range def.Order {
				got, err := fx.snap.LookupResources(ctx, fx.sch, graph.LookupResourcesRequest{
					ResourceType: def.Name, Permission: perm, Subject: subj, Context: graph.Context{Now: now},
				})
				if err != nil {
					t.Errorf("LookupResources(%s#%s, %s): %v", def.Name, perm, subj, err)
					continue
				}
				gotMap := map[string]graph.Permissionship{}
				for _, r := range got {
					gotMap[r.ID] = r.Permissionship
				}
				candidates := map[string]bool{}
				for id := range objects[def.Name] {
					candidates[id] = true
				}
				for id := range gotMap {
					candidates[id] = true
				}
				ids := make([]string, 0, len(candidates))
				for id := range candidates {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				for _, id := range ids {
					res, err := fx.snap.Check(ctx, fx.sch, graph.CheckRequest{
						Resource: tuple.Object{Type: def.Name, ID: id}, Permission: perm, Subject: subj, Context: graph.Context{Now: now},
					})
					if err != nil {
						t.Errorf("Check(%s:%s#%s@%s): %v", def.Name, id, perm, subj, err)
						continue
					}
					if res.Permissionship != gotMap[id] {
						t.Errorf("%s:%s#%s@%s: Check says %v, LookupResources says %v", def.Name, id, perm, subj, res.Permissionship, gotMap[id])
					}
					checkExplainAgrees(t, fx, graph.CheckRequest{Resource: tuple.Object{Type: def.Name, ID: id}, Permission: perm, Subject: subj,
						Context: graph.Context{Now: now}}, res)
				}
			}
		}
	}
}

// checkLookupSubjectsAgrees: for every resource and permission, LookupSubjects
// for each subject type agrees with Check on every known subject of that type:
// a subject with the permission is found (directly, or through the wildcard
// without being excluded), and one without it is not found as having it.
func checkLookupSubjectsAgrees(t *testing.T, fx fixture) {
	ctx := context.Background()
	now := time.Now()
	subjectsByType := map[string]map[string]bool{}
	resources := map[tuple.Object]bool{}
	for _, r := range fx.rels {
		resources[r.Resource] = true
		if !r.Subject.IsWildcard() && r.Subject.Relation == "" {
			if subjectsByType[r.Subject.Type] == nil {
				subjectsByType[r.Subject.Type] = map[string]bool{}
			}
			subjectsByType[r.Subject.Type][r.Subject.ID] = true
		}
	}
	for res := range resources {
		def, _ := fx.sch.Definition(res.Type)
		for _, perm := range def.Order {
			for st, ids := range subjectsByType {
				got, err := fx.snap.LookupSubjects(ctx, fx.sch, graph.LookupSubjectsRequest{
					Resource: res, Permission: perm, SubjectType: st, Context: graph.Context{Now: now},
				})
				if err != nil {
					t.Errorf("LookupSubjects(%s#%s, %s): %v", res, perm, st, err)
					continue
				}
				concrete := map[string]graph.Permissionship{}
				var wild *graph.SubjectResult
				for i := range got {
					if got[i].ID == "*" {
						wild = &got[i]
						continue
					}
					concrete[got[i].ID] = got[i].Permissionship
				}
				for id := range ids {
					chk, err := fx.snap.Check(ctx, fx.sch, graph.CheckRequest{
						Resource: res, Permission: perm, Subject: tuple.Subject{Type: st, ID: id}, Context: graph.Context{Now: now},
					})
					if err != nil {
						t.Errorf("Check(%s#%s@%s:%s): %v", res, perm, st, id, err)
						continue
					}
					viaWild := graph.NoPermission
					if wild != nil {
						viaWild = wild.Permissionship
						for _, ex := range wild.Excluded {
							if ex.ID == id {
								if ex.Permissionship == graph.HasPermission {
									viaWild = graph.NoPermission
								} else {
									viaWild = graph.ConditionalPermission
								}
							}
						}
					}
					found := concrete[id]
					if viaWild == graph.HasPermission || found == graph.HasPermission {
						found = graph.HasPermission
					} else if viaWild == graph.ConditionalPermission {
						found = graph.ConditionalPermission
					}
					if found != chk.Permissionship {
						t.Errorf("%s#%s@%s:%s: Check says %v, LookupSubjects says %v (%+v)", res, perm, st, id, chk.Permissionship, found, got)
					}
				}
			}
		}
	}
}

// checkExplainAgrees fails unless Explain decides as Check did and its tree
// accounts for the decision: every operator's result follows from its
// operands', and a relation's from its relationships'.
func checkExplainAgrees(t *testing.T, fx fixture, req graph.CheckRequest, want graph.Result) {
	t.Helper()
	got, root, err := fx.snap.Explain(context.Background(), fx.sch, req)
	if err != nil {
		t.Errorf("Explain(%v): %v", req, err)
		return
	}
	if got.Permissionship != want.Permissionship || !slices.Equal(got.Missing, want.Missing) {
		t.Errorf("Explain(%v) = %v, Check = %v", req, got, want)
		return
	}
	if root == nil || root.Result.Permissionship != got.Permissionship {
		t.Errorf("Explain(%v): root %+v does not carry the result %v", req, root, got)
		return
	}
	if msg := explainConsistent(root); msg != "" {
		t.Errorf("Explain(%v): %s", req, msg)
	}
}

// tri is Permissionship as three-valued logic.
func triOr(a, b graph.Permissionship) graph.Permissionship {
	switch {
	case a == graph.HasPermission || b == graph.HasPermission:
		return graph.HasPermission
	case a == graph.ConditionalPermission || b == graph.ConditionalPermission:
		return graph.ConditionalPermission
	}
	return graph.NoPermission
}

func triAnd(a, b graph.Permissionship) graph.Permissionship {
	switch {
	case a == graph.NoPermission || b == graph.NoPermission:
		return graph.NoPermission
	case a == graph.ConditionalPermission || b == graph.ConditionalPermission:
		return graph.ConditionalPermission
	}
	return graph.HasPermission
}

func triNot(a graph.Permissionship) graph.Permissionship {
	switch a {
	case graph.HasPermission:
		return graph.NoPermission
	case graph.NoPermission:
		return graph.HasPermission
	}
	return graph.ConditionalPermission
}

func explainConsistent(n *graph.ExplainNode) string {
	for _, c := range n.Children {
		if msg := explainConsistent(c); msg != "" {
			return msg
		}
	}
	if n.Note != "" || n.Err != nil {
		return "" // memoised, cut or the subject itself: no operands recorded
	}
	var want graph.Permissionship
	switch n.Kind {
	case graph.ExplainUnion, graph.ExplainRelation:
		want = graph.NoPermission
		for _, c := range n.Children {
			want = triOr(want, c.Result.Permissionship)
		}
	case graph.ExplainIntersection:
		want = graph.HasPermission
		for _, c := range n.Children {
			want = triAnd(want, c.Result.Permissionship)
		}
	case graph.ExplainExclusion:
		if len(n.Children) == 0 {
			return "exclusion without operands"
		}
		want = n.Children[0].Result.Permissionship
		for _, c := range n.Children[1:] {
			want = triAnd(want, triNot(c.Result.Permissionship))
		}
	case graph.ExplainPermission:
		if len(n.Children) != 1 {
			return fmt.Sprintf("permission %s#%s has %d expressions", n.Resource, n.Relation, len(n.Children))
		}
		want = n.Children[0].Result.Permissionship
	default:
		return ""
	}
	if n.Result.Permissionship != want {
		return fmt.Sprintf("%v %s#%s is %v, but its operands give %v", n.Kind, n.Resource, n.Relation, n.Result.Permissionship, want)
	}
	return ""
}
