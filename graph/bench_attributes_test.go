package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// attributeScenario is the data of BenchmarkCheckAttributes and
// BenchmarkLookupResourcesAttributes; load builds an index of it.
func attributeScenario(b *testing.B) (sch *schema.Schema, docs int, load func(...graph.IndexOption) *graph.Snapshot) {
	docs = 10000
	sch = schema.MustCompile(`
caveat same_tenant(caller map<any>, resource map<any>) {
	has(caller.tenant) && has(resource.tenant) && caller.tenant == resource.tenant
}

definition user {}

definition team {
	relation member: user | team#member
}

definition folder {
	relation viewer: team#member
	permission view = viewer
}

definition document {
	relation viewer: user | user with same_tenant
	relation folder: folder | folder with same_tenant
	permission view = viewer + folder->view
}`)
	var rels []tuple.Relationship
	var attrs []graph.ObjectAttributes
	for i := range docs {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:plain%d#viewer@user:u%d", i, i%500)))
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:tagged%d#viewer@user:u%d[same_tenant]", i, i%500)))
		// Nested: document -> folder -> team -> team -> user.
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:nplain%d#folder@folder:f%d", i, i%1000)))
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:ntagged%d#folder@folder:f%d[same_tenant]", i, i%1000)))
		for _, d := range []string{"tagged", "ntagged"} {
			attrs = append(attrs, graph.ObjectAttributes{Object: tuple.Object{Type: "document", ID: fmt.Sprintf("%s%d", d, i)},
				Values: map[string]any{"tenant": fmt.Sprintf("t%d", i%100), "classification": "internal"}})
		}
	}
	for f := range 1000 {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("folder:f%d#viewer@team:outer%d#member", f, f%100)))
	}
	for tm := range 100 {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("team:outer%d#member@team:inner%d#member", tm, tm)))
		for u := tm; u < 500; u += 100 {
			rels = append(rels, tuple.MustParse(fmt.Sprintf("team:inner%d#member@user:u%d", tm, u)))
		}
	}
	load = func(opts ...graph.IndexOption) *graph.Snapshot {
		ix := graph.NewIndex(opts...)
		if err := ix.Load(1, rels); err != nil {
			b.Fatal(err)
		}
		if err := ix.LoadAttributes(1, attrs); err != nil {
			b.Fatal(err)
		}
		snap, err := ix.Snapshot(0)
		if err != nil {
			b.Fatal(err)
		}
		return snap
	}
	return sch, docs, load
}

// BenchmarkCheckAttributes compares a check through a caveat that reads the
// caller's claims and the resource's stored attributes (same_tenant) with the
// same check on an uncaveated relationship, on 10,000 documents in 100
// tenants: direct grants (the cheapest check there is, so the caveat's fixed
// cost shows most) and grants through a folder and two levels of nested teams
// (a typical path). Plain and caveated checks run in alternating blocks in
// one benchmark; it reports each one's ns/check and caveated/plain.
// Claims are bound as the service binds a verified token's (with their
// encoding, computed once per token).
// "caveated" runs with the index's default caveat cache, cycling through
// 1,024 requests, each with its own claims map: the cache's keys hold the
// claims and attributes the caveat reads (the two tenants), so requests
// share entries however their tokens differ (TestCaveatCache_* show
// that). "first-evaluation" runs with the cache off, every caveat evaluated
// by CEL.
func BenchmarkCheckAttributes(b *testing.B) {
	sch, docs, load := attributeScenario(b)
	cached, uncached := load(), load(graph.WithCaveatCache(0))
	ctx := context.Background()
	// verified binds claims as the service binds a verified token's: with
	// their encoding, which the verifier computes once per token.
	verified := func(claims map[string]any) graph.Context {
		return graph.Context{Caller: claims, CallerFields: caveats.EncodeFields(claims)}
	}
	requests := func(b *testing.B, snap *graph.Snapshot, prefix string) []graph.CheckRequest {
		reqs := make([]graph.CheckRequest, 1024)
		for i := range reqs {
			d := (i * 37) % docs
			reqs[i] = graph.CheckRequest{Resource: tuple.Object{Type: "document", ID: fmt.Sprintf("%s%d", prefix, d)}, Permission: "view",
				Subject: tuple.Subject{Type: "user", ID: fmt.Sprintf("u%d", d%500)},
				Context: verified(map[string]any{"sub": "u", "tenant": fmt.Sprintf("t%d", d%100)})}
			if r, err := snap.Check(ctx, sch, reqs[i]); err != nil || r.Permissionship != graph.HasPermission {
				b.Fatalf("%v: %v, %v; want %v", reqs[i], r, err, graph.HasPermission)
			}
		}
		return reqs
	}
	// block runs n checks and returns how long they took.
	block := func(b *testing.B, snap *graph.Snapshot, reqs []graph.CheckRequest, n int) time.Duration {
		start := time.Now()
		for i := range n {
			if _, err := snap.Check(ctx, sch, reqs[i%len(reqs)]); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	for _, shape := range []struct{ name, plain, caveated string }{{"direct", "plain", "tagged"}, {"nested", "nplain", "ntagged"}} {
		for _, mode := range []struct {
			name string
			snap *graph.Snapshot
		}{{"caveated", cached}, {"first-evaluation", uncached}} {
			// Plain and caveated checks alternate in blocks (ABBA), so
			// the machine's drift falls on both; ns/op is per pair.
			b.Run(shape.name+"/"+mode.name, func(b *testing.B) {
				plainReqs, cavReqs := requests(b, mode.snap, shape.plain), requests(b, mode.snap, shape.caveated)
				var plain, caveated time.Duration
				b.ResetTimer()
				for done, round := 0, 0; done < b.N; round++ {
					n := min(1024, b.N-done)
					if round%2 == 0 {
						plain += block(b, mode.snap, plainReqs, n)
						caveated += block(b, mode.snap, cavReqs, n)
					} else {
						caveated += block(b, mode.snap, cavReqs, n)
						plain += block(b, mode.snap, plainReqs, n)
					}
					done += n
				}
				b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "plain-ns/check")
				b.ReportMetric(float64(caveated.Nanoseconds())/float64(b.N), "caveated-ns/check")
				b.ReportMetric(float64(caveated)/float64(plain), "caveated/plain")
			})
		}
	}
}

// BenchmarkLookupResourcesAttributes looks up the documents a user may view
// (240: 120 through same_tenant, 20 of them direct grants and 100 through
// nested teams, all in the caller's tenant, each with its own attribute
// map; 120 plain), each lookup with a claims map not seen before, as a new
// token brings. With the cache, the caveat's result for (caller tenant,
// document tenant) is shared by every document and token; without it CEL
// runs for each caveated document.
func BenchmarkLookupResourcesAttributes(b *testing.B) {
	sch, _, load := attributeScenario(b)
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		opts []graph.IndexOption
	}{{"cached", nil}, {"uncached", []graph.IndexOption{graph.WithCaveatCache(0)}}} {
		b.Run(mode.name, func(b *testing.B) {
			snap := load(mode.opts...)
			req := graph.LookupResourcesRequest{ResourceType: "document", Permission: "view", Subject: tuple.Subject{Type: "user", ID: "u5"}}
			for i := range b.N {
				claims := map[string]any{"sub": "u5", "tenant": "t5", "jti": fmt.Sprint(i)}
				req.Context = graph.Context{Caller: claims, CallerFields: caveats.EncodeFields(claims)}
				got, err := snap.LookupResources(ctx, sch, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != 240 {
					b.Fatalf("%d resources, want 240", len(got))
				}
			}
		})
	}
}
