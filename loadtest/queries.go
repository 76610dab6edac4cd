package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/schema"
)

// Query set sources for --queries.
const (
	queriesGenerated = "generated"
	queriesScenario  = "scenario"
)

// QueryMix describes the check queries a run timed: where they came from
// and how the reference system (gatehouse, fully consistent) answers them.
type QueryMix struct {
	Source      string `json:"source"` // "generated" or "scenario"
	Seed        int64  `json:"seed,omitempty"`
	Requested   int    `json:"requested,omitempty"`
	Queries     int    `json:"queries"`
	Allowed     int    `json:"allowed"`
	Denied      int    `json:"denied"`
	Conditional int    `json:"conditional"`
	// Candidates is how many candidate queries were drawn (duplicates
	// included) to build a generated set; Rejected is how many of them
	// gatehouse answered with an error, which are left out.
	Candidates int `json:"candidates,omitempty"`
	Rejected   int `json:"rejected,omitempty"`
	// AbsentSubjects counts queries whose subject ID occurs in no
	// relationship, drawn only when the data yields no denied query.
	AbsentSubjects int `json:"absent_subjects,omitempty"`
}

func (m QueryMix) String() string {
	s := fmt.Sprintf("%d %s check queries", m.Queries, m.Source)
	if m.Source == queriesGenerated {
		s += fmt.Sprintf(" (seed %d)", m.Seed)
	}
	s += fmt.Sprintf(": %d allowed, %d denied, %d conditional", m.Allowed, m.Denied, m.Conditional)
	if m.AbsentSubjects > 0 {
		s += fmt.Sprintf(", %d with a subject absent from the data", m.AbsentSubjects)
	}
	return s
}

func (m *QueryMix) count(p v1.CheckPermissionResponse_Permissionship) {
	switch p {
	case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
		m.Allowed++
	case v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		m.Conditional++
	default:
		m.Denied++
	}
}

// Classifier answers a check query, fully consistent, on the reference
// system. An error that is not fatal (see fatalClassifyError) marks a query
// the schema rejects; it is left out of a generated set.
type Classifier func(ctx context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error)

// fatalClassifyError reports errors that say nothing about the query: the
// server is gone, the run is cancelled or the client is not let in.
func fatalClassifyError(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded, codes.Unauthenticated, codes.PermissionDenied, codes.Unknown:
		return true
	}
	return false
}

// classifyQueries answers every query with classify and returns the mix.
// The queries keep the answer their scenario expects, so that verification
// still warns when the systems agree with each other but not with it.
func classifyQueries(ctx context.Context, qs []CheckQuery, classify Classifier) (QueryMix, error) {
	mix := QueryMix{Source: queriesScenario, Queries: len(qs)}
	for _, q := range qs {
		p, err := classify(ctx, q)
		if err != nil {
			return mix, fmt.Errorf("classify %s: %w", q, err)
		}
		mix.count(p)
	}
	return mix, nil
}

// objKey is a type:id pair.
type objKey struct{ typ, id string }

// subjKey is a subject as it occurs in relationships: type:id or type:id#rel.
type subjKey struct{ typ, id, rel string }

func (s subjKey) ref() *v1.SubjectReference {
	return &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: s.typ, ObjectId: s.id}, OptionalRelation: s.rel}
}

// objRel is a type:id#relation.
type objRel struct {
	obj objKey
	rel string
}

// edge is one relationship seen from its resource.
type edge struct {
	rel string
	sub subjKey
}

// querySampler draws candidate check queries from a schema and the
// relationships loaded under it.
type querySampler struct {
	rng *rand.Rand
	// resTypes are the definitions with relations or permissions whose
	// objects occur as resources in the data, in schema order.
	resTypes []*schema.Definition
	perms    map[string][]string // type -> the relations and permissions queried
	resIDs   map[string][]string // type -> distinct resource IDs, in data order
	out      map[objKey][]edge   // relationships by resource
	outRel   map[objRel][]edge   // relationships by resource and relation
	subjects []subjKey           // distinct non-wildcard subjects, in data order
	// absent makes half the subjects drawn absent from the data.
	absent bool
}

