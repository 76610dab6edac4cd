package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/service"
)

var fullyConsistent = &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}

// schemaClient starts a server with the given schema written.
func schemaClient(t *testing.T, sch string) *authzed.Client {
	t.Helper()
	c := client(t, startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll}), "k")
	if _, err := c.WriteSchema(context.Background(), &v1.WriteSchemaRequest{Schema: sch}); err != nil {
		t.Fatal(err)
	}
	return c
}

// refs renders relation references as "definition#relation" ("!" marks permissions).
func refs(rs []*v1.ReflectionRelationReference) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.DefinitionName + "#" + r.RelationName
		if r.IsPermission {
			out[i] += "!"
		}
	}
	return strings.Join(out, " ")
}

const reflectSchema = `definition user {}

definition group {
	relation direct_member: user | group#member
	relation admin: user
	permission member = direct_member + admin
}

caveat somecaveat(second string, first int) {
	first == 1 && second == "two"
}

definition document {
	relation editor: user | group#member
	relation viewer: user | user with somecaveat | group#member | user:*
	permission read = viewer + editor
}`

func TestReflectSchema(t *testing.T) {
	c := schemaClient(t, reflectSchema)
	ctx := context.Background()

	t.Run("whole schema", func(t *testing.T) {
		r, err := c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{Consistency: fullyConsistent})
		if err != nil {
			t.Fatal(err)
		}
		if r.ReadAt.GetToken() == "" {
			t.Error("no read_at")
		}
		var defs []string
		for _, d := range r.Definitions {
			var rels, perms []string
			for _, rel := range d.Relations {
				var types []string
				for _, st := range rel.SubjectTypes {
					s := st.SubjectDefinitionName
					switch {
					case st.GetOptionalRelationName() != "":
						s += "#" + st.GetOptionalRelationName()
					case st.GetIsPublicWildcard():
						s += ":*"
					case !st.GetIsTerminalSubject():
						t.Errorf("%s#%s: subject type %v has no kind", d.Name, rel.Name, st)
					}
					if st.OptionalCaveatName != "" {
						s += " with " + st.OptionalCaveatName
					}
					types = append(types, s)
				}
				if rel.ParentDefinitionName != d.Name {
					t.Errorf("relation %s has parent %q", rel.Name, rel.ParentDefinitionName)
				}
				rels = append(rels, rel.Name+":"+strings.Join(types, "|"))
			}
			for _, p := range d.Permissions {
				perms = append(perms, p.Name)
			}
			defs = append(defs, fmt.Sprintf("%s%v%v", d.Name, rels, perms))
		}
		want := "[document[editor:user|group#member viewer:user|user with somecaveat|group#member|user:*][read] " +
			"group[direct_member:user|group#member admin:user][member] user[][]]"
		if got := fmt.Sprint(defs); got != want {
			t.Errorf("definitions\n got %s\nwant %s", got, want)
		}
		if len(r.Caveats) != 1 {
			t.Fatalf("caveats = %v", r.Caveats)
		}
		cv := r.Caveats[0]
		if cv.Name != "somecaveat" || cv.Expression != `first == 1 && second == "two"` {
			t.Errorf("caveat = %v", cv)
		}
		var params []string
		for _, p := range cv.Parameters {
			params = append(params, p.Name+" "+p.Type+" "+p.ParentCaveatName)
		}
		if got := fmt.Sprint(params); got != "[first int somecaveat second string somecaveat]" {
			t.Errorf("parameters = %s", got)
		}
	})

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name    string
			filters []*v1.ReflectionSchemaFilter
			want    string
		}{
			{"definition prefix", []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "gr"}}, "defs [group:direct_member,admin,member] caveats []"},
			{"caveat only", []*v1.ReflectionSchemaFilter{{OptionalCaveatNameFilter: "some"}}, "defs [] caveats [somecaveat]"},
			{"relation in definition", []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "doc", OptionalRelationNameFilter: "ed"}}, "defs [document:editor,read] caveats []"},
			{"permission in definition", []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "group", OptionalPermissionNameFilter: "mem"}}, "defs [group:direct_member,admin,member] caveats []"},
			{"permission excludes others", []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "group", OptionalPermissionNameFilter: "nope"}}, "defs [group:direct_member,admin] caveats []"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, err := c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{OptionalFilters: tt.filters})
				if err != nil {
					t.Fatal(err)
				}
				var defs, cavs []string
				for _, d := range r.Definitions {
					var names []string
					for _, rel := range d.Relations {
						names = append(names, rel.Name)
					}
					for _, p := range d.Permissions {
						names = append(names, p.Name)
					}
					defs = append(defs, d.Name+":"+strings.Join(names, ","))
				}
				for _, cv := range r.Caveats {
					cavs = append(cavs, cv.Name)
				}
				if got := fmt.Sprintf("defs %v caveats %v", defs, cavs); got != tt.want {
					t.Fatalf("got %s, want %s", got, tt.want)
				}
			})
		}
	})

	t.Run("invalid filters", func(t *testing.T) {
		for _, f := range []*v1.ReflectionSchemaFilter{
			{OptionalDefinitionNameFilter: "a", OptionalCaveatNameFilter: "b"},
			{OptionalRelationNameFilter: "a"},
			{OptionalPermissionNameFilter: "a"},
			{OptionalDefinitionNameFilter: "a", OptionalRelationNameFilter: "b", OptionalPermissionNameFilter: "c"},
		} {
			_, err := c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{OptionalFilters: []*v1.ReflectionSchemaFilter{f}})
			if status.Code(err) != codes.InvalidArgument || reasonOf(err) != v1.ErrorReason_ERROR_REASON_INVALID_FILTER.String() {
				t.Errorf("filter %v: %v", f, err)
			}
		}
	})

	t.Run("at an exact snapshot", func(t *testing.T) {
		old, err := c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: reflectSchema + "\n\ndefinition folder {}"}); err != nil {
			t.Fatal(err)
		}
		now, err := c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{Consistency: fullyConsistent})
		if err != nil {
			t.Fatal(err)
		}
		then, err := c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: old.ReadAt}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(now.Definitions) != 4 || len(then.Definitions) != 3 {
			t.Fatalf("definitions now %d, at the old snapshot %d; want 4 and 3", len(now.Definitions), len(then.Definitions))
		}
	})
}

