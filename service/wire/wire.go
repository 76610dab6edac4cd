// Package wire serves one http.Handler on one listener for every protocol
// gatehouse speaks — gRPC, gRPC-Web, Connect, REST and JSON over HTTP/1.1 and
// HTTP/2 — and gives gRPC clients grpc-go's HTTP/2 transport.
//
// net/http's HTTP/2 server writes every frame of a response with its own
// system call (headers, message, trailers: three per unary RPC), which caps a
// 2-core machine at about a third of what grpc-go's transport reaches, since
// grpc-go batches the frames of many streams into one write. So each new
// connection is classified by its first request: an HTTP/2 connection whose
// first request is gRPC (content-type application/grpc, not gRPC-Web) is
// served by a grpc.Server whose only handler hands every call, as an
// in-memory HTTP request, to the same http.Handler; everything else is served
// by net/http as before. The handler (connect-go's) sees the same request
// either way, so authentication, limits, errors and metrics are the same code.
package wire

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Server serves an http.Handler on a listener; see the package comment.
type Server struct {
	// HTTP serves the connections that are not gRPC over HTTP/2. Its Handler
	// also answers the gRPC connections' calls.
	HTTP *http.Server
	grpc *grpc.Server

	mu     sync.Mutex
	outer  []net.Listener
	httpLn *chanListener
	grpcLn *chanListener
	done   chan struct{}
	closed bool
}

// New returns a Server for hs. hs.Handler answers every call. net/http is
// handed connections already decrypted, so when hs.Protocols is nil New sets
// HTTP/1 and unencrypted HTTP/2 (for TLS too). ReadHeaderTimeout (default
// 10s) also bounds how long a new connection may take to send its first
// request.
func New(hs *http.Server) *Server {
	if hs.Protocols == nil {
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		hs.Protocols.SetUnencryptedHTTP2(true)
	}
	b := &bridge{h: hs.Handler}
	s := &Server{HTTP: hs, done: make(chan struct{})}
	maxHeader := uint32(hs.MaxHeaderBytes)
	if hs.MaxHeaderBytes <= 0 {
		maxHeader = http.DefaultMaxHeaderBytes
	}
	s.grpc = grpc.NewServer(
		grpc.UnknownServiceHandler(b.serve),
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxHeaderListSize(maxHeader),
		grpc.ConnectionTimeout(s.headerTimeout()),
		// The handler enforces its own read limit; grpc-go's must not be lower.
		grpc.MaxRecvMsgSize(64<<20),
		grpc.MaxConcurrentStreams(1000),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	return s
}

func (s *Server) headerTimeout() time.Duration {
	if s.HTTP.ReadHeaderTimeout > 0 {
		return s.HTTP.ReadHeaderTimeout
	}
	return 10 * time.Second
}

// Serve accepts plaintext connections on ln (HTTP/1.1 and h2c) until
// Shutdown or Close, and then returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	return s.serve(ln)
}

// ServeTLS is Serve on TLS connections, with cfg (HTTP/2 is negotiated by
// ALPN; cfg.NextProtos gets "h2" and "http/1.1" when it names none).
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	cfg = cfg.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	return s.serve(tls.NewListener(ln, cfg))
}

func (s *Server) serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.outer = append(s.outer, ln)
	start := s.httpLn == nil
	if start {
		s.httpLn = newChanListener(ln.Addr(), s.done)
		s.grpcLn = newChanListener(ln.Addr(), s.done)
	}
	httpLn, grpcLn := s.httpLn, s.grpcLn
	s.mu.Unlock()
	if start {
		go s.HTTP.Serve(httpLn)
		go s.grpc.Serve(grpcLn)
	}
	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return http.ErrServerClosed
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			return err
		}
		tempDelay = 0
		go s.route(c, httpLn, grpcLn)
	}
}

// route classifies c and hands it to the server for its protocol.
func (s *Server) route(c net.Conn, httpLn, grpcLn *chanListener) {
	if tc, ok := c.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(s.headerTimeout()))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return
		}
		tc.SetDeadline(time.Time{})
	}
	rc, isGRPC, err := classify(c, s.headerTimeout())
	if err != nil {
		c.Close()
		return
	}
	if isGRPC {
		grpcLn.deliver(rc)
		return
	}
	httpLn.deliver(rc)
}

// Shutdown stops accepting connections and waits, until ctx ends, for calls
// in flight to finish; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	err := s.HTTP.Shutdown(ctx)
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	s.grpc.Stop()
	return s.HTTP.Close()
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	for _, ln := range s.outer {
		ln.Close()
	}
	s.outer = slices.Delete(s.outer, 0, len(s.outer))
}

// chanListener is a net.Listener fed with classified connections.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  <-chan struct{}
}

func newChanListener(addr net.Addr, done <-chan struct{}) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: done}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept implements net.Listener.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; the Server closes its listeners itself.
func (l *chanListener) Close() error { return nil }

// Addr implements net.Listener.
func (l *chanListener) Addr() net.Addr { return l.addr }
