package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records Prometheus metrics of the API: requests by procedure and
// code, latency by procedure, and CheckPermission results by permissionship.
// Install its Interceptor through Config.Interceptors.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	checks   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg, which should be
// the caller's own registry (prometheus.NewRegistry), never the global one.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatehouse",
			Name:      "requests_total",
			Help:      "API requests handled, by procedure and status code.",
		}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gatehouse",
			Name:      "request_duration_seconds",
			Help:      "Time to handle an API request (a whole stream for streaming procedures), by procedure.",
			Buckets:   prometheus.ExponentialBuckets(0.0005, 2, 15), // 0.5ms to ~8s
		}, []string{"procedure"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatehouse",
			Name:      "check_results_total",
			Help:      "CheckPermission answers, by permissionship (HAS_PERMISSION, NO_PERMISSION, CONDITIONAL_PERMISSION).",
		}, []string{"permissionship"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.checks} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// Interceptor returns the connect interceptor that records m.
func (m *Metrics) Interceptor() connect.Interceptor { return metricsInterceptor{m} }

type metricsInterceptor struct{ m *Metrics }

var _ connect.Interceptor = metricsInterceptor{}

func (i metricsInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		resp, err := next(ctx, req)
		i.m.observe(req.Spec().Procedure, start, err)
		if err == nil && resp != nil {
			if cr, ok := resp.Any().(*v1.CheckPermissionResponse); ok {
				i.m.checks.WithLabelValues(permissionship(cr.GetPermissionship())).Inc()
			}
		}
		return resp, err
	}
}

func (i metricsInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i metricsInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		i.m.observe(conn.Spec().Procedure, start, err)
		return err
	}
}

func (m *Metrics) observe(procedure string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
		switch {
		case errors.Is(err, context.Canceled):
			code = connect.CodeCanceled.String()
		case errors.Is(err, context.DeadlineExceeded):
			code = connect.CodeDeadlineExceeded.String()
		}
	}
	m.requests.WithLabelValues(procedure, code).Inc()
	m.latency.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
}

// permissionship is the label of p: its enum name without the PERMISSIONSHIP_ prefix.
func permissionship(p v1.CheckPermissionResponse_Permissionship) string {
	return strings.TrimPrefix(p.String(), "PERMISSIONSHIP_")
}
