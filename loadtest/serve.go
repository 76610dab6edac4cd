package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"github.com/authzed/spicedb/pkg/cmd/server"
	"github.com/authzed/spicedb/pkg/cmd/util"
	"github.com/authzed/spicedb/pkg/datastore/migration"
	"github.com/authzed/spicedb/pkg/migrate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/wire"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/bolt"
	"github.com/gatehouse-dev/gatehouse/store/memory"
)

// serveCommand is the hidden subcommand the loadtest process re-executes
// itself with to run one system in a child process.
const serveCommand = "serve-system"

// Environment of a serve-system child: secrets stay off its command line.
const (
	envServeKey          = "LOADTEST_SERVE_KEY"
	envServeDatastoreURL = "LOADTEST_SERVE_DATASTORE_URL"
	// envCPUProfileDir, when set (by the user, for the whole run), makes
	// every child write a CPU profile of its whole life to
	// DIR/SYSTEM.cpu.pprof, for `go tool pprof`.
	envCPUProfileDir = "LOADTEST_CPUPROFILE_DIR"
)

// serveReadyTimeout bounds how long a child waits for its own server to
// answer before it gives up.
const serveReadyTimeout = 30 * time.Second

// runningServer is a server started inside a serve-system child.
type runningServer struct {
	addr string
	died <-chan error // receives when the server stops by itself
	stop func()
}

// serveSystem is the serve-system subcommand: it starts one system's server
// on loopback, prints readyPrefix and the address on stdout once the server
// answers RPCs, and serves until ctx ends (SIGTERM) or stdin closes.
func serveSystem(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest "+serveCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("system", "", "system to serve")
	dataDir := fs.String("data-dir", "", "directory for the gatehouse-bolt database")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "loadtest %s: %s: %v\n", serveCommand, *name, err)
		return 1
	}
	key := os.Getenv(envServeKey)
	if key == "" {
		return fail(fmt.Errorf("no preshared key in %s", envServeKey))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, stdin) // EOF: the parent is gone or done
		cancel()
	}()

	if dir := os.Getenv(envCPUProfileDir); dir != "" {
		stop, err := startCPUProfile(filepath.Join(dir, *name+".cpu.pprof"))
		if err != nil {
			return fail(err)
		}
		defer stop()
	}

	var srv *runningServer
	var err error
	switch *name {
	case "gatehouse-memory":
		srv, err = serveGatehouse(ctx, key, memory.New(), "memory-"+rand.Text()[:12])
	case "gatehouse-bolt":
		srv, err = serveGatehouseBolt(ctx, key, *dataDir)
	case "spicedb-memory":
		srv, err = serveSpiceDB(ctx, key, "")
	case "spicedb-postgres":
		srv, err = serveSpiceDB(ctx, key, os.Getenv(envServeDatastoreURL))
	default:
		err = fmt.Errorf("unknown system; valid systems: %s", strings.Join(systemNames(), ", "))
	}
	if err != nil {
		return fail(err)
	}
	defer srv.stop()
	if err := awaitServing(ctx, srv, key); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "%s%s\n", readyPrefix, srv.addr)
	select {
	case <-ctx.Done():
		return 0
	case err := <-srv.died:
		return fail(fmt.Errorf("server stopped: %w", err))
	}
}

// awaitServing polls the server until it answers an RPC (any answer but
// Unavailable).
func awaitServing(ctx context.Context, srv *runningServer, key string) error {
	c, err := authzed.NewClient(srv.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpcutil.WithInsecureBearerToken(key))
	if err != nil {
		return fmt.Errorf("dial %s: %w", srv.addr, err)
	}
	defer c.Close()
	deadline := time.Now().Add(serveReadyTimeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.ReadSchema(rctx, &v1.ReadSchemaRequest{})
		cancel()
		if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
			return nil
		}
		select {
		case err := <-srv.died:
			return fmt.Errorf("server stopped while starting: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unreachable at %s after %v: %w", srv.addr, serveReadyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveGatehouseBolt serves gatehouse on a bolt database in dir, as
// `gatehouse serve --datastore bolt --data-dir dir` does.
func serveGatehouseBolt(ctx context.Context, key, dir string) (*runningServer, error) {
	if dir == "" {
		return nil, errors.New("--data-dir is required")
	}
	st, err := bolt.Open(filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		return nil, err
	}
	return serveGatehouse(ctx, key, st, st.ID())
}

// serveGatehouse serves gatehouse's real server (package service) on st on
// 127.0.0.1:0 with its listener (package service/wire), as `gatehouse serve`
// does. The
// server owns st from here on.
func serveGatehouse(ctx context.Context, key string, st store.Store, storeID string) (*runningServer, error) {
	srv, err := service.New(ctx, service.Config{Store: st, StoreID: storeID, Keys: []service.Key{{Secret: key, Scopes: service.ScopeAll}}})
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		st.Close()
		return nil, err
	}
	hs := wire.New(&http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20})
	died := make(chan error, 1)
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			died <- err
		}
	}()
	return &runningServer{addr: ln.Addr().String(), died: died, stop: func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		srv.Close()
		st.Close()
	}}, nil
}

// serveSpiceDB runs SpiceDB's real gRPC server (pkg/cmd/server) with the
// library defaults, which match `spicedb serve`'s flag defaults: 5s revision
// quantization, default connection pools, namespace, dispatch and schema
// caches on. The datastore is memory, or with postgresURL PostgreSQL,
// migrated to head first as `spicedb migrate head` does. Only what a
// loopback benchmark must change is changed: a preshared key, the gRPC
// listener on loopback, no HTTP gateway, metrics endpoint or telemetry.
func serveSpiceDB(ctx context.Context, key, postgresURL string) (*runningServer, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
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
	if postgresURL != "" {
		// The `spicedb migrate head` defaults: 1h timeout, backfill batches of 1000.
		mcfg := &migration.Config{DatastoreEngine: "postgres", DatastoreURI: postgresURL, Timeout: time.Hour, BatchSize: 1000}
		if err := migration.Run(ctx, mcfg, migrate.Head); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		cfg.DatastoreConfig.Engine = "postgres"
		cfg.DatastoreConfig.URI = postgresURL
	}
	rs, err := cfg.Complete(ctx)
	if err != nil {
		return nil, err
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
	return &runningServer{addr: addr, died: died, stop: func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}}, nil
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

// startCPUProfile profiles the process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
