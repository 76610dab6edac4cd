package graph

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// ExplainKind is what a node of an explanation stands for.
type ExplainKind int

// Kinds of explanation nodes.
const (
	// ExplainPermission: a permission of an object, with its expression below.
	ExplainPermission ExplainKind = iota + 1
	// ExplainRelation: a relation of an object, with its relationships below.
	ExplainRelation
	// ExplainUnion, ExplainIntersection, ExplainExclusion: an operator of a
	// permission's expression, with its operands below.
	ExplainUnion
	ExplainIntersection
	ExplainExclusion
	// ExplainArrow: tupleset->relation (or .all()), with the tupleset's
	// relationships below.
	ExplainArrow
	// ExplainRelationship: one relationship, its caveat (if any) and, for a
	// subject set or an arrow, the subject's relation below.
	ExplainRelationship
	// ExplainSelf: `self`, true when the subject is the resource.
	ExplainSelf
	// ExplainNil: `nil`, never true.
	ExplainNil
)

// String names the kind in lower case.
func (k ExplainKind) String() string {
	switch k {
	case ExplainPermission:
		return "permission"
	case ExplainRelation:
		return "relation"
	case ExplainUnion:
		return "union"
	case ExplainIntersection:
		return "intersection"
	case ExplainExclusion:
		return "exclusion"
	case ExplainArrow:
		return "arrow"
	case ExplainRelationship:
		return "relationship"
	case ExplainSelf:
		return "self"
	case ExplainNil:
		return "nil"
	}
	return "unknown"
}

// ExplainNode is one step of a decision: what was evaluated and its result.
// Evaluation stops at the first grant of a union, so an allowed decision
// shows the path that granted it (and what was tried before); a denied one
// shows everything that was tried.
type ExplainNode struct {
	Kind ExplainKind
	// Resource and Relation name the object and relation or permission; for
	// an arrow, Relation is "tupleset->relation" (or ".all(...)").
	Resource tuple.Object
	Relation string
	Result   Result
	// Relationship is set on ExplainRelationship nodes.
	Relationship *tuple.Relationship
	// Caveat and CaveatInputs: the relationship's caveat and the values of
	// its parameters that the evaluation saw (stored context, request context
	// and the reserved caller, resource and subject maps).
	Caveat       string
	CaveatInputs map[string]any
	// Err is the error that ended the evaluation here, if any.
	Err      error
	Note     string
	Children []*ExplainNode
}

// MaxExplainNodes bounds an explanation; past it the rest of the evaluation
// runs unrecorded and the root says so.
const MaxExplainNodes = 5000

// tracer builds an explanation as the evaluator runs. Its methods are safe on
// a nil tracer, which records nothing.
type tracer struct {
	root     *ExplainNode
	stack    []*ExplainNode
	count    int
	overflow *ExplainNode // returned instead of new nodes past the bound
	resource tuple.Object // names the absent resource
	subject  tuple.Object // names the absent subject
	// entered tells check or expr that its traced wrapper has opened its
	// node, so the untraced path pays one nil test and no extra call.
	entered bool
}

// checkTraced is check recording a node for the relation or permission.
func (ev *evaluator) checkTraced(o uint32, rel uint16) (result, error) {
	n := ev.tr.open(ev.relNode(o, rel))
	ev.tr.entered = true
	r, err := ev.check(o, rel)
	ev.tr.close(n, r, err)
	return r, err
}

// exprTraced is expr recording a node for the operator.
func (ev *evaluator) exprTraced(x *pexpr, o uint32) (result, error) {
	n := ev.tr.open(ev.exprNode(x, o))
	ev.tr.entered = true
	r, err := ev.expr(x, o)
	ev.tr.close(n, r, err)
	return r, err
}

// open starts node n below the current one.
func (t *tracer) open(n *ExplainNode) *ExplainNode {
	if t.count >= MaxExplainNodes {
		if t.overflow == nil {
			t.overflow = &ExplainNode{}
			t.root.Note = "explanation truncated after " + strconv.Itoa(MaxExplainNodes) + " steps"
		}
		t.stack = append(t.stack, t.overflow)
		return t.overflow
	}
	t.count++
	if len(t.stack) == 0 {
		t.root = n
	} else {
		top := t.stack[len(t.stack)-1]
		top.Children = append(top.Children, n)
	}
	t.stack = append(t.stack, n)
	return n
}

