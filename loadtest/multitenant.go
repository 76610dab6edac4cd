package main

import (
	"context"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// multiTenantSchema is a multi-tenant SaaS in plain SpiceDB schema syntax,
// so that gatehouse and SpiceDB load the same text. It follows
// examples/multitenant, except that every per-object value a caveat reads
// (the document's tenant, classification and environments) is written in
// the relationship's caveat context, because SpiceDB stores no object
// attributes; the caller's values (tenant, environment, clearance) come in
// the request context.
const multiTenantSchema = `// A multi-tenant SaaS: tenants, nested teams, a folder tree and documents.

// tenant_match holds when the caller works in the document's tenant: a
// share outlives neither a tenant switch nor a share written across tenants.
caveat tenant_match(doc_tenant string, caller_tenant string) {
	caller_tenant == doc_tenant
}

// env_allowed holds when the request's environment is one the document may
// be used in.
caveat env_allowed(allowed_envs list<string>, environment string) {
	environment in allowed_envs
}

// clearance_covers holds when the caller's clearance is at least the
// document's classification: public < internal < confidential < restricted.
caveat clearance_covers(classification string, clearance string) {
	clearance == "restricted" ||
	(clearance == "confidential" && classification != "restricted") ||
	(clearance == "internal" && (classification == "internal" || classification == "public")) ||
	(clearance == "public" && classification == "public")
}

definition user {}

definition tenant {
	relation member: user
	relation admin: user

	permission membership = member + admin
}

definition team {
	relation member: user | team#member
}

definition folder {
	relation tenant: tenant
	relation parent: folder
	relation viewer: user | team#member | tenant#membership
	relation editor: user | team#member

	// Tenant admins edit every folder of their tenant.
	permission edit = editor + parent->edit + tenant->admin
	permission view = viewer + edit + parent->view
}

definition document {
	relation folder: folder
	relation owner: user
	relation viewer: user | team#member
	relation shared: user with tenant_match

	// Gates, one caveated wildcard each per document, carrying the
	// document's classification and environments.
	relation cleared: user:* with clearance_covers
	relation deployed: user:* with env_allowed

	permission edit = (owner + folder->edit) & cleared & deployed
	permission view = (owner + viewer + shared + folder->view) & cleared & deployed
}
`

// Numbers of classification (and clearance) levels, environment lists and
// environments.
const (
	mtLevels  = 4
	mtEnvSets = 4
	mtEnvs    = 3
)

// mtLevel names classification and clearance level i, in order: public <
// internal < confidential < restricted.
func mtLevel(i int) string {
	return [mtLevels]string{"public", "internal", "confidential", "restricted"}[i]
}

// mtEnvSet is environment list i that a document may be used in; each one
// lacks at least one environment.
func mtEnvSet(i int) []string {
	return [mtEnvSets][]string{{"prod", "staging"}, {"staging"}, {"staging", "dev"}, {"prod"}}[i]
}

// mtEnv names environment i.
func mtEnv(i int) string { return [mtEnvs]string{"prod", "staging", "dev"}[i] }

// multiTenantScenarios are gatehouse's own multi-tenant SaaS scenarios.
func multiTenantScenarios() []Scenario {
	sizes := []struct {
		name string
		rels int
	}{{"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}}
	out := make([]Scenario, 0, len(sizes))
	for _, sz := range sizes {
		out = append(out, Scenario{
			Name:   "MultiTenantSaaS-" + sz.name,
			Source: "gatehouse",
			Tags:   []string{"caveats", "nesting", "arrows", "intersection"},
			Scales: true,
			Build: func(_ context.Context, p BuildParams) (*Dataset, error) {
				n := p.Rels
				if n == 0 {
					n = sz.rels
				}
				return buildMultiTenant(n, p.Seed), nil
			},
		})
	}
	return out
}

// pick returns an index into weights (which sum to 100) for a roll r in
// [0,100).
func pick(weights []int, r int) int {
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

// mtHash is a seeded FNV-1a hash of parts, for per-object values that must
// not depend on the order anything is drawn in.
func mtHash(seed int64, parts ...string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatInt(seed, 10)))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum64()
}

// clearanceOf is the clearance on a subject's token: a function of the seed
// and the subject's ID, weighted 10/40/35/15 from public to restricted.
func clearanceOf(seed int64, id string) int {
	return pick([]int{10, 40, 35, 15}, int(mtHash(seed, "clearance", id)%100))
}

// tenantOf is the tenant an object ID belongs to: its prefix up to the
// first "-" (IDs are "t3-u12", "t3-f4", ...), or the whole ID ("t3").
func tenantOf(id string) string {
	if i := strings.IndexByte(id, '-'); i >= 0 {
		return id[:i]
	}
	return id
}

// multiTenantContext is the request context of a query by subject on
// resource: the tenant the caller works in (its own; a quarter of the
// time, when the resource is in another tenant, that one, as a guest who
// switched tenant), an environment (prod 60%, staging 30%, dev 10%) and the
// subject's clearance.
func multiTenantContext(seed int64) ContextFunc {
	return func(resource *v1.ObjectReference, subject *v1.SubjectReference) *structpb.Struct {
		sid := subject.GetObject().GetObjectId()
		h := mtHash(seed, "request", resource.GetObjectType(), resource.GetObjectId(), subject.GetObject().GetObjectType(), sid, subject.GetOptionalRelation())
		tenant := tenantOf(sid)
		if rt := tenantOf(resource.GetObjectId()); rt != tenant && h%4 == 0 {
			tenant = rt
		}
		env := mtEnv(pick([]int{60, 30, 10}, int(h/4%100)))
		return mtContext(tenant, env, mtLevel(clearanceOf(seed, sid)))
	}
}

func mtContext(tenant, env, clearance string) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"caller_tenant": structpb.NewStringValue(tenant),
		"environment":   structpb.NewStringValue(env),
		"clearance":     structpb.NewStringValue(clearance),
	}}
}

