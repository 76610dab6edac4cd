package service

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/store"
)

func (s *Server) registerReflection(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(schemaService+"ReflectSchema", connect.NewUnaryHandler(schemaService+"ReflectSchema", s.reflectSchema, opts...))
	mux.Handle(schemaService+"DiffSchema", connect.NewUnaryHandler(schemaService+"DiffSchema", s.diffSchema, opts...))
	mux.Handle(schemaService+"ComputablePermissions", connect.NewUnaryHandler(schemaService+"ComputablePermissions", s.computablePermissions, opts...))
	mux.Handle(schemaService+"DependentRelations", connect.NewUnaryHandler(schemaService+"DependentRelations", s.dependentRelations, opts...))
}

// schemaAt returns the schema in force at the revision the consistency picks
// (nil when none was written by then) and the token for that revision.
func (s *Server) schemaAt(ctx context.Context, c *v1.Consistency) (*schema.Schema, *v1.ZedToken, error) {
	snap, err := s.snapshot(ctx, c)
	if err != nil {
		return nil, nil, toConnect(s.log, err)
	}
	rev := snap.Revision()
	history, err := s.st.SchemaHistory(ctx)
	if err != nil {
		return nil, nil, toConnect(s.log, err)
	}
	for _, sv := range history { // newest first
		if sv.Revision > store.Revision(rev) {
			continue
		}
		if cur := s.sch.Load(); cur != nil && cur.Text() == sv.Text {
			return cur, s.token(rev), nil
		}
		sch, err := schema.Compile(sv.Text)
		if err != nil {
			return nil, nil, toConnect(s.log, fmt.Errorf("stored schema at revision %d: %w", sv.Revision, err))
		}
		return sch, s.token(rev), nil
	}
	return nil, s.token(graph.Revision(rev)), nil
}

// reflectFilters are ReflectSchema's optional filters: each field a name prefix.
type reflectFilters []*v1.ReflectionSchemaFilter

func newReflectFilters(in []*v1.ReflectionSchemaFilter) (reflectFilters, error) {
	for _, f := range in {
		invalid := func(reason string) error {
			return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_FILTER,
				fmt.Errorf("the relationship filter provided is not valid: %s", reason), map[string]string{"filter": f.String()})
		}
		switch {
		case f.GetOptionalDefinitionNameFilter() != "" && f.GetOptionalCaveatNameFilter() != "":
			return nil, invalid("cannot filter by both definition and caveat name")
		case f.GetOptionalRelationNameFilter() != "" && f.GetOptionalDefinitionNameFilter() == "":
			return nil, invalid("relation name match requires definition name match")
		case f.GetOptionalRelationNameFilter() != "" && f.GetOptionalPermissionNameFilter() != "":
			return nil, invalid("cannot filter by both relation and permission name")
		case f.GetOptionalPermissionNameFilter() != "" && f.GetOptionalDefinitionNameFilter() == "":
			return nil, invalid("permission name match requires definition name match")
		}
	}
	return reflectFilters(in), nil
}

// any reports whether some filter sets field; with no filters at all everything is wanted.
func (fs reflectFilters) any(field func(*v1.ReflectionSchemaFilter) string) bool {
	if len(fs) == 0 {
		return true
	}
	return slices.ContainsFunc(fs, func(f *v1.ReflectionSchemaFilter) bool { return field(f) != "" })
}

// match reports whether name passes the filters that set field (and whose
// definition prefix, when scoped, matches def). Unfiltered fields pass.
func (fs reflectFilters) match(field func(*v1.ReflectionSchemaFilter) string, name string, scoped bool, def string) bool {
	filtered := false
	for _, f := range fs {
		p := field(f)
		if p == "" {
			continue
		}
		filtered = true
		if strings.HasPrefix(name, p) && (!scoped || strings.HasPrefix(def, f.GetOptionalDefinitionNameFilter())) {
			return true
		}
	}
	return !filtered
}

