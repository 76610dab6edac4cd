package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// authorizeService implements gatehouse.v1.AuthorizeService.
type authorizeService struct{ s *Server }

var _ gatehousev1connect.AuthorizeServiceHandler = authorizeService{}

func (s *Server) registerAuthorize(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(gatehousev1connect.NewAuthorizeServiceHandler(authorizeService{s}, opts...))
}

// Authorize is the one decision every enforcement point makes: the subject (given,
// or taken from the verified token) against the resource's permission, with
// the token's claims bound to `caller` and the request context to the other
// caveat parameters.
func (a authorizeService) Authorize(ctx context.Context, req *connect.Request[gatehousev1.AuthorizeRequest]) (*connect.Response[gatehousev1.AuthorizeResponse], error) {
	s, m := a.s, req.Msg
	resource, err := tuple.ParseObject(m.GetResource().GetObjectType() + ":" + m.GetResource().GetObjectId())
	if err != nil || resource.ID == "*" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("resource must be an object type:id"))
	}
	if m.GetPermission() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("permission is required"))
	}
	id, err := s.caller(ctx, req.Header(), m.GetSubjectToken())
	if err != nil {
		return nil, err
	}
	q := question{resource: resource, permission: m.GetPermission(), id: id, consistency: consistencyV1(m.GetConsistency()), explain: m.GetExplain()}
	if m.GetSubject() != nil {
		o := m.GetSubject().GetObject()
		sub := o.GetObjectType() + ":" + o.GetObjectId()
		if r := m.GetSubject().GetOptionalRelation(); r != "" {
			sub += "#" + r
		}
		subj, err := tuple.ParseSubject(sub)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("subject %q is not a valid subject", sub))
		}
		q.subject = &subj
	}
	if q.context, err = requestContext(m.GetContext()); err != nil {
		return nil, err
	}
	ans, err := s.decide(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &gatehousev1.AuthorizeResponse{
		Decision:       decision(ans.result.Permissionship),
		CheckedAt:      ans.revision,
		MissingContext: ans.result.Missing,
		Subject:        &gatehousev1.SubjectRef{Object: &gatehousev1.ObjectRef{ObjectType: ans.subject.Type, ObjectId: ans.subject.ID}, OptionalRelation: ans.subject.Relation},
	}
	if ans.tree != nil {
		out.Explanation = &gatehousev1.Explanation{Root: explainNode(ans.tree)}
	}
	return connect.NewResponse(out), nil
}

// question is what every enforcement point asks: AuthorizeService, the
// gateway's forward-auth and the mesh's ext_authz.
type question struct {
	resource   tuple.Object
	permission string
	// subject, when set, is the subject asked about; otherwise it is the
	// verified token's. With both, they must agree.
	subject     *tuple.Subject
	id          *identity.Identity // the verified subject token; nil without one
	context     map[string]any
	consistency *v1.Consistency // nil: minimize latency
	explain     bool
}

// answer is a decision and what it was made on.
type answer struct {
	result   graph.Result
	subject  tuple.Subject
	revision string // the ZedToken of the snapshot decided on
	tree     *graph.ExplainNode
}

// decide is the one decision path: the subject against the resource's
// permission, the token's claims bound to `caller` and the context to the
// other caveat parameters.
func (s *Server) decide(ctx context.Context, q question) (answer, error) {
	var a answer
	switch {
	case q.subject != nil:
		a.subject = *q.subject
		if q.id != nil {
			if err := matchTokenSubject(q.id, a.subject); err != nil {
				return a, err
			}
		}
	case q.id != nil:
		a.subject = tuple.Subject{Type: q.id.SubjectType, ID: q.id.Subject}
	default:
		return a, connect.NewError(connect.CodeInvalidArgument, errors.New("no subject: give a subject or a subject token"))
	}
	snap, err := s.snapshot(ctx, q.consistency)
	if err != nil {
		return a, toConnect(s.log, err)
	}
	sch, err := s.schema()
	if err != nil {
		return a, err
	}
	creq := graph.CheckRequest{Resource: q.resource, Permission: q.permission, Subject: a.subject, Context: callerContext(q.context, q.id)}
	if q.explain {
		a.result, a.tree, err = snap.Explain(ctx, sch, creq)
	} else {
		a.result, err = snap.Check(ctx, sch, creq)
	}
	if err != nil {
		return a, toConnect(s.log, err)
	}
	a.revision = s.token(snap.Revision()).GetToken()
	return a, nil
}

func decision(p graph.Permissionship) gatehousev1.Decision {
	switch p {
	case graph.HasPermission:
		return gatehousev1.Decision_DECISION_ALLOWED
	case graph.ConditionalPermission:
		return gatehousev1.Decision_DECISION_CONDITIONAL
	}
	return gatehousev1.Decision_DECISION_DENIED
}

// explainKind is the wire kind of an explanation node; self and nil are
// relations with a note.
func explainKind(k graph.ExplainKind) gatehousev1.ExplainNode_Kind {
	switch k {
	case graph.ExplainPermission:
		return gatehousev1.ExplainNode_KIND_PERMISSION
	case graph.ExplainUnion:
		return gatehousev1.ExplainNode_KIND_UNION
	case graph.ExplainIntersection:
		return gatehousev1.ExplainNode_KIND_INTERSECTION
	case graph.ExplainExclusion:
		return gatehousev1.ExplainNode_KIND_EXCLUSION
	case graph.ExplainArrow:
		return gatehousev1.ExplainNode_KIND_ARROW
	case graph.ExplainRelationship:
		return gatehousev1.ExplainNode_KIND_RELATIONSHIP
	}
	return gatehousev1.ExplainNode_KIND_RELATION
}

// explainNode converts an explanation for the wire. Errors appear only as a
// note naming their kind: their text may carry internals.
func explainNode(n *graph.ExplainNode) *gatehousev1.ExplainNode {
	out := &gatehousev1.ExplainNode{
		Kind:           explainKind(n.Kind),
		Resource:       &gatehousev1.ObjectRef{ObjectType: n.Resource.Type, ObjectId: n.Resource.ID},
		Relation:       n.Relation,
		Result:         decision(n.Result.Permissionship),
		CaveatName:     n.Caveat,
		MissingContext: n.Result.Missing,
		Note:           n.Note,
	}
	switch n.Kind {
	case graph.ExplainSelf:
		out.Relation, out.Note = "self", joinNote("self: granted when the subject is the resource", n.Note)
	case graph.ExplainNil:
		out.Relation, out.Note = "nil", joinNote("nil: never granted", n.Note)
	}
	if n.Relationship != nil {
		out.Relationship = n.Relationship.String()
	}
	if n.CaveatInputs != nil {
		if st, err := structpb.NewStruct(n.CaveatInputs); err == nil {
			out.CaveatContext = st
		}
	}
	switch {
	case errors.Is(n.Err, graph.ErrMaxDepth):
		out.Kind = gatehousev1.ExplainNode_KIND_MAX_DEPTH
	case n.Err != nil:
		out.Note = joinNote("evaluation failed here", out.Note)
	}
	if len(n.Children) == 0 && strings.HasPrefix(n.Note, "cycle") {
		out.Kind = gatehousev1.ExplainNode_KIND_CYCLE_CUT
	}
	for _, c := range n.Children {
		out.Children = append(out.Children, explainNode(c))
	}
	return out
}

func joinNote(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}
