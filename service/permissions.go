package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const permissionsService = "/authzed.api.v1.PermissionsService/"

func (s *Server) registerPermissions(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(permissionsService+"CheckPermission", connect.NewUnaryHandler(permissionsService+"CheckPermission", s.checkPermission, opts...))
	mux.Handle(permissionsService+"CheckBulkPermissions", connect.NewUnaryHandler(permissionsService+"CheckBulkPermissions", s.checkBulk, opts...))
	mux.Handle(permissionsService+"ExpandPermissionTree", connect.NewUnaryHandler(permissionsService+"ExpandPermissionTree", s.expand, opts...))
	mux.Handle(permissionsService+"LookupResources", connect.NewServerStreamHandler(permissionsService+"LookupResources", s.lookupResources, opts...))
	mux.Handle(permissionsService+"LookupSubjects", connect.NewServerStreamHandler(permissionsService+"LookupSubjects", s.lookupSubjects, opts...))
	mux.Handle(permissionsService+"ReadRelationships", connect.NewServerStreamHandler(permissionsService+"ReadRelationships", s.readRelationships, opts...))
	mux.Handle(permissionsService+"WriteRelationships", connect.NewUnaryHandler(permissionsService+"WriteRelationships", s.writeRelationships, opts...))
	mux.Handle(permissionsService+"DeleteRelationships", connect.NewUnaryHandler(permissionsService+"DeleteRelationships", s.deleteRelationships, opts...))
}

func (s *Server) checkPermission(ctx context.Context, req *connect.Request[v1.CheckPermissionRequest]) (*connect.Response[v1.CheckPermissionResponse], error) {
	m := req.Msg
	sch, gctx, snap, err := s.prepareRead(ctx, req.Header(), m, m.GetSubject(), m.GetContext(), m.GetConsistency())
	if err != nil {
		return nil, err
	}
	res, err := snap.Check(ctx, sch, graph.CheckRequest{Resource: object(m.GetResource()), Permission: m.GetPermission(), Subject: subject(m.GetSubject()), Context: gctx})
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	return connect.NewResponse(&v1.CheckPermissionResponse{
		CheckedAt:         s.token(snap.Revision()),
		Permissionship:    checkPermissionship(res.Permissionship),
		PartialCaveatInfo: partial(res),
	}), nil
}

func (s *Server) checkBulk(ctx context.Context, req *connect.Request[v1.CheckBulkPermissionsRequest]) (*connect.Response[v1.CheckBulkPermissionsResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	if len(m.GetItems()) > MaxChecksPerBulk {
		return nil, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST,
			fmt.Errorf("check request count of %d is greater than the maximum allowed of %d", len(m.GetItems()), MaxChecksPerBulk), nil)
	}
	subjects := make([]*v1.SubjectReference, len(m.GetItems()))
	for i, it := range m.GetItems() {
		subjects[i] = it.GetSubject()
	}
	id, err := s.claims(ctx, req.Header(), subjects...)
	if err != nil {
		return nil, err
	}
	// The snapshot first: waiting for it also brings the schema up to date.
	snap, err := s.snapshot(ctx, m.GetConsistency())
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	sch, err := s.schema()
	if err != nil {
		return nil, err
	}
	reqs := make([]graph.CheckRequest, len(m.GetItems()))
	ctxErrs := make([]error, len(reqs))
	for i, it := range m.GetItems() {
		values, err := requestContext(it.GetContext())
		ctxErrs[i] = err
		reqs[i] = graph.CheckRequest{Resource: object(it.GetResource()), Permission: it.GetPermission(), Subject: subject(it.GetSubject()), Context: callerContext(values, id)}
	}
	results, errs := snap.CheckBulk(ctx, sch, reqs)
	out := &v1.CheckBulkPermissionsResponse{CheckedAt: s.token(snap.Revision()), Pairs: make([]*v1.CheckBulkPermissionsPair, len(reqs))}
	for i, it := range m.GetItems() {
		pair := &v1.CheckBulkPermissionsPair{Request: it}
		err := ctxErrs[i]
		if err == nil {
			err = errs[i]
		}
		if err != nil {
			pair.Response = &v1.CheckBulkPermissionsPair_Error{Error: statusOf(toConnect(s.log, err))}
		} else {
			pair.Response = &v1.CheckBulkPermissionsPair_Item{Item: &v1.CheckBulkPermissionsResponseItem{
				Permissionship: checkPermissionship(results[i].Permissionship), PartialCaveatInfo: partial(results[i]),
			}}
		}
		out.Pairs[i] = pair
	}
	return connect.NewResponse(out), nil
}

