package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const docSchema = `use expiration

definition user {}

caveat only_tuesday(day string) {
	day == "tuesday"
}

definition group {
	relation member: user | group#member
}

definition folder {
	relation viewer: user
	permission view = viewer
}

definition document {
	relation parent: folder
	relation viewer: user | user:* | group#member | user with only_tuesday | user with expiration
	relation banned: user
	permission view = (viewer + parent->view) - banned
	permission strict = viewer & parent.all(view)
	permission none = nil
}`

func TestCompile_Structure(t *testing.T) {
	s, err := schema.Compile(docSchema)
	if err != nil {
		t.Fatal(err)
	}
	view, ok := s.Relation("document", "view")
	if !ok || !view.Permission || view.Expr.String() != "(viewer + parent->view) - banned" {
		t.Fatalf("view = %+v %q", view, view.Expr.String())
	}
	strict, _ := s.Relation("document", "strict")
	if strict.Expr.String() != "viewer & parent.all(view)" {
		t.Fatalf("strict = %q", strict.Expr.String())
	}
	viewer, _ := s.Relation("document", "viewer")
	var got []string
	for _, a := range viewer.Allowed {
		got = append(got, a.Source())
	}
	want := "user, user:*, group#member, user with only_tuesday, user with expiration"
	if strings.Join(got, ", ") != want {
		t.Fatalf("allowed = %q, want %q", strings.Join(got, ", "), want)
	}
	if _, ok := s.Caveat("only_tuesday"); !ok {
		t.Fatal("caveat missing")
	}
}

func TestCompile_Uses(t *testing.T) {
	s := schema.MustCompile(docSchema)
	uses := s.Uses(schema.RelationRef{Type: "folder", Relation: "view"})
	var sawAny, sawAll bool
	for _, u := range uses {
		if u.Kind == schema.UseArrow && u.Permission == "view" {
			sawAny = true
			if u.Definite {
				t.Error("arrow under an exclusion must not be definite")
			}
		}
		if u.Kind == schema.UseArrow && u.Permission == "strict" {
			sawAll = true
		}
	}
	if !sawAny || !sawAll {
		t.Fatalf("uses of folder#view = %+v", uses)
	}
	for _, u := range s.Uses(schema.RelationRef{Type: "document", Relation: "banned"}) {
		t.Errorf("banned is only subtracted, yet used by %+v", u)
	}
	fv := s.Uses(schema.RelationRef{Type: "folder", Relation: "viewer"})
	if len(fv) != 1 || !fv[0].Definite || fv[0].Kind != schema.UseComputed {
		t.Fatalf("uses of folder#viewer = %+v", fv)
	}
}

func TestCompile_ErrorsCarryPosition(t *testing.T) {
	tests := []struct {
		name, text, msg string
		line            int
	}{
		{"syntax", "definition user {}\n\ndefinition doc {\n\trelation viewer user\n}", "Expected", 4},
		{"unknown relation", "definition user {}\n\ndefinition doc {\n\trelation viewer: user\n\tpermission view = viewr\n}", "viewr", 5},
		{"unknown type", "definition doc {\n\trelation viewer: usr\n}", "usr", 2},
		{"unused caveat param", "caveat c(a int, b int) {\n\ta > 1\n}\n\ndefinition user {}", "unused", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schema.Compile(tt.text)
			var se *schema.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *schema.Error", err)
			}
			if !strings.Contains(se.Message, tt.msg) || se.Line != tt.line || se.Column == 0 {
				t.Fatalf("got %q at %d:%d, want %q at line %d", se.Message, se.Line, se.Column, tt.msg, tt.line)
			}
		})
	}
}

func TestValidateRelationship(t *testing.T) {
	s := schema.MustCompile(docSchema)
	tests := []struct {
		rel  string
		kind schema.ValidationKind
		msg  string
	}{
		{"document:d#viewer@user:a", 0, ""},
		{"document:d#viewer@user:*", 0, ""},
		{"document:d#viewer@group:g#member", 0, ""},
		{`document:d#viewer@user:a[only_tuesday:{"day":"monday"}]`, 0, ""},
		{"document:d#viewer@user:a[expiration:2030-01-01T00:00:00Z]", 0, ""},
		{"nope:d#viewer@user:a", schema.UnknownDefinition, "object definition `nope` not found"},
		{"document:d#nope@user:a", schema.UnknownRelation, "relation/permission `nope` not found under definition `document`"},
		{"document:d#view@user:a", schema.WriteToPermission, "cannot write a relationship to permission `view` under definition `document`"},
		{"document:d#banned@group:g#member", schema.InvalidSubjectType, "subjects of type `group#member` are not allowed on relation `document#banned`"},
		{"document:d#banned@user:*", schema.InvalidSubjectType, "subjects of type `user:*` are not allowed"},
		{"document:d#banned@user:a[only_tuesday]", schema.InvalidSubjectType, "subjects of type `user with only_tuesday` are not allowed"},
		{"document:d#parent@folder:f[expiration:2030-01-01T00:00:00Z]", schema.InvalidSubjectType, "subjects of type `folder with expiration` are not allowed"},
		{"document:d#viewer@user:a[other]", schema.InvalidSubjectType, "subjects of type `user with other` are not allowed"},
		{`document:d#viewer@user:a[only_tuesday:{"day":1}]`, schema.InvalidCaveatContext, "could not convert context parameter `day`"},
		{`document:d#viewer@user:a[only_tuesday:{"hour":1}]`, schema.InvalidCaveatContext, "unknown parameter `hour`"},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			err := s.ValidateRelationship(tuple.MustParse(tt.rel), false)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *schema.ValidationError
			if !errors.As(err, &ve) || ve.Kind != tt.kind || !strings.Contains(ve.Message, tt.msg) {
				t.Fatalf("err = %v, want kind %d containing %q", err, tt.kind, tt.msg)
			}
		})
	}
	// A delete without caveat matches the caveated allowed type too.
	if err := s.ValidateRelationship(tuple.MustParse("document:d#viewer@user:a"), true); err != nil {
		t.Fatal(err)
	}
}

func FuzzCompile(f *testing.F) {
	f.Add(docSchema)
	f.Add("definition user {}")
	f.Add("caveat c(x int) {\n x > 1\n}")
	f.Add("definition a {\n relation b: a#b\n permission c = b->c & b.all(c) - nil\n}")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := schema.Compile(text)
		if err != nil {
			var se *schema.Error
			if !errors.As(err, &se) {
				t.Fatalf("error is %T, want *schema.Error: %v", err, err)
			}
			return
		}
		// A compiled schema must compile again from its own text.
		if _, err := schema.Compile(s.Text()); err != nil {
			t.Fatalf("recompile: %v", err)
		}
	})
}
