package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// MaxAttributeObjectsPerRead bounds the objects one ReadAttributes names or
// returns (the default page size when no limit is given).
const MaxAttributeObjectsPerRead = 1000

// attributeService implements gatehouse.v1.AttributeService.
type attributeService struct{ s *Server }

var _ gatehousev1connect.AttributeServiceHandler = attributeService{}

func (s *Server) registerAttributes(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(gatehousev1connect.NewAttributeServiceHandler(attributeService{s}, opts...))
}

// attributeObject converts and validates an object reference: a type defined
// in the schema and an ID SpiceDB would accept (not the wildcard).
func (s *Server) attributeObject(sch *schema.Schema, o *gatehousev1.ObjectRef) (tuple.Object, error) {
	obj, err := tuple.ParseObject(o.GetObjectType() + ":" + o.GetObjectId())
	if err != nil || obj.ID == "*" {
		return tuple.Object{}, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("invalid object %q: want type:id with SpiceDB's object type and ID syntax", o.GetObjectType()+":"+o.GetObjectId()))
	}
	if err := s.knownType(sch, obj.Type); err != nil {
		return tuple.Object{}, err
	}
	return obj, nil
}

// knownType fails unless the schema defines typ.
func (s *Server) knownType(sch *schema.Schema, typ string) error {
	if _, ok := sch.Definition(typ); !ok {
		return toConnect(s.log, &schema.ValidationError{Kind: schema.UnknownDefinition, Definition: typ,
			Message: fmt.Sprintf("object definition `%s` not found", typ)})
	}
	return nil
}

func (a attributeService) WriteAttributes(ctx context.Context, req *connect.Request[gatehousev1.WriteAttributesRequest]) (*connect.Response[gatehousev1.WriteAttributesResponse], error) {
	s, m := a.s, req.Msg
	if n := len(m.GetUpdates()); n > MaxUpdatesPerWrite || n+len(m.GetRelationshipUpdates()) == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("a write needs 1 to %d updates, got %d", MaxUpdatesPerWrite, n))
	}
	if n := len(m.GetPreconditions()); n > MaxPreconditions {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("precondition count of %d is greater than maximum allowed of %d", n, MaxPreconditions))
	}
	sch, err := s.latestSchema(ctx)
	if err != nil {
		return nil, err
	}
	b := store.Batch{MaxAttributeBytes: s.cfg.MaxAttributeBytes}
	for i, u := range m.GetUpdates() {
		obj, err := s.attributeObject(sch, u.GetObject())
		if err != nil {
			return nil, err
		}
		au := store.AttributeUpdate{Object: obj, Values: u.GetValues().AsMap()}
		switch u.GetOperation() {
		case gatehousev1.AttributeUpdate_OPERATION_SET:
			au.Op = store.AttrSet
		case gatehousev1.AttributeUpdate_OPERATION_MERGE:
			au.Op = store.AttrMerge
		case gatehousev1.AttributeUpdate_OPERATION_DELETE:
			au.Op = store.AttrDelete
		default:
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("update %d: operation must be SET, MERGE or DELETE", i))
		}
		if au.Op != store.AttrDelete && u.GetValues() == nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("update %d: %v needs values", i, u.GetOperation()))
		}
		if au.Op == store.AttrDelete && len(u.GetValues().GetFields()) > 0 {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("update %d: DELETE takes no values", i))
		}
		b.Attributes = append(b.Attributes, au)
	}
	for i, p := range m.GetPreconditions() {
		obj, err := s.attributeObject(sch, p.GetObject())
		if err != nil {
			return nil, err
		}
		ap := store.AttributePrecondition{Object: obj, Match: p.GetMustMatch().AsMap()}
		switch p.GetCondition() {
		case gatehousev1.AttributePrecondition_CONDITION_MUST_EXIST:
			ap.Condition = store.AttrMustExist
		case gatehousev1.AttributePrecondition_CONDITION_MUST_NOT_EXIST:
			ap.Condition = store.AttrMustNotExist
		case gatehousev1.AttributePrecondition_CONDITION_MUST_MATCH:
			ap.Condition = store.AttrMustMatch
			if len(ap.Match) == 0 {
				return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("precondition %d: MUST_MATCH needs must_match values", i))
			}
		default:
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("precondition %d: condition must be MUST_EXIST, MUST_NOT_EXIST or MUST_MATCH", i))
		}
		b.AttributePreconditions = append(b.AttributePreconditions, ap)
	}
	if n := len(m.GetRelationshipUpdates()); n > MaxUpdatesPerWrite {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("relationship update count of %d is greater than maximum allowed of %d", n, MaxUpdatesPerWrite))
	}
	if len(m.GetRelationshipUpdates()) > 0 {
		rus := make([]*v1.RelationshipUpdate, len(m.GetRelationshipUpdates()))
		for i, u := range m.GetRelationshipUpdates() {
			rus[i] = relationshipUpdateV1(u)
			if err := validated(rus[i]); err != nil {
				return nil, err
			}
		}
		if b.Updates, err = s.storeUpdates(sch, rus); err != nil {
			return nil, err
		}
	}
	rev, err := s.st.WriteBatch(ctx, b)
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	if err := s.waitFor(ctx, graph.Revision(rev)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&gatehousev1.WriteAttributesResponse{WrittenAt: s.token(graph.Revision(rev)).GetToken()}), nil
}

