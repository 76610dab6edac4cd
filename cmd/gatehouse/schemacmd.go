package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gatehouse-dev/gatehouse/caveats/library"
)

const schemaHelp = `
Usage:
  gatehouse schema write FILE|-   write the schema from FILE (- for stdin)
  gatehouse schema read           print the current schema
  gatehouse schema diff FILE|-    print how FILE differs from the current schema
  gatehouse schema library [NAME] print gatehouse's ready caveats (all, or one), to paste into a schema

Run gatehouse schema SUBCOMMAND -h for its flags.
`

func schemaCmd(ctx context.Context, env *cliEnv, args []string) error {
	return subcommand("schema", schemaHelp, env, args, map[string]func([]string) error{
		"write":   func(args []string) error { return schemaWrite(ctx, env, args) },
		"read":    func(args []string) error { return schemaRead(ctx, env, args) },
		"diff":    func(args []string) error { return schemaDiff(ctx, env, args) },
		"library": func(args []string) error { return schemaLibrary(env, args) },
	})
}

// schemaLibrary prints the caveat library; it needs no server.
func schemaLibrary(env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("schema library", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gatehouse schema library [NAME]\n\nPrints the caveat library (or the caveat NAME) in SpiceDB schema syntax.\nCaveats: %s\n", strings.Join(library.Names(), ", "))
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		fmt.Fprint(env.stdout, library.All())
		return nil
	case 1:
		src, ok := library.Source(fs.Arg(0))
		if !ok {
			return fmt.Errorf("schema library: no caveat %q; the library has %s", fs.Arg(0), strings.Join(library.Names(), ", "))
		}
		fmt.Fprint(env.stdout, src)
		return nil
	}
	fs.Usage()
	return errors.New("schema library: at most one NAME")
}

func schemaWrite(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "schema write FILE|-", "Writes the schema in FILE (or stdin for -), replacing the current one.", exactly(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	text, err := readInput(env, pos[0])
	if err != nil {
		return err
	}
	cl, rctx, done, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := cl.WriteSchema(rctx, &v1.WriteSchemaRequest{Schema: string(text)})
	if err != nil {
		return rpcError("write schema", err)
	}
	fmt.Fprintf(env.stdout, "zedtoken: %s\n", resp.GetWrittenAt().GetToken())
	return nil
}

func schemaRead(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "schema read", "Prints the current schema.", exactly(0))
	if _, err := c.parse(args); err != nil {
		return err
	}
	text, err := readSchema(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, strings.TrimRight(text, "\n"))
	return nil
}

func readSchema(ctx context.Context, c *command) (string, error) {
	cl, err := c.dial()
	if err != nil {
		return "", err
	}
	defer cl.Close()
	rctx, cancel := c.rpc(ctx)
	defer cancel()
	resp, err := cl.ReadSchema(rctx, &v1.ReadSchemaRequest{})
	if err != nil {
		return "", rpcError("read schema", err)
	}
	return resp.GetSchemaText(), nil
}

// readInput reads the file named by a positional argument, stdin for "-".
func readInput(env *cliEnv, name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(env.stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func schemaDiff(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "schema diff FILE|-", "Prints, one per line, how the schema in FILE (or stdin for -) differs from the server's current schema.", exactly(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	text, err := readInput(env, pos[0])
	if err != nil {
		return err
	}
	cl, rctx, done, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := cl.DiffSchema(rctx, &v1.DiffSchemaRequest{
		Consistency:      &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		ComparisonSchema: string(text),
	})
	if err != nil {
		return rpcError("diff schema", err)
	}
	for _, d := range resp.GetDiffs() {
		fmt.Fprintln(env.stdout, diffLine(d))
	}
	if len(resp.GetDiffs()) == 0 {
		fmt.Fprintln(env.stderr, "no differences")
	}
	return nil
}

// diffLine renders one schema diff as "kind name", e.g. "relation_added document#viewer".
func diffLine(d *v1.ReflectionSchemaDiff) string {
	m := d.ProtoReflect()
	oneof := m.Descriptor().Oneofs().ByName("diff")
	if oneof == nil {
		return d.String()
	}
	field := m.WhichOneof(oneof)
	if field == nil {
		return "unknown difference"
	}
	kind := string(field.Name())
	if field.Message() == nil {
		return kind
	}
	val := m.Get(field).Message()
	var parts []string
	for _, n := range []string{"parent_definition_name", "parent_caveat_name", "name"} {
		if f := val.Descriptor().Fields().ByName(protoreflect.Name(n)); f != nil && f.Kind() == protoreflect.StringKind {
			if v := val.Get(f).String(); v != "" {
				parts = append(parts, v)
			}
		}
	}
	if len(parts) == 0 {
		return kind + " " + protojson.MarshalOptions{}.Format(val.Interface())
	}
	return kind + " " + strings.Join(parts, "#")
}
