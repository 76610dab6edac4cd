package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// gatehouseClient is how commands reach gatehouse.v1: connect-go speaking the
// gRPC protocol, with the same address, key and TLS flags as the rest.
type gatehouseClient struct {
	http    *http.Client
	baseURL string
	opts    []connect.ClientOption
}

func (c *command) gatehouseClient() (*gatehouseClient, error) {
	cfg, err := c.client.tls.config()
	if err != nil {
		return nil, err
	}
	protocols := new(http.Protocols)
	scheme := "http://"
	if cfg != nil {
		protocols.SetHTTP2(true)
		scheme = "https://"
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	hc := &http.Client{Transport: &http.Transport{Protocols: protocols, TLSClientConfig: cfg}}
	return &gatehouseClient{http: hc, baseURL: scheme + c.client.addr,
		opts: []connect.ClientOption{connect.WithGRPC(), connect.WithInterceptors(bearerKey(c.key()))}}, nil
}

func (g *gatehouseClient) attributes() gatehousev1connect.AttributeServiceClient {
	return gatehousev1connect.NewAttributeServiceClient(g.http, g.baseURL, g.opts...)
}

func (g *gatehouseClient) authorize() gatehousev1connect.AuthorizeServiceClient {
	return gatehousev1connect.NewAuthorizeServiceClient(g.http, g.baseURL, g.opts...)
}

// bearerKey sends the preshared key with every request.
type bearerKey string

func (b bearerKey) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearerKey) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearerKey) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// connectError is rpcError for the Connect clients of gatehouse.v1.
func connectError(op string, err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		err = status.Error(codes.Code(ce.Code()), ce.Message())
	}
	return rpcError(op, err)
}

const attrHelp = `
Usage: gatehouse attr COMMAND

Object attributes: a JSON object per type:id that caveats read through their
resource and subject parameters.

Commands:
  set OBJECT KEY=VALUE...   set keys (others are kept; --replace drops them);
                            VALUE is JSON if it parses as JSON, else a string
  unset OBJECT KEY...       remove keys
  delete OBJECT             remove every attribute of the object
  get OBJECT...             print the objects' attributes as JSON, one per line
  list TYPE                 print every object of TYPE with attributes (--prefix ID)

Run gatehouse attr COMMAND -h for a command's flags.
`

func attrCmd(ctx context.Context, env *cliEnv, args []string) error {
	return subcommand("attr", attrHelp, env, args, map[string]func([]string) error{
		"set":    func(a []string) error { return attrSet(ctx, env, a) },
		"unset":  func(a []string) error { return attrUnset(ctx, env, a) },
		"delete": func(a []string) error { return attrDelete(ctx, env, a) },
		"get":    func(a []string) error { return attrGet(ctx, env, a) },
		"list":   func(a []string) error { return attrList(ctx, env, a) },
	})
}

func objectRefV1(s string) (*gatehousev1.ObjectRef, error) {
	o, err := tuple.ParseObject(s)
	if err != nil {
		return nil, err
	}
	return &gatehousev1.ObjectRef{ObjectType: o.Type, ObjectId: o.ID}, nil
}

// parseAssignments reads KEY=VALUE arguments; a VALUE that parses as JSON is
// that JSON value, anything else is a string.
func parseAssignments(args []string) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", a)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		out[k] = val
	}
	return out, nil
}

// writeAttributes sends one update and prints the revision token.
func writeAttributes(ctx context.Context, env *cliEnv, c *command, u *gatehousev1.AttributeUpdate) error {
	g, err := c.gatehouseClient()
	if err != nil {
		return err
	}
	rctx, cancel := c.rpc(ctx)
	defer cancel()
	res, err := g.attributes().WriteAttributes(rctx, connect.NewRequest(&gatehousev1.WriteAttributesRequest{Updates: []*gatehousev1.AttributeUpdate{u}}))
	if err != nil {
		return connectError("write attributes", err)
	}
	fmt.Fprintf(env.stdout, "zedtoken: %s\n", res.Msg.GetWrittenAt())
	return nil
}

