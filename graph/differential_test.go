package graph_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
)

var (
	differentialCases = flag.Int("differential.cases", 200, "number of random cases TestDifferential runs")
	differentialSeed  = flag.Int64("differential.seed", 1, "seed of TestDifferential's first case; case i uses seed+i")
)

// diffMaxAttempts bounds how many schemas one seed may generate before one is
// accepted by both engines.
const diffMaxAttempts = 20

// TestDifferential compares gatehouse's engine with SpiceDB, run in process as
// the oracle, on random schemas and relationships: Check, LookupResources and
// LookupSubjects over every object, permission and subject of each case.
// Replay one case with -run 'TestDifferential/seed=N$'.
func TestDifferential(t *testing.T) {
	stats := &diffStats{}
	t.Cleanup(func() {
		t.Logf("differential: %d cases, %d passed, %d failed; %d schemas rejected by both engines and regenerated; %d queries compared; %d skipped for SpiceDB max depth, %d for SpiceDB timeouts; %d answers (lookups, bulk check items) where SpiceDB contradicted its own CheckPermission and gatehouse agreed with CheckPermission",
			stats.cases, stats.cases-stats.failed, stats.failed, stats.rejected, stats.queries, stats.maxDepth, stats.timeouts, stats.selfContradictions)
	})
	for i := range *differentialCases {
		seed := *differentialSeed + int64(i)
		name := fmt.Sprintf("seed=%d", seed)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				stats.add(func(s *diffStats) {
					s.cases++
					if t.Failed() {
						s.failed++
					}
				})
			}()
			for attempt := range diffMaxAttempts {
				rng := rand.New(rand.NewPCG(uint64(seed), uint64(attempt)))
				schemaText, rels := generateCase(rng)
				c := diffCase{
					name:   fmt.Sprintf("%s (attempt %d)", name, attempt),
					replay: fmt.Sprintf("go test ./graph/ -run 'TestDifferential/%s$' -differential.seed=%d -differential.cases=1", name, seed),
					schema: schemaText,
					rels:   rels,
					// No context, and one of the two others by turns: all three
					// would cost a third more time for little.
					contexts: []int{0, 1 + int(seed%2)},
				}
				env, err := loadDiffCase(t, c, stats)
				if errors.Is(err, errDiffRejected) {
					stats.add(func(s *diffStats) { s.rejected++ })
					if t.Failed() {
						return
					}
					continue
				}
				runDiffCase(t, env)
				return
			}
			t.Fatalf("no accepted schema in %d attempts", diffMaxAttempts)
		})
	}
}

// diffSmokeSchema exercises a wildcard with an exclusion, an intersection arrow,
// a caveat and expiration; diffSmokeRels add a parent cycle (loop1, loop2), on
// which SpiceDB fails some queries with max depth.
const diffSmokeSchema = `use expiration

caveat cav_x(x int) {
	x > 10
}

definition user {}

definition group {
	relation member: user | user:*
	relation banned: user | user with cav_x
	permission allowed = member - banned
}

definition folder {
	relation parent: folder
	relation viewer: user | group#allowed | user:* with cav_x
	permission view = viewer + parent->view
}

definition document {
	relation folder: folder
	relation team: group
	relation blocked: user with expiration
	permission read = (folder.all(view) & team->allowed) - blocked
}
`

var diffSmokeRels = []string{
	"group:eng#member@user:*",
	"group:eng#banned@user:u2",
	"group:eng#banned@user:u3[cav_x]",
	"group:ops#member@user:u1",
	"folder:root#viewer@group:eng#allowed",
	"folder:root#viewer@user:u4",
	"folder:sub#parent@folder:root",
	`folder:sub#viewer@user:*[cav_x:{"x":15}]`,
	"folder:other#viewer@user:u1",
	"document:d1#folder@folder:root",
	"document:d1#folder@folder:sub",
	"document:d1#team@group:eng",
	"document:d1#blocked@user:u4[expiration:" + genLiveUntil + "]",
	"document:d1#blocked@user:u1[expiration:" + genExpiredAt + "]",
	"document:d2#folder@folder:sub",
	"document:d2#folder@folder:other",
	"document:d2#team@group:ops",
	"document:d2#team@group:eng",
	"folder:loop1#parent@folder:loop2",
	"folder:loop2#parent@folder:loop1",
	"folder:loop2#viewer@user:u2",
	"document:d3#folder@folder:loop1",
	"document:d3#team@group:eng",
}

func TestDifferential_Smoke(t *testing.T) {
	stats := &diffStats{}
	c := diffCase{name: "smoke", replay: "go test ./graph/ -run 'TestDifferential_Smoke'", schema: diffSmokeSchema, rels: diffSmokeRels}
	env, err := loadDiffCase(t, c, stats)
	if err != nil {
		t.Fatalf("smoke case rejected: %v", err)
	}
	runDiffCase(t, env)
	if stats.maxDepth == 0 {
		t.Errorf("the smoke case's cycle no longer makes SpiceDB hit its max depth")
	}
	t.Logf("smoke: %d queries compared, %d skipped for SpiceDB max depth", stats.queries, stats.maxDepth)
}

func TestDiffUnionWildcards(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"CONDITIONAL{-u2:HAS}", "HAS{-u2:HAS}", "HAS{-u2:HAS}"},
		{"HAS{-u2:HAS}", "CONDITIONAL", "HAS{-u2:CONDITIONAL}"},
		{"HAS{-u1:HAS -u2:HAS}", "HAS{-u2:CONDITIONAL}", "HAS{-u2:CONDITIONAL}"},
		{"CONDITIONAL{-u1:HAS}", "CONDITIONAL{-u2:HAS}", "CONDITIONAL"},
		{"CONDITIONAL{-u1:HAS}", "CONDITIONAL{-u1:CONDITIONAL}", "CONDITIONAL"},
	} {
		if got := diffUnionWildcards(tc.a, tc.b); got != tc.want {
			t.Errorf("%s ∪ %s = %s, want %s", tc.a, tc.b, got, tc.want)
		}
		if got := diffUnionWildcards(tc.b, tc.a); got != tc.want {
			t.Errorf("%s ∪ %s = %s, want %s", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestDiffWithoutIncluded(t *testing.T) {
	set := map[string]string{"u1": "HAS", "u2": "CONDITIONAL"}
	for _, tc := range []struct{ w, want string }{
		{"CONDITIONAL{-u1:CONDITIONAL}", "CONDITIONAL"},
		{"HAS{-u1:HAS -u2:HAS -u3:CONDITIONAL}", "HAS{-u2:CONDITIONAL -u3:CONDITIONAL}"},
		{"CONDITIONAL{-u2:CONDITIONAL -u4:HAS}", "CONDITIONAL{-u2:CONDITIONAL -u4:HAS}"},
		{"HAS", "HAS"},
	} {
		if got := diffWithoutIncluded(tc.w, set); got != tc.want {
			t.Errorf("diffWithoutIncluded(%s) = %s, want %s", tc.w, got, tc.want)
		}
	}
}
