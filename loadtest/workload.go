package main

import (
	"context"
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
)

// Workload is one kind of request driven against every system. Requests are
// numbered 0..Size()-1 and callers cycle through them.
type Workload interface {
	Name() string
	Size() int
	// Do sends request i with c. ok is false when the call succeeded but the
	// answer is not the one the scenario expects.
	Do(ctx context.Context, c *authzed.Client, i int) (ok bool, err error)
}

var minimizeLatency = &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}

// checkWorkload sends CheckPermission with minimize_latency consistency.
type checkWorkload struct {
	reqs []*v1.CheckPermissionRequest // shared read-only by all callers
	want []v1.CheckPermissionResponse_Permissionship
}

func newCheckWorkload(d *Dataset) (*checkWorkload, error) {
	if len(d.Checks) == 0 {
		return nil, fmt.Errorf("scenario has no check queries")
	}
	w := &checkWorkload{}
	for _, q := range d.Checks {
		w.reqs = append(w.reqs, &v1.CheckPermissionRequest{
			Consistency: minimizeLatency, Resource: q.Resource, Permission: q.Permission, Subject: q.Subject, Context: q.Context,
		})
		w.want = append(w.want, q.Want)
	}
	return w, nil
}

func (w *checkWorkload) Name() string { return "CheckPermission" }
func (w *checkWorkload) Size() int    { return len(w.reqs) }

func (w *checkWorkload) Do(ctx context.Context, c *authzed.Client, i int) (bool, error) {
	resp, err := c.CheckPermission(ctx, w.reqs[i])
	if err != nil {
		return false, err
	}
	want := w.want[i]
	return want == v1.CheckPermissionResponse_PERMISSIONSHIP_UNSPECIFIED || resp.GetPermissionship() == want, nil
}
