package main

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/schema"
)

const testSchema = `
definition user {}

definition group {
	relation member: user | group#member
}

definition folder {
	relation parent: folder
	relation viewer: user | group#member
	permission view = viewer + parent->view
}

definition doc {
	relation parent: folder
	relation owner: user
	relation viewer: user | group#member
	permission edit = owner
	permission view = viewer + edit + parent->view
}
`

// testRels is a small data set with nested groups, nested folders and
// direct grants.
func testRels() []*v1.Relationship {
	var rels []*v1.Relationship
	add := func(rt, rid, rel, st, sid, srel string) {
		rels = append(rels, &v1.Relationship{
			Resource: &v1.ObjectReference{ObjectType: rt, ObjectId: rid},
			Relation: rel,
			Subject:  &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: st, ObjectId: sid}, OptionalRelation: srel},
		})
	}
	add("group", "eng", "member", "user", "alice", "")
	add("group", "eng", "member", "user", "bob", "")
	add("group", "all", "member", "group", "eng", "member")
	add("group", "all", "member", "user", "carol", "")
	add("folder", "root", "viewer", "group", "all", "member")
	add("folder", "sub", "parent", "folder", "root", "")
	add("folder", "private", "viewer", "user", "dan", "")
	for i, f := range []string{"sub", "sub", "private", "root", "private", "sub"} {
		id := "d" + string(rune('0'+i))
		add("doc", id, "parent", "folder", f, "")
	}
	add("doc", "d1", "owner", "user", "erin", "")
	add("doc", "d4", "viewer", "user", "frank", "")
	add("doc", "d5", "viewer", "group", "eng", "member")
	return rels
}

// reachClassifier answers a query as allowed when the subject is reachable
// from the resource along the relationships, whatever the permission: a
// stand-in with both answers that needs no server.
func reachClassifier(rels []*v1.Relationship) Classifier {
	out := map[objKey][]subjKey{}
	for _, r := range rels {
		k := objKey{r.GetResource().GetObjectType(), r.GetResource().GetObjectId()}
		out[k] = append(out[k], subjKey{r.GetSubject().GetObject().GetObjectType(), r.GetSubject().GetObject().GetObjectId(), r.GetSubject().GetOptionalRelation()})
	}
	return func(_ context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		want := subjKey{q.Subject.GetObject().GetObjectType(), q.Subject.GetObject().GetObjectId(), q.Subject.GetOptionalRelation()}
		seen := map[objKey]bool{}
		stack := []objKey{{q.Resource.GetObjectType(), q.Resource.GetObjectId()}}
		for len(stack) > 0 {
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[cur] {
				continue
			}
			seen[cur] = true
			for _, s := range out[cur] {
				if s == want {
					return v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, nil
				}
				stack = append(stack, objKey{s.typ, s.id})
			}
		}
		return v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, nil
	}
}

func queryStrings(qs []CheckQuery) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = q.String() + "=" + q.Want.String()
	}
	return out
}

func TestGenerateQueries_DeterministicDistinctAndMixed(t *testing.T) {
	sch := schema.MustCompile(testSchema)
	rels := testRels()
	classify := reachClassifier(rels)
	ctx := context.Background()
	a, mixA, err := generateQueries(ctx, sch, rels, 60, 7, QueryShape{}, classify)
	if err != nil {
		t.Fatal(err)
	}
	b, mixB, err := generateQueries(ctx, sch, rels, 60, 7, QueryShape{}, classify)
	if err != nil {
		t.Fatal(err)
	}
	if mixA != mixB || strings.Join(queryStrings(a), "\n") != strings.Join(queryStrings(b), "\n") {
		t.Fatalf("same seed, different sets:\n%v\n%v", mixA, mixB)
	}
	c, _, err := generateQueries(ctx, sch, rels, 60, 8, QueryShape{}, classify)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(queryStrings(a), "\n") == strings.Join(queryStrings(c), "\n") {
		t.Errorf("seeds 7 and 8 gave the same set")
	}

	if len(a) != 60 || mixA.Queries != 60 {
		t.Fatalf("got %d queries (mix %v), want 60", len(a), mixA)
	}
	if mixA.Allowed != 30 || mixA.Denied != 30 || mixA.Conditional != 0 {
		t.Errorf("mix = %v, want 30 allowed and 30 denied", mixA)
	}
	// Every query is distinct, uses a type and relation/permission the
	// schema defines, a resource and a subject that occur in the data, and
	// carries the classifier's answer.
	resources, subjects := map[objKey]bool{}, map[subjKey]bool{}
	for _, r := range rels {
		resources[objKey{r.Resource.ObjectType, r.Resource.ObjectId}] = true
		subjects[subjKey{r.Subject.Object.ObjectType, r.Subject.Object.ObjectId, r.Subject.OptionalRelation}] = true
	}
	seen := map[string]bool{}
	sawSubjectSet := false
	for _, q := range a {
		if seen[q.String()] {
			t.Errorf("duplicate query %s", q)
		}
		seen[q.String()] = true
		if _, ok := sch.Relation(q.Resource.ObjectType, q.Permission); !ok {
			t.Errorf("%s: %s#%s is not in the schema", q, q.Resource.ObjectType, q.Permission)
		}
		if !resources[objKey{q.Resource.ObjectType, q.Resource.ObjectId}] {
			t.Errorf("%s: resource does not occur in the data", q)
		}
		if !subjects[subjKey{q.Subject.Object.ObjectType, q.Subject.Object.ObjectId, q.Subject.OptionalRelation}] {
			t.Errorf("%s: subject does not occur in the data", q)
		}
		sawSubjectSet = sawSubjectSet || q.Subject.OptionalRelation != ""
		if got, _ := classify(ctx, q); got != q.Want {
			t.Errorf("%s: Want = %s, classifier says %s", q, q.Want, got)
		}
	}
	if !sawSubjectSet {
		t.Errorf("no query has a subject set (group#member)")
	}
}

