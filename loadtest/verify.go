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
	resp, err := sys.Client(0).CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: cons, Resource: q.Resource, Permission: q.Permission, Subject: q.Subject,
	})
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
