// Package service serves SpiceDB's authzed.api.v1 API over connect-go on top of the graph engine.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/graph"
	"github.com/gatehouse-dev/gatehouse/routes"
	"github.com/gatehouse-dev/gatehouse/schema"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// Limits are SpiceDB's defaults.
const (
	MaxUpdatesPerWrite   = 1000
	MaxPreconditions     = 1000
	MaxChecksPerBulk     = 10000
	MaxCaveatContextSize = 4096
	MaxDeleteLimit       = 1000
	DefaultReadLimit     = 1000
)

// Config configures a Server.
type Config struct {
	Store store.Store
	// Keys are the accepted preshared keys. At least one is required.
	Keys []Key
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// ConsistencyTimeout bounds how long a request waits for the index to
	// catch up with a revision (default 2s).
	ConsistencyTimeout time.Duration
	// Verifier checks the subject tokens requests carry (Gatehouse-Subject-Token);
	// without one, a request with a token is refused.
	Verifier TokenVerifier
	// MaxAttributeBytes bounds an object's attributes as compact JSON
	// (default store.DefaultMaxAttributeBytes).
	MaxAttributeBytes int
	// StoreID names the datastore in ZedTokens, so tokens from another store are refused.
	StoreID string
	// GCWindow is how long history stays readable (at_exact_snapshot, Watch);
	// default 24h. GC runs every GCWindow/24 (at least every 10 minutes).
	GCWindow time.Duration
	// Interceptors wrap every API handler, outside authentication so that
	// rejected requests are seen too (for example Metrics.Interceptor).
	Interceptors []connect.Interceptor
	// Routes is the route map the enforcement endpoints (forward-auth) ask
	// their questions by; without one they refuse every request.
	Routes *routes.Holder
}

// Server holds the index and schema for one store and serves the API.
type Server struct {
	cfg   Config
	st    store.Store
	ix    *graph.Index
	sch   atomic.Pointer[schema.Schema]
	log   *slog.Logger
	waitM sync.Mutex
	waitC chan struct{} // closed and replaced whenever the index advances

	cancel context.CancelFunc
	done   chan struct{}
	ferr   atomic.Pointer[error]
	// appliedAt is the commit time (unix nanos) of the newest change the index
	// has applied; store GC never cuts past it, so the follower cannot fall
	// behind the retained history.
	appliedAt atomic.Int64
}

