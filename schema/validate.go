package schema

import (
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

// ValidationKind classifies why a relationship does not fit the schema.
type ValidationKind int

// Kinds of ValidationError.
const (
	UnknownDefinition ValidationKind = iota + 1
	UnknownRelation
	WriteToPermission
	InvalidSubjectType
	UnknownCaveat
	InvalidCaveatContext
)

// ValidationError reports a relationship that the schema does not allow. The
// message follows SpiceDB's wording.
type ValidationError struct {
	Kind         ValidationKind
	Message      string
	Definition   string
	Relation     string
	SubjectType  string
	Caveat       string
	Relationship tuple.Relationship
}

func (e *ValidationError) Error() string { return e.Message }

// ValidateRelationship checks that r may be written under s: its types and
// relations exist, it does not write to a permission, its subject type (with
// caveat and expiration) is allowed, and its caveat context fits the caveat's
// parameters. For a delete (forDelete), a missing caveat is not required to match.
func (s *Schema) ValidateRelationship(r tuple.Relationship, forDelete bool) error {
	def, ok := s.defs[r.Resource.Type]
	if !ok {
		return &ValidationError{Kind: UnknownDefinition, Definition: r.Resource.Type, Relationship: r,
			Message: fmt.Sprintf("object definition `%s` not found", r.Resource.Type)}
	}
	rel, ok := def.Relations[r.Relation]
	if !ok {
		return &ValidationError{Kind: UnknownRelation, Definition: def.Name, Relation: r.Relation, Relationship: r,
			Message: fmt.Sprintf("relation/permission `%s` not found under definition `%s`", r.Relation, def.Name)}
	}
	sdef, ok := s.defs[r.Subject.Type]
	if !ok {
		return &ValidationError{Kind: UnknownDefinition, Definition: r.Subject.Type, Relationship: r,
			Message: fmt.Sprintf("object definition `%s` not found", r.Subject.Type)}
	}
	if r.Subject.Relation != "" {
		if _, ok := sdef.Relations[r.Subject.Relation]; !ok {
			return &ValidationError{Kind: UnknownRelation, Definition: sdef.Name, Relation: r.Subject.Relation, Relationship: r,
				Message: fmt.Sprintf("relation/permission `%s` not found under definition `%s`", r.Subject.Relation, sdef.Name)}
		}
	}
	if rel.Permission {
		return &ValidationError{Kind: WriteToPermission, Definition: def.Name, Relation: rel.Name, Relationship: r,
			Message: fmt.Sprintf("cannot write a relationship to permission `%s` under definition `%s`", rel.Name, def.Name)}
	}

	want := AllowedSubject{Type: r.Subject.Type, Relation: r.Subject.Relation, Wildcard: r.Subject.IsWildcard(), Expiration: r.Expiration != nil}
	if want.Wildcard {
		want.Relation = ""
	}
	if r.Caveat != nil {
		want.Caveat = r.Caveat.Name
	}
	allowed := false
	for _, a := range rel.Allowed {
		if forDelete && r.Caveat == nil {
			if a.Type == want.Type && a.Relation == want.Relation && a.Wildcard == want.Wildcard {
				allowed = true
				break
			}
			continue
		}
		if a.Source() == want.Source() {
			allowed = true
			break
		}
	}
	if !allowed {
		return invalidSubjectType(rel, r, want)
	}

	if r.Caveat != nil && len(r.Caveat.Context) > 0 {
		c, ok := s.caveats[r.Caveat.Name]
		if !ok {
			return &ValidationError{Kind: UnknownCaveat, Caveat: r.Caveat.Name, Relationship: r,
				Message: fmt.Sprintf("the caveat `%s` was not found for relationship `%s`", r.Caveat.Name, r.String())}
		}
		if err := c.CheckContext(r.Caveat.Context); err != nil {
			return &ValidationError{Kind: InvalidCaveatContext, Caveat: r.Caveat.Name, Relationship: r, Message: err.Error()}
		}
	}
	return nil
}

func invalidSubjectType(rel *Relation, r tuple.Relationship, want AllowedSubject) error {
	e := &ValidationError{Kind: InvalidSubjectType, Definition: rel.Definition, Relation: rel.Name, SubjectType: want.Source(), Relationship: r}
	if r.Caveat == nil {
		var needed []string
		for _, a := range rel.Allowed {
			if a.Caveat != "" && a.Type == want.Type && a.Relation == want.Relation && !want.Wildcard && a.Expiration == want.Expiration {
				needed = append(needed, a.Caveat)
			}
		}
		if len(needed) > 0 {
			e.Message = fmt.Sprintf("subjects of type `%s` are not allowed on relation `%s#%s` without one of the following caveats: %s",
				want.Source(), rel.Definition, rel.Name, strings.Join(needed, ","))
			return e
		}
	}
	e.Message = fmt.Sprintf("subjects of type `%s` are not allowed on relation `%s#%s`", want.Source(), rel.Definition, rel.Name)
	return e
}
