package service

import (
	"fmt"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// validated runs the protoc-gen-validate rules of an authzed message.
func validated(m interface{ Validate() error }) error {
	if err := m.Validate(); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return nil
}

func object(o *v1.ObjectReference) tuple.Object {
	return tuple.Object{Type: o.GetObjectType(), ID: o.GetObjectId()}
}

func subject(s *v1.SubjectReference) tuple.Subject {
	rel := s.GetOptionalRelation()
	if rel == tuple.Ellipsis {
		rel = ""
	}
	return tuple.Subject{Type: s.GetObject().GetObjectType(), ID: s.GetObject().GetObjectId(), Relation: rel}
}

// RelationshipFromV1 converts an API relationship to gatehouse's.
func RelationshipFromV1(r *v1.Relationship) tuple.Relationship {
	out := tuple.Relationship{Resource: object(r.GetResource()), Relation: r.GetRelation(), Subject: subject(r.GetSubject())}
	if c := r.GetOptionalCaveat(); c != nil && c.GetCaveatName() != "" {
		out.Caveat = &tuple.Caveat{Name: c.GetCaveatName()}
		if c.GetContext() != nil {
			out.Caveat.Context = c.GetContext().AsMap()
		}
	}
	if e := r.GetOptionalExpiresAt(); e != nil {
		t := e.AsTime()
		out.Expiration = &t
	}
	return out
}

// RelationshipToV1 converts a relationship to its API form.
func RelationshipToV1(r tuple.Relationship) (*v1.Relationship, error) {
	out := &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: r.Resource.Type, ObjectId: r.Resource.ID},
		Relation: r.Relation,
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: r.Subject.Type, ObjectId: r.Subject.ID},
			OptionalRelation: r.Subject.Relation,
		},
	}
	if r.Caveat != nil {
		c := &v1.ContextualizedCaveat{CaveatName: r.Caveat.Name}
		if len(r.Caveat.Context) > 0 {
			st, err := structpb.NewStruct(r.Caveat.Context)
			if err != nil {
				return nil, fmt.Errorf("caveat context of %s: %w", r, err)
			}
			c.Context = st
		}
		out.OptionalCaveat = c
	}
	if r.Expiration != nil {
		out.OptionalExpiresAt = timestamppb.New(*r.Expiration)
	}
	return out, nil
}

// requestContext converts a request's caveat context, enforcing the size limit
// and refusing the reserved parameters.
func requestContext(st *structpb.Struct) (map[string]any, error) {
	if st == nil {
		return nil, nil
	}
	if size := proto.Size(st); size > MaxCaveatContextSize {
		return nil, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_MAX_RELATIONSHIP_CONTEXT_SIZE,
			fmt.Errorf("context for the request is too large: %d bytes, the limit is %d", size, MaxCaveatContextSize), nil)
	}
	m := st.AsMap()
	if err := caveats.ValidateRequestContext(m); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	return m, nil
}

func relationshipFilter(f *v1.RelationshipFilter) store.Filter {
	out := store.Filter{ResourceType: f.GetResourceType(), Relation: f.GetOptionalRelation(), ResourceIDPrefix: f.GetOptionalResourceIdPrefix()}
	if id := f.GetOptionalResourceId(); id != "" {
		out.ResourceIDs = []string{id}
	}
	if sf := f.GetOptionalSubjectFilter(); sf != nil {
		out.Subject = &store.SubjectFilter{Type: sf.GetSubjectType(), ID: sf.GetOptionalSubjectId()}
		if rf := sf.GetOptionalRelation(); rf != nil {
			rel := rf.GetRelation()
			if rel == tuple.Ellipsis {
				rel = ""
			}
			out.Subject.Relation = &rel
		}
	}
	return out
}

func checkPermissionship(p graph.Permissionship) v1.CheckPermissionResponse_Permissionship {
	switch p {
	case graph.HasPermission:
		return v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
	case graph.ConditionalPermission:
		return v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION
	}
	return v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION
}

func lookupPermissionship(p graph.Permissionship) v1.LookupPermissionship {
	if p == graph.ConditionalPermission {
		return v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION
	}
	return v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION
}

func partial(r graph.Result) *v1.PartialCaveatInfo {
	if r.Permissionship != graph.ConditionalPermission {
		return nil
	}
	return &v1.PartialCaveatInfo{MissingRequiredContext: r.Missing}
}
