package service

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/enforce"
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

// gatewayAllowed reports whether key is a preshared key with the check scope.
func (s *Server) gatewayAllowed(key string) bool {
	return s.authorize("/gatehouse.v1.AuthorizeService/Authorize", "Bearer "+key) == nil
}

// enforce answers whether the original request r may pass: the route map's
// question about it, asked for the end user whose token authorization
// ("Bearer ...") carries, through the one decision path. Every enforcement
// point (forward-auth, ext_authz) answers with it, so they cannot drift.
func (s *Server) enforce(ctx context.Context, r routes.Request, authorization string) enforce.Verdict {
	if s.cfg.Routes == nil {
		return enforce.Refused(http.StatusForbidden, enforce.ReasonNoRouteMap)
	}
	q, token, early, decide := enforce.Question(s.cfg.Routes.Map(), r, authorization)
	if !decide {
		return early
	}
	ask := question{resource: q.Resource, permission: q.Permission, subject: q.Subject, context: q.Context}
	if token != "" {
		var err error
		if ask.id, err = s.caller(ctx, nil, token); err != nil {
			return enforce.FromError(err)
		}
	}
	ans, err := s.decide(ctx, ask)
	if err != nil {
		return enforce.FromError(err)
	}
	v := enforce.Verdict{Revision: ans.revision}
	switch ans.result.Permissionship {
	case graph.HasPermission:
		v.Status, v.Subject = http.StatusOK, ans.subject.String()
	case graph.ConditionalPermission:
		v.Status, v.Reason, v.Missing = http.StatusForbidden, enforce.ReasonMissingContext, ans.result.Missing
	default:
		v.Status, v.Reason = http.StatusForbidden, enforce.ReasonDenied
	}
	return v
}

// forwardAuth answers a gateway's subrequest: 200 when the route map's
// question about the original request is allowed, 401 when the end user's
// token is missing or does not verify, 403 when denied (or no route matches
// and the map denies unmatched requests). Reasons are codes, never internals.
func (s *Server) forwardAuth(w http.ResponseWriter, r *http.Request) {
	v := s.forwardAuthVerdict(r)
	if v.Revision != "" {
		w.Header().Set(enforce.RevisionHeader, v.Revision)
	}
	if v.Reason != "" {
		w.Header().Set(enforce.ReasonHeader, v.Reason)
	}
	if len(v.Missing) > 0 {
		w.Header().Set(enforce.MissingContextHeader, strings.Join(v.Missing, ","))
	}
	if v.Allowed() {
		if v.Subject != "" {
			w.Header().Set(enforce.SubjectHeader, v.Subject)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Error(w, http.StatusText(v.Status)+": "+v.Reason, v.Status)
}

func (s *Server) forwardAuthVerdict(r *http.Request) enforce.Verdict {
	if !s.gatewayAllowed(r.Header.Get(GatewayKeyHeader)) {
		s.log.Warn("forward-auth: gateway key refused", "remote", r.RemoteAddr)
		return enforce.Refused(http.StatusForbidden, enforce.ReasonGatewayKey)
	}
	method, uri := originalRequest(r.Header)
	if method == "" || uri == "" {
		return enforce.Refused(http.StatusBadRequest, enforce.ReasonInvalidRequest)
	}
	req, err := routes.RequestOf(method, uri, r.Header)
	if err != nil {
		return enforce.Refused(http.StatusForbidden, enforce.ReasonInvalidRequest)
	}
	return s.enforce(r.Context(), req, r.Header.Get("Authorization"))
}
