package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"github.com/authzed/spicedb/pkg/cmd/server"
	"github.com/authzed/spicedb/pkg/cmd/util"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/store/memory"
)

// System is one running server under test and the clients that drive it.
type System struct {
	// Name labels the configuration in results ("gatehouse-memory", "spicedb-memory").
	Name string
	// Kind is "gatehouse" or "spicedb"; ratios compare the two kinds.
	Kind    string
	Addr    string
	clients []*authzed.Client
	stop    func()
}

// Client returns the client caller i uses; callers share connections round-robin.
func (s *System) Client(i int) *authzed.Client { return s.clients[i%len(s.clients)] }

// Close closes the clients and stops the server.
func (s *System) Close() {
	for _, c := range s.clients {
		c.Close()
	}
	if s.stop != nil {
		s.stop()
	}
}

// dial opens conns authzed-go clients to addr, plaintext gRPC with the key.
func (s *System) dial(key string, conns int) error {
	for range conns {
		c, err := authzed.NewClient(s.Addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpcutil.WithInsecureBearerToken(key))
		if err != nil {
			return fmt.Errorf("%s: dial %s: %w", s.Name, s.Addr, err)
		}
		s.clients = append(s.clients, c)
	}
	return nil
}

// waitReady polls until the server answers an RPC (any answer but
// Unavailable), or fails with one line after timeout.
func (s *System) waitReady(ctx context.Context, timeout time.Duration, died <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := s.clients[0].ReadSchema(rctx, &v1.ReadSchemaRequest{})
		cancel()
		if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
			return nil
		}
		select {
		case err := <-died:
			return fmt.Errorf("%s exited while starting: %w", s.Name, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s unreachable at %s after %v: %w", s.Name, s.Addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startGatehouse serves gatehouse's real server (package service, memory
// store) with net/http on 127.0.0.1:0, HTTP/2 cleartext, as `gatehouse serve` does.
func startGatehouse(ctx context.Context, key string, conns int) (*System, error) {
	st := memory.New()
	srv, err := service.New(ctx, service.Config{Store: st, Keys: []service.Key{{Secret: key, Scopes: service.ScopeAll}}})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("gatehouse: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		st.Close()
		return nil, fmt.Errorf("gatehouse: %w", err)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: srv.Handler(), Protocols: protocols, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20}
	died := make(chan error, 1)
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			died <- err
		}
	}()
	s := &System{Name: "gatehouse-memory", Kind: "gatehouse", Addr: ln.Addr().String()}
	s.stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		srv.Close()
		st.Close()
	}
	if err := s.dial(key, conns); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.waitReady(ctx, 10*time.Second, died); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// startSpiceDB runs SpiceDB's real gRPC server (pkg/cmd/server) in-process with
// the library defaults, which match `spicedb serve`'s flag defaults: memory
// datastore, 5s revision quantization, namespace, dispatch and schema caches
// on. Only what a loopback benchmark must change is changed: a preshared key,
// the gRPC listener on loopback, no HTTP gateway, metrics endpoint or
// telemetry reporting.
func startSpiceDB(ctx context.Context, key string, conns int) (*System, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("spicedb: %w", err)
	}
	cfg := server.NewConfigWithOptionsAndDefaults(
		server.WithPresharedSecureKey(key),
		server.WithGRPCServer(util.GRPCServerConfig{
			Address:    addr,
			Network:    "tcp",
			Enabled:    true,
			MaxConnAge: 30 * time.Second, // the --grpc-max-conn-age default
		}),
		server.WithHTTPGateway(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithMetricsAPI(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithDispatchServer(util.GRPCServerConfig{Enabled: false}),
		server.WithTelemetryEndpoint(""),
		server.WithSilentlyDisableTelemetry(true),
	)
	rs, err := cfg.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("spicedb: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	died := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rs.Run(runCtx); err != nil {
			died <- err
		}
	}()
	s := &System{Name: "spicedb-memory", Kind: "spicedb", Addr: addr}
	s.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	if err := s.dial(key, conns); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.waitReady(ctx, 30*time.Second, died); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// freeLoopbackAddr reserves a port on 127.0.0.1 and releases it for a server
// that can only be given an address, not a listener.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
