package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// MismatchError reports a query two systems answered differently.
type MismatchError struct {
	Query   CheckQuery
	A, B    string
	GotA    v1.CheckPermissionResponse_Permissionship
	GotB    v1.CheckPermissionResponse_Permissionship
	Checked int
	Sampled int
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("answers differ on %s: %s=%s %s=%s (query %d of %d sampled)",
		e.Query, e.A, e.GotA, e.B, e.GotB, e.Checked, e.Sampled)
}

// sample returns up to n queries, all of them in order when there are no more
// than n, else a seeded random choice.
func sample(qs []CheckQuery, n int, seed int64) []CheckQuery {
	if len(qs) <= n {
		return qs
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	idx := r.Perm(len(qs))[:n]
	out := make([]CheckQuery, n)
	for i, j := range idx {
		out[i] = qs[j]
	}
	return out
}

func check(ctx context.Context, sys *System, q CheckQuery, cons *v1.Consistency) (v1.CheckPermissionResponse_Permissionship, error) {
	resp, err := sys.Client(0).CheckPermission(ctx, checkRequest(q, cons))
	if err != nil {
		return 0, fmt.Errorf("%s: check %s: %w", sys.Name, q, err)
	}
	return resp.GetPermissionship(), nil
}

var fullyConsistent = &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}

// verify asks every system the sampled queries, fully consistent, and fails
// on the first answer that differs from the first system's. Answers that all
// systems agree on but that differ from the scenario's expectation are
// reported on warn, not failed: the systems still agree.
func verify(ctx context.Context, systems []*System, qs []CheckQuery, warn io.Writer) error {
	unexpected := 0
	for i, q := range qs {
		want, err := check(ctx, systems[0], q, fullyConsistent)
		if err != nil {
			return err
		}
		for _, sys := range systems[1:] {
			got, err := check(ctx, sys, q, fullyConsistent)
			if err != nil {
				return err
			}
			if got != want {
				return &MismatchError{Query: q, A: systems[0].Name, B: sys.Name, GotA: want, GotB: got, Checked: i + 1, Sampled: len(qs)}
			}
		}
		if q.Want != v1.CheckPermissionResponse_PERMISSIONSHIP_UNSPECIFIED && want != q.Want {
			unexpected++
		}
	}
	if unexpected > 0 {
		fmt.Fprintf(warn, "warning: all systems agree, but %d of %d sampled answers differ from the scenario's expectation\n", unexpected, len(qs))
	}
	return nil
}

// settle waits until each system answers every sampled query with
// minimize_latency as it does fully consistent, so that timed rounds do not
// measure a revision from before or during the load (SpiceDB quantizes
// revisions to 5s by default). One probe is not enough: a query denied on
// the empty data would pass at once. FailedPrecondition (the schema does not
// exist yet at that revision) also means "not yet".
func settle(ctx context.Context, systems []*System, qs []CheckQuery, timeout time.Duration) error {
	for _, sys := range systems {
		want := make([]v1.CheckPermissionResponse_Permissionship, len(qs))
		for i, q := range qs {
			var err error
			if want[i], err = check(ctx, sys, q, fullyConsistent); err != nil {
				return err
			}
		}
		deadline := time.Now().Add(timeout)
		for i := 0; i < len(qs); {
			got, err := check(ctx, sys, qs[i], minimizeLatency)
			if err != nil && status.Code(err) != codes.FailedPrecondition {
				return err
			}
			if err == nil && got == want[i] {
				i++
				continue
			}
			if time.Now().After(deadline) {
				if err != nil {
					return fmt.Errorf("still failing after %v: %w", timeout, err)
				}
				return fmt.Errorf("%s: minimize_latency answer for %s still %s after %v, fully consistent says %s", sys.Name, qs[i], got, timeout, want[i])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// LookupMismatchError reports a lookup query two systems answered with
// different sets of results.
type LookupMismatchError struct {
	Kind  string // workload name
	Query string
	// Has answered with ID, Lacks did not.
	Has, Lacks string
	ID         string
	Checked    int
	Sampled    int
}

func (e *LookupMismatchError) Error() string {
	return fmt.Sprintf("%s answers differ on %s: %s returns %q, %s does not (query %d of %d sampled)",
		e.Kind, e.Query, e.Has, e.ID, e.Lacks, e.Checked, e.Sampled)
}

// firstDifference compares two sorted lists of result keys as multisets and
// returns the smallest key that one has (more often) than the other, and
// whether it is a's. ok is false when they are equal.
func firstDifference(a, b []string) (key string, inA bool, ok bool) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			i++
			j++
		case a[i] < b[j]:
			return a[i], true, true
		default:
			return b[j], false, true
		}
	}
	if i < len(a) {
		return a[i], true, true
	}
	if j < len(b) {
		return b[j], false, true
	}
	return "", false, false
}

// compareLookup checks that got (from system gotName) has the same results
// as the reference answer want (from refName), both sorted; it returns nil
// when they are the same.
func compareLookup(kind, query, refName string, want []string, gotName string, got []string) *LookupMismatchError {
	key, inRef, differ := firstDifference(want, got)
	if !differ {
		return nil
	}
	e := &LookupMismatchError{Kind: kind, Query: query, Has: gotName, Lacks: refName, ID: key}
	if inRef {
		e.Has, e.Lacks = refName, gotName
	}
	return e
}

// verifyLookups asks every system but the first a sample of n of set's
// queries, fully consistent, and fails on the first whose results differ
// from the first system's (set's answers).
func verifyLookups(ctx context.Context, systems []*System, set *lookupSet, n int, seed int64) error {
	idx := make([]int, len(set.queries))
	for i := range idx {
		idx[i] = i
	}
	if len(idx) > n {
		r := rand.New(rand.NewPCG(uint64(seed), 0x2545f4914f6cdd1d))
		idx = r.Perm(len(idx))[:n]
	}
	for k, i := range idx {
		q := set.queries[i]
		for _, sys := range systems[1:] {
			got, err := lookupKeys(ctx, sys, q)
			if err != nil {
				return err
			}
			if e := compareLookup(set.kind, q.String(), systems[0].Name, set.answers[i], sys.Name, got); e != nil {
				e.Checked, e.Sampled = k+1, len(idx)
				return e
			}
		}
	}
	return nil
}
