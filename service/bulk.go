package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// MaxExportBatch is SpiceDB's default MaxBulkExportRelationshipsLimit: the
// largest (and default) number of relationships per ExportBulkRelationships message.
const MaxExportBatch = 10000

func (s *Server) registerBulk(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(permissionsService+"ImportBulkRelationships", connect.NewClientStreamHandler(permissionsService+"ImportBulkRelationships", s.importBulk, opts...))
	mux.Handle(permissionsService+"ExportBulkRelationships", connect.NewServerStreamHandler(permissionsService+"ExportBulkRelationships", s.exportBulk, opts...))
}

// importBulk creates every streamed relationship in one transaction, as
// SpiceDB does: one invalid or already existing relationship fails the whole call.
func (s *Server) importBulk(ctx context.Context, stream *connect.ClientStream[v1.ImportBulkRelationshipsRequest]) (*connect.Response[v1.ImportBulkRelationshipsResponse], error) {
	sch, err := s.latestSchema(ctx)
	if err != nil {
		return nil, err
	}
	var rels []tuple.Relationship
	seen := map[tuple.Key]bool{}
	for stream.Receive() {
		m := stream.Msg()
		if err := validated(m); err != nil {
			return nil, err
		}
		for _, vr := range m.GetRelationships() {
			if c := vr.GetOptionalCaveat().GetContext(); c != nil {
				if _, err := requestContext(c); err != nil {
					return nil, err
				}
			}
			r := RelationshipFromV1(vr)
			if err := sch.ValidateRelationship(r, false); err != nil {
				return nil, toConnect(s.log, err)
			}
			// A repeat within the import is a duplicate row to SpiceDB's bulk
			// loader, reported like any other existing relationship.
			if seen[r.Key()] {
				return nil, toConnect(s.log, &store.AlreadyExistsError{Relationship: r})
			}
			seen[r.Key()] = true
			rels = append(rels, r)
		}
	}
	if err := stream.Err(); err != nil {
		return nil, toConnect(s.log, err)
	}
	if len(rels) > 0 {
		rev, err := s.importRels(ctx, rels)
		if err != nil {
			return nil, toConnect(s.log, err)
		}
		if err := s.waitFor(ctx, graph.Revision(rev)); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&v1.ImportBulkRelationshipsResponse{NumLoaded: uint64(len(rels))}), nil
}

// exportBulk streams the matching relationships in batches, all read at one
// revision: the consistency's, or the one carried in the cursor.
// importRels creates rels in one transaction, through the store's bulk path
// when it has one.
func (s *Server) importRels(ctx context.Context, rels []tuple.Relationship) (store.Revision, error) {
	if im, ok := s.st.(store.Importer); ok {
		return im.Import(ctx, rels)
	}
	updates := make([]store.Update, len(rels))
	for i, r := range rels {
		updates[i] = store.Update{Op: store.OpCreate, Relationship: r}
	}
	return s.st.Write(ctx, nil, updates)
}

func (s *Server) exportBulk(ctx context.Context, req *connect.Request[v1.ExportBulkRelationshipsRequest], stream *connect.ServerStream[v1.ExportBulkRelationshipsResponse]) error {
	m := req.Msg
	if err := validated(m); err != nil {
		return err
	}
	if m.GetOptionalLimit() > MaxExportBatch {
		return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT,
			fmt.Errorf("provided limit %d is greater than maximum allowed of %d", m.GetOptionalLimit(), MaxExportBatch),
			map[string]string{"limit_provided": strconv.FormatUint(uint64(m.GetOptionalLimit()), 10), "maximum_limit_allowed": strconv.Itoa(MaxExportBatch)})
	}
	limit := MaxExportBatch
	if m.GetOptionalLimit() > 0 {
		limit = int(m.GetOptionalLimit())
	}
	var rev store.Revision
	var after *tuple.Key
	if c := m.GetOptionalCursor(); c != nil {
		r, k, err := s.parseExportCursor(c.GetToken())
		if err != nil {
			return err
		}
		rev, after = r, &k
	} else {
		snap, err := s.snapshot(ctx, m.GetConsistency())
		if err != nil {
			return toConnect(s.log, err)
		}
		rev = store.Revision(snap.Revision())
	}
	var f store.Filter
	if m.GetOptionalRelationshipFilter() != nil {
		f = relationshipFilter(m.GetOptionalRelationshipFilter())
	}
	now := time.Now()
	for {
		rels, err := s.st.Read(ctx, rev, f, store.Page{After: after, Limit: limit})
		if err != nil {
			return toConnect(s.log, err)
		}
		if len(rels) == 0 {
			return nil
		}
		last := rels[len(rels)-1].Key()
		after = &last
		out := &v1.ExportBulkRelationshipsResponse{AfterResultCursor: &v1.Cursor{Token: s.exportCursor(rev, last)}}
		for _, r := range rels {
			if r.Expired(now) {
				continue
			}
			vr, err := RelationshipToV1(r)
			if err != nil {
				return toConnect(s.log, err)
			}
			out.Relationships = append(out.Relationships, vr)
		}
		if len(out.Relationships) > 0 {
			if err := stream.Send(out); err != nil {
				return err
			}
		}
		if len(rels) < limit {
			return nil
		}
	}
}

// Export cursor encoding: "ghx1:<store id>:<revision>:<relationship key>", base64url.
func (s *Server) exportCursor(rev store.Revision, k tuple.Key) string {
	return s.encodeRef("ghx1", int64(rev), tuple.Relationship{Resource: k.Resource, Relation: k.Relation, Subject: k.Subject}.String())
}

func (s *Server) parseExportCursor(token string) (store.Revision, tuple.Key, error) {
	rev, last, err := s.decodeRef("ghx1", token, true)
	if errors.Is(err, errOtherStore) {
		return 0, tuple.Key{}, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_CURSOR, errors.New("cursor is for another datastore"), nil)
	}
	var r tuple.Relationship
	if err == nil {
		r, err = tuple.Parse(last)
	}
	if err != nil {
		return 0, tuple.Key{}, withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_CURSOR, errors.New("invalid cursor"), nil)
	}
	return store.Revision(rev), r.Key(), nil
}
