package main

import (
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/service"
)

// metricsServer serves reg at /metrics on its own listener, apart from the API
// so that scrapes need no preshared key.
func metricsServer(reg *prometheus.Registry) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20}
}

// newMetrics returns a registry with the API's, Go runtime's and process's
// metrics, and the interceptor that records the API's.
func newMetrics() (*prometheus.Registry, connect.Interceptor, error) {
	reg := prometheus.NewRegistry()
	m, err := service.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, m.Interceptor(), nil
}
