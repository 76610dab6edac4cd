package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthcheckCmd asks a server's gRPC health service whether it is serving.
// It needs no key (health is open) and is what the container image's
// HEALTHCHECK runs: exit 0 when SERVING, 1 otherwise, with one line saying why.
func healthcheckCmd(ctx context.Context, env *cliEnv, args []string) error {
	var (
		addr    string
		service string
		timeout time.Duration
		tlsOpts clientTLS
	)
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gatehouse healthcheck [flags]\n\n%s\n\nFlags:\n",
			"Check the server's gRPC health (grpc.health.v1.Health/Check, no key needed): exit 0 when SERVING, 1 otherwise.")
		fs.PrintDefaults()
	}
	fs.StringVar(&addr, "addr", "127.0.0.1:50051", "server address")
	fs.StringVar(&service, "service", "", `service to check ("" is the whole server)`)
	fs.DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for the answer")
	tlsOpts.addFlags(fs, env.getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	if timeout <= 0 {
		return errors.New("healthcheck: --timeout must be positive")
	}
	transport, _, err := tlsOpts.dialOption()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, transport)
	if err != nil {
		return &ExitError{Code: 1, Message: fmt.Sprintf("healthcheck %s: %v", addr, err)}
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		st := status.Convert(err)
		return &ExitError{Code: 1, Message: fmt.Sprintf("healthcheck %s: not healthy: %s (%s)", addr, oneLine(st.Message()), st.Code())}
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return &ExitError{Code: 1, Message: fmt.Sprintf("healthcheck %s: not healthy: status %s", addr, resp.GetStatus())}
	}
	fmt.Fprintf(env.stdout, "%s: SERVING\n", addr)
	return nil
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
