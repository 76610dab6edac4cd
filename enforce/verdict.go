package enforce

import (
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/gatehouse-dev/gatehouse/routes"
)

// The answer every enforcement point gives — the server's forward-auth and
// ext_authz, and this package's middleware and interceptor — in one
// vocabulary, so they cannot drift.

// Headers of an answer.
const (
	// ReasonHeader says why a request was refused (or let through unmatched).
	ReasonHeader = "Gatehouse-Reason"
	// RevisionHeader is the ZedToken of the snapshot a decision was made on.
	RevisionHeader = "Gatehouse-Revision"
	// SubjectHeader names the subject a request was allowed for (type:id).
	SubjectHeader = "Gatehouse-Subject"
	// MissingContextHeader lists the caveat parameters a conditional
	// decision lacked.
	MissingContextHeader = "Gatehouse-Missing-Context"
	// ConsistencyHeader, on a request, names a revision token (say, the one
	// a write returned) the decision must be at least as fresh as.
	ConsistencyHeader = "Gatehouse-Consistency"
)

// Reasons a refusal gives in ReasonHeader.
const (
	ReasonGatewayKey     = "GATEWAY_KEY_INVALID"
	ReasonNoRouteMap     = "NO_ROUTE_MAP"
	ReasonNoRoute        = "ROUTE_NOT_FOUND"
	ReasonUnmatchedAllow = "ROUTE_NOT_FOUND_ALLOWED"
	ReasonInvalidRequest = "INVALID_REQUEST"
	ReasonTokenMissing   = "SUBJECT_TOKEN_MISSING"
	ReasonTokenInvalid   = "SUBJECT_TOKEN_INVALID"
	ReasonDenied         = "PERMISSION_DENIED"
	ReasonMissingContext = "MISSING_CONTEXT"
	ReasonUnavailable    = "UNAVAILABLE"
	ReasonInternal       = "INTERNAL"
)

// Verdict is the answer about one request, as HTTP.
type Verdict struct {
	// Status is 200 when the request may pass, else 400, 401, 403, 500 or 503.
	Status   int
	Reason   string   // why; "" for a request a route allowed
	Subject  string   // type:id the request was allowed for
	Revision string   // ZedToken of the snapshot decided on
	Missing  []string // caveat parameters a conditional decision lacked
}

// Allowed reports whether the request may pass.
func (v Verdict) Allowed() bool { return v.Status == http.StatusOK }

// Refused is a refusal with status and reason.
func Refused(status int, reason string) Verdict { return Verdict{Status: status, Reason: reason} }

// Code is the gRPC/Connect code of a verdict's status.
func (v Verdict) Code() connect.Code {
	switch v.Status {
	case http.StatusOK:
		return 0
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable
	case http.StatusInternalServerError:
		return connect.CodeInternal
	}
	return connect.CodePermissionDenied
}

// Question frames the route map's question about r, asked for the end user
// whose token the authorization value ("Bearer ...") carries. With decide
// false the answer needs no decision and is early: no route matched, the
// route could not bind, or the token the route needs is missing.
func Question(m *routes.Map, r routes.Request, authorization string) (q routes.Question, token string, early Verdict, decide bool) {
	q, matched, err := m.Match(r)
	switch {
	case err != nil:
		return q, "", Refused(http.StatusForbidden, ReasonInvalidRequest), false
	case !matched && m.AllowUnmatched:
		return q, "", Verdict{Status: http.StatusOK, Reason: ReasonUnmatchedAllow}, false
	case !matched:
		return q, "", Refused(http.StatusForbidden, ReasonNoRoute), false
	}
	token, bearer := strings.CutPrefix(authorization, "Bearer ")
	if token = strings.TrimSpace(token); !bearer {
		token = ""
	}
	if token == "" && q.Subject == nil {
		return q, "", Refused(http.StatusUnauthorized, ReasonTokenMissing), false
	}
	return q, token, Verdict{}, true
}

// FromError is the verdict for a failed decision: 401 for a token that does
// not verify, 403 for a question gatehouse cannot answer as asked, 503 when
// it did not answer (in time), 500 otherwise (for an enforcer, a key without
// the check scope), with the error's reason where it carries one.
func FromError(err error) Verdict {
	reason := ""
	var ce *connect.Error
	if errors.As(err, &ce) {
		for _, d := range ce.Details() {
			if v, derr := d.Value(); derr == nil {
				if info, ok := v.(*errdetails.ErrorInfo); ok {
					reason = strings.TrimPrefix(info.GetReason(), "ERROR_REASON_")
				}
			}
		}
	}
	or := func(fallback string) string {
		if reason != "" {
			return reason
		}
		return fallback
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated:
		return Refused(http.StatusUnauthorized, or(ReasonTokenInvalid))
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeNotFound:
		return Refused(http.StatusForbidden, or(ReasonInvalidRequest))
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeCanceled:
		return Refused(http.StatusServiceUnavailable, ReasonUnavailable)
	}
	return Refused(http.StatusInternalServerError, ReasonInternal)
}
