// Package enforce lets a Go service enforce gatehouse's decisions in-process:
// net/http middleware and a connect-go interceptor that ask gatehouse's
// AuthorizeService the route map's question about each request, for the end
// user whose token the request carries, and answer as the gateway's
// forward-auth and the mesh's ext_authz do for the same request.
//
// It fails closed: when gatehouse does not answer within the deadline, or
// answers with an error, the request is refused.
package enforce

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
	"github.com/gatehouse-dev/gatehouse/routes"
)

// Decisions take at most DefaultTimeout unless configured otherwise; a
// cache, when on, keeps them defaultCacheTTL and at most defaultCacheMaxKeys.
const (
	DefaultTimeout        = 500 * time.Millisecond
	defaultCacheTTL       = time.Second
	defaultCacheMaxKeys   = 10_000
	maxCachedContextBytes = 1024
)

// Config configures an Enforcer.
type Config struct {
	// Routes is the route map (required): the same file the gateway's
	// gatehouse uses, so the rules cannot drift.
	Routes *routes.Holder
	// Client calls gatehouse's AuthorizeService (required), with a preshared
	// key of the check scope (see gatehousev1connect.NewAuthorizeServiceClient
	// and a connect interceptor setting Authorization).
	Client gatehousev1connect.AuthorizeServiceClient
	// Timeout bounds each decision (default DefaultTimeout); past it the
	// request is refused with 503 UNAVAILABLE.
	Timeout time.Duration
	// Cache, when set, remembers decisions for a short while; off when nil.
	Cache *Cache
}

// Enforcer asks gatehouse about requests.
type Enforcer struct {
	cfg Config
}

// New returns an Enforcer for cfg.
func New(cfg Config) (*Enforcer, error) {
	if cfg.Routes == nil || cfg.Routes.Map() == nil {
		return nil, errors.New("enforce: a route map is required")
	}
	if cfg.Client == nil {
		return nil, errors.New("enforce: an AuthorizeService client is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Enforcer{cfg: cfg}, nil
}

// Decide answers whether r may pass, for the end user whose token the
// authorization value ("Bearer ...") carries.
func (e *Enforcer) Decide(ctx context.Context, r routes.Request, authorization string) Verdict {
	q, token, early, decide := Question(e.cfg.Routes.Map(), r, authorization)
	if !decide {
		return early
	}
	var err error
	req := &gatehousev1.AuthorizeRequest{
		Resource:     &gatehousev1.ObjectRef{ObjectType: q.Resource.Type, ObjectId: q.Resource.ID},
		Permission:   q.Permission,
		SubjectToken: token,
	}
	if q.Subject != nil {
		req.Subject = &gatehousev1.SubjectRef{Object: &gatehousev1.ObjectRef{ObjectType: q.Subject.Type, ObjectId: q.Subject.ID}}
	}
	if len(q.Context) > 0 {
		if req.Context, err = structpb.NewStruct(q.Context); err != nil {
			return Refused(http.StatusForbidden, ReasonInvalidRequest)
		}
	}
	if t := strings.TrimSpace(r.Header.Get(ConsistencyHeader)); t != "" {
		req.Consistency = &gatehousev1.Consistency{Requirement: &gatehousev1.Consistency_AtLeastAsFresh{AtLeastAsFresh: t}}
	}
	key, cacheable := "", false
	if e.cfg.Cache != nil {
		if key, cacheable = cacheKey(req); cacheable {
			if v, ok := e.cfg.Cache.get(key); ok {
				return v
			}
		}
	}
	v := e.ask(ctx, req)
	if cacheable && v.Status != http.StatusServiceUnavailable && v.Status != http.StatusInternalServerError {
		e.cfg.Cache.put(key, v)
	}
	return v
}

// ask calls gatehouse, failing closed past the deadline.
func (e *Enforcer) ask(ctx context.Context, req *gatehousev1.AuthorizeRequest) Verdict {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	resp, err := e.cfg.Client.Authorize(ctx, connect.NewRequest(req))
	if err != nil {
		return FromError(err)
	}
	m := resp.Msg
	v := Verdict{Revision: m.GetCheckedAt()}
	switch m.GetDecision() {
	case gatehousev1.Decision_DECISION_ALLOWED:
		o := m.GetSubject().GetObject()
		v.Status, v.Subject = http.StatusOK, o.GetObjectType()+":"+o.GetObjectId()
	case gatehousev1.Decision_DECISION_CONDITIONAL:
		v.Status, v.Reason = http.StatusForbidden, ReasonMissingContext
	default:
		v.Status, v.Reason = http.StatusForbidden, ReasonDenied
	}
	return v
}

// Middleware refuses requests gatehouse does not allow, answering with the
// verdict's status and reason; it passes the others to next with the
// Gatehouse-Subject and Gatehouse-Revision headers set on the request.
func (e *Enforcer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := e.Decide(r.Context(), routes.Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header},
			r.Header.Get("Authorization"))
		if v.Revision != "" {
			w.Header().Set(RevisionHeader, v.Revision)
		}
		if !v.Allowed() {
			w.Header().Set(ReasonHeader, v.Reason)
			http.Error(w, http.StatusText(v.Status)+": "+v.Reason, v.Status)
			return
		}
		r = r.Clone(r.Context())
		r.Header.Del(SubjectHeader) // never the client's
		if v.Subject != "" {
			r.Header.Set(SubjectHeader, v.Subject)
		}
		next.ServeHTTP(w, r)
	})
}
