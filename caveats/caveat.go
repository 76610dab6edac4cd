package caveats

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// MaxExpressionSize is the largest expression accepted, in bytes after
// trimming surrounding space, as in SpiceDB.
const MaxExpressionSize = 100_000

// Outcome is the result of evaluating a caveat.
type Outcome int

const (
	// False: the caveat does not hold.
	False Outcome = iota
	// True: the caveat holds.
	True
	// Conditional: the caveat depends on parameters missing from the context.
	Conditional
)

// String returns "false", "true" or "conditional".
func (o Outcome) String() string {
	switch o {
	case False:
		return "false"
	case True:
		return "true"
	case Conditional:
		return "conditional"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result is an evaluation result. Missing lists, sorted and without
// duplicates, the parameters a Conditional result is waiting for.
type Result struct {
	Outcome Outcome
	Missing []string
}

// Compiler compiles caveats against a shared base CEL environment, which
// makes each compilation cheaper than the package-level Compile. It is safe
// for concurrent use.
type Compiler struct {
	base *cel.Env
}

// NewCompiler builds the base CEL environment. It fails only if cel-go
// rejects the environment options, which would be a bug.
func NewCompiler() (*Compiler, error) {
	env, err := cel.NewEnv(envOptions()...)
	if err != nil {
		return nil, fmt.Errorf("build cel environment: %w", err)
	}
	return &Compiler{base: env}, nil
}

// Caveat is a compiled caveat definition, safe for concurrent use.
type Caveat struct {
	name   string
	expr   string
	params []Param

	prg      cel.Program // partial evaluation: some parameters unknown
	full     cel.Program // every parameter bound; skips unknown tracking
	convert  []converter
	reserved []int   // per parameter: reservedIndex of its name
	binds    [3]bool // by reservedIndex: whether the caveat declares it
	patterns []*interpreter.AttributePattern
	lookup   map[string]int // parameter index by name, for many parameters
	reads    []reads        // per parameter: how the expression reads it; see AppendKey
	acts     sync.Pool      // *activation
}

// Compile compiles a caveat definition. It returns a *CompileError if there
// are no parameters or one is malformed, the expression does not compile, or
// its result is not bool.
func Compile(name, expr string, params []Param) (*Caveat, error) {
	c, err := NewCompiler()
	if err != nil {
		return nil, err
	}
	return c.Compile(name, expr, params)
}

// Compile compiles a caveat definition; see the package-level Compile.
func (cc *Compiler) Compile(name, expr string, params []Param) (*Caveat, error) {
	fail := func(line, col int, format string, args ...any) (*Caveat, error) {
		return nil, &CompileError{Caveat: name, Line: line, Column: col, Message: fmt.Sprintf(format, args...)}
	}
	if len(strings.TrimSpace(expr)) > MaxExpressionSize {
		return fail(0, 0, "caveat expression provided exceeds maximum allowed size of %d characters", MaxExpressionSize)
	}

	if len(params) == 0 {
		// As SpiceDB's schema compiler requires.
		return fail(0, 0, "caveat `%s` must have at least one parameter defined", name)
	}

	c := &Caveat{
		name:     name,
		expr:     expr,
		params:   make([]Param, len(params)),
		convert:  make([]converter, len(params)),
		reserved: make([]int, len(params)),
		patterns: make([]*interpreter.AttributePattern, len(params)),
	}
	vars := make([]cel.EnvOption, 0, len(params))
	for i, p := range params {
		if p.Name == "" {
			return fail(0, 0, "parameter %d has no name", i)
		}
		if slices.ContainsFunc(params[:i], func(q Param) bool { return q.Name == p.Name }) {
			return fail(0, 0, "duplicate parameter `%s`", p.Name)
		}
		t, err := resolveType(p.Type)
		if err != nil {
			return fail(0, 0, "parameter `%s`: %v", p.Name, err)
		}
		c.params[i] = Param{Name: p.Name, Type: cloneTypeRef(p.Type)}
		c.convert[i] = t.convert
		c.reserved[i] = reservedIndex(p.Name)
		if c.reserved[i] >= 0 {
			c.binds[c.reserved[i]] = true
		}
		c.patterns[i] = cel.AttributePattern(p.Name)
		vars = append(vars, cel.Variable(p.Name, t.cel))
	}
	if len(params) > 8 {
		c.lookup = make(map[string]int, len(params))
		for i, p := range params {
			c.lookup[p.Name] = i
		}
	}

	env, err := cc.base.Extend(vars...)
	if err != nil {
		return fail(0, 0, "declare parameters: %v", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		first := iss.Errors()[0]
		line, col := first.Location.Line(), first.Location.Column()
		if line <= 0 || col < 0 {
			line, col = 0, -1
		}
		return fail(line, col+1, "%s", first.Message)
	}
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) {
		return fail(0, 0, "caveat expression must result in a boolean value: found `%s`", out.String())
	}
	weights := loopWeights(ast)
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptPartialEval), cel.CustomDecoratorV2(meterLoops(weights)))
	if err != nil {
		return fail(0, 0, "plan expression: %v", err)
	}
	full, err := env.Program(ast, cel.CustomDecoratorV2(meterLoops(weights)))
	if err != nil {
		return fail(0, 0, "plan expression: %v", err)
	}
	c.prg, c.full = prg, full
	c.reads = analyseReads(ast, c.params)
	n := len(params)
	c.acts.New = func() any {
		return &activation{c: c, vals: make([]any, n), set: make([]bool, n)}
	}
	return c, nil
}

func cloneTypeRef(t TypeRef) TypeRef {
	out := TypeRef{Name: t.Name}
	for _, a := range t.Args {
		out.Args = append(out.Args, cloneTypeRef(a))
	}
	return out
}

