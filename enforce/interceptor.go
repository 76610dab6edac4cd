package enforce

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/gatehouse-dev/gatehouse/routes"
)

// Interceptor enforces on a connect-go service's handlers: each call is the
// request POST /package.Service/Method to the route map, with the call's
// headers (the end user's token in Authorization). A refused call fails
// with the code for the verdict's status (Unauthenticated, PermissionDenied,
// Unavailable, ...) and the reason as ErrorInfo; an allowed one reaches the
// handler with Gatehouse-Subject and Gatehouse-Revision in its headers.
func (e *Enforcer) Interceptor() connect.Interceptor { return interceptor{e} }

type interceptor struct{ e *Enforcer }

func (i interceptor) decide(ctx context.Context, procedure string, h http.Header) error {
	v := i.e.Decide(ctx, routes.Request{Method: http.MethodPost, Path: procedure, Header: h}, h.Get("Authorization"))
	if !v.Allowed() {
		return verdictError(v)
	}
	h.Del(SubjectHeader)
	if v.Subject != "" {
		h.Set(SubjectHeader, v.Subject)
	}
	if v.Revision != "" {
		h.Set(RevisionHeader, v.Revision)
	}
	return nil
}

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		if err := i.decide(ctx, req.Spec().Procedure, req.Header()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := i.decide(ctx, conn.Spec().Procedure, conn.RequestHeader()); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// verdictError is a refusal as a connect error with the reason as ErrorInfo.
func verdictError(v Verdict) error {
	ce := connect.NewError(v.Code(), errors.New("gatehouse: "+v.Reason))
	if d, err := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: v.Reason, Domain: "gatehouse.dev"}); err == nil {
		ce.AddDetail(d)
	}
	return ce
}

// VerdictOf reads the verdict back from an error Interceptor returned (for
// tests and logging); ok is false for any other error.
func VerdictOf(err error) (v Verdict, ok bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return Verdict{}, false
	}
	for _, d := range ce.Details() {
		if m, derr := d.Value(); derr == nil {
			if info, isInfo := m.(*errdetails.ErrorInfo); isInfo && info.GetDomain() == "gatehouse.dev" {
				v.Reason = info.GetReason()
			}
		}
	}
	if v.Reason == "" {
		return Verdict{}, false
	}
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		v.Status = http.StatusUnauthorized
	case connect.CodeInvalidArgument:
		v.Status = http.StatusBadRequest
	case connect.CodeUnavailable:
		v.Status = http.StatusServiceUnavailable
	case connect.CodeInternal:
		v.Status = http.StatusInternalServerError
	default:
		v.Status = http.StatusForbidden
	}
	return v, true
}