func (s *Server) lookupResources(ctx context.Context, req *connect.Request[v1.LookupResourcesRequest], stream *connect.ServerStream[v1.LookupResourcesResponse]) error {
	m := req.Msg
	sch, gctx, snap, err := s.prepareRead(ctx, req.Header(), m, m.GetSubject(), m.GetContext(), m.GetConsistency())
	if err != nil {
		return err
	}
	// Results are sorted by ID, so the cursor is the last ID sent.
	results, err := snap.LookupResources(ctx, sch, graph.LookupResourcesRequest{
		ResourceType: m.GetResourceObjectType(), Permission: m.GetPermission(), Subject: subject(m.GetSubject()), Context: gctx,
		After: m.GetOptionalCursor().GetToken(), Limit: int(m.GetOptionalLimit()),
	})
	if err != nil {
		return toConnect(s.log, err)
	}
	token := s.token(snap.Revision())
	for _, r := range results {
		if err := stream.Send(&v1.LookupResourcesResponse{
			LookedUpAt: token, ResourceObjectId: r.ID, Permissionship: lookupPermissionship(r.Permissionship),
			PartialCaveatInfo: partial(r.Result), AfterResultCursor: &v1.Cursor{Token: r.ID},
		}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) lookupSubjects(ctx context.Context, req *connect.Request[v1.LookupSubjectsRequest], stream *connect.ServerStream[v1.LookupSubjectsResponse]) error {
	m := req.Msg
	sch, gctx, snap, err := s.prepareRead(ctx, req.Header(), m, nil, m.GetContext(), m.GetConsistency())
	if err != nil {
		return err
	}
	results, err := snap.LookupSubjects(ctx, sch, graph.LookupSubjectsRequest{
		Resource: object(m.GetResource()), Permission: m.GetPermission(), SubjectType: m.GetSubjectObjectType(),
		SubjectRelation: m.GetOptionalSubjectRelation(), Context: gctx,
	})
	if err != nil {
		return toConnect(s.log, err)
	}
	token := s.token(snap.Revision())
	for _, r := range results {
		resp := &v1.LookupSubjectsResponse{
			LookedUpAt: token,
			Subject:    &v1.ResolvedSubject{SubjectObjectId: r.ID, Permissionship: lookupPermissionship(r.Permissionship), PartialCaveatInfo: partial(r.Result)},
			// Deprecated fields SpiceDB still fills.
			SubjectObjectId: r.ID, Permissionship: lookupPermissionship(r.Permissionship), PartialCaveatInfo: partial(r.Result),
		}
		for _, ex := range r.Excluded {
			resp.ExcludedSubjects = append(resp.ExcludedSubjects, &v1.ResolvedSubject{SubjectObjectId: ex.ID, Permissionship: lookupPermissionship(ex.Permissionship), PartialCaveatInfo: partial(ex.Result)})
			resp.ExcludedSubjectIds = append(resp.ExcludedSubjectIds, ex.ID)
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) expand(ctx context.Context, req *connect.Request[v1.ExpandPermissionTreeRequest]) (*connect.Response[v1.ExpandPermissionTreeResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	// The snapshot first: waiting for it also brings the schema up to date.
	snap, err := s.snapshot(ctx, m.GetConsistency())
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	sch, err := s.schema()
	if err != nil {
		return nil, err
	}
	tree, err := snap.Expand(ctx, sch, object(m.GetResource()), m.GetPermission(), graph.Context{})
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	return connect.NewResponse(&v1.ExpandPermissionTreeResponse{ExpandedAt: s.token(snap.Revision()), TreeRoot: expandTree(tree)}), nil
}

func expandTree(n *graph.ExpandNode) *v1.PermissionRelationshipTree {
	out := &v1.PermissionRelationshipTree{ExpandedObject: &v1.ObjectReference{ObjectType: n.Object.Type, ObjectId: n.Object.ID}, ExpandedRelation: n.Relation}
	if n.Kind == graph.ExpandLeaf {
		leaf := &v1.DirectSubjectSet{}
		for _, sub := range n.Subjects {
			leaf.Subjects = append(leaf.Subjects, &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: sub.Subject.Type, ObjectId: sub.Subject.ID}, OptionalRelation: sub.Subject.Relation})
		}
		out.TreeType = &v1.PermissionRelationshipTree_Leaf{Leaf: leaf}
		return out
	}
	op := v1.AlgebraicSubjectSet_OPERATION_UNION
	switch n.Kind {
	case graph.ExpandIntersection:
		op = v1.AlgebraicSubjectSet_OPERATION_INTERSECTION
	case graph.ExpandExclusion:
		op = v1.AlgebraicSubjectSet_OPERATION_EXCLUSION
	}
	inter := &v1.AlgebraicSubjectSet{Operation: op}
	for _, c := range n.Children {
		inter.Children = append(inter.Children, expandTree(c))
	}
	out.TreeType = &v1.PermissionRelationshipTree_Intermediate{Intermediate: inter}
	return out
}

func (s *Server) readRelationships(ctx context.Context, req *connect.Request[v1.ReadRelationshipsRequest], stream *connect.ServerStream[v1.ReadRelationshipsResponse]) error {
	m := req.Msg
	if err := validated(m); err != nil {
		return err
	}
	snap, err := s.snapshot(ctx, m.GetConsistency())
	if err != nil {
		return toConnect(s.log, err)
	}
	page := store.Page{Limit: int(m.GetOptionalLimit())}
	if c := m.GetOptionalCursor().GetToken(); c != "" {
		r, err := tuple.Parse(c)
		if err != nil {
			return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_CURSOR, errors.New("invalid cursor"), nil)
		}
		k := r.Key()
		page.After = &k
	}
	rels, err := s.st.Read(ctx, store.Revision(snap.Revision()), relationshipFilter(m.GetRelationshipFilter()), page)
	if err != nil {
		return toConnect(s.log, err)
	}
	token := s.token(snap.Revision())
	now := time.Now()
	for _, r := range rels {
		if r.Expired(now) {
			continue
		}
		vr, err := RelationshipToV1(r)
		if err != nil {
			return toConnect(s.log, err)
		}
		cursor := tuple.Relationship{Resource: r.Resource, Relation: r.Relation, Subject: r.Subject}.String()
		if err := stream.Send(&v1.ReadRelationshipsResponse{ReadAt: token, Relationship: vr, AfterResultCursor: &v1.Cursor{Token: cursor}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) writeRelationships(ctx context.Context, req *connect.Request[v1.WriteRelationshipsRequest]) (*connect.Response[v1.WriteRelationshipsResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	if n := len(m.GetUpdates()); n > MaxUpdatesPerWrite {
		return nil, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST,
			fmt.Errorf("update count of %d is greater than maximum allowed of %d", n, MaxUpdatesPerWrite), nil)
	}
	if n := len(m.GetOptionalPreconditions()); n > MaxPreconditions {
		return nil, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST,
			fmt.Errorf("precondition count of %d is greater than maximum allowed of %d", n, MaxPreconditions), nil)
	}
	sch, err := s.latestSchema(ctx)
	if err != nil {
		return nil, err
	}
	updates, err := s.storeUpdates(sch, m.GetUpdates())
	if err != nil {
		return nil, err
	}
	pre, err := s.preconditions(m.GetOptionalPreconditions())
	if err != nil {
		return nil, err
	}
	rev, err := s.st.Write(ctx, pre, updates)
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	if err := s.waitFor(ctx, graph.Revision(rev)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.WriteRelationshipsResponse{WrittenAt: s.token(graph.Revision(rev))}), nil
}

// storeUpdates converts relationship updates, checking each against the schema.
func (s *Server) storeUpdates(sch *schema.Schema, in []*v1.RelationshipUpdate) ([]store.Update, error) {
	updates := make([]store.Update, len(in))
	for i, u := range in {
		r := RelationshipFromV1(u.GetRelationship())
		if c := u.GetRelationship().GetOptionalCaveat().GetContext(); c != nil {
			if _, err := requestContext(c); err != nil {
				return nil, err
			}
		}
		var op store.Op
		switch u.GetOperation() {
		case v1.RelationshipUpdate_OPERATION_CREATE:
			op = store.OpCreate
		case v1.RelationshipUpdate_OPERATION_TOUCH:
			op = store.OpTouch
		case v1.RelationshipUpdate_OPERATION_DELETE:
			op = store.OpDelete
		default:
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("unknown relationship update operation"))
		}
		if err := sch.ValidateRelationship(r, op == store.OpDelete); err != nil {
			return nil, toConnect(s.log, err)
		}
		updates[i] = store.Update{Op: op, Relationship: r}
	}
	return updates, nil
}

func (s *Server) preconditions(in []*v1.Precondition) ([]store.Precondition, error) {
	out := make([]store.Precondition, len(in))
	for i, p := range in {
		switch p.GetOperation() {
		case v1.Precondition_OPERATION_MUST_MATCH:
			out[i].MustExist = true
		case v1.Precondition_OPERATION_MUST_NOT_MATCH:
		default:
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("unknown precondition operation"))
		}
		out[i].Filter = relationshipFilter(p.GetFilter())
	}
	return out, nil
}

func (s *Server) deleteRelationships(ctx context.Context, req *connect.Request[v1.DeleteRelationshipsRequest]) (*connect.Response[v1.DeleteRelationshipsResponse], error) {
	m := req.Msg
	if err := validated(m); err != nil {
		return nil, err
	}
	if n := len(m.GetOptionalPreconditions()); n > MaxPreconditions {
		return nil, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST,
			fmt.Errorf("precondition count of %d is greater than maximum allowed of %d", n, MaxPreconditions), nil)
	}
	sch, err := s.latestSchema(ctx)
	if err != nil {
		return nil, err
	}
	f := m.GetRelationshipFilter()
	if f.GetResourceType() != "" {
		if _, ok := sch.Definition(f.GetResourceType()); !ok {
			return nil, toConnect(s.log, &schema.ValidationError{Kind: schema.UnknownDefinition, Definition: f.GetResourceType(),
				Message: fmt.Sprintf("object definition `%s` not found", f.GetResourceType())})
		}
	}
	pre, err := s.preconditions(m.GetOptionalPreconditions())
	if err != nil {
		return nil, err
	}
	limit := int(m.GetOptionalLimit())
	if limit > 0 && !m.GetOptionalAllowPartialDeletions() {
		// Refuse before deleting anything: a transactional delete is all or nothing.
		head, err := s.st.HeadRevision(ctx)
		if err != nil {
			return nil, toConnect(s.log, err)
		}
		found, err := s.st.Read(ctx, head, relationshipFilter(f), store.Page{Limit: limit + 1})
		if err != nil {
			return nil, toConnect(s.log, err)
		}
		if len(found) > limit {
			return nil, withReason(connect.CodeFailedPrecondition, v1.ErrorReason_ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE,
				fmt.Errorf("found more than %d relationships to be deleted and partial deletion was not requested", limit), nil)
		}
		limit = 0
	}
	rev, deleted, more, err := s.st.DeleteMatching(ctx, pre, relationshipFilter(f), limit)
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	if err := s.waitFor(ctx, graph.Revision(rev)); err != nil {
		return nil, err
	}
	progress := v1.DeleteRelationshipsResponse_DELETION_PROGRESS_COMPLETE
	if more {
		progress = v1.DeleteRelationshipsResponse_DELETION_PROGRESS_PARTIAL
	}
	return connect.NewResponse(&v1.DeleteRelationshipsResponse{DeletedAt: s.token(graph.Revision(rev)), DeletionProgress: progress, RelationshipsDeletedCount: uint64(deleted)}), nil
}

func statusOf(err error) *status.Status {
	return &status.Status{Code: int32(connect.CodeOf(err)), Message: err.Error()}
}

// prepareRead does what every read starts with: validate the message, take
// the schema, convert the caveat context and pick the snapshot.
func (s *Server) prepareRead(ctx context.Context, h http.Header, m interface{ Validate() error }, subj *v1.SubjectReference, reqCtx *structpb.Struct, c *v1.Consistency) (*schema.Schema, graph.Context, *graph.Snapshot, error) {
	if err := validated(m); err != nil {
		return nil, graph.Context{}, nil, err
	}
	values, err := requestContext(reqCtx)
	if err != nil {
		return nil, graph.Context{}, nil, err
	}
	var subjects []*v1.SubjectReference
	if subj != nil {
		subjects = append(subjects, subj)
	}
	id, err := s.claims(ctx, h, subjects...)
	if err != nil {
		return nil, graph.Context{}, nil, err
	}
	// The snapshot first: waiting for it also brings the schema up to date.
	snap, err := s.snapshot(ctx, c)
	if err != nil {
		return nil, graph.Context{}, nil, toConnect(s.log, err)
	}
	sch, err := s.schema()
	if err != nil {
		return nil, graph.Context{}, nil, err
	}
	return sch, callerContext(values, id), snap, nil
}
