package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/store"
)

const watchService = "/authzed.api.v1.WatchService/"

func (s *Server) registerWatch(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(watchService+"Watch", connect.NewServerStreamHandler(watchService+"Watch", s.watch, opts...))
}

// watch follows the store's change stream from the start cursor (or the head)
// and sends each revision's matching relationship updates, as SpiceDB does:
// revisions with nothing matching send nothing unless schema updates or
// checkpoints were asked for.
func (s *Server) watch(ctx context.Context, req *connect.Request[v1.WatchRequest], stream *connect.ServerStream[v1.WatchResponse]) error {
	m := req.Msg
	if err := validated(m); err != nil {
		return err
	}
	kinds := m.GetOptionalUpdateKinds()
	wantRels := len(kinds) == 0 || slices.Contains(kinds, v1.WatchKind_WATCH_KIND_UNSPECIFIED) || slices.Contains(kinds, v1.WatchKind_WATCH_KIND_INCLUDE_RELATIONSHIP_UPDATES)
	wantSchema := slices.Contains(kinds, v1.WatchKind_WATCH_KIND_INCLUDE_SCHEMA_UPDATES)
	wantCheckpoints := slices.Contains(kinds, v1.WatchKind_WATCH_KIND_INCLUDE_CHECKPOINTS)
	if wantRels && len(m.GetOptionalObjectTypes()) > 0 && len(m.GetOptionalRelationshipFilters()) > 0 {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("cannot specify both object types and relationship filters"))
	}
	filters := make([]store.Filter, len(m.GetOptionalRelationshipFilters()))
	for i, f := range m.GetOptionalRelationshipFilters() {
		if err := s.validateFilter(f); err != nil {
			return err
		}
		filters[i] = relationshipFilter(f)
	}

	head, err := s.st.HeadRevision(ctx)
	if err != nil {
		return toConnect(s.log, err)
	}
	after := head
	if c := m.GetOptionalStartCursor(); c.GetToken() != "" {
		rev, err := s.parseToken(c)
		if err != nil {
			return err
		}
		if store.Revision(rev) > head {
			return connect.NewError(connect.CodeOutOfRange, errors.New("invalid zedtoken: revision was invalid"))
		}
		after = store.Revision(rev)
	}

	started := false
	err = s.st.Changes(ctx, after, func(c store.Change) error {
		started = true
		token := s.token(graph.Revision(c.Revision))
		if wantRels {
			var updates []*v1.RelationshipUpdate
			for _, u := range c.Updates {
				if !watchMatches(m.GetOptionalObjectTypes(), filters, u) {
					continue
				}
				vr, err := RelationshipToV1(u.Relationship)
				if err != nil {
					return err
				}
				op := v1.RelationshipUpdate_OPERATION_TOUCH
				if u.Op == store.OpDelete {
					op = v1.RelationshipUpdate_OPERATION_DELETE
				}
				updates = append(updates, &v1.RelationshipUpdate{Operation: op, Relationship: vr})
			}
			if len(updates) > 0 {
				if err := stream.Send(&v1.WatchResponse{Updates: updates, ChangesThrough: token}); err != nil {
					return err
				}
			}
		}
		if wantSchema && c.Schema != nil {
			if err := stream.Send(&v1.WatchResponse{SchemaUpdated: true, ChangesThrough: token}); err != nil {
				return err
			}
		}
		if wantCheckpoints {
			if err := stream.Send(&v1.WatchResponse{IsCheckpoint: true, ChangesThrough: token}); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrRevisionUnavailable) && !started:
		// SpiceDB's datastores report a start revision older than the retained
		// history as an InvalidRevisionError, rewritten to OutOfRange.
		return connect.NewError(connect.CodeOutOfRange, errors.New("invalid zedtoken: revision has expired"))
	case errors.Is(err, store.ErrRevisionUnavailable):
		// The watcher fell behind garbage collection: SpiceDB's WatchDisconnectedError.
		return connect.NewError(connect.CodeResourceExhausted, errors.New("watch disconnected: watch fell too far behind and was disconnected; consider increasing watch buffer size"))
	}
	return toConnect(s.log, err)
}

func watchMatches(types []string, filters []store.Filter, u store.Update) bool {
	if len(types) > 0 && !slices.Contains(types, u.Relationship.Resource.Type) {
		return false
	}
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if f.Matches(u.Relationship) {
			return true
		}
	}
	return false
}

// validateFilter applies SpiceDB's checks of a relationship filter against the
// current schema: named types and relations must exist, resource ID and prefix
// exclude each other, and the filter must not be empty.
func (s *Server) validateFilter(f *v1.RelationshipFilter) error {
	sch := s.sch.Load()
	check := func(typ, rel string) error {
		if sch == nil {
			return toConnect(s.log, &schema.ValidationError{Kind: schema.UnknownDefinition, Definition: typ, Message: fmt.Sprintf("object definition `%s` not found", typ)})
		}
		d, ok := sch.Definition(typ)
		if !ok {
			return toConnect(s.log, &schema.ValidationError{Kind: schema.UnknownDefinition, Definition: typ, Message: fmt.Sprintf("object definition `%s` not found", typ)})
		}
		if rel != "" && rel != "..." {
			if _, ok := d.Relations[rel]; !ok {
				return toConnect(s.log, &schema.ValidationError{Kind: schema.UnknownRelation, Definition: typ, Relation: rel,
					Message: fmt.Sprintf("relation/permission `%s` not found under definition `%s`", rel, typ)})
			}
		}
		return nil
	}
	if f.GetResourceType() != "" {
		if err := check(f.GetResourceType(), f.GetOptionalRelation()); err != nil {
			return err
		}
	}
	if sf := f.GetOptionalSubjectFilter(); sf != nil {
		if err := check(sf.GetSubjectType(), sf.GetOptionalRelation().GetRelation()); err != nil {
			return err
		}
	}
	invalid := func(reason string) error {
		return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_FILTER,
			fmt.Errorf("the relationship filter provided is not valid: %s", reason), map[string]string{"filter": f.String()})
	}
	if f.GetOptionalResourceId() != "" && f.GetOptionalResourceIdPrefix() != "" {
		return invalid("resource_id and resource_id_prefix cannot be set at the same time")
	}
	if f.GetResourceType() == "" && f.GetOptionalResourceId() == "" && f.GetOptionalResourceIdPrefix() == "" &&
		f.GetOptionalRelation() == "" && f.GetOptionalSubjectFilter() == nil {
		return invalid("at least one field must be set")
	}
	return nil
}