// Name returns the caveat's name.
func (c *Caveat) Name() string { return c.name }

// Expr returns the caveat's expression as given to Compile.
func (c *Caveat) Expr() string { return c.expr }

// Params returns a copy of the declared parameters.
func (c *Caveat) Params() []Param {
	out := make([]Param, len(c.params))
	for i, p := range c.params {
		out[i] = Param{Name: p.Name, Type: cloneTypeRef(p.Type)}
	}
	return out
}

// Binds reports which reserved parameters (caller, resource, subject) the
// caveat declares, so an evaluator fetches only those bindings.
func (c *Caveat) Binds() (caller, resource, subject bool) {
	return c.binds[0], c.binds[1], c.binds[2]
}

// Declares reports whether the caveat has a parameter with this name.
func (c *Caveat) Declares(name string) bool { return c.index(name) >= 0 }

// index returns the position of the named parameter, or -1.
func (c *Caveat) index(name string) int {
	if c.lookup != nil {
		if i, ok := c.lookup[name]; ok {
			return i
		}
		return -1
	}
	for i := range c.params {
		if c.params[i].Name == name {
			return i
		}
	}
	return -1
}

// Eval evaluates the caveat. relContext (stored with the relationship) and
// reqContext (sent with the request) hold JSON-like values, as
// structpb.Struct.AsMap returns them. A parameter takes its value from
// relContext if present there, else from reqContext, as in SpiceDB. The
// reserved parameters take theirs only from b. Keys that are not parameters
// are ignored; parameters with no value are unknown.
//
// Eval returns an *EvalError if a value cannot be converted to its
// parameter's type (EvalError.Param names it) or the expression fails at
// run time, wrapping ErrCostLimit if it exceeded CostLimit.
func (c *Caveat) Eval(relContext, reqContext map[string]any, b *Bindings) (Result, error) {
	a := c.acts.Get().(*activation)
	defer a.release()

	for i := range c.params {
		v, ok := c.value(i, relContext, reqContext, b)
		if !ok {
			a.unknowns = append(a.unknowns, c.patterns[i])
			continue
		}
		cv, err := c.convert[i](v)
		if err != nil {
			return Result{}, &EvalError{Caveat: c.name, Param: c.params[i].Name, Err: err}
		}
		a.vals[i], a.set[i] = cv, true
	}

	prg := c.full
	if len(a.unknowns) > 0 {
		prg = c.prg
	}
	out, _, err := prg.Eval(a)
	if err != nil {
		if cancelled, ok := errors.AsType[interpreter.EvalCancelledError](err); ok && cancelled.Cause == interpreter.CostLimitExceeded {
			err = fmt.Errorf("%w: %w", ErrCostLimit, err)
		}
		return Result{}, &EvalError{Caveat: c.name, Err: err}
	}
	switch v := out.(type) {
	case nil:
		return Result{}, &EvalError{Caveat: c.name, Err: errors.New("caveat evaluated to no value")}
	case types.Bool:
		if v {
			return Result{Outcome: True}, nil
		}
		return Result{Outcome: False}, nil
	case *types.Unknown:
		return Result{Outcome: Conditional, Missing: missingNames(v)}, nil
	}
	return Result{}, &EvalError{Caveat: c.name, Err: fmt.Errorf("caveat evaluated to %s, not bool", out.Type().TypeName())}
}

// value is the value parameter i takes: a reserved one from b only, any other
// from the relationship's context, else the request's, as in SpiceDB.
func (c *Caveat) value(i int, relContext, reqContext map[string]any, b *Bindings) (any, bool) {
	if r := c.reserved[i]; r >= 0 {
		m, ok := b.lookup(r)
		return m, ok
	}
	name := c.params[i].Name
	if v, ok := relContext[name]; ok {
		return v, true
	}
	v, ok := reqContext[name]
	return v, ok
}

// Inputs returns the values Eval would bind to the caveat's parameters, by
// name, before conversion; parameters without a value are absent.
func (c *Caveat) Inputs(relContext, reqContext map[string]any, b *Bindings) map[string]any {
	out := make(map[string]any, len(c.params))
	for i := range c.params {
		if v, ok := c.value(i, relContext, reqContext, b); ok {
			out[c.params[i].Name] = v
		}
	}
	return out
}

// missingNames lists the variables of an unknown result, as SpiceDB reports
// them (the attribute trail of each unknown), sorted and deduplicated.
func missingNames(u *types.Unknown) []string {
	var names []string
	for _, id := range u.IDs() {
		trails, _ := u.GetAttributeTrails(id)
		for _, t := range trails {
			names = append(names, t.String())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// activation binds converted parameter values for one evaluation. Parameters
// without a value are reported to CEL as unknown attribute patterns.
type activation struct {
	c        *Caveat
	vals     []any
	set      []bool
	unknowns []*interpreter.AttributePattern
	cost     uint64 // comprehension work so far; see CostLimit
}

var _ interpreter.PartialActivation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	i := a.c.index(name)
	if i < 0 || !a.set[i] {
		return nil, false
	}
	return a.vals[i], true
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// UnknownAttributePatterns implements interpreter.PartialActivation.
func (a *activation) UnknownAttributePatterns() []*interpreter.AttributePattern {
	return a.unknowns
}

// AsPartialActivation lets CEL find the unknown patterns without wrapping.
func (a *activation) AsPartialActivation() (interpreter.PartialActivation, bool) {
	return a, true
}

func (a *activation) release() {
	clear(a.vals)
	clear(a.set)
	clear(a.unknowns)
	a.unknowns = a.unknowns[:0]
	a.cost = 0
	a.c.acts.Put(a)
}