var (
	defFilter    = (*v1.ReflectionSchemaFilter).GetOptionalDefinitionNameFilter
	caveatFilter = (*v1.ReflectionSchemaFilter).GetOptionalCaveatNameFilter
	relFilter    = (*v1.ReflectionSchemaFilter).GetOptionalRelationNameFilter
	permFilter   = (*v1.ReflectionSchemaFilter).GetOptionalPermissionNameFilter
)

func (s *Server) reflectSchema(ctx context.Context, req *connect.Request[v1.ReflectSchemaRequest]) (*connect.Response[v1.ReflectSchemaResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	fs, err := newReflectFilters(m.GetOptionalFilters())
	if err != nil {
		return nil, err
	}
	sch, token, err := s.schemaAt(ctx, m.GetConsistency())
	if err != nil {
		return nil, err
	}
	out := &v1.ReflectSchemaResponse{ReadAt: token, Definitions: []*v1.ReflectionDefinition{}, Caveats: []*v1.ReflectionCaveat{}}
	if sch == nil {
		return connect.NewResponse(out), nil
	}
	if fs.any(defFilter) {
		// SpiceDB lists definitions and caveats by name, as its datastores return them.
		defs := definitionsByName(sch)
		for _, name := range sortedKeys(defs) {
			if fs.match(defFilter, name, false, "") {
				out.Definitions = append(out.Definitions, reflectDefinition(defs[name], fs))
			}
		}
	}
	if fs.any(caveatFilter) {
		for _, name := range sortedKeys(caveatNames(sch)) {
			if fs.match(caveatFilter, name, false, "") {
				out.Caveats = append(out.Caveats, reflectCaveat(sch, name))
			}
		}
	}
	return connect.NewResponse(out), nil
}

// reflectDefinition renders d with the relations and permissions fs lets
// through (nil fs: all). Doc comments are not kept by the compiled schema, so
// Comment fields are empty.
func reflectDefinition(d *schema.Definition, fs reflectFilters) *v1.ReflectionDefinition {
	out := &v1.ReflectionDefinition{Name: d.Name, Relations: []*v1.ReflectionRelation{}, Permissions: []*v1.ReflectionPermission{}}
	for _, name := range d.Order {
		r := d.Relations[name]
		if r.Permission {
			if fs.match(permFilter, name, true, d.Name) {
				out.Permissions = append(out.Permissions, reflectPermission(r))
			}
			continue
		}
		if fs.match(relFilter, name, true, d.Name) {
			out.Relations = append(out.Relations, reflectRelation(r))
		}
	}
	return out
}

func reflectPermission(r *schema.Relation) *v1.ReflectionPermission {
	return &v1.ReflectionPermission{Name: r.Name, ParentDefinitionName: r.Definition}
}

func reflectRelation(r *schema.Relation) *v1.ReflectionRelation {
	out := &v1.ReflectionRelation{Name: r.Name, ParentDefinitionName: r.Definition, SubjectTypes: []*v1.ReflectionTypeReference{}}
	for _, a := range r.Allowed {
		out.SubjectTypes = append(out.SubjectTypes, reflectType(a))
	}
	return out
}

func reflectType(a schema.AllowedSubject) *v1.ReflectionTypeReference {
	t := &v1.ReflectionTypeReference{SubjectDefinitionName: a.Type, OptionalCaveatName: a.Caveat, Typeref: &v1.ReflectionTypeReference_IsTerminalSubject{IsTerminalSubject: true}}
	switch {
	case a.Relation != "":
		t.Typeref = &v1.ReflectionTypeReference_OptionalRelationName{OptionalRelationName: a.Relation}
	case a.Wildcard:
		t.Typeref = &v1.ReflectionTypeReference_IsPublicWildcard{IsPublicWildcard: true}
	}
	return t
}

func reflectCaveat(sch *schema.Schema, name string) *v1.ReflectionCaveat {
	c, _ := sch.Caveat(name)
	out := &v1.ReflectionCaveat{Name: name, Expression: c.Expr(), Parameters: []*v1.ReflectionCaveatParameter{}}
	for _, p := range c.Params() { // sorted by name, as SpiceDB lists them
		out.Parameters = append(out.Parameters, &v1.ReflectionCaveatParameter{Name: p.Name, Type: p.Type.String(), ParentCaveatName: name})
	}
	return out
}

func (s *Server) diffSchema(ctx context.Context, req *connect.Request[v1.DiffSchemaRequest]) (*connect.Response[v1.DiffSchemaResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	existing, token, err := s.schemaAt(ctx, m.GetConsistency())
	if err != nil {
		return nil, err
	}
	updated, err := schema.Compile(m.GetComparisonSchema())
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	return connect.NewResponse(&v1.DiffSchemaResponse{Diffs: diffSchemas(existing, updated), ReadAt: token}), nil
}

// diffSchemas lists the changes from a (nil: no schema) to b in SpiceDB's
// grouping: added and removed definitions, added and removed caveats, then the
// deltas of each changed definition and caveat. Names are sorted within each group.
func diffSchemas(a, b *schema.Schema) []*v1.ReflectionSchemaDiff {
	out := []*v1.ReflectionSchemaDiff{}
	add := func(d *v1.ReflectionSchemaDiff) { out = append(out, d) }
	aDefs, bDefs := definitionsByName(a), definitionsByName(b)
	aCavs, bCavs := caveatNames(a), caveatNames(b)
	for _, n := range sortedKeys(bDefs) {
		if aDefs[n] == nil {
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_DefinitionAdded{DefinitionAdded: reflectDefinition(bDefs[n], nil)}})
		}
	}
	for _, n := range sortedKeys(aDefs) {
		if bDefs[n] == nil {
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_DefinitionRemoved{DefinitionRemoved: reflectDefinition(aDefs[n], nil)}})
		}
	}
	for _, n := range sortedKeys(bCavs) {
		if !aCavs[n] {
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatAdded{CaveatAdded: reflectCaveat(b, n)}})
		}
	}
	for _, n := range sortedKeys(aCavs) {
		if !bCavs[n] {
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatRemoved{CaveatRemoved: reflectCaveat(a, n)}})
		}
	}
	for _, n := range sortedKeys(aDefs) {
		if bDefs[n] != nil {
			out = append(out, diffDefinition(aDefs[n], bDefs[n])...)
		}
	}
	for _, n := range sortedKeys(aCavs) {
		if bCavs[n] {
			out = append(out, diffCaveat(a, b, n)...)
		}
	}
	return out
}