// New loads the store's schema and relationships into a fresh index and starts
// following the store's change stream.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("service: no store")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("service: no preshared key configured")
	}
	if cfg.ConsistencyTimeout <= 0 {
		cfg.ConsistencyTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StoreID == "" {
		cfg.StoreID = "gatehouse"
	}
	if cfg.GCWindow <= 0 {
		cfg.GCWindow = 24 * time.Hour
	}
	s := &Server{cfg: cfg, st: cfg.Store, ix: graph.NewIndex(), log: cfg.Logger, waitC: make(chan struct{}), done: make(chan struct{})}
	sv, err := s.st.ReadSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	if sv.Text != "" {
		sch, err := schema.Compile(sv.Text)
		if err != nil {
			return nil, fmt.Errorf("stored schema does not compile: %w", err)
		}
		s.sch.Store(sch)
	}
	batch := make([]tuple.Relationship, 0, 10000)
	var loadRev graph.Revision
	var attrs []graph.ObjectAttributes
	rev, err := s.st.Snapshot(ctx, func(r tuple.Relationship) error {
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			err := s.ix.Load(loadRev, batch)
			batch = batch[:0]
			return err
		}
		return nil
	}, func(oa store.ObjectAttributes) error {
		attrs = append(attrs, graph.ObjectAttributes{Object: oa.Object, Values: oa.Values})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	// Load everything at the snapshot's revision (batches above went in at 0).
	if err := s.ix.Load(graph.Revision(rev), batch); err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	if err := s.ix.LoadAttributes(graph.Revision(rev), attrs); err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.follow(fctx, rev)
	go s.collect(fctx)
	return s, nil
}

// collect drops history older than the GC window from the store and the index.
func (s *Server) collect(ctx context.Context) {
	every := min(s.cfg.GCWindow/24, 10*time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := time.Now().Add(-s.cfg.GCWindow)
		n := 0
		if applied := s.appliedAt.Load(); applied != 0 {
			var err error
			n, err = s.st.GC(ctx, minTime(before, time.Unix(0, applied)))
			if err != nil && ctx.Err() == nil {
				s.log.Warn("datastore garbage collection failed", "err", err)
			}
		}
		m := s.ix.GC(before)
		if n > 0 || m > 0 {
			s.log.Info("garbage collected history", "store_versions", n, "index_versions", m)
		}
	}
}

// Close stops following the store. It does not close the store.
func (s *Server) Close() {
	s.cancel()
	<-s.done
}

func (s *Server) follow(ctx context.Context, from store.Revision) {
	defer close(s.done)
	err := s.st.Changes(ctx, from, func(c store.Change) error {
		if c.Schema != nil {
			sch, err := schema.Compile(*c.Schema)
			if err != nil {
				return fmt.Errorf("schema at revision %d: %w", c.Revision, err)
			}
			s.sch.Store(sch)
		}
		muts := make([]graph.Mutation, len(c.Updates))
		for i, u := range c.Updates {
			muts[i] = graph.Mutation{Delete: u.Op == store.OpDelete, Relationship: u.Relationship}
		}
		attrs := make([]graph.ObjectAttributes, len(c.Attributes))
		for i, a := range c.Attributes {
			attrs[i] = graph.ObjectAttributes{Object: a.Object, Values: a.Values}
		}
		if err := s.ix.Apply(graph.Revision(c.Revision), muts, attrs...); err != nil {
			return err
		}
		s.appliedAt.Store(c.Timestamp.UnixNano())
		s.advanced()
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("change stream stopped", "err", err)
		s.ferr.Store(&err)
		s.advanced()
	}
}

func (s *Server) advanced() {
	s.waitM.Lock()
	close(s.waitC)
	s.waitC = make(chan struct{})
	s.waitM.Unlock()
}

// waitFor blocks until the index has applied rev, bounded by the consistency timeout.
func (s *Server) waitFor(ctx context.Context, rev graph.Revision) error {
	deadline := time.NewTimer(s.cfg.ConsistencyTimeout)
	defer deadline.Stop()
	for {
		s.waitM.Lock()
		ch := s.waitC
		s.waitM.Unlock()
		if s.ix.Head() >= rev {
			return nil
		}
		if p := s.ferr.Load(); p != nil {
			return connect.NewError(connect.CodeUnavailable, errors.New("the index stopped following the datastore"))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return connect.NewError(connect.CodeUnavailable, fmt.Errorf("index did not reach revision %d within %v", rev, s.cfg.ConsistencyTimeout))
		}
	}
}

// latestSchema returns the schema a write is validated against: the newest in
// the store, which another replica may have written moments ago, so the index
// first catches up with the store's head.
func (s *Server) latestSchema(ctx context.Context) (*schema.Schema, error) {
	head, err := s.st.HeadRevision(ctx)
	if err != nil {
		return nil, toConnect(s.log, err)
	}
	if err := s.waitFor(ctx, graph.Revision(head)); err != nil {
		return nil, err
	}
	return s.schema()
}

// schema returns the current schema or FailedPrecondition when none was written.
func (s *Server) schema() (*schema.Schema, error) {
	sch := s.sch.Load()
	if sch == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("no schema has been defined; call WriteSchema first"))
	}
	return sch, nil
}

// token is the ZedToken of rev (see refs.go).
func (s *Server) token(rev graph.Revision) *v1.ZedToken {
	return &v1.ZedToken{Token: s.encodeRef("gh1", int64(rev))}
}

