package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/authzed/spicedb/pkg/spiceerrors"
	spicetuple "github.com/authzed/spicedb/pkg/tuple"
	"github.com/authzed/spicedb/pkg/validationfile"
	"github.com/authzed/spicedb/pkg/validationfile/blocks"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const validateHelp = `Runs a SpiceDB validation file (schema, relationships and assertions) in
process with gatehouse's engine, without a server. Prints one line per
assertion and a summary. Exits 0 if every assertion holds, 1 if one fails and 2
if the file does not parse or load. The validation: block is not checked yet.`

func validateCmd(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), "Usage: gatehouse validate FILE\n\n%s\n", validateHelp) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("validate: wrong number of arguments")
	}
	name := fs.Arg(0)
	text, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	vf, err := validationfile.DecodeValidationFile(text)
	if err != nil {
		return fmt.Errorf("%s: %w", name, withLine(err, 0))
	}
	if vf.SchemaFile != "" {
		return fmt.Errorf("%s: schemaFile is not supported; inline the schema", name)
	}
	sch, err := schema.Compile(vf.Schema.Schema)
	if err != nil {
		var se *schema.Error
		if errors.As(err, &se) && se.Line > 0 {
			// The schema is a block scalar starting on the line after "schema:".
			return fmt.Errorf("%s: line %d: schema: %s", name, vf.Schema.SourcePosition.LineNumber+se.Line, se.Message)
		}
		return fmt.Errorf("%s: schema: %w", name, err)
	}
	rels := make([]tuple.Relationship, 0, len(vf.Relationships.Relationships))
	for i, sr := range vf.Relationships.Relationships {
		line := 0
		if i < len(vf.Relationships.RelationshipPositions) {
			line = vf.Relationships.RelationshipPositions[i].LineNumber
		}
		s, err := spicetuple.String(sr)
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		r, err := tuple.Parse(s)
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		if err := sch.ValidateRelationship(r, false); err != nil {
			return fmt.Errorf("%s: line %d: relationship %s: %w", name, line, s, err)
		}
		rels = append(rels, r)
	}
	ix := graph.NewIndex()
	if err := ix.Load(1, rels); err != nil {
		return fmt.Errorf("%s: load relationships: %w", name, err)
	}
	snap, err := ix.Snapshot(0)
	if err != nil {
		return err
	}

	groups := []struct {
		kind string
		want graph.Permissionship
		as   []blocks.Assertion
	}{
		{"assertTrue", graph.HasPermission, vf.Assertions.AssertTrue},
		{"assertCaveated", graph.ConditionalPermission, vf.Assertions.AssertCaveated},
		{"assertFalse", graph.NoPermission, vf.Assertions.AssertFalse},
	}
	var total, failed int
	for _, g := range groups {
		for _, a := range g.as {
			total++
			got, err := checkAssertion(ctx, snap, sch, a)
			status, found := "ok", got.Permissionship.String()
			switch {
			case err != nil:
				status, found = "FAIL", "error: "+err.Error()
			case got.Permissionship != g.want:
				status = "FAIL"
				found = "got " + found + ", want " + g.want.String()
			}
			if got.Permissionship == graph.ConditionalPermission && len(got.Missing) > 0 {
				found += " (missing: " + strings.Join(got.Missing, ", ") + ")"
			}
			if status != "ok" {
				failed++
			}
			fmt.Fprintf(env.stdout, "%-4s line %d: %s %s: %s\n", status, a.SourcePosition.LineNumber, g.kind, a.RelationshipWithContextString, found)
		}
	}
	fmt.Fprintf(env.stdout, "%d assertions, %d passed, %d failed\n", total, total-failed, failed)
	if failed > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// checkAssertion checks a's relationship as a permission check with its caveat context.
func checkAssertion(ctx context.Context, snap *graph.Snapshot, sch *schema.Schema, a blocks.Assertion) (graph.Result, error) {
	r := a.Relationship
	subj := tuple.Subject{Type: r.Subject.ObjectType, ID: r.Subject.ObjectID}
	if r.Subject.Relation != spicetuple.Ellipsis && r.Subject.Relation != "" {
		subj.Relation = r.Subject.Relation
	}
	return snap.Check(ctx, sch, graph.CheckRequest{
		Resource:   tuple.Object{Type: r.Resource.ObjectType, ID: r.Resource.ObjectID},
		Permission: r.Resource.Relation,
		Subject:    subj,
		Context:    graph.Context{Values: a.CaveatContext},
	})
}

// withLine prefixes err with its line when the YAML decoder reported one.
func withLine(err error, offset int) error {
	var se *spiceerrors.WithSourceError
	if errors.As(err, &se) && se.LineNumber > 0 {
		return fmt.Errorf("line %d: %w", int(se.LineNumber)+offset, se.Unwrap())
	}
	return err
}