func TestGenerateQueries_SkipsRejectedAndStopsOnFatal(t *testing.T) {
	sch := schema.MustCompile(testSchema)
	rels := testRels()
	reach := reachClassifier(rels)
	ctx := context.Background()
	rejectGroups := func(ctx context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		if q.Subject.Object.ObjectType == "group" {
			return 0, status.Error(codes.InvalidArgument, "subject type not allowed")
		}
		return reach(ctx, q)
	}
	qs, mix, err := generateQueries(ctx, sch, rels, 40, 1, QueryShape{}, rejectGroups)
	if err != nil {
		t.Fatal(err)
	}
	if mix.Rejected == 0 {
		t.Errorf("mix = %+v, want some rejected candidates", mix)
	}
	for _, q := range qs {
		if q.Subject.Object.ObjectType == "group" {
			t.Errorf("rejected query kept: %s", q)
		}
	}

	down := func(context.Context, CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		return 0, status.Error(codes.Unavailable, "connection refused")
	}
	if _, _, err := generateQueries(ctx, sch, rels, 40, 1, QueryShape{}, down); err == nil || !strings.Contains(err.Error(), "Unavailable") {
		t.Errorf("unreachable classifier: err = %v, want the Unavailable error", err)
	}
}

func TestGenerateQueries_KeepsAThirdAllowed(t *testing.T) {
	sch := schema.MustCompile(testSchema)
	rels := testRels()
	ctx := context.Background()
	// Only erin's ownership of d1 is allowed: the data cannot give half.
	rare := func(_ context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		if q.Resource.ObjectId == "d1" && q.Subject.Object.ObjectId == "erin" {
			return v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, nil
		}
		return v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, nil
	}
	_, mix, err := generateQueries(ctx, sch, rels, 200, 1, QueryShape{}, rare)
	if err != nil {
		t.Fatal(err)
	}
	if mix.Allowed == 0 || mix.Denied > 2*mix.Allowed || mix.Queries != mix.Allowed+mix.Denied {
		t.Errorf("mix = %v, want at least a third allowed", mix)
	}
}

func TestGenerateQueries_AbsentSubjectsWhenEverythingIsAllowed(t *testing.T) {
	sch := schema.MustCompile(testSchema)
	rels := testRels()
	ctx := context.Background()
	absentDenied := func(_ context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		if strings.HasPrefix(q.Subject.Object.ObjectId, absentPrefix) {
			return v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, nil
		}
		return v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, nil
	}
	_, mix, err := generateQueries(ctx, sch, rels, 50, 1, QueryShape{}, absentDenied)
	if err != nil {
		t.Fatal(err)
	}
	if mix.Denied == 0 || mix.AbsentSubjects != mix.Denied || mix.Allowed == 0 {
		t.Errorf("mix = %+v, want denied queries with absent subjects", mix)
	}

	allowAll := func(context.Context, CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		return v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, nil
	}
	if _, _, err := generateQueries(ctx, sch, rels, 50, 1, QueryShape{}, allowAll); err == nil || !strings.Contains(err.Error(), "need both") {
		t.Errorf("all allowed: err = %v, want a need-both error", err)
	}
}

// TestGenerateQueries_Gatehouse generates queries against gatehouse's real
// server in a child process, classified by its answers.
func TestGenerateQueries_Gatehouse(t *testing.T) {
	ctx := context.Background()
	gh := startTestSystem(t, "gatehouse-memory")
	d := &Dataset{Schema: testSchema, Relationships: testRels()}
	if _, err := load(ctx, gh, d); err != nil {
		t.Fatal(err)
	}
	sch, err := readSchema(ctx, gh)
	if err != nil {
		t.Fatal(err)
	}
	classify := func(ctx context.Context, q CheckQuery) (v1.CheckPermissionResponse_Permissionship, error) {
		return check(ctx, gh, q, fullyConsistent)
	}
	a, mix, err := generateQueries(ctx, sch, d.Relationships, 80, 3, QueryShape{}, classify)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := generateQueries(ctx, sch, d.Relationships, 80, 3, QueryShape{}, classify)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(queryStrings(a), "\n") != strings.Join(queryStrings(b), "\n") {
		t.Errorf("same seed, different sets")
	}
	if mix.Allowed*3 < mix.Queries || mix.Denied == 0 {
		t.Errorf("mix = %v, want at least a third allowed and some denied", mix)
	}
	// alice is in eng, a member of all, which views folder root, the parent
	// of sub, the parent of d0: allowed through nested groups and arrows.
	q := CheckQuery{
		Resource:   &v1.ObjectReference{ObjectType: "doc", ObjectId: "d0"},
		Permission: "view",
		Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
	}
	if got, err := classify(ctx, q); err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Errorf("%s = %v, %v; want allowed", q, got, err)
	}
}
