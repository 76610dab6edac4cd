package service

import (
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

// forwardAuth answers a gateway's subrequest: 200 when the route map's
// question about the original request is allowed, 401 when the end user's
// token is missing or does not verify, 403 when denied (or no route matches
// and the map denies unmatched requests). Reasons are codes, never internals.
func (s *Server) forwardAuth(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, reason string) {
		w.Header().Set(ReasonHeader, reason)
		http.Error(w, http.StatusText(status)+": "+reason, status)
	}
	if err := s.authorize("/gatehouse.v1.AuthorizeService/Authorize", "Bearer "+r.Header.Get(GatewayKeyHeader)); err != nil {
		s.log.Warn("forward-auth: gateway key refused", "remote", r.RemoteAddr)
		refuse(http.StatusForbidden, reasonGatewayKey)
		return
	}
	if s.cfg.Routes == nil {
		refuse(http.StatusForbidden, reasonNoRouteMap)
		return
	}
	m := s.cfg.Routes.Map()
	method, uri := originalRequest(r.Header)
	if method == "" || uri == "" {
		refuse(http.StatusBadRequest, reasonBadRequest)
		return
	}
	req, err := routes.RequestOf(method, uri, r.Header)
	if err != nil {
		refuse(http.StatusForbidden, reasonBadRequest)
		return
	}
	q, matched, err := m.Match(req)
	switch {
	case err != nil:
		refuse(http.StatusForbidden, reasonBadRequest)
		return
	case !matched && m.AllowUnmatched:
		w.Header().Set(ReasonHeader, reasonUnmatchedAllow)
		w.WriteHeader(http.StatusOK)
		return
	case !matched:
		refuse(http.StatusForbidden, reasonNoRoute)
		return
	}

	// The end user's token: required unless the route names the subject.
	token, hasToken := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !hasToken || token == "" {
		if q.Subject == nil {
			refuse(http.StatusUnauthorized, reasonTokenMissing)
			return
		}
		token = ""
	}
	ask := question{resource: q.Resource, permission: q.Permission, subject: q.Subject, context: q.Context}
	if token != "" {
		h := http.Header{}
		h.Set(SubjectTokenHeader, token)
		if ask.id, err = s.caller(r.Context(), h, ""); err != nil {
			s.refuseWith(w, err, refuse)
			return
		}
	}
	ans, err := s.decide(r.Context(), ask)
	if err != nil {
		s.refuseWith(w, err, refuse)
		return
	}
	w.Header().Set(RevisionHeader, ans.revision)
	switch ans.result.Permissionship {
	case graph.HasPermission:
		w.Header().Set(SubjectHeader, ans.subject.String())
		w.WriteHeader(http.StatusOK)
	case graph.ConditionalPermission:
		w.Header().Set(MissingContextHeader, strings.Join(ans.result.Missing, ","))
		refuse(http.StatusForbidden, reasonConditional)
	default:
		refuse(http.StatusForbidden, reasonDenied)
	}
}

// refuseWith answers a failed decision: 401 for a token that does not
// verify, 403 for a question gatehouse cannot answer as asked, 503 when it
// cannot answer now, with the error's reason where it has one.
func (s *Server) refuseWith(w http.ResponseWriter, err error, refuse func(int, string)) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		refuse(http.StatusInternalServerError, reasonInternal)
		return
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
		refuse(http.StatusUnauthorized, orReason(reason, "SUBJECT_TOKEN_INVALID"))
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeNotFound, connect.CodePermissionDenied:
		refuse(http.StatusForbidden, orReason(reason, reasonBadRequest))
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		refuse(http.StatusServiceUnavailable, reasonUnavailable)
	default:
		refuse(http.StatusInternalServerError, reasonInternal)
	}
}

func orReason(reason, fallback string) string {
	if reason != "" {
		return strings.TrimPrefix(reason, "ERROR_REASON_")
	}
	return fallback
}