// close ends node n with its result.
func (t *tracer) close(n *ExplainNode, r result, err error) {
	if t == nil || n == nil {
		return
	}
	t.stack = t.stack[:len(t.stack)-1]
	if n == t.overflow {
		return
	}
	n.Result = r.public()
	if err != nil {
		n.Err = err
		n.Result = Result{}
		if errors.Is(err, ErrMaxDepth) && n.Note == "" {
			n.Note = "maximum depth reached"
		}
	}
}

// note annotates the current node.
func (t *tracer) note(s string) {
	if t == nil || len(t.stack) == 0 {
		return
	}
	if n := t.stack[len(t.stack)-1]; n != t.overflow {
		n.Note = s
	}
}

// object names interned object o, or the absent resource or subject.
func (ev *evaluator) object(o uint32) tuple.Object {
	switch o {
	case absentResource:
		return ev.tr.resource
	case absentSubject:
		return ev.tr.subject
	}
	return tuple.Object{Type: ev.ix.typeNames[ev.ix.objTypes[o]], ID: ev.ix.objIDs[o]}
}

func (ev *evaluator) relNode(o uint32, rel uint16) *ExplainNode {
	kind := ExplainRelation
	if pr := ev.p.rel(ev.typeOf(o), rel); pr != nil && pr.perm {
		kind = ExplainPermission
	}
	return &ExplainNode{Kind: kind, Resource: ev.object(o), Relation: ev.ix.relNames[rel]}
}

func (ev *evaluator) exprNode(x *pexpr, o uint32) *ExplainNode {
	n := &ExplainNode{Resource: ev.object(o)}
	switch x.kind {
	case schema.ExprUnion:
		n.Kind = ExplainUnion
	case schema.ExprIntersection:
		n.Kind = ExplainIntersection
	case schema.ExprExclusion:
		n.Kind = ExplainExclusion
	case schema.ExprArrow:
		n.Kind = ExplainArrow
		if x.all {
			n.Relation = ev.ix.relNames[x.ts] + ".all(" + ev.ix.relNames[x.rel] + ")"
		} else {
			n.Relation = ev.ix.relNames[x.ts] + "->" + ev.ix.relNames[x.rel]
		}
	case schema.ExprSelf:
		n.Kind = ExplainSelf
	default:
		n.Kind = ExplainNil
	}
	return n
}

// edgeNode describes relationship e and, if it has a caveat, what the caveat saw.
func (ev *evaluator) edgeNode(e *edge) *ExplainNode {
	r := ev.ix.relationship(e)
	n := &ExplainNode{Kind: ExplainRelationship, Resource: r.Resource, Relation: r.Relation, Relationship: &r}
	if r.Caveat == nil {
		return n
	}
	n.Caveat = r.Caveat.Name
	c, ok := ev.p.sch.Caveat(r.Caveat.Name)
	if !ok {
		return n
	}
	b := ev.bindings(c, e)
	n.CaveatInputs = c.Inputs(r.Caveat.Context, ev.values, &b)
	return n
}

// Explain is Check that also returns how the decision was reached. The
// explanation is returned with the error too, up to where it stopped.
func (s *Snapshot) Explain(ctx context.Context, sch *schema.Schema, req CheckRequest) (Result, *ExplainNode, error) {
	p := s.ix.planFor(sch)
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	if err := validatePermission(p.sch, req.Resource.Type, req.Permission); err != nil {
		return Result{}, nil, err
	}
	ev, err := s.newEvaluator(p, &req.Context, req.Subject)
	if err != nil {
		return Result{}, nil, err
	}
	defer ev.release()
	ev.tr = &tracer{resource: req.Resource, subject: req.Subject.Object()}
	o := ev.resourceID(req.Resource)
	if o == absentResource && ev.subj == absentSubject && req.Subject.Object() == req.Resource {
		ev.subj = absentResource
	}
	r, err := ev.check(o, s.ix.rels[req.Permission])
	root := ev.tr.root
	if root != nil && !strings.Contains(root.Note, "truncated") && o == absentResource {
		root.Note = "no relationship names " + req.Resource.String()
	}
	if err != nil {
		return Result{}, root, err
	}
	return r.public(), root, nil
}