func attrSet(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "attr set OBJECT KEY=VALUE...", `Sets attributes of OBJECT (type:id). VALUE is JSON if it parses as JSON
(42, true, ["prod","staging"], {"a":1}, "quoted"), else the text as a string.
Other attributes are kept unless --replace is given.`, atLeast(2))
	replace := c.fs.Bool("replace", false, "replace all of the object's attributes with these")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	obj, err := objectRefV1(pos[0])
	if err != nil {
		return err
	}
	values, err := parseAssignments(pos[1:])
	if err != nil {
		return err
	}
	st, err := structpb.NewStruct(values)
	if err != nil {
		return err
	}
	op := gatehousev1.AttributeUpdate_OPERATION_MERGE
	if *replace {
		op = gatehousev1.AttributeUpdate_OPERATION_SET
	}
	return writeAttributes(ctx, env, c, &gatehousev1.AttributeUpdate{Operation: op, Object: obj, Values: st})
}

func attrUnset(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "attr unset OBJECT KEY...", "Removes the named attributes of OBJECT (type:id).", atLeast(2))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	obj, err := objectRefV1(pos[0])
	if err != nil {
		return err
	}
	fields := map[string]*structpb.Value{}
	for _, k := range pos[1:] {
		fields[k] = structpb.NewNullValue()
	}
	return writeAttributes(ctx, env, c, &gatehousev1.AttributeUpdate{Operation: gatehousev1.AttributeUpdate_OPERATION_MERGE, Object: obj,
		Values: &structpb.Struct{Fields: fields}})
}

func attrDelete(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "attr delete OBJECT", "Removes every attribute of OBJECT (type:id).", exactly(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	obj, err := objectRefV1(pos[0])
	if err != nil {
		return err
	}
	return writeAttributes(ctx, env, c, &gatehousev1.AttributeUpdate{Operation: gatehousev1.AttributeUpdate_OPERATION_DELETE, Object: obj})
}

// printAttributes prints "type:id {json}" lines with sorted keys.
func printAttributes(env *cliEnv, objs []*gatehousev1.ObjectAttributes) error {
	for _, o := range objs {
		b, err := json.Marshal(o.GetValues().AsMap()) // encoding/json sorts map keys
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s:%s %s\n", o.GetObject().GetObjectType(), o.GetObject().GetObjectId(), b)
	}
	return nil
}

func attrGet(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "attr get OBJECT...", `Prints the attributes of each OBJECT (type:id) that has any, one line per
object: type:id {json}. Exit status 1 if none of them has attributes.`, atLeast(1))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	req := &gatehousev1.ReadAttributesRequest{Consistency: &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_FullyConsistent{FullyConsistent: true}}}
	for _, p := range pos {
		obj, err := objectRefV1(p)
		if err != nil {
			return err
		}
		req.Objects = append(req.Objects, obj)
	}
	g, err := c.gatehouseClient()
	if err != nil {
		return err
	}
	rctx, cancel := c.rpc(ctx)
	defer cancel()
	res, err := g.attributes().ReadAttributes(rctx, connect.NewRequest(req))
	if err != nil {
		return connectError("read attributes", err)
	}
	if len(res.Msg.GetObjects()) == 0 {
		return &ExitError{Code: 1, Message: "no attributes"}
	}
	return printAttributes(env, res.Msg.GetObjects())
}

func attrList(ctx context.Context, env *cliEnv, args []string) error {
	c := newCommand(env, "attr list TYPE", "Prints every object of TYPE that has attributes, in ID order: type:id {json}.", exactly(1))
	prefix := c.fs.String("prefix", "", "only objects whose ID starts with this")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	g, err := c.gatehouseClient()
	if err != nil {
		return err
	}
	req := &gatehousev1.ReadAttributesRequest{
		Consistency: &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_FullyConsistent{FullyConsistent: true}},
		Filter:      &gatehousev1.AttributeFilter{ObjectType: pos[0], OptionalObjectIdPrefix: *prefix},
	}
	for {
		rctx, cancel := c.rpc(ctx)
		res, err := g.attributes().ReadAttributes(rctx, connect.NewRequest(req))
		cancel()
		if err != nil {
			return connectError("read attributes", err)
		}
		if err := printAttributes(env, res.Msg.GetObjects()); err != nil {
			return err
		}
		if res.Msg.GetNextCursor() == "" {
			return nil
		}
		req = &gatehousev1.ReadAttributesRequest{Filter: req.Filter, Cursor: res.Msg.GetNextCursor()}
	}
}