// mtDoc records a document for the scenario's own check queries.
type mtDoc struct {
	ref     *v1.ObjectReference
	tenant  int
	class   int // level, see mtLevel
	envs    int // see mtEnvSet
	user    string
	userTen int    // the user's tenant
	exclude string // a user with a share of the document, or ""
}

// mtBuilder generates the relationships of one multi-tenant data set.
type mtBuilder struct {
	rng   *rand.Rand
	seed  int64
	rels  []*v1.Relationship
	users []int // users per tenant
	// Shared caveats: the relationships only read them.
	cleared  [mtLevels]*v1.ContextualizedCaveat
	deployed [mtEnvSets]*v1.ContextualizedCaveat
	owned    []mtDoc
	guests   []mtDoc
}

func (b *mtBuilder) add(res *v1.ObjectReference, rel string, sub *v1.SubjectReference, cav *v1.ContextualizedCaveat) {
	b.rels = append(b.rels, &v1.Relationship{Resource: res, Relation: rel, Subject: sub, OptionalCaveat: cav})
}

func mtObj(typ, id string) *v1.ObjectReference {
	return &v1.ObjectReference{ObjectType: typ, ObjectId: id}
}

func mtSub(o *v1.ObjectReference, rel string) *v1.SubjectReference {
	return &v1.SubjectReference{Object: o, OptionalRelation: rel}
}

func mtUserID(tenant, i int) string {
	return "t" + strconv.Itoa(tenant) + "-u" + strconv.Itoa(i)
}

// buildMultiTenant generates a multi-tenant SaaS of about n relationships
// (a few more: each tenant ends with a whole document) from seed. Tenants
// vary in size (log-normal); in each, every user is a member of the tenant
// and of one or two teams, teams nest up to three levels, folders nest up
// to five levels and are granted to the tenant's members, teams and users,
// and the rest of the tenant's share of n goes to documents: in a folder,
// with an owner, viewers, shares (some to users of other tenants) and the
// two gates. Objects and caveats are shared between relationships, so that
// a million relationships fit in modest memory.
func buildMultiTenant(n int, seed int64) *Dataset {
	b := &mtBuilder{
		rng:  rand.New(rand.NewPCG(uint64(seed), 0x6d756c7469746e74)),
		seed: seed,
		rels: make([]*v1.Relationship, 0, n+n/50),
	}
	for i := range mtLevels {
		b.cleared[i] = mtCaveat("clearance_covers", map[string]any{"classification": mtLevel(i)})
	}
	for i := range mtEnvSets {
		envs := mtEnvSet(i)
		list := make([]any, len(envs))
		for j, e := range envs {
			list[j] = e
		}
		b.deployed[i] = mtCaveat("env_allowed", map[string]any{"allowed_envs": list})
	}

	tenants := min(max(n/2500, 3), 5000)
	weights := make([]float64, tenants)
	total := 0.0
	for i := range weights {
		weights[i] = math.Exp(0.7 * b.rng.NormFloat64())
		total += weights[i]
	}
	budgets := make([]int, tenants)
	b.users = make([]int, tenants)
	for i, w := range weights {
		budgets[i] = max(int(float64(n)*w/total), 100)
		b.users[i] = max(budgets[i]/12, 4)
	}
	perTenant := (40 + tenants - 1) / tenants
	for t := range tenants {
		b.tenant(t, budgets[t], perTenant)
	}
	d := &Dataset{
		Schema: multiTenantSchema, Relationships: b.rels,
		ContextFor: multiTenantContext(seed),
		// What the application asks: can this user see or change this
		// document or folder, is this user on this team.
		QueryPermissions: []string{"document#view", "document#edit"},
	}
	d.Checks = b.checks()
	return d
}

