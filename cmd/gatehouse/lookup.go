package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

const lookupHelp = `
Usage:
  gatehouse lookup resources TYPE PERMISSION SUBJECT           resources of TYPE on which SUBJECT has PERMISSION
  gatehouse lookup subjects RESOURCE PERMISSION SUBJECTTYPE    subjects of SUBJECTTYPE[#relation] with PERMISSION on RESOURCE

Run gatehouse lookup SUBCOMMAND -h for its flags.
`

func lookupCmd(ctx context.Context, env *cliEnv, args []string) error {
	return subcommand("lookup", lookupHelp, env, args, map[string]func([]string) error{
		"resources": func(args []string) error { return lookupResources(ctx, env, args) },
		"subjects":  func(args []string) error { return lookupSubjects(ctx, env, args) },
	})
}

// conditional renders the marker of a conditional result.
func conditional(p *v1.PartialCaveatInfo) string {
	if missing := p.GetMissingRequiredContext(); len(missing) > 0 {
		return " (conditional, missing: " + strings.Join(missing, ", ") + ")"
	}
	return " (conditional)"
}

func lookupResources(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "lookup resources TYPE PERMISSION SUBJECT", `Prints the IDs of the resources of TYPE on which SUBJECT (type:id or
type:id#relation) has PERMISSION, one per line; conditional ones are marked
"(conditional, missing: ...)".`, exactly(3))
	contextJSON := c.fs.String("context", "", "caveat context as a JSON object")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	sub, err := tuple.ParseSubject(pos[2])
	if err != nil {
		return err
	}
	cctx, err := parseContext(*contextJSON)
	if err != nil {
		return err
	}
	cl, rctx, done, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	stream, err := cl.LookupResources(rctx, &v1.LookupResourcesRequest{
		Consistency: fullyConsistent(), ResourceObjectType: pos[0], Permission: pos[1], Subject: subjectRef(sub), Context: cctx,
	})
	if err != nil {
		return rpcError("lookup resources", err)
	}
	return printStream(env, "lookup resources", stream.Recv, func(r *v1.LookupResourcesResponse) string {
		line := r.GetResourceObjectId()
		if r.GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
			line += conditional(r.GetPartialCaveatInfo())
		}
		return line
	})
}

func lookupSubjects(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "lookup subjects RESOURCE PERMISSION SUBJECTTYPE[#relation]", `Prints the IDs of the subjects of SUBJECTTYPE (optionally with #relation) that
have PERMISSION on RESOURCE (type:id), one per line; conditional ones are marked
"(conditional, missing: ...)", and a wildcard with exclusions reads "* - {a, b}".`, exactly(3))
	contextJSON := c.fs.String("context", "", "caveat context as a JSON object")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	res, err := tuple.ParseObject(pos[0])
	if err != nil {
		return err
	}
	subType, subRel, _ := strings.Cut(pos[2], "#")
	if subType == "" || strings.Contains(subType, ":") {
		return fmt.Errorf("invalid subject type %q: want type or type#relation", pos[2])
	}
	cctx, err := parseContext(*contextJSON)
	if err != nil {
		return err
	}
	cl, rctx, done, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	stream, err := cl.LookupSubjects(rctx, &v1.LookupSubjectsRequest{
		Consistency: fullyConsistent(), Resource: objectRef(res), Permission: pos[1],
		SubjectObjectType: subType, OptionalSubjectRelation: subRel, Context: cctx,
	})
	if err != nil {
		return rpcError("lookup subjects", err)
	}
	return printStream(env, "lookup subjects", stream.Recv, func(r *v1.LookupSubjectsResponse) string {
		s := r.GetSubject()
		line := s.GetSubjectObjectId()
		if ex := r.GetExcludedSubjects(); len(ex) > 0 {
			ids := make([]string, len(ex))
			for i, e := range ex {
				ids[i] = e.GetSubjectObjectId()
				if e.GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
					ids[i] += conditional(e.GetPartialCaveatInfo())
				}
			}
			line += " - {" + strings.Join(ids, ", ") + "}"
		}
		if s.GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
			line += conditional(s.GetPartialCaveatInfo())
		}
		return line
	})
}

// printStream writes one line per streamed message until the stream ends.
func printStream[T any](env *cliEnv, op string, recv func() (T, error), line func(T) string) error {
	w := bufio.NewWriter(env.stdout)
	defer w.Flush()
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return rpcError(op, err)
		}
		fmt.Fprintln(w, line(m))
	}
}
