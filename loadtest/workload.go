package main

import (
	"context"
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Workload names for --workloads.
const (
	workloadCheck               = "check"
	workloadCheckBulk           = "checkbulk"
	workloadLookupResources     = "lookup-resources"
	workloadLookupResourcesPage = "lookup-resources-page"
	workloadLookupSubjects      = "lookup-subjects"
	workloadMixed               = "mixed"
	workloadImport              = "import"
	workloadNoop                = "noop"
	workloadAll                 = "all"
)

// workloadNames lists every workload, in the order "all" runs them.
func workloadNames() []string {
	return []string{workloadCheck, workloadCheckBulk, workloadLookupResources, workloadLookupResourcesPage,
		workloadLookupSubjects, workloadMixed, workloadImport, workloadNoop}
}

// Workload is one kind of request driven against every system. Requests are
// numbered 0..Size()-1 and callers cycle through them.
type Workload interface {
	Name() string
	Size() int
	// Do sends request i with c. ok is false when the call succeeded but the
	// answer is not the one the scenario expects.
	Do(ctx context.Context, c *Client, i int) (ok bool, err error)
}

// multiItem is implemented by workloads whose requests each carry several
// items (checks in a bulk check); results then report items per second.
type multiItem interface {
	ItemsPerRequest() int
}

// itemsPerRequest is w's items per request, or 0 when w does not count items.
func itemsPerRequest(w Workload) int {
	if m, ok := w.(multiItem); ok {
		return m.ItemsPerRequest()
	}
	return 0
}

var minimizeLatency = &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}

// checkRequest is the one place a CheckQuery becomes a CheckPermissionRequest.
func checkRequest(q CheckQuery, cons *v1.Consistency) *v1.CheckPermissionRequest {
	return &v1.CheckPermissionRequest{
		Consistency: cons, Resource: q.Resource, Permission: q.Permission, Subject: q.Subject, Context: q.Context,
	}
}

// checkAnswerOK reports whether got is the answer q expects; a query with no
// expectation accepts any answer.
func checkAnswerOK(q CheckQuery, got v1.CheckPermissionResponse_Permissionship) bool {
	return q.Want == v1.CheckPermissionResponse_PERMISSIONSHIP_UNSPECIFIED || got == q.Want
}

// checkWorkload sends CheckPermission with minimize_latency consistency.
type checkWorkload struct {
	reqs []*v1.CheckPermissionRequest // shared read-only by all callers
	qs   []CheckQuery
}

func newCheckWorkload(d *Dataset) (*checkWorkload, error) {
	if len(d.Checks) == 0 {
		return nil, fmt.Errorf("scenario has no check queries")
	}
	w := &checkWorkload{qs: d.Checks}
	for _, q := range d.Checks {
		w.reqs = append(w.reqs, checkRequest(q, minimizeLatency))
	}
	return w, nil
}

// checkWorkloadName names CheckPermission in results.
const checkWorkloadName = "CheckPermission"

func (w *checkWorkload) Name() string { return checkWorkloadName }
func (w *checkWorkload) Size() int    { return len(w.reqs) }

func (w *checkWorkload) Do(ctx context.Context, c *Client, i int) (bool, error) {
	resp, err := c.CheckPermission(ctx, w.reqs[i])
	if err != nil {
		return false, err
	}
	return checkAnswerOK(w.qs[i], resp.GetPermissionship()), nil
}

// mixedWorkload is CheckPermission with one write in every hundred requests:
// request i with i%100 == 99 TOUCHes an existing relationship of the data
// set, unchanged, so that no answer changes during the run.
type mixedWorkload struct {
	checks *checkWorkload
	writes []*v1.WriteRelationshipsRequest
	size   int
}

func newMixedWorkload(d *Dataset, checks *checkWorkload) (*mixedWorkload, error) {
	if len(d.Relationships) == 0 {
		return nil, fmt.Errorf("mixed: scenario has no relationships to touch")
	}
	w := &mixedWorkload{checks: checks}
	// Whole hundreds, at least as many checks as there are queries.
	w.size = (checks.Size() + 98) / 99 * 100
	for i := 99; i < w.size; i += 100 {
		rel := d.Relationships[(i/100)%len(d.Relationships)]
		w.writes = append(w.writes, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel},
		}})
	}
	return w, nil
}

func (w *mixedWorkload) Name() string { return "Mixed(99% check, 1% write)" }
func (w *mixedWorkload) Size() int    { return w.size }

func (w *mixedWorkload) Do(ctx context.Context, c *Client, i int) (bool, error) {
	if i%100 == 99 {
		_, err := c.WriteRelationships(ctx, w.writes[i/100])
		return err == nil, err
	}
	// The checks are numbered 0..98 in each hundred.
	return w.checks.Do(ctx, c, (i-i/100)%w.checks.Size())
}

// noopWorkloadName names the no-op baseline in results.
const noopWorkloadName = "NoOp(health check)"

// noopWorkload sends gRPC health checks: an RPC that does no work, served by
// the same server stack (listener, HTTP/2, gRPC framing, handler plumbing),
// so its throughput is the transport's ceiling for the real RPCs.
type noopWorkload struct{}

func (noopWorkload) Name() string { return noopWorkloadName }
func (noopWorkload) Size() int    { return 1 }

func (noopWorkload) Do(ctx context.Context, c *Client, _ int) (bool, error) {
	resp, err := c.Health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return false, err
	}
	return resp.GetStatus() == healthpb.HealthCheckResponse_SERVING, nil
}