func mtCaveat(name string, ctx map[string]any) *v1.ContextualizedCaveat {
	s, err := structpb.NewStruct(ctx)
	if err != nil {
		panic(err) // constant contexts of strings and lists
	}
	return &v1.ContextualizedCaveat{CaveatName: name, Context: s}
}

// tenant generates tenant t's objects until it has budget relationships
// (ending with a whole document), recording up to keep documents of each
// kind for the check queries.
func (b *mtBuilder) tenant(t, budget, keep int) {
	rng := b.rng
	start := len(b.rels)
	ts := "t" + strconv.Itoa(t)
	tenantObj := mtObj("tenant", ts)
	membership := mtSub(tenantObj, "membership")
	share := mtCaveat("tenant_match", map[string]any{"doc_tenant": ts})

	nUsers := b.users[t]
	users := make([]*v1.SubjectReference, nUsers)
	for i := range users {
		users[i] = mtSub(mtObj("user", mtUserID(t, i)), "")
		b.add(tenantObj, "member", users[i], nil)
		if i%50 == 0 {
			b.add(tenantObj, "admin", users[i], nil)
		}
	}

	// Teams: a forest up to three levels deep.
	nTeams := max(nUsers/8, 2)
	teams := make([]*v1.SubjectReference, nTeams)
	teamDepth := make([]int, nTeams)
	for i := range teams {
		teams[i] = mtSub(mtObj("team", ts+"-team"+strconv.Itoa(i)), "member")
		if i == 0 || rng.IntN(10) < 3 {
			continue
		}
		if p := rng.IntN(i); teamDepth[p] < 2 {
			teamDepth[i] = teamDepth[p] + 1
			b.add(teams[p].Object, "member", teams[i], nil)
		}
	}
	for _, u := range users {
		first := rng.IntN(nTeams)
		b.add(teams[first].Object, "member", u, nil)
		if rng.IntN(10) < 3 {
			if second := rng.IntN(nTeams); second != first {
				b.add(teams[second].Object, "member", u, nil)
			}
		}
	}

	// Folders: a few roots, each a tree up to five levels deep.
	nFolders := max(nUsers/3, 3)
	nRoots := max(nFolders/15, 1)
	folders := make([]*v1.ObjectReference, nFolders)
	folderDepth := make([]int, nFolders)
	for i := range folders {
		folders[i] = mtObj("folder", ts+"-f"+strconv.Itoa(i))
		b.add(folders[i], "tenant", mtSub(tenantObj, ""), nil)
		if i < nRoots {
			if rng.IntN(10) < 6 {
				b.add(folders[i], "viewer", membership, nil)
			}
		} else {
			p := rng.IntN(i)
			if folderDepth[p] >= 4 {
				p = rng.IntN(nRoots)
			}
			folderDepth[i] = folderDepth[p] + 1
			b.add(folders[i], "parent", mtSub(folders[p], ""), nil)
		}
		if rng.IntN(100) < 35 {
			b.add(folders[i], "viewer", teams[rng.IntN(nTeams)], nil)
		}
		if rng.IntN(100) < 30 {
			b.add(folders[i], "viewer", users[rng.IntN(nUsers)], nil)
		}
		if rng.IntN(100) < 15 {
			b.add(folders[i], "editor", users[rng.IntN(nUsers)], nil)
		}
		if rng.IntN(100) < 15 {
			b.add(folders[i], "editor", teams[rng.IntN(nTeams)], nil)
		}
	}

	// Documents fill the rest of the budget.
	owned, guests := 0, 0
	for i := 0; len(b.rels)-start < budget; i++ {
		doc := mtObj("document", ts+"-d"+strconv.Itoa(i))
		class := pick([]int{30, 40, 20, 10}, rng.IntN(100))
		envs := pick([]int{55, 20, 15, 10}, rng.IntN(100))
		b.add(doc, "folder", mtSub(folders[rng.IntN(nFolders)], ""), nil)
		b.add(doc, "cleared", mtSub(mtObj("user", "*"), ""), b.cleared[class])
		b.add(doc, "deployed", mtSub(mtObj("user", "*"), ""), b.deployed[envs])
		owner := ""
		if rng.IntN(100) < 80 {
			o := users[rng.IntN(nUsers)]
			owner = o.Object.ObjectId
			b.add(doc, "owner", o, nil)
		}
		if rng.IntN(100) < 20 {
			b.add(doc, "viewer", users[rng.IntN(nUsers)], nil)
		}
		if rng.IntN(100) < 15 {
			b.add(doc, "viewer", teams[rng.IntN(nTeams)], nil)
		}
		shared, sharedTen := "", t
		if rng.IntN(100) < 12 {
			if len(b.users) > 1 && rng.IntN(2) == 0 {
				// A guest from another tenant.
				sharedTen = (t + 1 + rng.IntN(len(b.users)-1)) % len(b.users)
				shared = mtUserID(sharedTen, rng.IntN(b.users[sharedTen]))
				b.add(doc, "shared", mtSub(mtObj("user", shared), ""), share)
			} else {
				u := users[rng.IntN(nUsers)]
				shared = u.Object.ObjectId
				b.add(doc, "shared", u, share)
			}
		}
		if owner != "" && owned < keep && len(b.owned) < 40 {
			owned++
			b.owned = append(b.owned, mtDoc{ref: doc, tenant: t, class: class, envs: envs, user: owner, userTen: t, exclude: shared})
		}
		if sharedTen != t && guests < keep && len(b.guests) < 20 {
			guests++
			b.guests = append(b.guests, mtDoc{ref: doc, tenant: t, class: class, envs: envs, user: shared, userTen: sharedTen})
		}
	}
}

