package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
)

// maxLookupQueries caps the distinct lookup queries taken from the check
// queries: lookups are slow enough that a few hundred cover the run.
const maxLookupQueries = 200

// lookupQuery is a LookupResources or LookupSubjects question.
type lookupQuery interface {
	String() string
	// run sends the query with c, reads the stream to its end and returns
	// how many results came. When keys is not nil, each result's key (its
	// ID and, when not plainly allowed, its permissionship) is appended.
	run(ctx context.Context, c *Client, cons *v1.Consistency, limit uint32, keys *[]string) (int, error)
}

// resourcesQuery is a LookupResources question: which resources of a type
// have a permission for a subject.
type resourcesQuery struct {
	ResourceType string
	Permission   string
	Subject      *v1.SubjectReference
}

func (q resourcesQuery) String() string {
	return q.ResourceType + "#" + q.Permission + "@" + subjectString(q.Subject)
}

// request is the one place a resourcesQuery becomes a LookupResourcesRequest.
func (q resourcesQuery) request(cons *v1.Consistency, limit uint32) *v1.LookupResourcesRequest {
	return &v1.LookupResourcesRequest{
		Consistency: cons, ResourceObjectType: q.ResourceType, Permission: q.Permission, Subject: q.Subject,
		OptionalLimit: limit,
	}
}

func (q resourcesQuery) run(ctx context.Context, c *Client, cons *v1.Consistency, limit uint32, keys *[]string) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.LookupResources(ctx, q.request(cons, limit))
	if err != nil {
		return 0, err
	}
	return drain(stream, keys, func(r *v1.LookupResourcesResponse) string {
		return resultKey(r.GetResourceObjectId(), r.GetPermissionship())
	})
}

// drain reads stream to its end and returns how many messages came; when
// keys is not nil, it appends key of each.
func drain[T any](stream grpc.ServerStreamingClient[T], keys *[]string, key func(*T) string) (int, error) {
	n := 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if keys != nil {
			*keys = append(*keys, key(resp))
		}
	}
}

// subjectsQuery is a LookupSubjects question: which subjects of a type (and
// relation, for subject sets) have a permission on a resource.
type subjectsQuery struct {
	Resource        *v1.ObjectReference
	Permission      string
	SubjectType     string
	SubjectRelation string
}

func (q subjectsQuery) String() string {
	s := q.Resource.GetObjectType() + ":" + q.Resource.GetObjectId() + "#" + q.Permission + "@" + q.SubjectType
	if q.SubjectRelation != "" {
		s += "#" + q.SubjectRelation
	}
	return s
}

// request is the one place a subjectsQuery becomes a LookupSubjectsRequest.
func (q subjectsQuery) request(cons *v1.Consistency) *v1.LookupSubjectsRequest {
	return &v1.LookupSubjectsRequest{
		Consistency: cons, Resource: q.Resource, Permission: q.Permission,
		SubjectObjectType: q.SubjectType, OptionalSubjectRelation: q.SubjectRelation,
	}
}

func (q subjectsQuery) run(ctx context.Context, c *Client, cons *v1.Consistency, _ uint32, keys *[]string) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.LookupSubjects(ctx, q.request(cons))
	if err != nil {
		return 0, err
	}
	return drain(stream, keys, subjectKey)
}

// subjectKey is a LookupSubjects result's key: a wildcard's key lists the
// subjects it excludes, sorted.
func subjectKey(r *v1.LookupSubjectsResponse) string {
	s := r.GetSubject()
	key := resultKey(s.GetSubjectObjectId(), s.GetPermissionship())
	if ex := r.GetExcludedSubjects(); len(ex) > 0 {
		exKeys := make([]string, len(ex))
		for i, e := range ex {
			exKeys[i] = resultKey(e.GetSubjectObjectId(), e.GetPermissionship())
		}
		slices.Sort(exKeys)
		key += " minus {" + strings.Join(exKeys, ",") + "}"
	}
	return key
}

// resultKey is a lookup result as compared between systems: its ID, marked
// when the permission is only conditional.
func resultKey(id string, p v1.LookupPermissionship) string {
	if p == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION {
		return id
	}
	return id + " (" + strings.TrimPrefix(p.String(), "LOOKUP_PERMISSIONSHIP_") + ")"
}

func subjectString(s *v1.SubjectReference) string {
	out := s.GetObject().GetObjectType() + ":" + s.GetObject().GetObjectId()
	if r := s.GetOptionalRelation(); r != "" {
		out += "#" + r
	}
	return out
}

