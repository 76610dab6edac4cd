package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/development"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
	devinterface "github.com/authzed/spicedb/pkg/proto/developer/v1"
	sdbtuple "github.com/authzed/spicedb/pkg/tuple"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// diffRequestContexts are the caveat contexts every query is made with ("" = none).
var diffRequestContexts = []string{"", `{"x":20,"who":"u1"}`, `{"x":3,"allowed":["u1","u3"]}`}

// diffAbsentUser is a user no relationship names; only wildcards can reach it.
const diffAbsentUser = "nobody"

// diffSpiceTimeout bounds one SpiceDB call. It is a safety net: on cyclic
// data SpiceDB may search exponentially many paths before failing with max
// depth, and generated data is acyclic for that reason.
const diffSpiceTimeout = 10 * time.Second

// diffMaxTimeouts is how many SpiceDB calls of one case may time out before the
// case stops querying SpiceDB.
const diffMaxTimeouts = 2

// diffMaxReported bounds the mismatches printed per subtest; the rest are counted.
const diffMaxReported = 6

// diffStats aggregates counts over the cases of one test.
type diffStats struct {
	mu        sync.Mutex
	cases     int
	failed    int
	rejected  int
	queries   int
	maxDepth  int
	timeouts  int
	depthLogs int
	// selfContradictions counts answers where SpiceDB contradicted its own
	// CheckPermission and gatehouse agreed with that CheckPermission: a
	// lookup that disagrees with Check on every disputed item (SpiceDB's
	// conformance harness requires lookups to agree with Check), or a
	// CheckBulkPermissions item that disagrees with CheckPermission for the
	// same request. There gatehouse gives the answer SpiceDB's own Check gives.
	selfContradictions int
	contraLogs         int
}

