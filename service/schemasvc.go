package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const schemaService = "/authzed.api.v1.SchemaService/"

func (s *Server) registerSchema(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(schemaService+"ReadSchema", connect.NewUnaryHandler(schemaService+"ReadSchema", s.readSchema, opts...))
	mux.Handle(schemaService+"WriteSchema", connect.NewUnaryHandler(schemaService+"WriteSchema", s.writeSchema, opts...))
}

func (s *Server) readSchema(ctx context.Context, req *connect.Request[v1.ReadSchemaRequest]) (*connect.Response[v1.ReadSchemaResponse], error) {
	sv, err := s.st.ReadSchema(ctx)
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	if sv.Text == "" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no schema has been defined; please call WriteSchema to start"))
	}
	return connect.NewResponse(&v1.ReadSchemaResponse{SchemaText: sv.Text, ReadAt: s.token(graph.Revision(sv.Revision))}), nil
}

func (s *Server) writeSchema(ctx context.Context, req *connect.Request[v1.WriteSchemaRequest]) (*connect.Response[v1.WriteSchemaResponse], error) {
	if err := validated(req.Msg); err != nil {
		return nil, err
	}
	sch, err := schema.Compile(req.Msg.GetSchema())
	if err != nil {
		var se *schema.Error
		if errors.As(err, &se) {
			reason := v1.ErrorReason_ERROR_REASON_SCHEMA_PARSE_ERROR
			return nil, withReason(connect.CodeInvalidArgument, reason, err, map[string]string{
				"start_line_number": fmt.Sprint(se.Line), "start_column_position": fmt.Sprint(se.Column),
			})
		}
		return nil, toConnect(s.log, err)
	}
	// Refuse a schema under which stored relationships would no longer be valid.
	snap, err := s.ix.Snapshot(0)
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	var orphan error
	snap.Relationships(time.Now(), func(r tuple.Relationship) bool {
		if verr := sch.ValidateRelationship(r, false); verr != nil {
			orphan = fmt.Errorf("cannot apply the schema: relationship %s would no longer be valid: %v", r, verr)
			return false
		}
		return true
	})
	if orphan != nil {
		return nil, withReason(connect.CodeFailedPrecondition, v1.ErrorReason_ERROR_REASON_SCHEMA_TYPE_ERROR, orphan, nil)
	}
	rev, err := s.st.WriteSchema(ctx, req.Msg.GetSchema())
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	if err := s.waitFor(ctx, graph.Revision(rev)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.WriteSchemaResponse{WrittenAt: s.token(graph.Revision(rev))}), nil
}
