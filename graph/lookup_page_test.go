package graph_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// TestLookupResources_AfterAndLimit: a page (After, Limit) is exactly the
// slice of the full sorted result that follows After, for IDs that share
// long prefixes, differ only past eight bytes, or are shorter than eight.
func TestLookupResources_AfterAndLimit(t *testing.T) {
	sch := schema.MustCompile(`definition user {}
definition group {
	relation member: user
}
definition document {
	relation viewer: user | group#member
	permission view = viewer
}`)
	rng := rand.New(rand.NewPCG(7, 7))
	ids := map[string]bool{}
	var rels []tuple.Relationship
	for len(ids) < 600 {
		var id string
		switch rng.IntN(4) {
		case 0:
			id = fmt.Sprintf("document-%06d", rng.IntN(1_000_000)) // shared 9-byte prefix
		case 1:
			id = fmt.Sprintf("d%d", rng.IntN(1000)) // short
		case 2:
			id = fmt.Sprintf("%08x%d", rng.Uint32()%4, rng.IntN(100)) // equal first 8 bytes, differ after
		default:
			id = fmt.Sprintf("x%x", rng.Uint64())
		}
		if ids[id] {
			continue
		}
		ids[id] = true
		if rng.IntN(2) == 0 {
			rels = append(rels, tuple.MustParse("document:"+id+"#viewer@user:alice"))
		} else {
			rels = append(rels, tuple.MustParse("document:"+id+"#viewer@group:g#member"))
		}
	}
	rels = append(rels, tuple.MustParse("group:g#member@user:alice"))
	ix := graph.NewIndex()
	if err := ix.Load(1, rels); err != nil {
		t.Fatal(err)
	}
	snap, err := ix.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := graph.LookupResourcesRequest{ResourceType: "document", Permission: "view", Subject: tuple.Subject{Type: "user", ID: "alice"}}
	full, err := snap.LookupResources(ctx, sch, req)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, 0, len(ids))
	for id := range ids {
		want = append(want, id)
	}
	slices.Sort(want)
	if got := resultIDs(full); !slices.Equal(got, want) {
		t.Fatalf("full result: %d IDs, want %d sorted", len(got), len(want))
	}
	for _, limit := range []int{1, 7, 100, 599, 600, 1000} {
		// Page through everything with this limit.
		var paged []string
		req.After = ""
		for {
			req.Limit = limit
			page, err := snap.LookupResources(ctx, sch, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			paged = append(paged, resultIDs(page)...)
			if len(page) < limit {
				break
			}
			req.After = page[len(page)-1].ID
		}
		if !slices.Equal(paged, want) {
			t.Errorf("limit %d: paging gave %d IDs, want the %d of the full result in order", limit, len(paged), len(want))
		}
	}
}

func resultIDs(rs []graph.ResourceResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
