package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func checkCmd(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "check RESOURCE PERMISSION [SUBJECT]", `Checks whether SUBJECT (type:id or type:id#relation) has PERMISSION on
RESOURCE (type:id), and prints allowed, denied or conditional (missing: ...)
followed by the zedtoken of the answer.

With --subject-token (or $GATEHOUSE_SUBJECT_TOKEN), the caller's token is
verified by the server and its claims are bound to caveats' caller parameter;
SUBJECT may then be left out to check the token's own subject. --explain
prints how the decision was reached.
Exit status: 0 allowed, 1 denied, 2 conditional or error.`, func(n int) bool { return n == 2 || n == 3 })
	contextJSON := c.fs.String("context", "", "caveat context as a JSON object")
	consistency := c.fs.String("consistency", "full", "full (see every write) or minimize (may answer from a recent snapshot)")
	// The token's default is resolved after parsing so that -h never prints it.
	token := c.fs.String("subject-token", "", "JWT of the end user or workload (default $GATEHOUSE_SUBJECT_TOKEN)")
	explain := c.fs.Bool("explain", false, "print the relationships and caveats that decided")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if *token == "" {
		*token = env.getenv("GATEHOUSE_SUBJECT_TOKEN")
	}
	res, err := tuple.ParseObject(pos[0])
	if err != nil {
		return err
	}
	var sub *tuple.Subject
	if len(pos) == 3 {
		s, err := tuple.ParseSubject(pos[2])
		if err != nil {
			return err
		}
		sub = &s
	} else if *token == "" {
		c.fs.Usage()
		return errors.New("check: give a SUBJECT or a --subject-token")
	}
	cctx, err := parseContext(*contextJSON)
	if err != nil {
		return err
	}
	if *consistency != "full" && *consistency != "minimize" {
		return fmt.Errorf("--consistency %q: want full or minimize", *consistency)
	}
	if *token != "" || *explain || sub == nil {
		return authorize(ctx, env, c, res, pos[1], sub, *token, cctx, *consistency == "full", *explain)
	}
	req := &v1.CheckPermissionRequest{Resource: objectRef(res), Permission: pos[1], Subject: subjectRef(*sub), Context: cctx}
	if *consistency == "full" {
		req.Consistency = fullyConsistent()
	} else {
		req.Consistency = &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
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
	var d gatehousev1.Decision
	switch resp.GetPermissionship() {
	case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
		d = gatehousev1.Decision_DECISION_ALLOWED
	case v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION:
		d = gatehousev1.Decision_DECISION_DENIED
	case v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		d = gatehousev1.Decision_DECISION_CONDITIONAL
	default:
		return fmt.Errorf("check: unexpected answer %v", resp.GetPermissionship())
	}
	return printDecision(env, d, resp.GetPartialCaveatInfo().GetMissingRequiredContext(), resp.GetCheckedAt().GetToken())
}

// printDecision prints a decision and its token; the error carries the exit status.
func printDecision(env *cliEnv, d gatehousev1.Decision, missing []string, token string) error {
	var result error
	switch d {
	case gatehousev1.Decision_DECISION_ALLOWED:
		fmt.Fprintln(env.stdout, "allowed")
	case gatehousev1.Decision_DECISION_DENIED:
		fmt.Fprintln(env.stdout, "denied")
		result = &ExitError{Code: 1}
	case gatehousev1.Decision_DECISION_CONDITIONAL:
		fmt.Fprintf(env.stdout, "conditional (missing: %s)\n", strings.Join(missing, ", "))
		result = &ExitError{Code: 2}
	default:
		return fmt.Errorf("check: unexpected answer %v", d)
	}
	fmt.Fprintf(env.stdout, "zedtoken: %s\n", token)
	return result
}

// authorize checks through gatehouse.v1's Authorize: with a subject token,
// and with the explanation when asked.
func authorize(ctx context.Context, env *cliEnv, c *command, res tuple.Object, perm string, sub *tuple.Subject, token string, cctx *structpb.Struct, full, explain bool) error {
	req := &gatehousev1.AuthorizeRequest{Resource: &gatehousev1.ObjectRef{ObjectType: res.Type, ObjectId: res.ID}, Permission: perm,
		SubjectToken: token, Context: cctx, Explain: explain}
	if sub != nil {
		req.Subject = &gatehousev1.SubjectRef{Object: &gatehousev1.ObjectRef{ObjectType: sub.Type, ObjectId: sub.ID}, OptionalRelation: sub.Relation}
	}
	if full {
		req.Consistency = &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_FullyConsistent{FullyConsistent: true}}
	}
	g, err := c.gatehouseClient()
	if err != nil {
		return err
	}
	rctx, cancel := c.rpc(ctx)
	defer cancel()
	resp, err := g.authorize().Authorize(rctx, connect.NewRequest(req))
	if err != nil {
		return connectError("check", err)
	}
	if sub == nil {
		s := resp.Msg.GetSubject()
		fmt.Fprintf(env.stdout, "subject: %s:%s\n", s.GetObject().GetObjectType(), s.GetObject().GetObjectId())
	}
	result := printDecision(env, resp.Msg.GetDecision(), resp.Msg.GetMissingContext(), resp.Msg.GetCheckedAt())
	if root := resp.Msg.GetExplanation().GetRoot(); root != nil {
		fmt.Fprintln(env.stdout, "why:")
		printExplanation(env, root, 1)
	}
	return result
}

// decisionWord names a decision as check prints it.
func decisionWord(d gatehousev1.Decision) string {
	switch d {
	case gatehousev1.Decision_DECISION_ALLOWED:
		return "allowed"
	case gatehousev1.Decision_DECISION_DENIED:
		return "denied"
	case gatehousev1.Decision_DECISION_CONDITIONAL:
		return "conditional"
	}
	return "unknown"
}

// printExplanation prints an explanation tree, one node per line, indented.
func printExplanation(env *cliEnv, n *gatehousev1.ExplainNode, depth int) {
	indent := strings.Repeat("  ", depth)
	var what string
	obj := n.GetResource().GetObjectType() + ":" + n.GetResource().GetObjectId()
	switch n.GetKind() {
	case gatehousev1.ExplainNode_KIND_RELATIONSHIP:
		what = n.GetRelationship()
	case gatehousev1.ExplainNode_KIND_UNION, gatehousev1.ExplainNode_KIND_INTERSECTION, gatehousev1.ExplainNode_KIND_EXCLUSION:
		what = strings.ToLower(strings.TrimPrefix(n.GetKind().String(), "KIND_"))
	case gatehousev1.ExplainNode_KIND_ARROW:
		what = "arrow " + obj + "#" + n.GetRelation()
	default:
		what = strings.ToLower(strings.TrimPrefix(n.GetKind().String(), "KIND_")) + " " + obj + "#" + n.GetRelation()
	}
	line := indent + what + ": " + decisionWord(n.GetResult())
	if m := n.GetMissingContext(); len(m) > 0 {
		line += " (missing: " + strings.Join(m, ", ") + ")"
	}
	if n.GetNote() != "" {
		line += " [" + n.GetNote() + "]"
	}
	fmt.Fprintln(env.stdout, line)
	if n.GetCaveatName() != "" {
		b, _ := json.Marshal(n.GetCaveatContext().AsMap())
		fmt.Fprintf(env.stdout, "%s  caveat %s saw %s\n", indent, n.GetCaveatName(), b)
	}
	for _, c := range n.GetChildren() {
		printExplanation(env, c, depth+1)
	}
}