// absentPrefix starts the IDs of subjects that no relationship has.
const absentPrefix = "loadtest-absent-"

// QueryShape is what a scenario says about its generated queries.
type QueryShape struct {
	// Permissions, when not empty, are the only "type#relation" pairs (of
	// relations or permissions) queried.
	Permissions []string
	// Context, when not nil, gives each query's request context.
	Context ContextFunc
}

// newQuerySampler indexes rels for sampling queries on the permissions
// listed (all of the schema's when none are).
func newQuerySampler(sch *schema.Schema, rels []*v1.Relationship, seed int64, permissions []string) (*querySampler, error) {
	s := &querySampler{
		rng:    rand.New(rand.NewPCG(uint64(seed), 0x51ed270b27f3a1c9)),
		perms:  map[string][]string{},
		resIDs: map[string][]string{},
		out:    map[objKey][]edge{},
		outRel: map[objRel][]edge{},
	}
	seenSubj := map[subjKey]bool{}
	for _, r := range rels {
		res := objKey{r.GetResource().GetObjectType(), r.GetResource().GetObjectId()}
		sub := subjKey{r.GetSubject().GetObject().GetObjectType(), r.GetSubject().GetObject().GetObjectId(), r.GetSubject().GetOptionalRelation()}
		if _, ok := s.out[res]; !ok {
			s.resIDs[res.typ] = append(s.resIDs[res.typ], res.id)
		}
		s.out[res] = append(s.out[res], edge{r.GetRelation(), sub})
		s.outRel[objRel{res, r.GetRelation()}] = append(s.outRel[objRel{res, r.GetRelation()}], edge{r.GetRelation(), sub})
		if sub.id == "*" || seenSubj[sub] {
			continue
		}
		seenSubj[sub] = true
		s.subjects = append(s.subjects, sub)
	}
	for _, d := range sch.Definitions() {
		if len(s.resIDs[d.Name]) == 0 {
			continue
		}
		var names []string
		for _, name := range d.Order {
			if len(permissions) == 0 || slices.Contains(permissions, d.Name+"#"+name) {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			s.resTypes = append(s.resTypes, d)
			s.perms[d.Name] = names
		}
	}
	if len(s.resTypes) == 0 {
		return nil, fmt.Errorf("no relationship has a resource of a type with relations or permissions to query")
	}
	if len(s.subjects) == 0 {
		return nil, fmt.Errorf("no relationship has a non-wildcard subject")
	}
	return s, nil
}

// next draws one candidate: a resource type with relations or permissions,
// one of its relations or permissions, a resource ID of that type from the
// data, and a subject from the data. Half the time the subject is found by a
// random walk from the resource along the relationships (so that it is
// likely to be connected, and the query likely allowed); otherwise it is any
// subject that occurs in the data.
func (s *querySampler) next() CheckQuery {
	def := s.resTypes[s.rng.IntN(len(s.resTypes))]
	perm := s.perms[def.Name][s.rng.IntN(len(s.perms[def.Name]))]
	ids := s.resIDs[def.Name]
	res := objKey{def.Name, ids[s.rng.IntN(len(ids))]}
	var sub subjKey
	if w, ok := s.walk(res); ok && s.rng.IntN(2) == 0 {
		sub = w
	} else {
		sub = s.subjects[s.rng.IntN(len(s.subjects))]
		if s.absent && s.rng.IntN(2) == 0 {
			sub.id = absentPrefix + strconv.Itoa(s.rng.IntN(1000))
		}
	}
	return CheckQuery{
		Resource:   &v1.ObjectReference{ObjectType: res.typ, ObjectId: res.id},
		Permission: perm,
		Subject:    sub.ref(),
	}
}

// walk follows up to 8 random relationships from res, each from the subject
// of the previous one (through the subject's relation when it is a subject
// set), stopping at random, and returns the last subject that is not a
// wildcard.
func (s *querySampler) walk(res objKey) (subjKey, bool) {
	var last subjKey
	found := false
	cur, via := res, ""
	for range 8 {
		edges := s.out[cur]
		if via != "" {
			edges = s.outRel[objRel{cur, via}]
		}
		if len(edges) == 0 {
			break
		}
		e := edges[s.rng.IntN(len(edges))].sub
		if e.id != "*" {
			last, found = e, true
		}
		if found && s.rng.IntN(5) < 2 {
			break
		}
		cur, via = objKey{e.typ, e.id}, e.rel
	}
	return last, found
}

// generateQueries builds up to n distinct check queries over the data, each
// answered without error by classify, aiming at half allowed and half denied
// or conditional. It draws candidates until both halves are full or a budget
// is spent. When the data alone yields no denied query (every subject in the
// data is allowed everywhere, e.g. through a wildcard), it draws a second
// round in which half the subjects are absent from the data (an occurring
// subject type with an ID no relationship has). It then tops the set up
// from the surplus of the fuller half and, where the data cannot give
// enough allowed queries, drops not-allowed ones so that at least a third
// stay allowed. It fails unless the set has both an allowed and a
// not-allowed query. Each query's Want is classify's answer. shape may
// narrow the permissions queried and give each candidate a request context
// (so that caveats are decided, not CONDITIONAL). The result is a function
// of the schema, the relationships (in order), n, seed, shape and the
// answers.
func generateQueries(ctx context.Context, sch *schema.Schema, rels []*v1.Relationship, n int, seed int64, shape QueryShape, classify Classifier) ([]CheckQuery, QueryMix, error) {
	mix := QueryMix{Source: queriesGenerated, Seed: seed, Requested: n}
	s, err := newQuerySampler(sch, rels, seed, shape.Permissions)
	if err != nil {
		return nil, mix, err
	}
	isAllowed := func(q CheckQuery) bool { return q.Want == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION }
	wantAllowed := (n + 1) / 2
	wantOther := n - wantAllowed
	var allowed, other, surplus []CheckQuery
	seen := map[string]bool{}
	classified := 0
	draw := func() error {
		maxCandidates, maxClassified := mix.Candidates+200*n+1000, classified+20*n+200
		for mix.Candidates < maxCandidates && classified < maxClassified && (len(allowed) < wantAllowed || len(other) < wantOther) {
			q := s.next()
			if shape.Context != nil {
				q.Context = shape.Context(q.Resource, q.Subject)
			}
			mix.Candidates++
			key := q.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			classified++
			p, err := classify(ctx, q)
			if err != nil {
				if fatalClassifyError(ctx, err) {
					return fmt.Errorf("classify %s: %w", q, err)
				}
				mix.Rejected++
				continue
			}
			q.Want = p
			switch {
			case isAllowed(q) && len(allowed) < wantAllowed:
				allowed = append(allowed, q)
			case !isAllowed(q) && len(other) < wantOther:
				other = append(other, q)
			default:
				surplus = append(surplus, q)
			}
		}
		return nil
	}
	if err := draw(); err != nil {
		return nil, mix, err
	}
	if len(other) == 0 {
		s.absent = true
		if err := draw(); err != nil {
			return nil, mix, err
		}
	}
	out := append(allowed, other...)
	for _, q := range surplus {
		if len(out) >= n {
			break
		}
		out = append(out, q)
	}
	// Keep at least a third allowed: drop the last not-allowed queries
	// beyond twice the allowed ones.
	nAllowed := 0
	for _, q := range out {
		if isAllowed(q) {
			nAllowed++
		}
	}
	kept, nOther := out[:0], 0
	for _, q := range out {
		if !isAllowed(q) {
			if nOther >= 2*nAllowed {
				continue
			}
			nOther++
		}
		kept = append(kept, q)
	}
	out = kept
	for _, q := range out {
		mix.count(q.Want)
		if strings.HasPrefix(q.Subject.GetObject().GetObjectId(), absentPrefix) {
			mix.AbsentSubjects++
		}
	}
	mix.Queries = len(out)
	if mix.Allowed == 0 || mix.Allowed == len(out) {
		return nil, mix, fmt.Errorf("generated queries: %d candidates (%d distinct, %d rejected) gave %d allowed and %d not allowed; need both (try --queries scenario)",
			mix.Candidates, classified, mix.Rejected, mix.Allowed, len(out)-mix.Allowed)
	}
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return slices.Clip(out), mix, nil
}