func (a attributeService) ReadAttributes(ctx context.Context, req *connect.Request[gatehousev1.ReadAttributesRequest]) (*connect.Response[gatehousev1.ReadAttributesResponse], error) {
	s, m := a.s, req.Msg
	if (len(m.GetObjects()) == 0) == (m.GetFilter() == nil) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("give either objects or a filter"))
	}
	if len(m.GetObjects()) > MaxAttributeObjectsPerRead {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("at most %d objects per read, got %d", MaxAttributeObjectsPerRead, len(m.GetObjects())))
	}
	limit := int(m.GetLimit())
	if limit == 0 || limit > MaxAttributeObjectsPerRead {
		limit = MaxAttributeObjectsPerRead
	}
	var rev graph.Revision
	var after string
	if m.GetCursor() != "" {
		var err error
		if rev, after, err = s.parseAttributeCursor(m.GetCursor()); err != nil {
			return nil, err
		}
	} else {
		snap, err := s.snapshot(ctx, consistencyV1(m.GetConsistency()))
		if err != nil {
			return nil, toConnect(s.log, err)
		}
		rev = snap.Revision()
	}
	sch, err := s.schema()
	if err != nil {
		return nil, err
	}
	res := &gatehousev1.ReadAttributesResponse{ReadAt: s.token(rev).GetToken()}
	var found []store.ObjectAttributes
	if f := m.GetFilter(); f != nil {
		if err := s.knownType(sch, f.GetObjectType()); err != nil {
			return nil, err
		}
		found, err = s.st.ScanAttributes(ctx, store.Revision(rev), store.AttributeFilter{Type: f.GetObjectType(), IDPrefix: f.GetOptionalObjectIdPrefix()}, after, limit+1)
		if err != nil {
			return nil, toConnect(s.log, err)
		}
		if len(found) > limit {
			found = found[:limit]
			res.NextCursor = s.attributeCursor(rev, found[limit-1].Object.ID)
		}
	} else {
		objs := make([]tuple.Object, len(m.GetObjects()))
		for i, o := range m.GetObjects() {
			if objs[i], err = s.attributeObject(sch, o); err != nil {
				return nil, err
			}
		}
		got, err := s.st.ReadAttributes(ctx, store.Revision(rev), objs)
		if err != nil {
			return nil, toConnect(s.log, err)
		}
		for _, o := range objs {
			if v, ok := got[o]; ok {
				found = append(found, store.ObjectAttributes{Object: o, Values: v})
				delete(got, o) // an object named twice is returned once
			}
		}
	}
	for _, oa := range found {
		st, err := structpb.NewStruct(oa.Values)
		if err != nil {
			return nil, toConnect(s.log, fmt.Errorf("attributes of %s: %w", oa.Object, err))
		}
		res.Objects = append(res.Objects, &gatehousev1.ObjectAttributes{
			Object: &gatehousev1.ObjectRef{ObjectType: oa.Object.Type, ObjectId: oa.Object.ID}, Values: st})
	}
	return connect.NewResponse(res), nil
}

// consistencyV1 converts gatehouse.v1's consistency to SpiceDB's (nil: minimize latency).
func consistencyV1(c *gatehousev1.Consistency) *v1.Consistency {
	switch {
	case c.GetFullyConsistent():
		return &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	case c.GetAtLeastAsFresh() != "":
		return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: c.GetAtLeastAsFresh()}}}
	case c.GetAtExactSnapshot() != "":
		return &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: c.GetAtExactSnapshot()}}}
	}
	return &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
}

// attributeCursor continues a filtered ReadAttributes after an ID, at one revision.
func (s *Server) attributeCursor(rev graph.Revision, afterID string) string {
	return s.encodeRef("gha1", int64(rev), afterID)
}

func (s *Server) parseAttributeCursor(c string) (graph.Revision, string, error) {
	rev, after, err := s.decodeRef("gha1", c, true)
	switch {
	case errors.Is(err, errOtherStore):
		return 0, "", connect.NewError(connect.CodeInvalidArgument, errors.New("cursor is from another datastore"))
	case err != nil:
		return 0, "", connect.NewError(connect.CodeInvalidArgument, errors.New("invalid cursor"))
	}
	return graph.Revision(rev), after, nil
}

// relationshipUpdateV1 converts gatehouse.v1's relationship update to SpiceDB's.
func relationshipUpdateV1(u *gatehousev1.RelationshipUpdate) *v1.RelationshipUpdate {
	r := u.GetRelationship()
	out := &v1.RelationshipUpdate{
		Operation: v1.RelationshipUpdate_Operation(u.GetOperation()), // same numbering
		Relationship: &v1.Relationship{
			Resource: &v1.ObjectReference{ObjectType: r.GetResource().GetObjectType(), ObjectId: r.GetResource().GetObjectId()},
			Relation: r.GetRelation(),
			Subject: &v1.SubjectReference{
				Object:           &v1.ObjectReference{ObjectType: r.GetSubject().GetObject().GetObjectType(), ObjectId: r.GetSubject().GetObject().GetObjectId()},
				OptionalRelation: r.GetSubject().GetOptionalRelation(),
			},
			OptionalExpiresAt: r.GetOptionalExpiresAt(),
		},
	}
	if r.GetOptionalCaveatName() != "" {
		out.Relationship.OptionalCaveat = &v1.ContextualizedCaveat{CaveatName: r.GetOptionalCaveatName(), Context: r.GetOptionalCaveatContext()}
	}
	return out
}