func (s *diffStats) add(f func(s *diffStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// diffCase is one schema and its relationships, named for replay.
type diffCase struct {
	name   string // "seed=N" or a fixed name
	replay string // how to run only this case
	schema string
	rels   []string
	// contexts indexes diffRequestContexts: the contexts queries are made with; nil means all.
	contexts []int
}

func (c diffCase) header() string {
	var b strings.Builder
	fmt.Fprintf(&b, "case %s", c.name)
	if c.replay != "" {
		fmt.Fprintf(&b, " (replay: %s)", c.replay)
	}
	b.WriteString("\n--- schema ---\n")
	b.WriteString(c.schema)
	b.WriteString("--- relationships ---\n")
	for _, r := range c.rels {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// diffEnv holds both engines loaded with one case.
type diffEnv struct {
	c        diffCase
	stats    *diffStats
	sch      *schema.Schema
	snap     *graph.Snapshot
	client   v1.PermissionsServiceClient
	now      time.Time
	objects  map[string][]string // non-user type -> sorted ids
	subjects []tuple.Subject
	contexts []map[string]any
	structs  []*structpb.Struct
	// queryContexts indexes the request contexts queries are made with.
	queryContexts []int
	timeouts      int
}

var diffConsistency = &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}

// errDiffRejected: both SpiceDB and gatehouse refused the case's schema or relationships.
var errDiffRejected = errors.New("case rejected by both engines")

// loadDiffCase loads c into SpiceDB (in process) and into a gatehouse index. It
// returns errDiffRejected when both refuse the input; a disagreement about the
// input's validity is reported as a test error.
func loadDiffCase(t *testing.T, c diffCase, stats *diffStats) (*diffEnv, error) {
	t.Helper()
	var coreRels []*core.RelationTuple
	var rels []tuple.Relationship
	for _, s := range c.rels {
		sr, err := sdbtuple.Parse(s)
		if err != nil {
			t.Fatalf("SpiceDB cannot parse generated relationship %q: %v", s, err)
		}
		coreRels = append(coreRels, sr.ToCoreTuple())
		gr, err := tuple.Parse(s)
		if err != nil {
			t.Fatalf("gatehouse cannot parse generated relationship %q: %v", s, err)
		}
		rels = append(rels, gr)
	}

	sch, gerr := schema.Compile(c.schema)
	devCtx, devErrs, err := development.NewDevContext(context.Background(), &devinterface.RequestContext{Schema: c.schema, Relationships: coreRels})
	if err != nil {
		t.Fatalf("%s\nSpiceDB dev context: %v", c.header(), err)
	}
	var schemaErrs, relErrs []string
	for _, e := range devErrs.GetInputErrors() {
		msg := fmt.Sprintf("%s (%s)", e.GetMessage(), e.GetContext())
		if e.GetSource() == devinterface.DeveloperError_SCHEMA {
			schemaErrs = append(schemaErrs, msg)
		} else {
			relErrs = append(relErrs, msg)
		}
	}
	if devErrs == nil {
		t.Cleanup(devCtx.Dispose)
	}
	switch {
	case gerr != nil && len(schemaErrs) > 0:
		t.Logf("%s: both reject the schema: SpiceDB: %s; gatehouse: %v", c.name, strings.Join(schemaErrs, "; "), gerr)
		return nil, errDiffRejected
	case gerr != nil:
		t.Errorf("%s\nschema.Compile rejects a schema SpiceDB accepts: %v", c.header(), gerr)
		return nil, errDiffRejected
	case len(schemaErrs) > 0:
		t.Errorf("%s\nschema.Compile accepts a schema SpiceDB rejects: %s", c.header(), strings.Join(schemaErrs, "; "))
		return nil, errDiffRejected
	}
	var gRelErrs []string
	for _, r := range rels {
		if err := sch.ValidateRelationship(r, false); err != nil {
			gRelErrs = append(gRelErrs, fmt.Sprintf("%s: %v", r, err))
		}
	}
	switch {
	case len(relErrs) > 0 && len(gRelErrs) > 0:
		t.Logf("%s: both reject relationships: SpiceDB: %s; gatehouse: %s", c.name, strings.Join(relErrs, "; "), strings.Join(gRelErrs, "; "))
		return nil, errDiffRejected
	case len(relErrs) > 0 || len(gRelErrs) > 0:
		t.Errorf("%s\nrelationship validation differs:\nSpiceDB rejects: %s\ngatehouse rejects: %s", c.header(), strings.Join(relErrs, "; "), strings.Join(gRelErrs, "; "))
		return nil, errDiffRejected
	}

	conn, stop, err := devCtx.RunV1InMemoryService()
	if err != nil {
		t.Fatalf("SpiceDB in-memory service: %v", err)
	}
	t.Cleanup(stop)

	ix := graph.NewIndex()
	if err := ix.Load(1, rels); err != nil {
		t.Fatal(err)
	}
	snap, err := ix.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	env := &diffEnv{c: c, stats: stats, sch: sch, snap: snap, client: v1.NewPermissionsServiceClient(conn), now: time.Now(), objects: map[string][]string{}}
	for _, s := range diffRequestContexts {
		if s == "" {
			env.contexts = append(env.contexts, nil)
			env.structs = append(env.structs, nil)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		st, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		env.contexts = append(env.contexts, m)
		env.structs = append(env.structs, st)
	}
	env.universe(rels)
	env.queryContexts = c.contexts
	if env.queryContexts == nil {
		for i := range diffRequestContexts {
			env.queryContexts = append(env.queryContexts, i)
		}
	}
	return env, nil
}

// universe collects the objects and subjects queries range over: every object
// the relationships name; every user, plus one no relationship names; and as
// usersets, those the relationships name plus, for each subject relation the
// schema allows, the one on the type's first object.
func (env *diffEnv) universe(rels []tuple.Relationship) {
	ids := map[string]map[string]bool{"user": {diffAbsentUser: true}}
	add := func(typ, id string) {
		if id == "*" {
			return
		}
		if ids[typ] == nil {
			ids[typ] = map[string]bool{}
		}
		ids[typ][id] = true
	}
	usersets := map[tuple.Subject]bool{}
	for _, r := range rels {
		add(r.Resource.Type, r.Resource.ID)
		add(r.Subject.Type, r.Subject.ID)
		if r.Subject.Relation != "" {
			usersets[r.Subject] = true
		}
	}
	sorted := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for id := range m {
			out = append(out, id)
		}
		sort.Strings(out)
		return out
	}
	for typ, m := range ids {
		if typ != "user" {
			env.objects[typ] = sorted(m)
		}
	}
	for _, id := range sorted(ids["user"]) {
		env.subjects = append(env.subjects, tuple.Subject{Type: "user", ID: id})
	}
	for _, d := range env.sch.Definitions() {
		for _, rn := range d.Order {
			for _, a := range d.Relations[rn].Allowed {
				if a.Relation != "" && !a.Wildcard && len(env.objects[a.Type]) > 0 {
					usersets[tuple.Subject{Type: a.Type, ID: env.objects[a.Type][0], Relation: a.Relation}] = true
				}
			}
		}
	}
	var us []tuple.Subject
	for s := range usersets {
		us = append(us, s)
	}
	slices.SortFunc(us, func(a, b tuple.Subject) int { return strings.Compare(a.String(), b.String()) })
	env.subjects = append(env.subjects, us...)
}

func (env *diffEnv) context(i int) graph.Context {
	return graph.Context{Values: env.contexts[i], Now: env.now}
}

func diffCtxLabel(i int) string {
	if diffRequestContexts[i] == "" {
		return ""
	}
	return " with context " + diffRequestContexts[i]
}

func diffObjRef(o tuple.Object) *v1.ObjectReference {
	return &v1.ObjectReference{ObjectType: o.Type, ObjectId: o.ID}
}

func diffSubjRef(s tuple.Subject) *v1.SubjectReference {
	return &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: s.Type, ObjectId: s.ID}, OptionalRelation: s.Relation}
}

// spiceCall gives one SpiceDB call its timeout. It reports false, without a
// context, once the case has seen diffMaxTimeouts timeouts.
func (env *diffEnv) spiceCall(ctx context.Context) (context.Context, context.CancelFunc, bool) {
	if env.timeouts >= diffMaxTimeouts {
		return nil, nil, false
	}
	c, cancel := context.WithTimeout(ctx, diffSpiceTimeout)
	return c, cancel, true
}

// timedOut reports (and counts) a SpiceDB call that ran out of time.
func (env *diffEnv) timedOut(err error) bool {
	if status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		env.timeouts++
		return true
	}
	return false
}