func (s *Server) parseToken(t *v1.ZedToken) (graph.Revision, error) {
	rev, _, err := s.decodeRef("gh1", t.GetToken(), false)
	switch {
	case errors.Is(err, errOtherStore):
		return 0, connect.NewError(connect.CodeInvalidArgument, errors.New("zedtoken is for another datastore"))
	case err != nil:
		return 0, connect.NewError(connect.CodeInvalidArgument, errors.New("invalid zedtoken"))
	}
	return graph.Revision(rev), nil
}

// snapshot picks the snapshot a read is served from, per SpiceDB's consistency modes.
func (s *Server) snapshot(ctx context.Context, c *v1.Consistency) (*graph.Snapshot, error) {
	switch {
	case c.GetFullyConsistent():
		head, err := s.st.HeadRevision(ctx)
		if err != nil {
			return nil, toConnect(s.log, err)
		}
		if err := s.waitFor(ctx, graph.Revision(head)); err != nil {
			return nil, err
		}
		return s.ix.Snapshot(graph.Revision(head))
	case c.GetAtLeastAsFresh() != nil:
		rev, err := s.parseToken(c.GetAtLeastAsFresh())
		if err != nil {
			return nil, err
		}
		if err := s.waitFor(ctx, rev); err != nil {
			return nil, err
		}
		return s.ix.Snapshot(0)
	case c.GetAtExactSnapshot() != nil:
		rev, err := s.parseToken(c.GetAtExactSnapshot())
		if err != nil {
			return nil, err
		}
		if err := s.waitFor(ctx, rev); err != nil {
			return nil, err
		}
		snap, err := s.ix.Snapshot(rev)
		if err != nil {
			return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("specified revision is no longer available: it is older than the garbage collection window"))
		}
		return snap, nil
	default:
		return s.ix.Snapshot(0)
	}
}

// handlerOptions are the options of every API handler: interceptors (auth
// innermost), compression threshold, message size limit, the binary codec,
// panic recovery.
func (s *Server) handlerOptions() []connect.HandlerOption {
	return s.handlerOptionsWith(s.authInterceptor())
}

// handlerOptionsWith is handlerOptions with auth as the innermost
// interceptor; nil for a handler that authenticates its callers itself.
func (s *Server) handlerOptionsWith(auth connect.Interceptor) []connect.HandlerOption {
	interceptors := append([]connect.Interceptor(nil), s.cfg.Interceptors...)
	if auth != nil {
		interceptors = append(interceptors, auth)
	}
	return []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		connect.WithCompressMinBytes(1024),
		connect.WithReadMaxBytes(4 << 20),
		connect.WithCodec(protoCodec{}),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
			s.log.Error("panic in handler", "procedure", spec.Procedure, "panic", fmt.Sprint(p))
			return connect.NewError(connect.CodeInternal, errors.New("internal error"))
		}),
	}
}

// Handler returns the HTTP handler serving every service, behind authentication.
func (s *Server) Handler() http.Handler {
	opts := s.handlerOptions()
	mux := http.NewServeMux()
	s.registerPermissions(mux, opts)
	s.registerSchema(mux, opts)
	s.registerBulk(mux, opts)
	s.registerWatch(mux, opts)
	s.registerReflection(mux, opts)
	s.registerAttributes(mux, opts)
	s.registerAuthorize(mux, opts)
	mux.HandleFunc(ForwardAuthPath, s.forwardAuth)
	s.registerExtAuthz(mux, s.handlerOptionsWith(nil))
	// Health and reflection are open: probes and tools such as grpcurl use them,
	// and they reveal only the public API.
	services := []string{"authzed.api.v1.PermissionsService", "authzed.api.v1.SchemaService", "authzed.api.v1.WatchService",
		gatehousev1connect.AttributeServiceName, gatehousev1connect.AuthorizeServiceName, "envoy.service.auth.v3.Authorization"}
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(services...)))
	reflector := grpcreflect.NewStaticReflector(services...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	return mustREST(mux)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
