// Package schema compiles SpiceDB schema text into gatehouse's immutable, engine-ready form.
package schema

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	sdbcaveats "github.com/authzed/spicedb/pkg/caveats"
	caveattypes "github.com/authzed/spicedb/pkg/caveats/types"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
	sdbschema "github.com/authzed/spicedb/pkg/schema"
	"github.com/authzed/spicedb/pkg/schemadsl/compiler"
	"github.com/authzed/spicedb/pkg/schemadsl/input"
	"github.com/authzed/spicedb/pkg/spiceerrors"

	"github.com/gatehouse-dev/gatehouse/caveats"
)

// Schema is a compiled schema. It is immutable and safe for concurrent use.
type Schema struct {
	text    string
	defs    map[string]*Definition
	order   []string
	caveats map[string]*caveats.Caveat
	cavOrd  []string
	uses    map[RelationRef][]Use
}

// Definition is an object type: its relations and permissions.
type Definition struct {
	Name      string
	Relations map[string]*Relation
	// Order lists relation and permission names as written.
	Order []string
}

// Relation is a relation (with allowed subject types) or a permission (with an expression).
type Relation struct {
	Definition string
	Name       string
	Permission bool
	// Allowed lists the subject types a relation accepts; empty for permissions.
	Allowed []AllowedSubject
	// Expr is a permission's expression; nil for relations.
	Expr *Expr
}

// AllowedSubject is one allowed subject type of a relation, e.g. `user`,
// `user:*`, `group#member`, `user with only_on_tuesday and expiration`.
type AllowedSubject struct {
	Type string
	// Relation is the subject relation ("" for a plain object).
	Relation string
	Wildcard bool
	// Caveat is the caveat the relationship must carry, or "".
	Caveat string
	// Expiration reports `with expiration`.
	Expiration bool
}

// Source renders a as SpiceDB writes it in a schema.
func (a AllowedSubject) Source() string {
	var b strings.Builder
	b.WriteString(a.Type)
	switch {
	case a.Wildcard:
		b.WriteString(":*")
	case a.Relation != "":
		b.WriteString("#" + a.Relation)
	}
	if a.Caveat != "" || a.Expiration {
		b.WriteString(" with ")
		b.WriteString(a.Caveat)
		if a.Caveat != "" && a.Expiration {
			b.WriteString(" and ")
		}
		if a.Expiration {
			b.WriteString("expiration")
		}
	}
	return b.String()
}

// ExprKind is the kind of a permission expression node.
type ExprKind int

// Expression node kinds.
const (
	ExprUnion        ExprKind = iota + 1 // a + b
	ExprIntersection                     // a & b
	ExprExclusion                        // a - b (Children[0] minus the rest)
	ExprRelation                         // a relation or permission of the same object
	ExprArrow                            // tupleset->relation, .any() or .all()
	ExprNil                              // nil
	ExprSelf                             // self (`use self`)
)

// Expr is a node of a permission expression tree.
type Expr struct {
	Kind     ExprKind
	Children []*Expr
	// Relation is the referenced relation (ExprRelation) or the computed
	// relation on the arrow's targets (ExprArrow).
	Relation string
	// Tupleset is the relation an arrow walks (ExprArrow).
	Tupleset string
	// All marks an .all() arrow: every target must have Relation.
	All bool
}

// String renders e in schema syntax.
func (e *Expr) String() string {
	switch e.Kind {
	case ExprRelation:
		return e.Relation
	case ExprNil:
		return "nil"
	case ExprSelf:
		return "self"
	case ExprArrow:
		if e.All {
			return e.Tupleset + ".all(" + e.Relation + ")"
		}
		return e.Tupleset + "->" + e.Relation
	}
	op := map[ExprKind]string{ExprUnion: " + ", ExprIntersection: " & ", ExprExclusion: " - "}[e.Kind]
	parts := make([]string, len(e.Children))
	for i, c := range e.Children {
		parts[i] = c.String()
		if len(c.Children) > 1 {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, op)
}

// Error is a schema compile or type error, with a 1-based position when known.
type Error struct {
	Message string
	Line    int
	Column  int
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d, column %d)", e.Message, e.Line, e.Column)
	}
	return e.Message
}

// Text returns the source the schema was compiled from.
func (s *Schema) Text() string { return s.text }

// Definition returns the named object definition.
func (s *Schema) Definition(name string) (*Definition, bool) {
	d, ok := s.defs[name]
	return d, ok
}