// diffDefinition follows SpiceDB's delta order: removed and added relations,
// removed and added permissions, changed permission expressions, then removed
// and added subject types of shared relations. A relation that became a
// permission (or back) is a removal and an addition.
func diffDefinition(a, b *schema.Definition) []*v1.ReflectionSchemaDiff {
	var out []*v1.ReflectionSchemaDiff
	names := func(d *schema.Definition, perm bool) map[string]*schema.Relation {
		m := map[string]*schema.Relation{}
		for n, r := range d.Relations {
			if r.Permission == perm {
				m[n] = r
			}
		}
		return m
	}
	aRels, bRels, aPerms, bPerms := names(a, false), names(b, false), names(a, true), names(b, true)
	// missing appends a diff for each name in from that is absent from other.
	missing := func(from, other map[string]*schema.Relation, diff func(*schema.Relation) *v1.ReflectionSchemaDiff) {
		for _, n := range sortedKeys(from) {
			if other[n] == nil {
				out = append(out, diff(from[n]))
			}
		}
	}
	missing(aRels, bRels, func(r *schema.Relation) *v1.ReflectionSchemaDiff {
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationRemoved{RelationRemoved: reflectRelation(r)}}
	})
	missing(bRels, aRels, func(r *schema.Relation) *v1.ReflectionSchemaDiff {
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationAdded{RelationAdded: reflectRelation(r)}}
	})
	missing(aPerms, bPerms, func(r *schema.Relation) *v1.ReflectionSchemaDiff {
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_PermissionRemoved{PermissionRemoved: reflectPermission(r)}}
	})
	missing(bPerms, aPerms, func(r *schema.Relation) *v1.ReflectionSchemaDiff {
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_PermissionAdded{PermissionAdded: reflectPermission(r)}}
	})
	for _, n := range sortedKeys(aPerms) {
		if bp := bPerms[n]; bp != nil && aPerms[n].Expr.String() != bp.Expr.String() {
			out = append(out, &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_PermissionExprChanged{PermissionExprChanged: reflectPermission(bp)}})
		}
	}
	for _, n := range sortedKeys(aRels) {
		br := bRels[n]
		if br == nil {
			continue
		}
		sources := func(r *schema.Relation) map[string]schema.AllowedSubject {
			m := map[string]schema.AllowedSubject{}
			for _, a := range r.Allowed {
				m[a.Source()] = a
			}
			return m
		}
		aTypes, bTypes := sources(aRels[n]), sources(br)
		for _, src := range sortedKeys(aTypes) {
			if _, ok := bTypes[src]; !ok {
				out = append(out, &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationSubjectTypeRemoved{RelationSubjectTypeRemoved: &v1.ReflectionRelationSubjectTypeChange{
					Relation: reflectRelation(br), ChangedSubjectType: reflectType(aTypes[src])}}})
			}
		}
		for _, src := range sortedKeys(bTypes) {
			if _, ok := aTypes[src]; !ok {
				out = append(out, &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationSubjectTypeAdded{RelationSubjectTypeAdded: &v1.ReflectionRelationSubjectTypeChange{
					Relation: reflectRelation(br), ChangedSubjectType: reflectType(bTypes[src])}}})
			}
		}
	}
	return out
}