// resourcesQueries returns the distinct (resource type, permission, subject)
// triples of the check queries, in order, at most maxLookupQueries.
func resourcesQueries(checks []CheckQuery) []lookupQuery {
	var out []lookupQuery
	seen := map[string]bool{}
	for _, c := range checks {
		q := resourcesQuery{ResourceType: c.Resource.GetObjectType(), Permission: c.Permission, Subject: c.Subject}
		if key := q.String(); !seen[key] {
			seen[key] = true
			out = append(out, q)
		}
		if len(out) == maxLookupQueries {
			break
		}
	}
	return out
}

// subjectsQueries returns the distinct (resource, permission, subject type
// and relation) of the check queries, in order, at most maxLookupQueries.
func subjectsQueries(checks []CheckQuery) []lookupQuery {
	var out []lookupQuery
	seen := map[string]bool{}
	for _, c := range checks {
		q := subjectsQuery{Resource: c.Resource, Permission: c.Permission,
			SubjectType: c.Subject.GetObject().GetObjectType(), SubjectRelation: c.Subject.GetOptionalRelation()}
		if key := q.String(); !seen[key] {
			seen[key] = true
			out = append(out, q)
		}
		if len(out) == maxLookupQueries {
			break
		}
	}
	return out
}

// lookupSet is a set of lookup queries with the reference system's answer
// to each, fully consistent: result keys, sorted.
type lookupSet struct {
	kind    string // workload name, for messages
	queries []lookupQuery
	answers [][]string
}

// size is how many queries s has; 0 when s is nil.
func (s *lookupSet) size() int {
	if s == nil {
		return 0
	}
	return len(s.queries)
}

// results is how many results the answers hold in all.
func (s *lookupSet) results() int {
	n := 0
	for _, a := range s.answers {
		n += len(a)
	}
	return n
}

// answerLookups asks sys every query, fully consistent, and keeps the sorted
// result keys as the expected answers.
func answerLookups(ctx context.Context, sys *System, kind string, qs []lookupQuery) (*lookupSet, error) {
	set := &lookupSet{kind: kind, queries: qs, answers: make([][]string, len(qs))}
	for i, q := range qs {
		keys, err := lookupKeys(ctx, sys, q)
		if err != nil {
			return nil, err
		}
		set.answers[i] = keys
	}
	return set, nil
}

// lookupKeys asks sys q, fully consistent, and returns the sorted result keys.
func lookupKeys(ctx context.Context, sys *System, q lookupQuery) ([]string, error) {
	keys := []string{}
	if _, err := q.run(ctx, sys.Client(0), fullyConsistent, 0, &keys); err != nil {
		return nil, fmt.Errorf("%s: lookup %s: %w", sys.Name, q, err)
	}
	return distinctResults(keys), nil
}

// distinctResults sorts keys and drops repeats: SpiceDB's lookups may return
// a result once per path that reaches it (its API documents that results are
// not unique and callers deduplicate). A result returned both outright and
// as conditional counts as outright.
func distinctResults(keys []string) []string {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	outright := map[string]bool{}
	for _, k := range keys {
		if !strings.Contains(k, " ") {
			outright[k] = true
		}
	}
	return slices.DeleteFunc(keys, func(k string) bool {
		id, rest, found := strings.Cut(k, " ")
		return found && strings.HasPrefix(rest, "(") && outright[id]
	})
}

// lookupWorkload sends lookup queries with minimize_latency and reads each
// stream to its end. A request is ok when it returns as many distinct results
// as the reference system did, or, with a limit, a full page.
type lookupWorkload struct {
	name  string
	set   *lookupSet
	limit uint32 // 0 = no limit
	want  []int
}

func newLookupWorkload(name string, set *lookupSet, limit uint32) (*lookupWorkload, error) {
	if len(set.queries) == 0 {
		return nil, fmt.Errorf("%s: no lookup queries", name)
	}
	w := &lookupWorkload{name: name, set: set, limit: limit, want: make([]int, len(set.queries))}
	for i, a := range set.answers {
		w.want[i] = len(a)
		if limit > 0 {
			w.want[i] = min(len(a), int(limit))
		}
	}
	return w, nil
}

func (w *lookupWorkload) Name() string { return w.name }
func (w *lookupWorkload) Size() int    { return len(w.want) }

func (w *lookupWorkload) Do(ctx context.Context, c *Client, i int) (bool, error) {
	var keys []string
	n, err := w.set.queries[i].run(ctx, c, minimizeLatency, w.limit, &keys)
	if err != nil {
		return false, err
	}
	switch {
	case n == w.want[i], w.limit > 0 && n == int(w.limit):
		// As many results as expected, or a full page (which may repeat a
		// result, as SpiceDB's may).
		return true, nil
	}
	return len(distinctResults(keys)) == w.want[i], nil
}