// covers reports whether clearance level c covers classification level l.
func covers(c, l int) bool { return c >= l }

func allowedEnv(envs int, env string) bool {
	for _, e := range mtEnvSet(envs) {
		if e == env {
			return true
		}
	}
	return false
}

// deniedEnv is an environment a document with envs may not be used in.
func deniedEnv(envs int) string {
	for i := range mtEnvs {
		if e := mtEnv(i); !allowedEnv(envs, e) {
			return e
		}
	}
	panic("every environment set lacks one")
}

// checks builds the scenario's own check queries from the recorded
// documents, with the answer each must have where the data decides it:
// owners (allowed unless a caveat denies), owners in a wrong environment
// or with too low a clearance, tenant admins editing (through tenant->admin
// on the folder), guests from other tenants (allowed only when they work in
// the document's tenant) and users of other tenants with no share (plain
// denied). Queries on a random user of the document's tenant say no answer.
func (b *mtBuilder) checks() []CheckQuery {
	rng := rand.New(rand.NewPCG(uint64(b.seed), 0x636865636b73))
	var out []CheckQuery
	add := func(d mtDoc, perm, user, tenant, env string, clearance int, want bool) {
		w := v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION
		if want {
			w = v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
		}
		out = append(out, CheckQuery{
			Resource: d.ref, Permission: perm,
			Subject: mtSub(mtObj("user", user), ""),
			Context: mtContext(tenant, env, mtLevel(clearance)),
			Want:    w,
		})
	}
	for _, d := range b.owned {
		ts := "t" + strconv.Itoa(d.tenant)
		env := mtEnvSet(d.envs)[rng.IntN(len(mtEnvSet(d.envs)))]
		clr := clearanceOf(b.seed, d.user)
		add(d, "view", d.user, ts, env, clr, covers(clr, d.class))
		add(d, "edit", d.user, ts, env, clr, covers(clr, d.class))
		// Disallowed environment.
		add(d, "view", d.user, ts, deniedEnv(d.envs), mtLevels-1, false)
		// Insufficient clearance.
		if d.class > 0 {
			add(d, "view", d.user, ts, env, d.class-1, false)
		}
		// A tenant admin edits every folder of the tenant.
		admin := mtUserID(d.tenant, 0)
		add(d, "edit", admin, ts, env, clearanceOf(b.seed, admin), covers(clearanceOf(b.seed, admin), d.class))
		// A user of another tenant without a share: plain denied.
		if len(b.users) > 1 {
			ot := (d.tenant + 1) % len(b.users)
			other := mtUserID(ot, rng.IntN(b.users[ot]))
			if other != d.exclude {
				add(d, "view", other, "t"+strconv.Itoa(ot), env, mtLevels-1, false)
			}
		}
		// A random user of the tenant: the data decides.
		u := mtUserID(d.tenant, rng.IntN(b.users[d.tenant]))
		out = append(out, CheckQuery{
			Resource: d.ref, Permission: "view", Subject: mtSub(mtObj("user", u), ""),
			Context: mtContext(ts, env, mtLevel(clearanceOf(b.seed, u))),
		})
	}
	for _, d := range b.guests {
		ts := "t" + strconv.Itoa(d.tenant)
		env := mtEnvSet(d.envs)[rng.IntN(len(mtEnvSet(d.envs)))]
		clr := clearanceOf(b.seed, d.user)
		// Working in their own tenant: the share does not hold.
		add(d, "view", d.user, "t"+strconv.Itoa(d.userTen), env, clr, false)
		// Switched into the document's tenant.
		add(d, "view", d.user, ts, env, clr, covers(clr, d.class))
		// A share grants view, never edit.
		add(d, "edit", d.user, ts, env, clr, false)
	}
	return out
}