// diffCaveat follows SpiceDB's delta order: removed and added parameters,
// parameter type changes, then an expression change.
func diffCaveat(a, b *schema.Schema, name string) []*v1.ReflectionSchemaDiff {
	var out []*v1.ReflectionSchemaDiff
	ac, bc := reflectCaveat(a, name), reflectCaveat(b, name)
	params := func(c *v1.ReflectionCaveat) map[string]*v1.ReflectionCaveatParameter {
		m := map[string]*v1.ReflectionCaveatParameter{}
		for _, p := range c.Parameters {
			m[p.Name] = p
		}
		return m
	}
	ap, bp := params(ac), params(bc)
	for _, n := range sortedKeys(ap) {
		if bp[n] == nil {
			out = append(out, &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatParameterRemoved{CaveatParameterRemoved: ap[n]}})
		}
	}
	for _, n := range sortedKeys(bp) {
		if ap[n] == nil {
			out = append(out, &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatParameterAdded{CaveatParameterAdded: bp[n]}})
		}
	}
	for _, n := range sortedKeys(ap) {
		if p := bp[n]; p != nil && p.Type != ap[n].Type {
			out = append(out, &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatParameterTypeChanged{CaveatParameterTypeChanged: &v1.ReflectionCaveatParameterTypeChange{
				Parameter: p, PreviousType: ap[n].Type}}})
		}
	}
	if ac.Expression != bc.Expression {
		out = append(out, &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatExprChanged{CaveatExprChanged: bc}})
	}
	return out
}

func definitionsByName(s *schema.Schema) map[string]*schema.Definition {
	m := map[string]*schema.Definition{}
	if s != nil {
		for _, d := range s.Definitions() {
			m[d.Name] = d
		}
	}
	return m
}

