package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// childReadyTimeout bounds a child's start, SpiceDB's migrations included.
const childReadyTimeout = 90 * time.Second

// systemNames are the systems a run can compare, in the order they are
// described in the README. A name's prefix before "-" is its kind.
func systemNames() []string {
	return []string{"gatehouse-memory", "gatehouse-bolt", "spicedb-memory", "spicedb-postgres"}
}

// systemKind is "gatehouse" or "spicedb".
func systemKind(name string) string {
	kind, _, _ := strings.Cut(name, "-")
	return kind
}

// System is one server under test, running in a child process, and the
// clients that drive it.
type System struct {
	// Name labels the configuration in results ("gatehouse-memory", "spicedb-memory").
	Name string
	// Kind is "gatehouse" or "spicedb"; ratios compare the two kinds.
	Kind    string
	Addr    string
	clients []*Client
	proc    *child
	cleanup func()
}

// Client returns the client caller i uses; callers share connections round-robin.
func (s *System) Client(i int) *Client { return s.clients[i%len(s.clients)] }

// Client is one connection's clients: the authzed-go client every workload
// uses, and a gRPC health client on a connection of its own, dialled the
// same way, for the no-op baseline.
type Client struct {
	*authzed.Client
	Health     healthpb.HealthClient
	healthConn *grpc.ClientConn
}

// Close closes both connections.
func (c *Client) Close() error {
	err := c.Client.Close()
	if herr := c.healthConn.Close(); err == nil {
		err = herr
	}
	return err
}

// PID is the server's process ID.
func (s *System) PID() int { return s.proc.pid() }

// CPU is the CPU time the server process has used so far.
func (s *System) CPU() (time.Duration, error) {
	d, err := processCPU(s.PID())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.Name, err)
	}
	return d, nil
}

// PeakRSS is the server process's peak resident set size in bytes.
func (s *System) PeakRSS() (int64, error) {
	n, err := processPeakRSS(s.PID())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.Name, err)
	}
	return n, nil
}

// Close closes the clients, stops the server process (SIGTERM, then SIGKILL
// after 5s) and removes what it was given to keep its data in. Closing again
// does nothing.
func (s *System) Close() {
	for _, c := range s.clients {
		c.Close()
	}
	s.clients = nil
	if s.proc != nil {
		s.proc.stop()
	}
	if s.cleanup != nil {
		s.cleanup()
		s.cleanup = nil
	}
}

// dial opens conns authzed-go clients to addr, plaintext gRPC with the key.
func (s *System) dial(key string, conns int) error {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpcutil.WithInsecureBearerToken(key)}
	for range conns {
		c, err := authzed.NewClient(s.Addr, opts...)
		if err != nil {
			return fmt.Errorf("%s: dial %s: %w", s.Name, s.Addr, err)
		}
		hc, err := grpc.NewClient(s.Addr, opts...)
		if err != nil {
			c.Close()
			return fmt.Errorf("%s: dial %s: %w", s.Name, s.Addr, err)
		}
		s.clients = append(s.clients, &Client{Client: c, Health: healthpb.NewHealthClient(hc), healthConn: hc})
	}
	return nil
}

// systemOptions is what starting any system may need.
type systemOptions struct {
	// exe is the loadtest binary the children run.
	exe   string
	key   string
	conns int
	// postgresURL is the administrative connection spicedb-postgres's
	// database is created through.
	postgresURL string
}

// startSystem starts the named system in a child process (exe serve-system
// --system name) and connects to it once it reports ready.
func startSystem(ctx context.Context, name string, o systemOptions) (*System, error) {
	s := &System{Name: name, Kind: systemKind(name)}
	args := []string{serveCommand, "--system", name}
	env := []string{envServeKey + "=" + o.key}
	switch name {
	case "gatehouse-bolt":
		dir, err := os.MkdirTemp("", "loadtest-bolt-")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.cleanup = func() { os.RemoveAll(dir) }
		args = append(args, "--data-dir", dir)
	case "spicedb-postgres":
		url, err := preparePostgres(ctx, o.postgresURL, spicedbDatabase)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		env = append(env, envServeDatastoreURL+"="+url)
	}
	proc, addr, err := startChild(ctx, childSpec{name: name, path: o.exe, args: args, env: env, ready: childReadyTimeout})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.proc, s.Addr = proc, addr
	if err := s.dial(o.key, o.conns); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
