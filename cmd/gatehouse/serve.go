package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/routes"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/wire"
	"github.com/gatehouse-dev/gatehouse/store"
)

type keyList []string

func (k *keyList) String() string     { return fmt.Sprintf("%d keys", len(*k)) }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

// serveConfig is what `gatehouse serve` is configured with.
type serveConfig struct {
	addr        string
	store       datastoreFlags
	gcWindow    time.Duration
	consistency time.Duration
	keys        keyList
	issuers     keyList
	maxAttrs    int
	tlsCert     string
	tlsKey      string
	metricsAddr string
	routes      string
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:50051", "address to listen on (gRPC, gRPC-Web and Connect on one port)")
	cfg.store.register(fs, true)
	fs.DurationVar(&cfg.gcWindow, "gc-window", 24*time.Hour, "history kept for at_exact_snapshot reads, Watch resumption and export cursors")
	fs.DurationVar(&cfg.consistency, "consistency-timeout", 2*time.Second, "how long fully_consistent and at_least_as_fresh requests wait for this replica to catch up before failing with Unavailable")
	fs.Var(&cfg.issuers, "jwt-issuer", "trusted issuer of subject tokens: NAME=ISSUER_URL,jwks=FILE_OR_URL,audience=AUD[,subject-type=TYPE] (repeatable)")
	fs.IntVar(&cfg.maxAttrs, "max-attribute-bytes", store.DefaultMaxAttributeBytes, "largest attributes of one object, as compact JSON")
	fs.Var(&cfg.keys, "preshared-key", "preshared key, KEY or KEY:check,write,admin (repeatable; env GATEHOUSE_PRESHARED_KEY, keys separated by commas)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate file: serve TLS (HTTP/2 via ALPN) instead of plaintext h2c; needs --tls-key")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "address to serve Prometheus metrics on at /metrics (default off)")
	fs.StringVar(&cfg.routes, "routes", "", "route map (YAML) for the enforcement endpoints: forward-auth at "+service.ForwardAuthPath+" and Envoy ext_authz on this port; reloaded on SIGHUP")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	tlsConfig, err := serverTLS(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return err
	}
	if env := getenv("GATEHOUSE_PRESHARED_KEY"); env != "" && len(cfg.keys) == 0 {
		cfg.keys = splitKeys(env)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	var keys []service.Key
	for _, k := range cfg.keys {
		key, err := service.ParseKey(k)
		if err != nil {
			return fmt.Errorf("--preshared-key: %w", err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		host, _, err := net.SplitHostPort(cfg.addr)
		if err != nil {
			return fmt.Errorf("--addr: %w", err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("no preshared key configured: refusing to listen on %s; set --preshared-key or listen on loopback", cfg.addr)
		}
		keys = []service.Key{{Secret: DevKey, Scopes: service.ScopeAll}}
		logger.Warn("no preshared key configured: accepting the development key on loopback only", "dev_key", DevKey)
	}
	if cfg.gcWindow <= 0 || cfg.consistency <= 0 {
		return errors.New("--gc-window and --consistency-timeout must be positive")
	}
	if cfg.maxAttrs <= 0 {
		return errors.New("--max-attribute-bytes must be positive")
	}
	var verifier *identity.Verifier
	if len(cfg.issuers) > 0 {
		var issuers []identity.Issuer
		for _, spec := range cfg.issuers {
			is, err := identity.ParseIssuer(spec)
			if err != nil {
				return fmt.Errorf("--jwt-issuer: %w", err)
			}
			issuers = append(issuers, is)
		}
		if verifier, err = identity.NewVerifier(ctx, issuers, identity.WithLogger(logger)); err != nil {
			return fmt.Errorf("--jwt-issuer: %w", err)
		}
		defer verifier.Close()
	}
	cfg.store.complete(getenv)
	st, err := cfg.store.open(ctx, logger)
	if err != nil {
		return err
	}
	defer st.Close()

	svcCfg := service.Config{Store: st, StoreID: st.id, Keys: keys, Logger: logger, GCWindow: cfg.gcWindow, ConsistencyTimeout: cfg.consistency,
		MaxAttributeBytes: cfg.maxAttrs}
	if verifier != nil {
		svcCfg.Verifier = verifier
	}
	if cfg.routes != "" {
		h, err := routes.Open(cfg.routes)
		if err != nil {
			return fmt.Errorf("--routes: %w", err)
		}
		svcCfg.Routes = h
		go reloadRoutesOnHUP(ctx, h, logger)
	}
	var metrics *http.Server
	var metricsLn net.Listener
	if cfg.metricsAddr != "" {
		reg, interceptor, err := newMetrics()
		if err != nil {
			return err
		}
		svcCfg.Interceptors = append(svcCfg.Interceptors, interceptor)
		if metricsLn, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer metricsLn.Close()
		metrics = metricsServer(reg)
	}
	srv, err := service.New(ctx, svcCfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	ws := wire.New(&http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20})

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 2)
	if metrics != nil {
		go func() {
			if err := metrics.Serve(metricsLn); err != http.ErrServerClosed {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
		logger.Info("serving metrics", "addr", metricsLn.Addr().String(), "path", "/metrics")
	}
	go func() {
		if tlsConfig != nil {
			errc <- ws.ServeTLS(ln, tlsConfig)
			return
		}
		errc <- ws.Serve(ln)
	}()
	logger.Info("gatehouse serving", "addr", ln.Addr().String(), "datastore", cfg.store.describe(), "tls", tlsConfig != nil)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if metrics != nil {
		metrics.Shutdown(shutdown)
	}
	return ws.Shutdown(shutdown)
}

// reloadRoutesOnHUP reloads the route map on every SIGHUP until ctx ends; a
// map that does not load is logged and the one in use stays.
func reloadRoutesOnHUP(ctx context.Context, h *routes.Holder, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := h.Reload(); err != nil {
				logger.Error("route map not reloaded; the previous one stays in use", "file", h.Path(), "error", err.Error())
				continue
			}
			logger.Info("route map reloaded", "file", h.Path(), "routes", len(h.Map().Routes()))
		}
	}
}

// splitKeys splits GATEHOUSE_PRESHARED_KEY's comma-separated keys. A key's
// scopes are comma-separated too, so a bare scope name after a scoped key
// ("ops:check,write,reader") belongs to that key.
func splitKeys(env string) []string {
	var out []string
	for _, part := range strings.Split(env, ",") {
		part = strings.TrimSpace(part)
		if n := len(out); n > 0 && strings.Contains(out[n-1], ":") {
			switch part {
			case "check", "write", "admin":
				out[n-1] += "," + part
				continue
			}
		}
		out = append(out, part)
	}
	return out
}
