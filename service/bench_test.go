package service

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/service/wire"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/memory"
)

// wireCallers is the number of concurrent callers, as in DESIGN.md's SpiceDB figures.
const wireCallers = 16

const benchSchema = `definition user {}

definition document {
	relation viewer: user
	permission view = viewer
}`

// BenchmarkWire measures CheckPermission end to end over loopback with the
// authzed-go gRPC client, against a no-op CheckPermission served by the same
// http.Server, h2c, auth interceptor and handler options; the difference is
// the cost of the check itself. check reports its throughput as a ratio of
// the no-op's (check/noop) when noop ran first.
func BenchmarkWire(b *testing.B) {
	var noopRate float64
	b.Run("noop", func(b *testing.B) {
		c := startWireServer(b, true)
		noopRate = runWire(b, c)
	})
	b.Run("check", func(b *testing.B) {
		c := startWireServer(b, false)
		rate := runWire(b, c)
		if noopRate > 0 {
			b.ReportMetric(rate/noopRate, "check/noop")
		}
	})
}

// startWireServer boots the real server on 127.0.0.1:0 with one direct grant
// and returns an authzed-go client for it. With noop, CheckPermission is
// answered by a handler that does no work.
func startWireServer(b *testing.B, noop bool) *authzed.Client {
	return startWireServerWith(b, Config{}, benchSchema, nil, noop)
}

// startWireServerWith is startWireServer with a configuration (store and keys
// are provided), a schema, and seed writing more data straight to the store.
func startWireServerWith(b *testing.B, cfg Config, schemaText string, seed func(store.Store), noop bool) *authzed.Client {
	b.Helper()
	ctx := context.Background()
	st := memory.New()
	b.Cleanup(func() { st.Close() })
	cfg.Store, cfg.Keys = st, []Key{{Secret: "k", Scopes: ScopeAll}}
	srv, err := New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	var h http.Handler = srv.Handler()
	if noop {
		opts := srv.handlerOptions() // the same options as every API handler
		resp := &v1.CheckPermissionResponse{Permissionship: v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION}
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.Handle(permissionsService+"CheckPermission", connect.NewUnaryHandler(permissionsService+"CheckPermission",
			func(context.Context, *connect.Request[v1.CheckPermissionRequest]) (*connect.Response[v1.CheckPermissionResponse], error) {
				return connect.NewResponse(resp), nil
			}, opts...))
		h = mux
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ws := wire.New(&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second})
	go ws.Serve(ln)
	b.Cleanup(func() { ws.Close() })

	c, err := authzed.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpcutil.WithInsecureBearerToken("k"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: schemaText}); err != nil {
		b.Fatal(err)
	}
	w, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
		Operation: v1.RelationshipUpdate_OPERATION_TOUCH,
		Relationship: &v1.Relationship{
			Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "d"}, Relation: "viewer",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
		},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	rev, err := srv.parseToken(w.WrittenAt)
	if err != nil {
		b.Fatal(err)
	}
	if seed != nil {
		seed(st)
		head, err := st.HeadRevision(ctx)
		if err != nil {
			b.Fatal(err)
		}
		rev = graph.Revision(head)
	}
	// Wait for the index, so the measured checks never block on consistency.
	if err := srv.waitFor(ctx, rev); err != nil {
		b.Fatal(err)
	}
	return c
}

// runWire runs CheckPermission from wireCallers goroutines, reports
// throughput and p50/p99 latency, and returns the throughput in RPC/s.
func runWire(b *testing.B, c *authzed.Client) float64 {
	return runWireCheck(b, c, context.Background(), "d")
}

// runWireCheck is runWire checking document doc with the metadata in ctx.
func runWireCheck(b *testing.B, c *authzed.Client, ctx context.Context, doc string) float64 {
	req := &v1.CheckPermissionRequest{
		Resource:   &v1.ObjectReference{ObjectType: "document", ObjectId: doc},
		Permission: "view",
		Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
	}
	// Warm the connection and the handler before timing.
	for range 100 {
		if _, err := c.CheckPermission(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism((wireCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			r, err := c.CheckPermission(ctx, req)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
			if r.Permissionship != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
				b.Errorf("permissionship = %v", r.Permissionship)
				return
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	rate := float64(len(all)) / elapsed.Seconds()
	b.ReportMetric(rate, "rpc/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	return rate
}
