package main

import (
	"context"
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// bulkItem is the one place a CheckQuery becomes a bulk check item.
func bulkItem(q CheckQuery) *v1.CheckBulkPermissionsRequestItem {
	return &v1.CheckBulkPermissionsRequestItem{Resource: q.Resource, Permission: q.Permission, Subject: q.Subject, Context: q.Context}
}

// bulkWindows cuts qs into consecutive windows of batch queries, wrapping
// around at the end so that every window is full: window k holds queries
// k*batch, k*batch+1, ... (mod len(qs)). There are ceil(len(qs)/batch)
// windows, so every query is in at least one.
func bulkWindows(qs []CheckQuery, batch int) [][]CheckQuery {
	if len(qs) == 0 || batch < 1 {
		return nil
	}
	n := (len(qs) + batch - 1) / batch
	out := make([][]CheckQuery, n)
	for k := range out {
		w := make([]CheckQuery, batch)
		for j := range w {
			w[j] = qs[(k*batch+j)%len(qs)]
		}
		out[k] = w
	}
	return out
}

// checkBulkWorkload sends CheckBulkPermissions, minimize_latency, each with
// one window of the check queries. A request is ok when every item has the
// answer its query expects.
type checkBulkWorkload struct {
	batch   int
	windows [][]CheckQuery
	reqs    []*v1.CheckBulkPermissionsRequest
}

func newCheckBulkWorkload(d *Dataset, batch int) (*checkBulkWorkload, error) {
	if len(d.Checks) == 0 {
		return nil, fmt.Errorf("scenario has no check queries")
	}
	w := &checkBulkWorkload{batch: batch, windows: bulkWindows(d.Checks, batch)}
	for _, win := range w.windows {
		req := &v1.CheckBulkPermissionsRequest{Consistency: minimizeLatency}
		for _, q := range win {
			req.Items = append(req.Items, bulkItem(q))
		}
		w.reqs = append(w.reqs, req)
	}
	return w, nil
}

func (w *checkBulkWorkload) Name() string         { return "CheckBulkPermissions" }
func (w *checkBulkWorkload) Size() int            { return len(w.reqs) }
func (w *checkBulkWorkload) ItemsPerRequest() int { return w.batch }

func (w *checkBulkWorkload) Do(ctx context.Context, c *Client, i int) (bool, error) {
	resp, err := c.CheckBulkPermissions(ctx, w.reqs[i])
	if err != nil {
		return false, err
	}
	return bulkAnswersOK(w.windows[i], resp.GetPairs())
}

// bulkAnswersOK reports whether pairs answer qs, in order, as they expect.
// An item answered with an error is an error.
func bulkAnswersOK(qs []CheckQuery, pairs []*v1.CheckBulkPermissionsPair) (bool, error) {
	if len(pairs) != len(qs) {
		return false, nil
	}
	for j, p := range pairs {
		if e := p.GetError(); e != nil {
			return false, fmt.Errorf("item %d (%s): %s", j, qs[j], e.GetMessage())
		}
		if !checkAnswerOK(qs[j], p.GetItem().GetPermissionship()) {
			return false, nil
		}
	}
	return true, nil
}
