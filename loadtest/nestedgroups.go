package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// The NestedGroups scenario: documents shared with groups that are nested
// four levels deep, so that every employee reaches every document through
// team -> department -> company -> division, and LookupResources for one
// employee returns all of them. It is the shape of an organisation that
// grants a whole division access to its documents, and the case the issue's
// LookupResources target names (100k resources reachable through nested
// groups).
const nestedGroupsSchema = `definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation viewer: user | group#member
	relation owner: user
	permission view = viewer + owner
}`

// Fixed shape of the organisation; documents scale with --rels.
const (
	ngDivisions    = 10
	ngDepartments  = 20
	ngTeamsPerDept = 5
	ngUsersPerTeam = 20
	ngContractors  = 200 // users in a team outside the company
)

func nestedGroupsScenario() Scenario {
	return Scenario{
		Name:   "NestedGroups-100k",
		Source: "gatehouse",
		Tags:   []string{"nesting", "lookup"},
		Scales: true,
		Build: func(_ context.Context, p BuildParams) (*Dataset, error) {
			docs := 100_000
			if p.Rels > 0 {
				// The organisation is fixed; each document has about 1.2
				// relationships.
				org := ngDivisions + ngDepartments + ngDepartments*ngTeamsPerDept*(1+ngUsersPerTeam) + ngContractors
				docs = max((p.Rels-org)*5/6, 10)
			}
			return buildNestedGroups(docs, p.Seed), nil
		},
	}
}

// buildNestedGroups makes docs documents, each viewable by one division's
// members; a tenth also have a direct viewer and a tenth an owner (employees
// only). Contractors are in a team no group contains.
func buildNestedGroups(docs int, seed int64) *Dataset {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6e65737465640000))
	d := &Dataset{Schema: nestedGroupsSchema}
	obj := func(typ, id string) *v1.ObjectReference { return &v1.ObjectReference{ObjectType: typ, ObjectId: id} }
	add := func(res *v1.ObjectReference, rel string, subj *v1.ObjectReference, subjRel string) {
		d.Relationships = append(d.Relationships, &v1.Relationship{Resource: res, Relation: rel,
			Subject: &v1.SubjectReference{Object: subj, OptionalRelation: subjRel}})
	}
	company := obj("group", "company")
	divisions := make([]*v1.ObjectReference, ngDivisions)
	for i := range divisions {
		divisions[i] = obj("group", "division"+strconv.Itoa(i))
		add(divisions[i], "member", company, "member")
	}
	var employees []*v1.ObjectReference
	for dep := range ngDepartments {
		department := obj("group", "dept"+strconv.Itoa(dep))
		add(company, "member", department, "member")
		for t := range ngTeamsPerDept {
			team := obj("group", fmt.Sprintf("team%d-%d", dep, t))
			add(department, "member", team, "member")
			for u := range ngUsersPerTeam {
				user := obj("user", fmt.Sprintf("emp%d-%d-%d", dep, t, u))
				add(team, "member", user, "")
				employees = append(employees, user)
			}
		}
	}
	contractors := obj("group", "contractors")
	var outsiders []*v1.ObjectReference
	for u := range ngContractors {
		user := obj("user", "contractor"+strconv.Itoa(u))
		add(contractors, "member", user, "")
		outsiders = append(outsiders, user)
	}
	for i := range docs {
		doc := obj("document", "doc"+strconv.Itoa(i))
		add(doc, "viewer", divisions[i%ngDivisions], "member")
		if rng.IntN(10) == 0 {
			add(doc, "viewer", employees[rng.IntN(len(employees))], "")
		}
		if rng.IntN(10) == 0 {
			add(doc, "owner", employees[rng.IntN(len(employees))], "")
		}
	}

	// Check queries: employees see every document; contractors none. Each
	// distinct user also becomes a LookupResources query that returns every
	// document for an employee and none for a contractor.
	for range 200 {
		doc := obj("document", "doc"+strconv.Itoa(rng.IntN(docs)))
		d.Checks = append(d.Checks, CheckQuery{Resource: doc, Permission: "view",
			Subject: &v1.SubjectReference{Object: employees[rng.IntN(len(employees))]},
			Want:    v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION})
	}
	for range 20 {
		doc := obj("document", "doc"+strconv.Itoa(rng.IntN(docs)))
		d.Checks = append(d.Checks, CheckQuery{Resource: doc, Permission: "view",
			Subject: &v1.SubjectReference{Object: outsiders[rng.IntN(len(outsiders))]},
			Want:    v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION})
	}
	d.QueryPermissions = []string{"document#view"}
	return d
}
