package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// SubjectTokenHeader carries the token of the end user or workload a calling
// service acts for. Its verified claims are bound to the reserved caveat
// parameter `caller`.
const SubjectTokenHeader = "Gatehouse-Subject-Token"

// TokenVerifier verifies subject tokens; *identity.Verifier is one.
type TokenVerifier interface {
	// Verify returns the token's verified identity. Errors: *identity.Error.
	Verify(ctx context.Context, token string) (*identity.Identity, error)
}

// caller verifies the subject token of a request, if it carries one: from the
// header, or from a message field (which must then agree with the header). It
// returns nil without a token. A token that does not verify is
// Unauthenticated: it never degrades to "no claims".
func (s *Server) caller(ctx context.Context, h http.Header, field string) (*identity.Identity, error) {
	token := strings.TrimSpace(h.Get(SubjectTokenHeader))
	if field != "" {
		if token != "" && token != field {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("subject_token and the "+SubjectTokenHeader+" header differ"))
		}
		token = field
	}
	if token == "" {
		return nil, nil
	}
	if s.cfg.Verifier == nil {
		return nil, tokenError(&identity.Error{Reason: identity.ReasonUnknownIssuer, Err: errors.New("this server trusts no token issuers (see --jwt-issuer)")})
	}
	id, err := s.cfg.Verifier.Verify(ctx, token)
	if err != nil {
		var ie *identity.Error
		if errors.As(err, &ie) {
			return nil, tokenError(ie)
		}
		return nil, toConnect(s.log, err)
	}
	return id, nil
}

// claims returns the claims of a request's subject token, nil without one.
// The token speaks for its own subject only: every subject the request asks
// about must be the token's (a check of someone else under the caller's
// claims would let one user's tenant or clearance unlock another's access).
func (s *Server) claims(ctx context.Context, h http.Header, subjects ...*v1.SubjectReference) (*identity.Identity, error) {
	id, err := s.caller(ctx, h, "")
	if err != nil || id == nil {
		return nil, err
	}
	for _, sub := range subjects {
		if err := matchTokenSubject(id, subject(sub)); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// callerContext is a check context with values and the claims of id (none
// when id is nil).
func callerContext(values map[string]any, id *identity.Identity) graph.Context {
	c := graph.Context{Values: values}
	if id != nil {
		c.Caller, c.CallerFields = id.Claims, id.ClaimsFields
	}
	return c
}

// matchTokenSubject refuses a subject that is not the verified token's.
func matchTokenSubject(id *identity.Identity, sub tuple.Subject) error {
	if sub.Relation == tuple.Ellipsis {
		sub.Relation = ""
	}
	if sub.Type == id.SubjectType && sub.ID == id.Subject && sub.Relation == "" {
		return nil
	}
	ce := connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("subject %s is not the subject token's %s:%s; a subject token speaks only for its own subject",
		sub.String(), id.SubjectType, id.Subject))
	if d, err := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: "SUBJECT_TOKEN_MISMATCH", Domain: "gatehouse.dev"}); err == nil {
		ce.AddDetail(d)
	}
	return ce
}

// tokenError is Unauthenticated with the refusal's reason as ErrorInfo
// (SUBJECT_TOKEN_EXPIRED, ...).
func tokenError(e *identity.Error) *connect.Error {
	if e.Reason == identity.ReasonKeysUnavailable {
		return connect.NewError(connect.CodeUnavailable, e) // retrying later may help
	}
	ce := connect.NewError(connect.CodeUnauthenticated, e)
	reason := "SUBJECT_TOKEN_" + strings.ToUpper(strings.ReplaceAll(e.Reason.String(), " ", "_"))
	if d, err := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: reason, Domain: "gatehouse.dev"}); err == nil {
		ce.AddDetail(d)
	}
	return ce
}
