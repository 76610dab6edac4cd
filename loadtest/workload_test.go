package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

func numberedQueries(n int) []CheckQuery {
	qs := make([]CheckQuery, n)
	for i := range qs {
		qs[i] = CheckQuery{
			Resource:   &v1.ObjectReference{ObjectType: "doc", ObjectId: fmt.Sprint(i)},
			Permission: "view",
			Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "u"}},
		}
	}
	return qs
}

// windowIDs prints windows as the resource IDs of their queries.
func windowIDs(ws [][]CheckQuery) string {
	var parts []string
	for _, w := range ws {
		var ids []string
		for _, q := range w {
			ids = append(ids, q.Resource.GetObjectId())
		}
		parts = append(parts, "["+strings.Join(ids, " ")+"]")
	}
	return strings.Join(parts, " ")
}

func TestBulkWindows(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		batch int
		want  string
	}{
		{"exact", 6, 3, "[0 1 2] [3 4 5]"},
		{"last window wraps", 5, 2, "[0 1] [2 3] [4 0]"},
		{"batch larger than the queries", 3, 7, "[0 1 2 0 1 2 0]"},
		{"batch of one", 3, 1, "[0] [1] [2]"},
		{"no queries", 0, 4, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := windowIDs(bulkWindows(numberedQueries(tt.n), tt.batch)); got != tt.want {
				t.Errorf("bulkWindows(%d queries, %d) = %s, want %s", tt.n, tt.batch, got, tt.want)
			}
		})
	}
}

func TestCheckBulkWorkload_Requests(t *testing.T) {
	d := &Dataset{Checks: numberedQueries(250)}
	w, err := newCheckBulkWorkload(d, 100)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != 3 || w.ItemsPerRequest() != 100 || itemsPerRequest(w) != 100 {
		t.Fatalf("size %d, items %d; want 3 requests of 100", w.Size(), w.ItemsPerRequest())
	}
	last := w.reqs[2].GetItems()
	if len(last) != 100 || last[49].GetResource().GetObjectId() != "249" || last[50].GetResource().GetObjectId() != "0" {
		t.Errorf("third request holds %d items, 49th %s, 50th %s; want 100, 249, 0", len(last), last[49].GetResource().GetObjectId(), last[50].GetResource().GetObjectId())
	}
	if w.reqs[0].GetConsistency().GetMinimizeLatency() != true {
		t.Errorf("consistency = %v, want minimize_latency", w.reqs[0].GetConsistency())
	}
}

func TestBulkAnswersOK(t *testing.T) {
	has, no := v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION
	qs := numberedQueries(2)
	qs[0].Want, qs[1].Want = has, no
	pair := func(p v1.CheckPermissionResponse_Permissionship) *v1.CheckBulkPermissionsPair {
		return &v1.CheckBulkPermissionsPair{Response: &v1.CheckBulkPermissionsPair_Item{Item: &v1.CheckBulkPermissionsResponseItem{Permissionship: p}}}
	}
	if ok, err := bulkAnswersOK(qs, []*v1.CheckBulkPermissionsPair{pair(has), pair(no)}); !ok || err != nil {
		t.Errorf("right answers: ok=%v err=%v", ok, err)
	}
	if ok, err := bulkAnswersOK(qs, []*v1.CheckBulkPermissionsPair{pair(has), pair(has)}); ok || err != nil {
		t.Errorf("one wrong answer: ok=%v err=%v, want not ok", ok, err)
	}
	if ok, _ := bulkAnswersOK(qs, []*v1.CheckBulkPermissionsPair{pair(has)}); ok {
		t.Error("missing item: ok, want not ok")
	}
}

func TestMixedWorkload_WritesOneInAHundred(t *testing.T) {
	d := &Dataset{Checks: numberedQueries(150), Relationships: []*v1.Relationship{{Relation: "a"}, {Relation: "b"}}}
	checks, err := newCheckWorkload(d)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newMixedWorkload(d, checks)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != 200 || len(w.writes) != 2 {
		t.Fatalf("size %d with %d writes, want 200 and 2", w.Size(), len(w.writes))
	}
	for k, want := range []string{"a", "b"} {
		u := w.writes[k].GetUpdates()
		if len(u) != 1 || u[0].GetOperation() != v1.RelationshipUpdate_OPERATION_TOUCH || u[0].GetRelationship().GetRelation() != want {
			t.Errorf("write %d = %v, want one TOUCH of relationship %q", k, u, want)
		}
	}
}

func TestLookupQueries_Distinct(t *testing.T) {
	qs := numberedQueries(3)
	qs[2].Permission = "edit"
	rq := resourcesQueries(qs)
	if got := fmt.Sprint(rq); got != "[doc#view@user:u doc#edit@user:u]" {
		t.Errorf("resourcesQueries = %s", got)
	}
	qs[1].Subject = &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "group", ObjectId: "g"}, OptionalRelation: "member"}
	sq := subjectsQueries(append(qs, qs...))
	if got := fmt.Sprint(sq); got != "[doc:0#view@user doc:1#view@group#member doc:2#edit@user]" {
		t.Errorf("subjectsQueries = %s", got)
	}
	many := numberedQueries(maxLookupQueries + 10)
	if n := len(subjectsQueries(many)); n != maxLookupQueries {
		t.Errorf("subjectsQueries of %d = %d queries, want the cap %d", len(many), n, maxLookupQueries)
	}
}

func TestLookupWorkload_PageWant(t *testing.T) {
	set := &lookupSet{queries: []lookupQuery{resourcesQuery{}, resourcesQuery{}}, answers: [][]string{{"a", "b", "c"}, {"a"}}}
	w, err := newLookupWorkload("page", set, 2)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w.want) != "[2 1]" {
		t.Errorf("want = %v, want [2 1]", w.want)
	}
	full, _ := newLookupWorkload("full", set, 0)
	if fmt.Sprint(full.want) != "[3 1]" {
		t.Errorf("want = %v, want [3 1]", full.want)
	}
}

func TestResultKey(t *testing.T) {
	if got := resultKey("d1", v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION); got != "d1" {
		t.Errorf("allowed key = %q", got)
	}
	if got := resultKey("d1", v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION); got != "d1 (CONDITIONAL_PERMISSION)" {
		t.Errorf("conditional key = %q", got)
	}
	r := &v1.LookupSubjectsResponse{
		Subject: &v1.ResolvedSubject{SubjectObjectId: "*", Permissionship: v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION},
		ExcludedSubjects: []*v1.ResolvedSubject{
			{SubjectObjectId: "z", Permissionship: v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION},
			{SubjectObjectId: "a", Permissionship: v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION},
		},
	}
	if got := subjectKey(r); got != "* minus {a,z}" {
		t.Errorf("wildcard key = %q", got)
	}
}

func TestDistinctResults(t *testing.T) {
	got := distinctResults([]string{"b", "a (CONDITIONAL_PERMISSION)", "c (CONDITIONAL_PERMISSION)", "a", "b", "c (CONDITIONAL_PERMISSION)", "d minus {x}", "d minus {x}"})
	want := []string{"a", "b", "c (CONDITIONAL_PERMISSION)", "d minus {x}"}
	if !slices.Equal(got, want) {
		t.Errorf("distinctResults = %q, want %q", got, want)
	}
}