func TestDiffSchema(t *testing.T) {
	c := schemaClient(t, `definition user {}

caveat cv(a int, b string) {
	a == 1 && b == "x"
}

definition team {}

definition document {
	relation owner: user
	relation viewer: user | user:*
	relation gone: user
	permission view = viewer + owner
	permission edit = owner
	permission flips = owner
}`)
	ctx := context.Background()
	tests := []struct {
		name       string
		comparison string
		want       []string
	}{
		{"identical", `definition user {}

caveat cv(a int, b string) {
	a == 1 && b == "x"
}

definition team {}

definition document {
	relation owner: user
	relation viewer: user | user:*
	relation gone: user
	permission view = viewer + owner
	permission edit = owner
	permission flips = owner
}`, nil},
		{"everything changes", `definition user {}

caveat cv(a int, c bool) {
	a == 2 && c
}

caveat newcv(x int) {
	x == 1
}

definition org {}

definition document {
	relation owner: user | org
	relation viewer: user with cv
	relation added: user
	relation flips: user
	permission view = viewer
	permission edit = owner
	permission extra = added
}`, []string{
			`definition_added:{name:"org"}`,
			`definition_removed:{name:"team"}`,
			`caveat_added:{name:"newcv" expression:"x == 1" parameters:{name:"x" type:"int" parent_caveat_name:"newcv"}}`,
			`relation_removed:{name:"gone" parent_definition_name:"document" subject_types:{subject_definition_name:"user" is_terminal_subject:true}}`,
			`relation_added:{name:"added" parent_definition_name:"document" subject_types:{subject_definition_name:"user" is_terminal_subject:true}}`,
			`relation_added:{name:"flips" parent_definition_name:"document" subject_types:{subject_definition_name:"user" is_terminal_subject:true}}`,
			`permission_removed:{name:"flips" parent_definition_name:"document"}`,
			`permission_added:{name:"extra" parent_definition_name:"document"}`,
			`permission_expr_changed:{name:"view" parent_definition_name:"document"}`,
			`relation_subject_type_added:{relation:{name:"owner" parent_definition_name:"document" subject_types:{subject_definition_name:"user" is_terminal_subject:true} subject_types:{subject_definition_name:"org" is_terminal_subject:true}} changed_subject_type:{subject_definition_name:"org" is_terminal_subject:true}}`,
			`relation_subject_type_removed:{relation:{name:"viewer" parent_definition_name:"document" subject_types:{subject_definition_name:"user" optional_caveat_name:"cv" is_terminal_subject:true}} changed_subject_type:{subject_definition_name:"user" is_terminal_subject:true}}`,
			`relation_subject_type_removed:{relation:{name:"viewer" parent_definition_name:"document" subject_types:{subject_definition_name:"user" optional_caveat_name:"cv" is_terminal_subject:true}} changed_subject_type:{subject_definition_name:"user" is_public_wildcard:true}}`,
			`relation_subject_type_added:{relation:{name:"viewer" parent_definition_name:"document" subject_types:{subject_definition_name:"user" optional_caveat_name:"cv" is_terminal_subject:true}} changed_subject_type:{subject_definition_name:"user" optional_caveat_name:"cv" is_terminal_subject:true}}`,
			`caveat_parameter_removed:{name:"b" type:"string" parent_caveat_name:"cv"}`,
			`caveat_parameter_added:{name:"c" type:"bool" parent_caveat_name:"cv"}`,
			`caveat_expr_changed:{name:"cv" expression:"a == 2 && c" parameters:{name:"a" type:"int" parent_caveat_name:"cv"} parameters:{name:"c" type:"bool" parent_caveat_name:"cv"}}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.DiffSchema(ctx, &v1.DiffSchemaRequest{Consistency: fullyConsistent, ComparisonSchema: tt.comparison})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range r.Diffs {
				got = append(got, prototext.Format(d))
			}
			ok := len(r.Diffs) == len(tt.want)
			for i := 0; ok && i < len(tt.want); i++ {
				want := &v1.ReflectionSchemaDiff{}
				if err := prototext.Unmarshal([]byte(tt.want[i]), want); err != nil {
					t.Fatalf("want[%d]: %v", i, err)
				}
				ok = proto.Equal(r.Diffs[i], want)
			}
			if !ok {
				t.Fatalf("diffs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	t.Run("comparison does not compile", func(t *testing.T) {
		_, err := c.DiffSchema(ctx, &v1.DiffSchemaRequest{ComparisonSchema: "definition user {"})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("bad comparison schema: %v", err)
		}
	})
}

// The cases below are SpiceDB's own (internal/services/v1/schema_test.go).
func TestDependentRelations(t *testing.T) {
	tests := []struct {
		name, schema, definition, permission string
		code                                 codes.Code
		want                                 string
	}{
		{name: "invalid definition", schema: `definition user {}`, definition: "invalid", code: codes.FailedPrecondition},
		{name: "invalid permission", schema: `definition user {}`, definition: "user", permission: "invalid", code: codes.FailedPrecondition},
		{name: "empty permission", schema: `definition user {}`, definition: "user", code: codes.FailedPrecondition},
		{name: "specified relation", schema: "definition user {}\ndefinition document {\n relation editor: user\n}", definition: "document", permission: "editor", code: codes.InvalidArgument},
		{name: "simple schema", schema: `definition user {}
definition document {
	relation unused: user
	relation editor: user
	relation viewer: user
	permission view = viewer + editor
}`, definition: "document", permission: "view", want: "document#editor document#viewer"},
		{name: "nested relation", schema: `definition user {}
definition group {
	relation direct_member: user | group#member
	relation admin: user
	permission member = direct_member + admin
}
definition document {
	relation unused: user
	relation viewer: user | group#member
	permission view = viewer
}`, definition: "document", permission: "view", want: "document#viewer group#admin group#direct_member group#member!"},
		{name: "arrow", schema: `definition user {}
definition folder {
	relation alsounused: user
	relation viewer: user
	permission view = viewer
}
definition document {
	relation unused: user
	relation parent: folder
	relation viewer: user
	permission view = viewer + parent->view
}`, definition: "document", permission: "view", want: "document#parent document#viewer folder#view! folder#viewer"},
		{name: "exclusion counts both sides", schema: `definition user {}
definition document {
	relation viewer: user
	relation banned: user
	permission view = viewer - banned
}`, definition: "document", permission: "view", want: "document#banned document#viewer"},
		{name: "nil", schema: `definition user {}
definition document {
	relation viewer: user
	permission empty = nil
}`, definition: "document", permission: "empty", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := schemaClient(t, tt.schema)
			r, err := c.DependentRelations(context.Background(), &v1.DependentRelationsRequest{Consistency: fullyConsistent, DefinitionName: tt.definition, PermissionName: tt.permission})
			if tt.code != codes.OK {
				if status.Code(err) != tt.code {
					t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := refs(r.Relations); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if r.ReadAt.GetToken() == "" {
				t.Error("no read_at")
			}
		})
	}
}

func TestComputablePermissions(t *testing.T) {
	basic := `definition user {}
definition folder {
	relation viewer: user
}
definition document {
	relation unused: user
	relation editor: user
	relation viewer: user
	permission view = viewer + editor
	permission only_view = viewer
	permission another = unused
}`
	tests := []struct {
		name, schema, definition, relation, filter string
		code                                       codes.Code
		want                                       string
	}{
		{name: "invalid definition", schema: `definition user {}`, definition: "invalid", code: codes.FailedPrecondition},
		{name: "invalid relation", schema: `definition user {}`, definition: "user", relation: "invalid", code: codes.FailedPrecondition},
		{name: "subject type", schema: basic, definition: "user",
			want: "document#another! document#editor document#only_view! document#unused document#view! document#viewer folder#viewer"},
		{name: "filtered", schema: basic, definition: "user", filter: "folder", want: "folder#viewer"},
		{name: "relation", schema: basic, definition: "document", relation: "viewer", want: "document#only_view! document#view!"},
		{name: "nothing", schema: `definition user {}
definition document {
	relation unused: user
	permission empty = nil
}`, definition: "document", relation: "unused", want: ""},
		{name: "through subject relations and arrows", schema: `definition user {}
definition group {
	relation member: user | group#member
}
definition folder {
	relation reader: group#member
	permission read = reader
}
definition document {
	relation parent: folder
	relation banned: user
	permission view = parent->read - banned
}`, definition: "group", relation: "member", want: "document#view! folder#read! folder#reader"},
		{name: "wildcard", schema: `definition user {}
definition document {
	relation viewer: user:*
	permission view = viewer
}`, definition: "user", want: "document#view! document#viewer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := schemaClient(t, tt.schema)
			r, err := c.ComputablePermissions(context.Background(), &v1.ComputablePermissionsRequest{Consistency: fullyConsistent,
				DefinitionName: tt.definition, RelationName: tt.relation, OptionalDefinitionNameFilter: tt.filter})
			if tt.code != codes.OK {
				if status.Code(err) != tt.code {
					t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := refs(r.Permissions); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
