package main

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

func checkCmd(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "check RESOURCE PERMISSION SUBJECT", `Checks whether SUBJECT (type:id or type:id#relation) has PERMISSION on
RESOURCE (type:id), and prints allowed, denied or conditional (missing: ...)
followed by the zedtoken of the answer.
Exit status: 0 allowed, 1 denied, 2 conditional or error.`, exactly(3))
	contextJSON := c.fs.String("context", "", "caveat context as a JSON object")
	consistency := c.fs.String("consistency", "full", "full (see every write) or minimize (may answer from a recent snapshot)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	res, err := tuple.ParseObject(pos[0])
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
	req := &v1.CheckPermissionRequest{Resource: objectRef(res), Permission: pos[1], Subject: subjectRef(sub), Context: cctx}
	switch *consistency {
	case "full":
		req.Consistency = fullyConsistent()
	case "minimize":
		req.Consistency = &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
	default:
		return fmt.Errorf("--consistency %q: want full or minimize", *consistency)
	}
	cl, rctx, done, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := cl.CheckPermission(rctx, req)
	if err != nil {
		return rpcError("check", err)
	}
	var result error
	switch resp.GetPermissionship() {
	case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
		fmt.Fprintln(env.stdout, "allowed")
	case v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION:
		fmt.Fprintln(env.stdout, "denied")
		result = &ExitError{Code: 1}
	case v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		fmt.Fprintf(env.stdout, "conditional (missing: %s)\n", strings.Join(resp.GetPartialCaveatInfo().GetMissingRequiredContext(), ", "))
		result = &ExitError{Code: 2}
	default:
		return fmt.Errorf("check: unexpected answer %v", resp.GetPermissionship())
	}
	fmt.Fprintf(env.stdout, "zedtoken: %s\n", resp.GetCheckedAt().GetToken())
	return result
}
