package service

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/routes"
)

// Forward-auth: the endpoint a gateway (nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth) asks before it lets a request through.
const (
	// ForwardAuthPath is the endpoint's path on the API port.
	ForwardAuthPath = "/ext/forward-auth"
	// GatewayKeyHeader carries the gateway's preshared key (check scope): the
	// Authorization header is the end user's.
	GatewayKeyHeader = "Gatehouse-Key"
	// ReasonHeader says why a request was refused (or let through unmatched).
	ReasonHeader = "Gatehouse-Reason"
	// RevisionHeader is the ZedToken of the snapshot a decision was made on.
	RevisionHeader = "Gatehouse-Revision"
	// SubjectHeader names the subject a request was allowed for (type:id).
	SubjectHeader = "Gatehouse-Subject"
	// MissingContextHeader lists the caveat parameters a conditional decision
	// lacked.
	MissingContextHeader = "Gatehouse-Missing-Context"
)

// Reasons a forward-auth answer gives in ReasonHeader.
const (
	reasonGatewayKey     = "GATEWAY_KEY_INVALID"
	reasonNoRouteMap     = "NO_ROUTE_MAP"
	reasonNoRoute        = "ROUTE_NOT_FOUND"
	reasonUnmatchedAllow = "ROUTE_NOT_FOUND_ALLOWED"
	reasonBadRequest     = "INVALID_REQUEST"
	reasonTokenMissing   = "SUBJECT_TOKEN_MISSING"
	reasonDenied         = "PERMISSION_DENIED"
	reasonConditional    = "MISSING_CONTEXT"
	reasonUnavailable    = "UNAVAILABLE"
	reasonInternal       = "INTERNAL"
)

// originalRequest reads the method and URI of the request the gateway asks
// about: nginx's X-Original-Method and X-Original-URI, or the X-Forwarded-
// Method and X-Forwarded-Uri of Traefik and Caddy.
func originalRequest(h http.Header) (method, uri string) {
	method, uri = h.Get("X-Original-Method"), h.Get("X-Original-URI")
	if method == "" {
		method = h.Get("X-Forwarded-Method")
	}
	if uri == "" {
		uri = h.Get("X-Forwarded-Uri")
	}
	return method, uri
}

// verdict is an enforcement point's answer about one HTTP request.
type verdict struct {
	status   int    // as HTTP: 200 pass, 400, 401, 403, 500 or 503
	reason   string // why; "" for a request a route allowed
	subject  string // type:id the request was allowed for
	revision string // ZedToken of the snapshot decided on
	missing  []string
}

func refused(status int, reason string) verdict { return verdict{status: status, reason: reason} }

// gatewayAllowed reports whether key is a preshared key with the check scope.
func (s *Server) gatewayAllowed(key string) bool {
	return s.authorize("/gatehouse.v1.AuthorizeService/Authorize", "Bearer "+key) == nil
}

// enforce answers whether the original request r may pass: the route map's
// question about it, asked for the end user whose token authorization
// ("Bearer ...") carries, through the one decision path. Every enforcement
// point (forward-auth, ext_authz) answers with it, so they cannot drift.
func (s *Server) enforce(ctx context.Context, r routes.Request, authorization string) verdict {
	if s.cfg.Routes == nil {
		return refused(http.StatusForbidden, reasonNoRouteMap)
	}
	m := s.cfg.Routes.Map()
	q, matched, err := m.Match(r)
	switch {
	case err != nil:
		return refused(http.StatusForbidden, reasonBadRequest)
	case !matched && m.AllowUnmatched:
		return verdict{status: http.StatusOK, reason: reasonUnmatchedAllow}
	case !matched:
		return refused(http.StatusForbidden, reasonNoRoute)
	}
	// The end user's token: required unless the route names the subject.
	token, hasToken := strings.CutPrefix(authorization, "Bearer ")
	token = strings.TrimSpace(token)
	if (!hasToken || token == "") && q.Subject == nil {
		return refused(http.StatusUnauthorized, reasonTokenMissing)
	}
	ask := question{resource: q.Resource, permission: q.Permission, subject: q.Subject, context: q.Context}
	if hasToken && token != "" {
		h := http.Header{}
		h.Set(SubjectTokenHeader, token)
		if ask.id, err = s.caller(ctx, h, ""); err != nil {
			return refusedFor(err)
		}
	}
	ans, err := s.decide(ctx, ask)
	if err != nil {
		return refusedFor(err)
	}
	v := verdict{revision: ans.revision}
	switch ans.result.Permissionship {
	case graph.HasPermission:
		v.status, v.subject = http.StatusOK, ans.subject.String()
	case graph.ConditionalPermission:
		v.status, v.reason, v.missing = http.StatusForbidden, reasonConditional, ans.result.Missing
	default:
		v.status, v.reason = http.StatusForbidden, reasonDenied
	}
	return v
}

// forwardAuth answers a gateway's subrequest: 200 when the route map's
// question about the original request is allowed, 401 when the end user's
// token is missing or does not verify, 403 when denied (or no route matches
// and the map denies unmatched requests). Reasons are codes, never internals.
func (s *Server) forwardAuth(w http.ResponseWriter, r *http.Request) {
	v := s.forwardAuthVerdict(r)
	if v.revision != "" {
		w.Header().Set(RevisionHeader, v.revision)
	}
	if v.reason != "" {
		w.Header().Set(ReasonHeader, v.reason)
	}
	if len(v.missing) > 0 {
		w.Header().Set(MissingContextHeader, strings.Join(v.missing, ","))
	}
	if v.status == http.StatusOK {
		if v.subject != "" {
			w.Header().Set(SubjectHeader, v.subject)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Error(w, http.StatusText(v.status)+": "+v.reason, v.status)
}

func (s *Server) forwardAuthVerdict(r *http.Request) verdict {
	if !s.gatewayAllowed(r.Header.Get(GatewayKeyHeader)) {
		s.log.Warn("forward-auth: gateway key refused", "remote", r.RemoteAddr)
		return refused(http.StatusForbidden, reasonGatewayKey)
	}
	method, uri := originalRequest(r.Header)
	if method == "" || uri == "" {
		return refused(http.StatusBadRequest, reasonBadRequest)
	}
	req, err := routes.RequestOf(method, uri, r.Header)
	if err != nil {
		return refused(http.StatusForbidden, reasonBadRequest)
	}
	return s.enforce(r.Context(), req, r.Header.Get("Authorization"))
}

// refusedFor answers a failed decision: 401 for a token that does not
// verify, 403 for a question gatehouse cannot answer as asked, 503 when it
// cannot answer now, with the error's reason where it has one.
func refusedFor(err error) verdict {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return refused(http.StatusInternalServerError, reasonInternal)
	}
	reason := ""
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
	}
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		return refused(http.StatusUnauthorized, orReason(reason, "SUBJECT_TOKEN_INVALID"))
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeNotFound, connect.CodePermissionDenied:
		return refused(http.StatusForbidden, orReason(reason, reasonBadRequest))
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		return refused(http.StatusServiceUnavailable, reasonUnavailable)
	}
	return refused(http.StatusInternalServerError, reasonInternal)
}

func orReason(reason, fallback string) string {
	if reason != "" {
		return strings.TrimPrefix(reason, "ERROR_REASON_")
	}
	return fallback
}
