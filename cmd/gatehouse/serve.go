package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/store/memory"
)

type keyList []string

func (k *keyList) String() string     { return fmt.Sprintf("%d keys", len(*k)) }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

// serveConfig is what `gatehouse serve` is configured with.
type serveConfig struct {
	addr      string
	datastore string
	keys      keyList
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:50051", "address to listen on (gRPC, gRPC-Web and Connect on one port)")
	fs.StringVar(&cfg.datastore, "datastore", "memory", "datastore: memory (persistent stores land later)")
	fs.Var(&cfg.keys, "preshared-key", "preshared key, KEY or KEY:check,write,admin (repeatable; env GATEHOUSE_PRESHARED_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if env := getenv("GATEHOUSE_PRESHARED_KEY"); env != "" && len(cfg.keys) == 0 {
		cfg.keys = strings.Split(env, ",")
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
	if cfg.datastore != "memory" {
		return fmt.Errorf("--datastore %q: only \"memory\" is available in this build", cfg.datastore)
	}
	st := memory.New()
	defer st.Close()

	srv, err := service.New(ctx, service.Config{Store: st, Keys: keys, Logger: logger})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: srv.Handler(), Protocols: protocols, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("gatehouse serving", "addr", ln.Addr().String(), "datastore", cfg.datastore)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(shutdown)
}
