package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/graph"
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
	var subj tuple.Subject
	switch {
	case m.GetSubject() != nil:
		o := m.GetSubject().GetObject()
		sub := o.GetObjectType() + ":" + o.GetObjectId()
		if r := m.GetSubject().GetOptionalRelation(); r != "" {
			sub += "#" + r
		}
		if subj, err = tuple.ParseSubject(sub); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("subject %q is not a valid subject", sub))
		}
		if id != nil {
			if err := matchTokenSubject(id, subj); err != nil {
				return nil, err
			}
		}
	case id != nil:
		subj = tuple.Subject{Type: id.SubjectType, ID: id.Subject}
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("no subject: give a subject or a subject token"))
	}
	values, err := requestContext(m.GetContext())
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(ctx, consistencyV1(m.GetConsistency()))
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	sch, err := s.schema()
	if err != nil {
		return nil, err
	}
	creq := graph.CheckRequest{Resource: resource, Permission: m.GetPermission(), Subject: subj, Context: graph.Context{Values: values}}
	if id != nil {
		creq.Context.Caller = id.Claims
	}
	var res graph.Result
	var tree *graph.ExplainNode
	if m.GetExplain() {
		res, tree, err = snap.Explain(ctx, sch, creq)
	} else {
		res, err = snap.Check(ctx, sch, creq)
	}
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	out := &gatehousev1.AuthorizeResponse{
		Decision:       decision(res.Permissionship),
		CheckedAt:      s.token(snap.Revision()).GetToken(),
		MissingContext: res.Missing,
		Subject:        &gatehousev1.SubjectRef{Object: &gatehousev1.ObjectRef{ObjectType: subj.Type, ObjectId: subj.ID}, OptionalRelation: subj.Relation},
	}
	if tree != nil {
		out.Explanation = &gatehousev1.Explanation{Root: explainNode(tree)}
	}
	return connect.NewResponse(out), nil
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
