package service

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/gatehouse-dev/gatehouse/enforce"
	"github.com/gatehouse-dev/gatehouse/routes"
)

// ExtAuthzProcedure is Envoy's external authorization check, served on the
// API port.
const ExtAuthzProcedure = "/envoy.service.auth.v3.Authorization/Check"

// registerExtAuthz serves Envoy's ext_authz. Envoy authenticates with the
// Gatehouse-Key header (its initial_metadata), not Authorization, which is
// the end user's; so the handler checks the key itself and runs without the
// API's key interceptor.
func (s *Server) registerExtAuthz(mux *http.ServeMux, opts []connect.HandlerOption) {
	mux.Handle(ExtAuthzProcedure, connect.NewUnaryHandler(ExtAuthzProcedure, s.extAuthz, opts...))
}

// extAuthz answers Envoy about the request in the CheckRequest's attributes
// with the same verdict forward-auth gives: OK lets it through (with the
// subject and revision headers), anything else is denied with the HTTP
// status, the reason header and the reason as body.
func (s *Server) extAuthz(ctx context.Context, req *connect.Request[authv3.CheckRequest]) (*connect.Response[authv3.CheckResponse], error) {
	v := s.extAuthzVerdict(ctx, req)
	var headers []*corev3.HeaderValueOption
	add := func(name, value string) {
		if value != "" {
			headers = append(headers, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: name, Value: value}})
		}
	}
	add(enforce.RevisionHeader, v.Revision)
	add(enforce.ReasonHeader, v.Reason)
	add(enforce.MissingContextHeader, strings.Join(v.Missing, ","))
	if v.Allowed() {
		add(enforce.SubjectHeader, v.Subject)
		return connect.NewResponse(&authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: headers}},
		}), nil
	}
	return connect.NewResponse(&authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(v.Code()), Message: v.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(v.Status)},
			Headers: headers,
			Body:    http.StatusText(v.Status) + ": " + v.Reason + "\n",
		}},
	}), nil
}

func (s *Server) extAuthzVerdict(ctx context.Context, req *connect.Request[authv3.CheckRequest]) enforce.Verdict {
	if !s.gatewayAllowed(req.Header().Get(GatewayKeyHeader)) {
		s.log.Warn("ext_authz: gateway key refused", "remote", req.Peer().Addr)
		return enforce.Refused(http.StatusForbidden, enforce.ReasonGatewayKey)
	}
	hr := req.Msg.GetAttributes().GetRequest().GetHttp()
	if hr.GetMethod() == "" || hr.GetPath() == "" {
		return enforce.Refused(http.StatusBadRequest, enforce.ReasonInvalidRequest)
	}
	header := http.Header{}
	for k, v := range hr.GetHeaders() {
		header.Add(k, v)
	}
	for _, hv := range hr.GetHeaderMap().GetHeaders() {
		value := hv.GetValue()
		if value == "" {
			value = string(hv.GetRawValue())
		}
		header.Add(hv.GetKey(), value)
	}
	r, err := routes.RequestOf(hr.GetMethod(), hr.GetPath(), header)
	if err != nil {
		return enforce.Refused(http.StatusForbidden, enforce.ReasonInvalidRequest)
	}
	return s.enforce(ctx, r, header.Get("Authorization"))
}
