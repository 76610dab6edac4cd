// Package tuple defines relationships, the values every other gatehouse package exchanges.
package tuple

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	sdbtuple "github.com/authzed/spicedb/pkg/tuple"
)

// Ellipsis is the subject relation SpiceDB writes as "..."; gatehouse stores it as "".
const Ellipsis = "..."

// Object names one object: a type and an ID.
type Object struct {
	Type string
	ID   string
}

// String returns "type:id".
func (o Object) String() string { return o.Type + ":" + o.ID }

// Subject is the subject of a relationship: an object, optionally with a relation
// (a userset such as group:eng#member). An empty Relation means the object itself.
type Subject struct {
	Type     string
	ID       string
	Relation string
}

// Object returns the subject's object without its relation.
func (s Subject) Object() Object { return Object{Type: s.Type, ID: s.ID} }

// IsWildcard reports whether the subject is the public wildcard "type:*".
func (s Subject) IsWildcard() bool { return s.ID == "*" }

// String returns "type:id" or "type:id#relation".
func (s Subject) String() string {
	if s.Relation == "" {
		return s.Type + ":" + s.ID
	}
	return s.Type + ":" + s.ID + "#" + s.Relation
}

// Caveat names a caveat and the context stored with the relationship.
type Caveat struct {
	Name    string
	Context map[string]any
}

// Relationship is resource#relation@subject with an optional caveat and expiration.
type Relationship struct {
	Resource   Object
	Relation   string
	Subject    Subject
	Caveat     *Caveat
	Expiration *time.Time
}

// Key identifies a relationship regardless of its caveat and expiration;
// two relationships with the same key cannot both exist.
type Key struct {
	Resource Object
	Relation string
	Subject  Subject
}

// Key returns the identity of r.
func (r Relationship) Key() Key {
	return Key{Resource: r.Resource, Relation: r.Relation, Subject: r.Subject}
}

// String renders r in SpiceDB tuple syntax, e.g.
// document:1#viewer@user:a[only_on:{"day":"mon"}][expiration:2030-01-01T00:00:00Z].
func (r Relationship) String() string {
	var b strings.Builder
	b.WriteString(r.Resource.String())
	b.WriteByte('#')
	b.WriteString(r.Relation)
	b.WriteByte('@')
	b.WriteString(r.Subject.String())
	if r.Caveat != nil {
		b.WriteByte('[')
		b.WriteString(r.Caveat.Name)
		if len(r.Caveat.Context) > 0 {
			ctx, err := json.Marshal(r.Caveat.Context)
			if err == nil {
				b.WriteByte(':')
				b.Write(ctx)
			}
		}
		b.WriteByte(']')
	}
	if r.Expiration != nil {
		b.WriteString("[expiration:")
		b.WriteString(r.Expiration.UTC().Format(time.RFC3339Nano))
		b.WriteByte(']')
	}
	return b.String()
}

// Expired reports whether r has an expiration at or before now.
func (r Relationship) Expired(now time.Time) bool {
	return r.Expiration != nil && !r.Expiration.After(now)
}

// Clone returns a deep copy of r, so that callers may keep it while the original's
// caveat context is reused.
func (r Relationship) Clone() Relationship {
	if r.Caveat != nil {
		c := *r.Caveat
		c.Context = cloneMap(c.Context)
		r.Caveat = &c
	}
	if r.Expiration != nil {
		e := *r.Expiration
		r.Expiration = &e
	}
	return r
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return cloneMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneValue(e)
		}
		return out
	default:
		return v
	}
}

// ParseError reports a relationship string that cannot be parsed.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid relationship %q: %s", e.Input, e.Reason)
}

// Parse reads a relationship in SpiceDB tuple syntax, with SpiceDB's rules for names
// and IDs. A subject relation of "..." is normalised to "".
func Parse(s string) (Relationship, error) {
	parsed, err := sdbtuple.Parse(strings.TrimSpace(s))
	if err != nil {
		return Relationship{}, &ParseError{Input: s, Reason: strings.TrimPrefix(err.Error(), "error parsing relationship: ")}
	}
	r := Relationship{
		Resource: Object{Type: parsed.Resource.ObjectType, ID: parsed.Resource.ObjectID},
		Relation: parsed.Resource.Relation,
		Subject:  Subject{Type: parsed.Subject.ObjectType, ID: parsed.Subject.ObjectID, Relation: parsed.Subject.Relation},
	}
	if r.Subject.Relation == Ellipsis {
		r.Subject.Relation = ""
	}
	if parsed.OptionalCaveat != nil && parsed.OptionalCaveat.CaveatName != "" {
		r.Caveat = &Caveat{Name: parsed.OptionalCaveat.CaveatName}
		if parsed.OptionalCaveat.Context != nil {
			r.Caveat.Context = maps.Clone(parsed.OptionalCaveat.Context.AsMap())
		}
	}
	if parsed.OptionalExpiration != nil {
		e := parsed.OptionalExpiration.UTC()
		r.Expiration = &e
	}
	return r, nil
}

// MustParse is Parse for tests and literals; it panics on error.
func MustParse(s string) Relationship {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

// ParseSubject reads "type:id" or "type:id#relation".
func ParseSubject(s string) (Subject, error) {
	// Reuse the relationship parser so that names follow exactly the same rules.
	r, err := Parse("placeholder:placeholder#placeholder@" + strings.TrimSpace(s))
	if err != nil {
		return Subject{}, &ParseError{Input: s, Reason: "not a subject of the form type:id or type:id#relation"}
	}
	return r.Subject, nil
}

// ParseObject reads "type:id".
func ParseObject(s string) (Object, error) {
	sub, err := ParseSubject(s)
	if err != nil || sub.Relation != "" {
		return Object{}, &ParseError{Input: s, Reason: "not an object of the form type:id"}
	}
	return sub.Object(), nil
}