func diffIsMaxDepth(msg string) bool {
	return strings.Contains(msg, "max depth") || strings.Contains(msg, "MAXIMUM_DEPTH")
}

// diffAnswer is one engine's answer to a query in canonical form.
type diffAnswer struct {
	canon  string // compared
	detail string // shown, e.g. an error message
}

func (a diffAnswer) String() string {
	if a.detail != "" {
		return a.canon + " (" + a.detail + ")"
	}
	return a.canon
}

func diffErrAnswer(err error) diffAnswer {
	return diffAnswer{canon: "ERROR", detail: status.Convert(err).Message()}
}

// diffSetAnswer renders a lookup result: id -> permissionship (and exclusions).
func diffSetAnswer(m map[string]string) diffAnswer {
	out := make([]string, 0, len(m))
	for id, p := range m {
		out = append(out, id+":"+p)
	}
	sort.Strings(out)
	return diffAnswer{canon: "[" + strings.Join(out, " ") + "]"}
}

// diffDisagreeing lists the IDs two lookup results disagree on.
func diffDisagreeing(a, b map[string]string) []string {
	var out []string
	for id, p := range a {
		if b[id] != p {
			out = append(out, id)
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func diffPermAnswer(p graph.Permissionship, missing []string) string {
	switch p {
	case graph.HasPermission:
		return "HAS"
	case graph.ConditionalPermission:
		m := slices.Clone(missing)
		sort.Strings(m)
		return "CONDITIONAL[missing " + strings.Join(m, ",") + "]"
	}
	return "NO"
}

func diffSpiceCheckAnswer(p v1.CheckPermissionResponse_Permissionship, info *v1.PartialCaveatInfo) string {
	switch p {
	case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
		return "HAS"
	case v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		return diffPermAnswer(graph.ConditionalPermission, info.GetMissingRequiredContext())
	case v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION:
		return "NO"
	}
	return p.String()
}

func diffLookupPerm(p v1.LookupPermissionship) string {
	switch p {
	case v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION:
		return "HAS"
	case v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		return "CONDITIONAL"
	}
	return p.String()
}

func diffShortPerm(p graph.Permissionship) string {
	switch p {
	case graph.HasPermission:
		return "HAS"
	case graph.ConditionalPermission:
		return "CONDITIONAL"
	}
	return "NO"
}

// diffReporter collects the mismatches of one subtest and reports them once,
// with the case, so that each failure is self-contained.
type diffReporter struct {
	env      *diffEnv
	what     string
	compared int
	lines    []string
	n        int
	depth    []string
	timeouts int
	contra   []string
}

// compare records one comparison; explain, if not nil, adds detail to a
// reported mismatch (it may query both engines again).
func (r *diffReporter) compare(query string, spicedb, gatehouse diffAnswer, explain func() string) {
	r.compareLookup(query, spicedb, gatehouse, explain, nil)
}

// compareLookup is compare for answers SpiceDB can contradict itself on
// (lookups, bulk checks): a mismatch on which selfContradiction reports that
// SpiceDB's answer contradicts SpiceDB's own CheckPermission (and gatehouse
// agrees with that CheckPermission) is counted apart instead of failing.
func (r *diffReporter) compareLookup(query string, spicedb, gatehouse diffAnswer, explain func() string, selfContradiction func() bool) {
	r.compared++
	if spicedb.canon == gatehouse.canon {
		return
	}
	if selfContradiction != nil && selfContradiction() {
		r.contra = append(r.contra, fmt.Sprintf("%s: SpiceDB %s, gatehouse %s", query, spicedb, gatehouse))
		return
	}
	r.n++
	if len(r.lines) < diffMaxReported {
		line := fmt.Sprintf("%s\n    SpiceDB:   %s\n    gatehouse: %s", query, spicedb, gatehouse)
		if explain != nil {
			if e := explain(); e != "" {
				line += "\n    " + strings.ReplaceAll(e, "\n", "\n    ")
			}
		}
		r.lines = append(r.lines, line)
	}
}

// skipDepth records a query SpiceDB answered with a max-depth error.
func (r *diffReporter) skipDepth(query string, gatehouse diffAnswer) {
	r.depth = append(r.depth, fmt.Sprintf("%s: gatehouse says %s", query, gatehouse))
}

func (r *diffReporter) done(t *testing.T) {
	t.Helper()
	t.Logf("%d queries compared, %d skipped for SpiceDB max depth, %d for SpiceDB timeouts", r.compared, len(r.depth), r.timeouts)
	r.env.stats.add(func(s *diffStats) {
		s.queries += r.compared
		s.maxDepth += len(r.depth)
		s.timeouts += r.timeouts
		s.selfContradictions += len(r.contra)
		for _, c := range r.contra {
			if s.contraLogs < 10 {
				s.contraLogs++
				t.Logf("SpiceDB contradicts its own CheckPermission; gatehouse agrees with CheckPermission: %s", c)
			}
		}
		for _, d := range r.depth {
			if s.depthLogs < 20 {
				s.depthLogs++
				t.Logf("SpiceDB max depth, not compared: %s", d)
			}
		}
	})
	if r.n == 0 {
		return
	}
	more := ""
	if r.n > len(r.lines) {
		more = fmt.Sprintf("\n  ... and %d more", r.n-len(r.lines))
	}
	t.Errorf("%s\n%s: %d of %d queries differ:\n  %s%s", r.env.c.header(), r.what, r.n, r.compared, strings.Join(r.lines, "\n  "), more)
}

// compareChecks runs Check for every object, relation or permission, subject
// and request context, in bulk on both sides.
func (env *diffEnv) compareChecks(t *testing.T) {
	ctx := t.Context()
	rep := &diffReporter{env: env, what: "Check"}
	defer rep.done(t)
	type item struct {
		req   graph.CheckRequest
		ctx   int
		query string
	}
	var items []item
	for _, d := range env.sch.Definitions() {
		for _, id := range env.objects[d.Name] {
			for _, perm := range d.Order {
				for _, s := range env.subjects {
					for _, ci := range env.queryContexts {
						req := graph.CheckRequest{Resource: tuple.Object{Type: d.Name, ID: id}, Permission: perm, Subject: s, Context: env.context(ci)}
						items = append(items, item{req: req, ctx: ci,
							query: fmt.Sprintf("Check %s:%s#%s@%s%s", d.Name, id, perm, s, diffCtxLabel(ci))})
					}
				}
			}
		}
	}
	reqs := make([]graph.CheckRequest, len(items))
	for i, it := range items {
		reqs[i] = it.req
	}
	results, errs := env.snap.CheckBulk(ctx, env.sch, reqs)

	const chunk = 1000
	for start := 0; start < len(items); start += chunk {
		part := items[start:min(start+chunk, len(items))]
		breq := &v1.CheckBulkPermissionsRequest{Consistency: diffConsistency}
		for _, it := range part {
			breq.Items = append(breq.Items, &v1.CheckBulkPermissionsRequestItem{
				Resource: diffObjRef(it.req.Resource), Permission: it.req.Permission, Subject: diffSubjRef(it.req.Subject), Context: env.structs[it.ctx],
			})
		}
		cctx, cancel, ok := env.spiceCall(ctx)
		if !ok {
			rep.timeouts += len(part)
			continue
		}
		resp, err := env.client.CheckBulkPermissions(cctx, breq)
		cancel()
		if env.timedOut(err) {
			rep.timeouts += len(part)
			continue
		}
		if err != nil {
			t.Fatalf("%s\nSpiceDB CheckBulkPermissions: %v", env.c.header(), err)
		}
		for i, pair := range resp.GetPairs() {
			it := items[start+i]
			var got diffAnswer
			if errs[start+i] != nil {
				got = diffErrAnswer(errs[start+i])
			} else {
				got = diffAnswer{canon: diffPermAnswer(results[start+i].Permissionship, results[start+i].Missing)}
			}
			var want diffAnswer
			if e := pair.GetError(); e != nil {
				if diffIsMaxDepth(e.GetMessage()) {
					rep.skipDepth(it.query, got)
					continue
				}
				want = diffAnswer{canon: "ERROR", detail: e.GetMessage()}
			} else {
				r := pair.GetItem()
				want = diffAnswer{canon: diffSpiceCheckAnswer(r.GetPermissionship(), r.GetPartialCaveatInfo())}
			}
			// When the bulk answer differs, SpiceDB's CheckPermission for the
			// same request decides: gatehouse answers both APIs alike.
			var single string
			ask := func() string {
				if single == "" {
					single = env.spiceCheck(ctx, it.req, it.ctx)
				}
				return single
			}
			rep.compareLookup(it.query+" (bulk)", want, got, func() string {
				if ask() == want.canon {
					return ""
				}
				return "SpiceDB CheckPermission (not bulk) says " + single
			}, func() bool { return ask() == got.canon })
		}
	}
}

// spiceCheck asks SpiceDB's CheckPermission, for explanations.
func (env *diffEnv) spiceCheck(ctx context.Context, req graph.CheckRequest, ci int) string {
	cctx, cancel, ok := env.spiceCall(ctx)
	if !ok {
		return "(not asked: SpiceDB timed out before)"
	}
	defer cancel()
	resp, err := env.client.CheckPermission(cctx, &v1.CheckPermissionRequest{
		Consistency: diffConsistency, Resource: diffObjRef(req.Resource), Permission: req.Permission,
		Subject: diffSubjRef(req.Subject), Context: env.structs[ci],
	})
	if err != nil {
		env.timedOut(err)
		return "ERROR (" + status.Convert(err).Message() + ")"
	}
	return diffSpiceCheckAnswer(resp.GetPermissionship(), resp.GetPartialCaveatInfo())
}

// explainByCheck shows how both engines answer Check for each request on
// which two lookups disagree. claims gives what each lookup implies for a
// request (HAS, CONDITIONAL or NO); a line is marked when both engines' Check
// agree and one lookup contradicts it.
func (env *diffEnv) explainByCheck(ctx context.Context, reqs []graph.CheckRequest, ci int, claims func(graph.CheckRequest) (spicedb, gatehouse string)) string {
	var lines []string
	for _, req := range reqs {
		req.Context = env.context(ci)
		var g string
		if r, err := env.snap.Check(ctx, env.sch, req); err != nil {
			g = "ERROR (" + err.Error() + ")"
		} else {
			g = diffPermAnswer(r.Permissionship, r.Missing)
		}
		sp := env.spiceCheck(ctx, req, ci)
		line := fmt.Sprintf("Check %s#%s@%s: SpiceDB %s, gatehouse %s", req.Resource, req.Permission, req.Subject, sp, g)
		if sp == g {
			short, _, _ := strings.Cut(sp, "[")
			spClaim, ghClaim := claims(req)
			switch {
			case spClaim != short && ghClaim == short:
				line += "  <- SpiceDB's lookup contradicts its own Check"
			case spClaim == short && ghClaim != short:
				line += "  <- gatehouse's lookup contradicts its own Check"
			}
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// lookupMatchesSpiceCheck reports whether gatehouse's lookup claim equals
// SpiceDB's own Check for every request and SpiceDB's lookup claim
// contradicts that Check for at least one. (A request on which both claims
// agree with Check is there because the wildcard entries differ, in the
// exclusions SpiceDB contradicts itself on.)
func (env *diffEnv) lookupMatchesSpiceCheck(ctx context.Context, reqs []graph.CheckRequest, ci int, claims func(graph.CheckRequest) (spicedb, gatehouse string)) bool {
	contradicted := false
	for _, req := range reqs {
		req.Context = env.context(ci)
		short, _, _ := strings.Cut(env.spiceCheck(ctx, req, ci), "[")
		spClaim, ghClaim := claims(req)
		if ghClaim != short {
			return false
		}
		if spClaim != short {
			contradicted = true
		}
	}
	return contradicted
}

// diffResourceClaim is what a LookupResources result implies for resource id.
func diffResourceClaim(set map[string]string, id string) string {
	if p, ok := set[id]; ok {
		return p
	}
	return "NO"
}

// diffSubjectClaim is what a LookupSubjects result implies for user id: its own
// entry, or the wildcard's unless that excludes it.
func diffSubjectClaim(set map[string]string, id string) string {
	own := set[id]
	if own == "HAS" {
		return own
	}
	wild := "NO"
	if w, ok := set["*"]; ok {
		perm, ex, _ := strings.Cut(w, "{")
		wild = perm
		for _, x := range strings.Fields(strings.Trim(ex, "{}")) {
			if eid, ep, _ := strings.Cut(strings.TrimPrefix(x, "-"), ":"); eid == id {
				if ep == "HAS" {
					wild = "NO"
				} else {
					wild = "CONDITIONAL"
				}
			}
		}
	}
	switch {
	case wild == "HAS":
		return "HAS"
	case own != "" || wild == "CONDITIONAL":
		return "CONDITIONAL"
	}
	return "NO"
}

// compareLookupResources runs LookupResources for every type, relation or
// permission, subject and request context.
func (env *diffEnv) compareLookupResources(t *testing.T) {
	ctx := t.Context()
	rep := &diffReporter{env: env, what: "LookupResources"}
	defer rep.done(t)
	for _, d := range env.sch.Definitions() {
		for _, perm := range d.Order {
			for _, s := range env.subjects {
				for _, ci := range env.queryContexts {
					query := fmt.Sprintf("LookupResources %s#%s@%s%s", d.Name, perm, s, diffCtxLabel(ci))
					gotSet, gerr := env.gatehouseLR(ctx, d.Name, perm, s, ci)
					got := diffSetAnswer(gotSet)
					if gerr != nil {
						got = diffErrAnswer(gerr)
					}
					wantSet, dups, err := env.spiceLR(ctx, d.Name, perm, s, ci)
					if errors.Is(err, errDiffSpiceSkipped) || env.timedOut(err) {
						rep.timeouts++
						continue
					}
					want := diffSetAnswer(wantSet)
					if dups > 0 {
						want.detail = fmt.Sprintf("%d duplicate results merged", dups)
					}
					if err != nil {
						if diffIsMaxDepth(status.Convert(err).Message()) {
							rep.skipDepth(query, got)
							continue
						}
						want = diffErrAnswer(err)
					}
					disputed := func() []graph.CheckRequest {
						var reqs []graph.CheckRequest
						for _, id := range diffDisagreeing(wantSet, gotSet) {
							reqs = append(reqs, graph.CheckRequest{Resource: tuple.Object{Type: d.Name, ID: id}, Permission: perm, Subject: s})
						}
						return reqs
					}
					claims := func(req graph.CheckRequest) (string, string) {
						return diffResourceClaim(wantSet, req.Resource.ID), diffResourceClaim(gotSet, req.Resource.ID)
					}
					rep.compareLookup(query, want, got, func() string {
						return env.explainByCheck(ctx, disputed(), ci, claims)
					}, func() bool {
						return err == nil && gerr == nil && env.lookupMatchesSpiceCheck(ctx, disputed(), ci, claims)
					})
				}
			}
		}
	}
}

// errDiffSpiceSkipped: the case stopped querying SpiceDB after repeated timeouts.
var errDiffSpiceSkipped = errors.New("SpiceDB not queried after repeated timeouts")

// spiceLR runs SpiceDB's LookupResources. SpiceDB may stream one resource
// several times (once per path); it has the permission if any result says so.
func (env *diffEnv) spiceLR(ctx context.Context, typ, perm string, s tuple.Subject, ci int) (map[string]string, int, error) {
	cctx, cancel, ok := env.spiceCall(ctx)
	if !ok {
		return nil, 0, errDiffSpiceSkipped
	}
	defer cancel()
	stream, err := env.client.LookupResources(cctx, &v1.LookupResourcesRequest{
		Consistency: diffConsistency, ResourceObjectType: typ, Permission: perm,
		Subject: diffSubjRef(s), Context: env.structs[ci],
	})
	if err != nil {
		return nil, 0, err
	}
	found := map[string]string{}
	dups := 0
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			if w, ok := found["*"]; ok {
				found["*"] = diffWithoutIncluded(w, found)
			}
			return found, dups, nil
		}
		if err != nil {
			return nil, 0, err
		}
		id, p := r.GetResourceObjectId(), diffLookupPerm(r.GetPermissionship())
		if prev, ok := found[id]; ok {
			dups++
			if prev == "HAS" {
				p = prev
			}
		}
		found[id] = p
	}
}

func (env *diffEnv) gatehouseLR(ctx context.Context, typ, perm string, s tuple.Subject, ci int) (map[string]string, error) {
	res, err := env.snap.LookupResources(ctx, env.sch, graph.LookupResourcesRequest{
		ResourceType: typ, Permission: perm, Subject: s, Context: env.context(ci),
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range res {
		if _, dup := out[r.ID]; dup {
			out[r.ID+"(duplicate)"] = diffShortPerm(r.Permissionship)
			continue
		}
		out[r.ID] = diffShortPerm(r.Permissionship)
	}
	return out, nil
}

// compareLookupSubjects runs LookupSubjects of type user for every object,
// relation or permission and request context.
func (env *diffEnv) compareLookupSubjects(t *testing.T) {
	ctx := t.Context()
	rep := &diffReporter{env: env, what: "LookupSubjects"}
	defer rep.done(t)
	for _, d := range env.sch.Definitions() {
		for _, id := range env.objects[d.Name] {
			for _, perm := range d.Order {
				for _, ci := range env.queryContexts {
					res := tuple.Object{Type: d.Name, ID: id}
					query := fmt.Sprintf("LookupSubjects %s#%s@user%s", res, perm, diffCtxLabel(ci))
					gotSet, gerr := env.gatehouseLS(ctx, res, perm, ci)
					got := diffSetAnswer(gotSet)
					if gerr != nil {
						got = diffErrAnswer(gerr)
					}
					wantSet, dups, err := env.spiceLS(ctx, res, perm, ci)
					if errors.Is(err, errDiffSpiceSkipped) || env.timedOut(err) {
						rep.timeouts++
						continue
					}
					want := diffSetAnswer(wantSet)
					if dups > 0 {
						want.detail = fmt.Sprintf("%d duplicate subjects", dups)
					}
					if err != nil {
						if diffIsMaxDepth(status.Convert(err).Message()) {
							rep.skipDepth(query, got)
							continue
						}
						want = diffErrAnswer(err)
					}
					disputed := func() []graph.CheckRequest {
						var reqs []graph.CheckRequest
						for _, uid := range diffWildcardUsers(diffDisagreeing(wantSet, gotSet), wantSet, gotSet) {
							reqs = append(reqs, graph.CheckRequest{Resource: res, Permission: perm, Subject: tuple.Subject{Type: "user", ID: uid}})
						}
						return reqs
					}
					claims := func(req graph.CheckRequest) (string, string) {
						return diffSubjectClaim(wantSet, req.Subject.ID), diffSubjectClaim(gotSet, req.Subject.ID)
					}
					rep.compareLookup(query, want, got, func() string {
						return env.explainByCheck(ctx, disputed(), ci, claims)
					}, func() bool {
						return err == nil && gerr == nil && env.lookupMatchesSpiceCheck(ctx, disputed(), ci, claims)
					})
				}
			}
		}
	}
}

// diffWildcardUsers turns the subject IDs two LookupSubjects results disagree on
// into users to check: a differing wildcard stands for the absent user and for
// every user either side excludes from it.
func diffWildcardUsers(ids []string, a, b map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "*") {
			add(id)
			continue
		}
		add(diffAbsentUser)
		for _, e := range []string{a[id], b[id]} {
			if i := strings.Index(e, "{"); i >= 0 {
				for _, x := range strings.Fields(strings.Trim(e[i:], "{}")) {
					add(strings.TrimPrefix(x[:strings.LastIndex(x, ":")], "-"))
				}
			}
		}
	}
	return out
}

func diffLSEntry(perm string, excluded []string) string {
	if len(excluded) == 0 {
		return perm
	}
	sort.Strings(excluded)
	return perm + "{-" + strings.Join(excluded, " -") + "}"
}

// spiceLS runs SpiceDB's LookupSubjects. SpiceDB may stream a subject once
// per path; repeats are merged as a union: a concrete subject, or a wildcard
// without exclusions, has the permission if any result says so; wildcards
// with exclusions as diffUnionWildcards says; and the wildcard is united
// with the concrete results (diffWithoutIncluded).
func (env *diffEnv) spiceLS(ctx context.Context, res tuple.Object, perm string, ci int) (map[string]string, int, error) {
	cctx, cancel, ok := env.spiceCall(ctx)
	if !ok {
		return nil, 0, errDiffSpiceSkipped
	}
	defer cancel()
	stream, err := env.client.LookupSubjects(cctx, &v1.LookupSubjectsRequest{
		Consistency: diffConsistency, Resource: diffObjRef(res), Permission: perm,
		SubjectObjectType: "user", Context: env.structs[ci],
	})
	if err != nil {
		return nil, 0, err
	}
	found := map[string]string{}
	dups := 0
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			if w, ok := found["*"]; ok {
				found["*"] = diffWithoutIncluded(w, found)
			}
			return found, dups, nil
		}
		if err != nil {
			return nil, 0, err
		}
		var ex []string
		for _, e := range r.GetExcludedSubjects() {
			ex = append(ex, e.GetSubjectObjectId()+":"+diffLookupPerm(e.GetPermissionship()))
		}
		id := r.GetSubject().GetSubjectObjectId()
		entry := diffLSEntry(diffLookupPerm(r.GetSubject().GetPermissionship()), ex)
		if prev, dup := found[id]; dup {
			dups++
			switch {
			case prev == entry:
				continue
			case id != "*" || !strings.Contains(prev+entry, "{"):
				if prev == "HAS" {
					entry = prev
				}
			case prev == "HAS":
				continue
			case entry == "HAS":
			default:
				entry = diffUnionWildcards(prev, entry)
			}
		}
		found[id] = entry
	}
}

// diffWithoutIncluded unites wildcard entry w with the concrete entries of
// set, as SpiceDB's own union would: SpiceDB streams the results of separate
// paths without uniting them. A user set holds with HAS is no longer
// excluded; one it holds with CONDITIONAL is excluded only conditionally.
func diffWithoutIncluded(w string, set map[string]string) string {
	perm, ex, _ := strings.Cut(w, "{")
	var keep []string
	for _, x := range strings.Fields(strings.Trim(ex, "{}")) {
		id, _, _ := strings.Cut(strings.TrimPrefix(x, "-"), ":")
		switch set[id] {
		case "HAS":
		case "CONDITIONAL":
			keep = append(keep, id+":CONDITIONAL")
		default:
			keep = append(keep, strings.TrimPrefix(x, "-"))
		}
	}
	return diffLSEntry(perm, keep)
}

// diffUnionWildcards is the union of two wildcard entries as one: the
// stronger permission, and a user excluded only as far as neither entry
// includes them (what diffSubjectClaim reads from the two, the stronger).
func diffUnionWildcards(a, b string) string {
	rank := map[string]int{"NO": 0, "CONDITIONAL": 1, "HAS": 2}
	claim := func(entry, id string) string { return diffSubjectClaim(map[string]string{"*": entry}, id) }
	pa, exa, _ := strings.Cut(a, "{")
	pb, exb, _ := strings.Cut(b, "{")
	perm := pa
	if rank[pb] > rank[pa] {
		perm = pb
	}
	seen := map[string]bool{}
	var ex []string
	for _, x := range strings.Fields(strings.Trim(exa, "{}") + " " + strings.Trim(exb, "{}")) {
		id, _, _ := strings.Cut(strings.TrimPrefix(x, "-"), ":")
		if seen[id] {
			continue
		}
		seen[id] = true
		c := claim(a, id)
		if cb := claim(b, id); rank[cb] > rank[c] {
			c = cb
		}
		switch {
		case c == perm:
		case c == "NO":
			ex = append(ex, id+":HAS")
		default:
			ex = append(ex, id+":CONDITIONAL")
		}
	}
	return diffLSEntry(perm, ex)
}

func (env *diffEnv) gatehouseLS(ctx context.Context, res tuple.Object, perm string, ci int) (map[string]string, error) {
	subs, err := env.snap.LookupSubjects(ctx, env.sch, graph.LookupSubjectsRequest{
		Resource: res, Permission: perm, SubjectType: "user", Context: env.context(ci),
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, s := range subs {
		var ex []string
		for _, e := range s.Excluded {
			ex = append(ex, e.ID+":"+diffShortPerm(e.Permissionship))
		}
		id := s.ID
		if _, dup := out[id]; dup {
			id += fmt.Sprintf("(duplicate %d)", i)
		}
		out[id] = diffLSEntry(diffShortPerm(s.Permissionship), ex)
	}
	return out, nil
}

// runDiffCase compares the three APIs on a loaded case, each in its own subtest.
func runDiffCase(t *testing.T, env *diffEnv) {
	t.Run("Check", env.compareChecks)
	t.Run("LookupResources", env.compareLookupResources)
	t.Run("LookupSubjects", env.compareLookupSubjects)
}
