// Command gatehouse runs the gatehouse authorization service and talks to a
// running one as a client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// DevKey is accepted when no key is configured; the server then binds loopback only.
const DevKey = "gatehouse-dev-key"

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Message != "" {
			fmt.Fprintln(os.Stderr, "gatehouse:", ee.Message)
		}
		os.Exit(ee.Code)
	}
	fmt.Fprintln(os.Stderr, "gatehouse:", err)
	os.Exit(2)
}

// ExitError ends the command with Code, printing Message (if any) on stderr.
// check uses it to exit 1 when denied and 2 when conditional.
type ExitError struct {
	Code    int
	Message string
}

func (e *ExitError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `gatehouse: a SpiceDB-compatible relationship authorization service.

Usage:
  gatehouse serve [flags]                                     start the server (data in ./gatehouse-data by default)
  gatehouse migrate --datastore postgres://...                apply pending PostgreSQL schema migrations
  gatehouse schema write FILE|-                               write the schema
  gatehouse schema read                                       print the schema
  gatehouse schema library [NAME]                             print the ready caveats (tenant, environment, classification, ...)
  gatehouse rel write|touch|delete TUPLE...                   change relationships
  gatehouse rel read FILTER                                   print matching relationships
  gatehouse rel import FILE|-                                 touch relationships from a file, one per line
  gatehouse rel export [FILTER]                               print all (or matching) relationships
  gatehouse check RESOURCE PERMISSION [SUBJECT]               check a permission (exit 0 allowed, 1 denied, 2 conditional);
                                                              --subject-token JWT binds the caller's claims, --explain shows why
  gatehouse attr set|unset|delete|get|list ...                object attributes that caveats read
  gatehouse lookup resources TYPE PERMISSION SUBJECT          list resources the subject has the permission on
  gatehouse lookup subjects RESOURCE PERMISSION SUBJECTTYPE   list subjects with the permission on the resource
  gatehouse validate FILE.yaml                                run a SpiceDB validation file in process (exit 0 pass, 1 fail)
  gatehouse healthcheck [--addr A] [--tls] [--timeout 2s]     gRPC health check, no key (exit 0 serving, 1 not)

Client commands take --addr (env GATEHOUSE_ADDR), --key (env GATEHOUSE_KEY), --timeout,
and --tls (env GATEHOUSE_TLS), --ca FILE and --insecure-skip-verify for a TLS server.
Run gatehouse COMMAND -h for a command's flags.

`)
}

// run is the whole command line: main only maps its error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command given")
	}
	env := &cliEnv{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], getenv, stdout, stderr)
	case "schema":
		return schemaCmd(ctx, env, args[1:])
	case "rel":
		return relCmd(ctx, env, args[1:])
	case "check":
		return checkCmd(ctx, env, args[1:])
	case "attr":
		return attrCmd(ctx, env, args[1:])
	case "lookup":
		return lookupCmd(ctx, env, args[1:])
	case "validate":
		return validateCmd(ctx, env, args[1:])
	case "healthcheck":
		return healthcheckCmd(ctx, env, args[1:])
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	default:
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