// Definitions returns the object definitions in source order.
func (s *Schema) Definitions() []*Definition {
	out := make([]*Definition, len(s.order))
	for i, n := range s.order {
		out[i] = s.defs[n]
	}
	return out
}

// Relation returns the named relation or permission of a definition.
func (s *Schema) Relation(definition, name string) (*Relation, bool) {
	d, ok := s.defs[definition]
	if !ok {
		return nil, false
	}
	r, ok := d.Relations[name]
	return r, ok
}

// Caveat returns the named compiled caveat.
func (s *Schema) Caveat(name string) (*caveats.Caveat, bool) {
	c, ok := s.caveats[name]
	return c, ok
}

// Caveats returns the caveat names in source order.
func (s *Schema) Caveats() []string { return append([]string(nil), s.cavOrd...) }

// Compile compiles SpiceDB schema text with SpiceDB's compiler and type checks.
// Errors are *Error with the position of the offending element.
func Compile(text string) (*Schema, error) {
	compiled, err := compiler.Compile(compiler.InputSchema{Source: input.Source("schema"), SchemaString: text}, compiler.AllowUnprefixedObjectType())
	if err != nil {
		return nil, toError(err)
	}
	ts := sdbschema.NewTypeSystem(sdbschema.ResolverForCompiledSchema(compiled))
	for _, nd := range compiled.ObjectDefinitions {
		if _, err := ts.GetValidatedDefinition(context.Background(), nd.GetName()); err != nil {
			return nil, toError(err)
		}
	}

	s := &Schema{
		text:    text,
		defs:    make(map[string]*Definition, len(compiled.ObjectDefinitions)),
		caveats: make(map[string]*caveats.Caveat, len(compiled.CaveatDefinitions)),
	}
	for _, cd := range compiled.CaveatDefinitions {
		c, err := compileCaveat(cd)
		if err != nil {
			return nil, err
		}
		s.caveats[cd.Name] = c
		s.cavOrd = append(s.cavOrd, cd.Name)
	}
	for _, nd := range compiled.ObjectDefinitions {
		d, err := convertDefinition(nd)
		if err != nil {
			return nil, err
		}
		s.defs[d.Name] = d
		s.order = append(s.order, d.Name)
	}
	s.uses = buildUses(s)
	return s, nil
}

// MustCompile is Compile for tests; it panics on error.
func MustCompile(text string) *Schema {
	s, err := Compile(text)
	if err != nil {
		panic(err)
	}
	return s
}

func toError(err error) error {
	msg := err.Error()
	var se *spiceerrors.WithSourceError
	if errors.As(err, &se) {
		return &Error{Message: stripPosition(msg), Line: int(se.LineNumber), Column: int(se.ColumnPosition)}
	}
	var ce compiler.WithContextError
	if errors.As(err, &ce) {
		e := &Error{Message: ce.BaseMessage}
		if line, col, perr := ce.SourceRange.Start().LineAndColumn(); perr == nil {
			e.Line, e.Column = line+1, col+1
		}
		return e
	}
	return &Error{Message: msg}
}

// stripPosition drops SpiceDB's "parse error in `schema`, line 1, column 2: " prefix;
// gatehouse reports the position in fields instead.
func stripPosition(msg string) string {
	if i := strings.Index(msg, ": "); i >= 0 && strings.Contains(msg[:i], "line ") {
		return msg[i+2:]
	}
	return msg
}

func compileCaveat(cd *core.CaveatDefinition) (*caveats.Caveat, error) {
	paramTypes, err := caveattypes.DecodeParameterTypes(caveattypes.Default.TypeSet, cd.ParameterTypes)
	if err != nil {
		return nil, toError(err)
	}
	dec, err := sdbcaveats.DeserializeCaveatWithDefaultTypeSet(cd.SerializedExpression, paramTypes)
	if err != nil {
		return nil, toError(err)
	}
	expr, err := dec.ExprString()
	if err != nil {
		return nil, toError(err)
	}
	posErr := func(msg string) error {
		e := &Error{Message: msg}
		if pos := cd.GetSourcePosition(); pos != nil {
			e.Line, e.Column = int(pos.ZeroIndexedLineNumber)+1, int(pos.ZeroIndexedColumnPosition)+1
		}
		return e
	}
	if len(cd.ParameterTypes) == 0 {
		return nil, posErr(fmt.Sprintf("caveat `%s` must have at least one parameter defined", cd.Name))
	}
	names := make([]string, 0, len(cd.ParameterTypes))
	for n := range cd.ParameterTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	referenced, err := dec.ReferencedParameters(names)
	if err != nil {
		return nil, toError(err)
	}
	for _, n := range names {
		if !referenced.Has(n) {
			return nil, posErr(fmt.Sprintf("parameter `%s` for caveat `%s` is unused", n, cd.Name))
		}
	}
	params := make([]caveats.Param, len(names))
	for i, n := range names {
		params[i] = caveats.Param{Name: n, Type: typeRef(cd.ParameterTypes[n])}
	}
	c, err := caveats.Compile(cd.Name, expr, params)
	if err != nil {
		var ce *caveats.CompileError
		if errors.As(err, &ce) {
			return nil, posErr(ce.Message)
		}
		return nil, posErr(err.Error())
	}
	return c, nil
}

