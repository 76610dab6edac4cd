package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"

	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// importBatch is how many relationships one WriteRelationships call of
// `rel import` carries; SpiceDB's default limit per request.
const importBatch = 1000

const relHelp = `
Usage:
  gatehouse rel write TUPLE...     create relationships (fails if one exists)
  gatehouse rel touch TUPLE...     create or update relationships
  gatehouse rel delete TUPLE...    delete relationships
  gatehouse rel read FILTER        print matching relationships
  gatehouse rel import FILE|-      touch relationships from a file, one per line
  gatehouse rel export [FILTER]    print all relationships, or those matching FILTER

TUPLE is SpiceDB tuple syntax: document:1#viewer@user:alice[caveat:{"k":1}][expiration:2030-01-01T00:00:00Z].
FILTER is type, type:id, type:id#relation or type#relation, optionally followed
by @subjecttype[:id][#relation].

Run gatehouse rel SUBCOMMAND -h for its flags.
`

func relCmd(ctx context.Context, env *cliEnv, args []string) error {
	write := func(op v1.RelationshipUpdate_Operation) func([]string) error {
		return func(args []string) error { return relWrite(ctx, env, op, args) }
	}
	return subcommand("rel", relHelp, env, args, map[string]func([]string) error{
		"write":  write(v1.RelationshipUpdate_OPERATION_CREATE),
		"touch":  write(v1.RelationshipUpdate_OPERATION_TOUCH),
		"delete": write(v1.RelationshipUpdate_OPERATION_DELETE),
		"read":   func(args []string) error { return relRead(ctx, env, args) },
		"import": func(args []string) error { return relImport(ctx, env, args) },
		"export": func(args []string) error { return relExport(ctx, env, args) },
	})
}

var opHelp = map[v1.RelationshipUpdate_Operation][2]string{
	v1.RelationshipUpdate_OPERATION_CREATE: {"write", "Creates the relationships in one transaction; fails, writing nothing, if one already exists."},
	v1.RelationshipUpdate_OPERATION_TOUCH:  {"touch", "Creates or updates the relationships in one transaction."},
	v1.RelationshipUpdate_OPERATION_DELETE: {"delete", "Deletes the relationships in one transaction; absent ones are ignored."},
}

func relWrite(ctx context.Context, env *cliEnv, op v1.RelationshipUpdate_Operation, args []string) error {
	h := opHelp[op]
	c := newCommand(env, "rel "+h[0]+" TUPLE...", h[1]+"\nTUPLE is SpiceDB tuple syntax, e.g. document:1#viewer@user:alice[caveat:{\"k\":1}].", atLeast(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	updates := make([]*v1.RelationshipUpdate, 0, len(pos))
	for _, s := range pos {
		u, err := parseUpdate(op, s)
		if err != nil {
			return err
		}
		updates = append(updates, u)
	}
	cl, rctx, done, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := cl.WriteRelationships(rctx, &v1.WriteRelationshipsRequest{Updates: updates})
	if err != nil {
		return rpcError(h[0]+" relationships", err)
	}
	fmt.Fprintf(env.stdout, "zedtoken: %s\n", resp.GetWrittenAt().GetToken())
	return nil
}

func parseUpdate(op v1.RelationshipUpdate_Operation, s string) (*v1.RelationshipUpdate, error) {
	r, err := tuple.Parse(s)
	if err != nil {
		return nil, err
	}
	pr, err := service.RelationshipToV1(r)
	if err != nil {
		return nil, err
	}
	return &v1.RelationshipUpdate{Operation: op, Relationship: pr}, nil
}

func relRead(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "rel read FILTER", `Prints the relationships matching FILTER, one per line in SpiceDB tuple syntax.
FILTER is type, type:id, type:id#relation or type#relation, optionally followed
by @subjecttype[:id][#relation], e.g. document:1#viewer@user.`, exactly(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	f, err := parseFilter(pos[0])
	if err != nil {
		return err
	}
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = readRelationships(ctx, c, cl, f, env.stdout)
	return err
}

// readRelationships prints the relationships matching f and returns how many.
func readRelationships(ctx context.Context, c *command, cl *authzed.Client, f *v1.RelationshipFilter, w io.Writer) (int, error) {
	rctx, cancel := c.rpc(ctx)
	defer cancel()
	stream, err := cl.ReadRelationships(rctx, &v1.ReadRelationshipsRequest{Consistency: fullyConsistent(), RelationshipFilter: f})
	if err != nil {
		return 0, rpcError("read relationships", err)
	}
	bw := bufio.NewWriter(w)
	n := 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bw.Flush()
			return n, rpcError("read relationships", err)
		}
		fmt.Fprintln(bw, service.RelationshipFromV1(resp.GetRelationship()).String())
		n++
	}
	return n, bw.Flush()
}

func relExport(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "rel export [FILTER]", `Prints all relationships, of every definition in the schema, one per line in
SpiceDB tuple syntax: the format rel import reads. With FILTER (see rel read),
only the matching ones.`, atMost(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	var filters []*v1.RelationshipFilter
	if len(pos) == 1 {
		f, err := parseFilter(pos[0])
		if err != nil {
			return err
		}
		filters = append(filters, f)
	} else {
		text, err := readSchema(ctx, c)
		if err != nil {
			return err
		}
		s, err := schema.Compile(text)
		if err != nil {
			return fmt.Errorf("compile the server's schema: %w", err)
		}
		for _, d := range s.Definitions() {
			filters = append(filters, &v1.RelationshipFilter{ResourceType: d.Name})
		}
	}
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	total := 0
	for _, f := range filters {
		n, err := readRelationships(ctx, c, cl, f, env.stdout)
		if err != nil {
			return err
		}
		total += n
	}
	fmt.Fprintf(env.stderr, "exported %d relationships\n", total)
	return nil
}

func relImport(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "rel import FILE|-", fmt.Sprintf(`Touches the relationships in FILE (stdin for -), one per line in SpiceDB tuple
syntax; blank lines and lines starting with # are skipped. They are written in
batches of %d, each in one transaction. At the first line that does not parse,
the import stops with its line number and nothing of that line's batch is written.`, importBatch), exactly(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	var in io.Reader = env.stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()

	var (
		batch     []*v1.RelationshipUpdate
		firstLine int
		written   int
		token     string
	)
	flush := func(lastLine int) error {
		if len(batch) == 0 {
			return nil
		}
		rctx, cancel := c.rpc(ctx)
		defer cancel()
		resp, err := cl.WriteRelationships(rctx, &v1.WriteRelationshipsRequest{Updates: batch})
		if err != nil {
			return fmt.Errorf("%s (lines %d-%d; %d relationships written before them)", rpcError("import", err), firstLine, lastLine, written)
		}
		written += len(batch)
		token = resp.GetWrittenAt().GetToken()
		batch = batch[:0]
		return nil
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		u, err := parseUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, string(text))
		if err != nil {
			return fmt.Errorf("%s:%d: %v (%d relationships written before this batch)", pos[0], line, err, written)
		}
		if len(batch) == 0 {
			firstLine = line
		}
		batch = append(batch, u)
		if len(batch) == importBatch {
			if err := flush(line); err != nil {
				return err
			}
			fmt.Fprintf(env.stderr, "imported %d relationships (line %d)\n", written, line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", pos[0], line+1, err)
	}
	if err := flush(line); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "imported %d relationships\n", written)
	if token != "" {
		fmt.Fprintf(env.stdout, "zedtoken: %s\n", strings.TrimSpace(token))
	}
	return nil
}
