package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// cliEnv is what a client command reads and writes besides its arguments.
type cliEnv struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// clientConfig is how a client command reaches the server.
type clientConfig struct {
	addr    string
	key     string
	timeout time.Duration
	tls     clientTLS
}

// command is one client (sub)command's flag set and usage.
type command struct {
	fs     *flag.FlagSet
	client clientConfig
	nargs  func(n int) bool
	getenv func(string) string
}

// newCommand builds the flag set of a client command: synopsis is the usage
// line after "gatehouse", help explains what it does.
func newCommand(env *cliEnv, synopsis, help string, nargs func(int) bool) *command {
	c := &command{fs: flag.NewFlagSet(synopsis, flag.ContinueOnError), nargs: nargs, getenv: env.getenv}
	c.fs.SetOutput(env.stderr)
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "Usage: gatehouse %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(help))
		c.fs.PrintDefaults()
	}
	addr := env.getenv("GATEHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:50051"
	}
	c.fs.StringVar(&c.client.addr, "addr", addr, "server address (env GATEHOUSE_ADDR)")
	// The key's default is resolved after parsing so that -h never prints a secret.
	c.fs.StringVar(&c.client.key, "key", "", "preshared key (default $GATEHOUSE_KEY, else the development key "+DevKey+")")
	c.fs.DurationVar(&c.client.timeout, "timeout", 10*time.Second, "timeout of each request")
	c.client.tls.addFlags(c.fs, env.getenv)
	return c
}

// parse parses flags placed anywhere among the positional arguments (flags
// after "--" are positional) and checks the number of positional arguments.
func (c *command) parse(args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		if !strings.HasPrefix(args[0], "-") || args[0] == "-" {
			pos = append(pos, args[0])
			args = args[1:]
			continue
		}
		if err := c.fs.Parse(args); err != nil {
			return nil, err
		}
		consumed := len(args) - c.fs.NArg()
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, c.fs.Args()...)
			break
		}
		args = c.fs.Args()
	}
	if c.nargs != nil && !c.nargs(len(pos)) {
		c.fs.Usage()
		return nil, fmt.Errorf("%s: wrong number of arguments", c.fs.Name())
	}
	return pos, nil
}

// dial connects to the server; the connection is made lazily by the first RPC.
func (c *command) dial() (*authzed.Client, error) {
	key := c.key()
	transport, secure, err := c.client.tls.dialOption()
	if err != nil {
		return nil, err
	}
	bearer := grpcutil.WithInsecureBearerToken(key)
	if secure {
		bearer = grpcutil.WithBearerToken(key)
	}
	cl, err := authzed.NewClient(c.client.addr, transport, bearer)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.client.addr, err)
	}
	return cl, nil
}

// key is the preshared key: --key, else $GATEHOUSE_KEY, else the development key.
func (c *command) key() string {
	if c.client.key != "" {
		return c.client.key
	}
	if k := c.getenv("GATEHOUSE_KEY"); k != "" {
		return k
	}
	return DevKey
}

// open dials the server for a single request: it returns the client, a context
// carrying the request deadline, and a function that releases both.
func (c *command) open(ctx context.Context) (*authzed.Client, context.Context, func(), error) {
	cl, err := c.dial()
	if err != nil {
		return nil, nil, nil, err
	}
	rctx, cancel := c.rpc(ctx)
	return cl, rctx, func() { cancel(); cl.Close() }, nil
}

// rpc returns the context of one request, bounded by --timeout.
func (c *command) rpc(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.client.timeout)
}

// rpcError turns a gRPC error into one line: the status message and code,
// never the client library's internals.
func rpcError(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: timed out", op)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: timed out", op)
	case codes.Unavailable:
		return fmt.Errorf("%s: server unavailable: %s", op, st.Message())
	}
	return fmt.Errorf("%s: %s (%s)", op, st.Message(), st.Code())
}

// fullyConsistent is the consistency of reads: a CLI call must see the writes
// of the call before it.
func fullyConsistent() *v1.Consistency {
	return &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
}

// subcommand dispatches "gatehouse NAME SUB ..." to subs.
func subcommand(name, help string, env *cliEnv, args []string, subs map[string]func([]string) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := env.stderr
		if len(args) > 0 {
			w = env.stdout
		}
		fmt.Fprint(w, strings.TrimLeft(help, "\n"))
		if len(args) == 0 {
			return fmt.Errorf("%s: no subcommand given", name)
		}
		return nil
	}
	f, ok := subs[args[0]]
	if !ok {
		fmt.Fprint(env.stderr, strings.TrimLeft(help, "\n"))
		return fmt.Errorf("%s: unknown subcommand %q", name, args[0])
	}
	return f(args[1:])
}

func exactly(n int) func(int) bool { return func(m int) bool { return m == n } }
func atLeast(n int) func(int) bool { return func(m int) bool { return m >= n } }
func atMost(n int) func(int) bool  { return func(m int) bool { return m <= n } }