func typeRef(t *core.CaveatTypeReference) caveats.TypeRef {
	r := caveats.TypeRef{Name: t.GetTypeName()}
	for _, c := range t.GetChildTypes() {
		r.Args = append(r.Args, typeRef(c))
	}
	return r
}

func convertDefinition(nd *core.NamespaceDefinition) (*Definition, error) {
	d := &Definition{Name: nd.Name, Relations: make(map[string]*Relation, len(nd.Relation))}
	for _, rel := range nd.Relation {
		r := &Relation{Definition: nd.Name, Name: rel.Name}
		if rw := rel.GetUsersetRewrite(); rw != nil {
			r.Permission = true
			e, err := convertRewrite(rw)
			if err != nil {
				return nil, fmt.Errorf("permission %s#%s: %w", nd.Name, rel.Name, err)
			}
			r.Expr = e
		} else {
			for _, a := range rel.GetTypeInformation().GetAllowedDirectRelations() {
				as := AllowedSubject{Type: a.GetNamespace()}
				if a.GetPublicWildcard() != nil {
					as.Wildcard = true
				} else if rr := a.GetRelation(); rr != "..." {
					as.Relation = rr
				}
				if c := a.GetRequiredCaveat(); c != nil {
					as.Caveat = c.CaveatName
				}
				as.Expiration = a.GetRequiredExpiration() != nil
				r.Allowed = append(r.Allowed, as)
			}
		}
		d.Relations[r.Name] = r
		d.Order = append(d.Order, r.Name)
	}
	return d, nil
}

func convertRewrite(rw *core.UsersetRewrite) (*Expr, error) {
	var kind ExprKind
	var op *core.SetOperation
	switch t := rw.RewriteOperation.(type) {
	case *core.UsersetRewrite_Union:
		kind, op = ExprUnion, t.Union
	case *core.UsersetRewrite_Intersection:
		kind, op = ExprIntersection, t.Intersection
	case *core.UsersetRewrite_Exclusion:
		kind, op = ExprExclusion, t.Exclusion
	default:
		return nil, fmt.Errorf("unsupported rewrite %T", rw.RewriteOperation)
	}
	e := &Expr{Kind: kind}
	for _, ch := range op.GetChild() {
		c, err := convertChild(ch)
		if err != nil {
			return nil, err
		}
		e.Children = append(e.Children, c)
	}
	return e, nil
}

func convertChild(ch *core.SetOperation_Child) (*Expr, error) {
	switch t := ch.ChildType.(type) {
	case *core.SetOperation_Child_ComputedUserset:
		return &Expr{Kind: ExprRelation, Relation: t.ComputedUserset.GetRelation()}, nil
	case *core.SetOperation_Child_TupleToUserset:
		return &Expr{Kind: ExprArrow, Tupleset: t.TupleToUserset.GetTupleset().GetRelation(), Relation: t.TupleToUserset.GetComputedUserset().GetRelation()}, nil
	case *core.SetOperation_Child_FunctionedTupleToUserset:
		f := t.FunctionedTupleToUserset
		return &Expr{Kind: ExprArrow, Tupleset: f.GetTupleset().GetRelation(), Relation: f.GetComputedUserset().GetRelation(),
			All: f.GetFunction() == core.FunctionedTupleToUserset_FUNCTION_ALL}, nil
	case *core.SetOperation_Child_UsersetRewrite:
		return convertRewrite(t.UsersetRewrite)
	case *core.SetOperation_Child_XNil:
		return &Expr{Kind: ExprNil}, nil
	case *core.SetOperation_Child_XSelf:
		return &Expr{Kind: ExprSelf}, nil
	case *core.SetOperation_Child_XThis:
		return nil, errors.New("`_this` is not supported")
	default:
		return nil, fmt.Errorf("unsupported expression %T", ch.ChildType)
	}
}