func caveatNames(s *schema.Schema) map[string]bool {
	m := map[string]bool{}
	if s != nil {
		for _, n := range s.Caveats() {
			m[n] = true
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// entrypoint is one way a relation or permission is reached, after SpiceDB's
// reachability graph: from subjects of Key (a relation, or "" for the object
// itself), from any subject of Key.Type (Wildcard), or through Tupleset (an arrow).
type entrypoint struct {
	Key      schema.RelationRef
	Wildcard bool
	Tupleset string
}

// entrypoints lists how ref is reached: a relation through its allowed subject
// types, a permission through everything its expression names (both sides of
// exclusions and intersections included).
func entrypoints(sch *schema.Schema, ref schema.RelationRef) []entrypoint {
	r, ok := sch.Relation(ref.Type, ref.Relation)
	if !ok {
		return nil
	}
	var out []entrypoint
	if !r.Permission {
		for _, a := range r.Allowed {
			out = append(out, entrypoint{Key: schema.RelationRef{Type: a.Type, Relation: a.Relation}, Wildcard: a.Wildcard})
		}
		return out
	}
	d, _ := sch.Definition(ref.Type)
	var walk func(e *schema.Expr)
	walk = func(e *schema.Expr) {
		switch e.Kind {
		case schema.ExprRelation:
			out = append(out, entrypoint{Key: schema.RelationRef{Type: ref.Type, Relation: e.Relation}})
		case schema.ExprSelf:
			out = append(out, entrypoint{Key: schema.RelationRef{Type: ref.Type}})
		case schema.ExprArrow:
			ts, ok := d.Relations[e.Tupleset]
			if !ok {
				return
			}
			for _, a := range ts.Allowed {
				if _, ok := sch.Relation(a.Type, e.Relation); ok {
					out = append(out, entrypoint{Key: schema.RelationRef{Type: a.Type, Relation: e.Relation}, Tupleset: e.Tupleset})
				}
			}
		default:
			for _, c := range e.Children {
				walk(c)
			}
		}
	}
	walk(r.Expr)
	return out
}

// relationRefs renders refs sorted by definition, then name, leaving out skip.
func relationRefs(sch *schema.Schema, refs map[schema.RelationRef]bool, skip schema.RelationRef, keep func(schema.RelationRef) bool) []*v1.ReflectionRelationReference {
	out := []*v1.ReflectionRelationReference{}
	for ref := range refs {
		if ref == skip || (keep != nil && !keep(ref)) {
			continue
		}
		r, ok := sch.Relation(ref.Type, ref.Relation)
		out = append(out, &v1.ReflectionRelationReference{DefinitionName: ref.Type, RelationName: ref.Relation, IsPermission: ok && r.Permission})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DefinitionName != out[j].DefinitionName {
			return out[i].DefinitionName < out[j].DefinitionName
		}
		return out[i].RelationName < out[j].RelationName
	})
	return out
}

// lookupRelation resolves definition#name for the reflection RPCs with
// SpiceDB's errors; an empty name resolves the definition only.
func (s *Server) lookupRelation(sch *schema.Schema, definition, name string) (*schema.Relation, error) {
	notFound := &schema.ValidationError{Kind: schema.UnknownDefinition, Definition: definition, Message: fmt.Sprintf("object definition `%s` not found", definition)}
	if sch == nil {
		return nil, toConnect(s.log, notFound)
	}
	d, ok := sch.Definition(definition)
	if !ok {
		return nil, toConnect(s.log, notFound)
	}
	if name == "" {
		return nil, nil
	}
	r, ok := d.Relations[name]
	if !ok {
		return nil, toConnect(s.log, &schema.ValidationError{Kind: schema.UnknownRelation, Definition: definition, Relation: name,
			Message: fmt.Sprintf("relation/permission `%s` not found under definition `%s`", name, definition)})
	}
	return r, nil
}

// computablePermissions lists every relation and permission, in any definition,
// that subjects of definition#relation (the object itself when relation is
// empty) can reach, directly or transitively.
func (s *Server) computablePermissions(ctx context.Context, req *connect.Request[v1.ComputablePermissionsRequest]) (*connect.Response[v1.ComputablePermissionsResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	sch, token, err := s.schemaAt(ctx, m.GetConsistency())
	if err != nil {
		return nil, err
	}
	if _, err := s.lookupRelation(sch, m.GetDefinitionName(), m.GetRelationName()); err != nil {
		return nil, err
	}
	// Reverse the entrypoints once: for each subject key, what it reaches.
	reaches := map[schema.RelationRef][]schema.RelationRef{}
	reachesByType := map[string][]schema.RelationRef{} // wildcards match any subject of the type
	for _, d := range sch.Definitions() {
		for _, name := range d.Order {
			target := schema.RelationRef{Type: d.Name, Relation: name}
			for _, e := range entrypoints(sch, target) {
				if e.Wildcard {
					reachesByType[e.Key.Type] = append(reachesByType[e.Key.Type], target)
				} else {
					reaches[e.Key] = append(reaches[e.Key], target)
				}
			}
		}
	}
	start := schema.RelationRef{Type: m.GetDefinitionName(), Relation: m.GetRelationName()}
	found := map[schema.RelationRef]bool{}
	for frontier := []schema.RelationRef{start}; len(frontier) > 0; {
		var next []schema.RelationRef
		for _, sub := range frontier {
			for _, ts := range [][]schema.RelationRef{reaches[sub], reachesByType[sub.Type]} {
				for _, t := range ts {
					if !found[t] {
						found[t] = true
						next = append(next, t)
					}
				}
			}
		}
		frontier = next
	}
	prefix := m.GetOptionalDefinitionNameFilter()
	perms := relationRefs(sch, found, start, func(r schema.RelationRef) bool { return strings.HasPrefix(r.Type, prefix) })
	return connect.NewResponse(&v1.ComputablePermissionsResponse{Permissions: perms, ReadAt: token}), nil
}

// dependentRelations lists every relation and permission that
// definition#permission is computed from, directly or transitively, including
// the relations its arrows walk.
func (s *Server) dependentRelations(ctx context.Context, req *connect.Request[v1.DependentRelationsRequest]) (*connect.Response[v1.DependentRelationsResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	sch, token, err := s.schemaAt(ctx, m.GetConsistency())
	if err != nil {
		return nil, err
	}
	if m.GetPermissionName() == "" {
		if _, err := s.lookupRelation(sch, m.GetDefinitionName(), ""); err != nil {
			return nil, err
		}
		return nil, toConnect(s.log, &schema.ValidationError{Kind: schema.UnknownRelation, Definition: m.GetDefinitionName(),
			Message: fmt.Sprintf("relation/permission `` not found under definition `%s`", m.GetDefinitionName())})
	}
	r, err := s.lookupRelation(sch, m.GetDefinitionName(), m.GetPermissionName())
	if err != nil {
		return nil, err
	}
	if !r.Permission {
		return nil, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION,
			fmt.Errorf("the relation `%s` is not a permission", r.Name), map[string]string{"relationName": r.Name})
	}
	start := schema.RelationRef{Type: r.Definition, Relation: r.Name}
	found, visited := map[schema.RelationRef]bool{}, map[schema.RelationRef]bool{}
	var visit func(ref schema.RelationRef)
	visit = func(ref schema.RelationRef) {
		if visited[ref] {
			return
		}
		visited[ref], found[ref] = true, true
		for _, e := range entrypoints(sch, ref) {
			if e.Tupleset != "" {
				found[schema.RelationRef{Type: ref.Type, Relation: e.Tupleset}] = true
			}
			if !e.Wildcard && e.Key.Relation != "" {
				visit(e.Key)
			}
		}
	}
	visit(start)
	return connect.NewResponse(&v1.DependentRelationsResponse{Relations: relationRefs(sch, found, start, nil), ReadAt: token}), nil
}
