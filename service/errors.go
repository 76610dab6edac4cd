package service

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/gatehouse-dev/gatehouse/caveats"
	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// withReason builds a connect error carrying SpiceDB's ErrorReason detail.
func withReason(code connect.Code, reason v1.ErrorReason, err error, meta map[string]string) *connect.Error {
	ce := connect.NewError(code, err)
	if d, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: reason.String(), Domain: "authzed.com", Metadata: meta}); derr == nil {
		ce.AddDetail(d)
	}
	return ce
}

// toConnect is the one place where domain errors become API errors. Unknown
// errors are logged and reported as Internal without detail.
func toConnect(log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	if errors.Is(err, context.Canceled) {
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	}
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		switch ve.Kind {
		case schema.UnknownDefinition:
			return withReason(connect.CodeFailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION, errors.New(ve.Message), map[string]string{"definition_name": ve.Definition})
		case schema.UnknownRelation:
			return withReason(connect.CodeFailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION, errors.New(ve.Message), map[string]string{"definition_name": ve.Definition, "relation_or_permission_name": ve.Relation})
		case schema.WriteToPermission:
			return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_CANNOT_UPDATE_PERMISSION, errors.New(ve.Message), map[string]string{"definition_name": ve.Definition, "permission_name": ve.Relation})
		case schema.InvalidSubjectType:
			return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_SUBJECT_TYPE, errors.New(ve.Message), map[string]string{"definition_name": ve.Definition, "relation_name": ve.Relation, "subject_type": ve.SubjectType})
		case schema.UnknownCaveat:
			return withReason(connect.CodeFailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_CAVEAT, errors.New(ve.Message), map[string]string{"caveat_name": ve.Caveat})
		case schema.InvalidCaveatContext:
			return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR, errors.New(ve.Message), map[string]string{"caveat_name": ve.Caveat})
		}
	}
	var se *schema.Error
	if errors.As(err, &se) {
		return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_SCHEMA_PARSE_ERROR, errors.New(se.Error()), nil)
	}
	if errors.Is(err, graph.ErrMaxDepth) {
		return withReason(connect.CodeResourceExhausted, v1.ErrorReason_ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED, err, nil)
	}
	if errors.Is(err, graph.ErrWildcardSubject) {
		return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_WILDCARD_NOT_ALLOWED, err, nil)
	}
	var cav *graph.CaveatError
	if errors.As(err, &cav) {
		var ee *caveats.EvalError
		if errors.As(err, &ee) && ee.Param != "" {
			return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR, err, map[string]string{"caveat_name": cav.Caveat})
		}
		return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_CAVEAT_EVALUATION_ERROR, err, map[string]string{"caveat_name": cav.Caveat})
	}
	if errors.Is(err, caveats.ErrReservedParameter) {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	var ae *store.AlreadyExistsError
	if errors.As(err, &ae) {
		return withReason(connect.CodeAlreadyExists, v1.ErrorReason_ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP, err, map[string]string{"relationship": ae.Relationship.String()})
	}
	if errors.Is(err, store.ErrAttributesTooLarge) {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	if errors.Is(err, store.ErrPreconditionFailed) {
		return withReason(connect.CodeFailedPrecondition, v1.ErrorReason_ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE, err, nil)
	}
	if errors.Is(err, store.ErrInvalidUpdate) {
		return withReason(connect.CodeInvalidArgument, v1.ErrorReason_ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP, err, nil)
	}
	if errors.Is(err, store.ErrRevisionUnavailable) || errors.Is(err, graph.ErrRevisionUnavailable) {
		return connect.NewError(connect.CodeFailedPrecondition, errors.New("specified revision is no longer available"))
	}
	if errors.Is(err, store.ErrClosed) {
		return connect.NewError(connect.CodeUnavailable, errors.New("datastore unavailable"))
	}
	if errors.Is(err, store.ErrUnavailable) {
		// The driver's detail stays in the log.
		log.Warn("datastore unavailable", "err", err)
		return connect.NewError(connect.CodeUnavailable, errors.New("datastore unavailable; retry later"))
	}
	var pe *tuple.ParseError
	if errors.As(err, &pe) {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	log.Error("internal error", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
