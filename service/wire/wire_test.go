package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	watchProcedure   = "/grpc.health.v1.Health/Watch"
	collectProcedure = "/wire.test.Stream/Collect"
	failProcedure    = "/wire.test.Stream/Fail"
)

// testHandler serves gRPC health Check (connect's grpchealth), a server
// stream, a client stream and a failing call, all with connect-go, and counts
// the requests that arrived through the gRPC bridge.
type testHandler struct {
	mux     *http.ServeMux
	bridged atomic.Int64
	direct  atomic.Int64
}

func newTestHandler() *testHandler {
	h := &testHandler{mux: http.NewServeMux()}
	h.mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker("svc")))
	h.mux.Handle(watchProcedure, connect.NewServerStreamHandler(watchProcedure,
		func(ctx context.Context, req *connect.Request[healthpb.HealthCheckRequest], stream *connect.ServerStream[healthpb.HealthCheckResponse]) error {
			stream.ResponseHeader().Set("X-Echo", req.Header().Get("X-Token"))
			for range 3 {
				if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
					return err
				}
			}
			stream.ResponseTrailer().Set("X-Sent", "3")
			return nil
		}))
	h.mux.Handle(collectProcedure, connect.NewClientStreamHandler(collectProcedure,
		func(ctx context.Context, stream *connect.ClientStream[healthpb.HealthCheckRequest]) (*connect.Response[healthpb.HealthCheckResponse], error) {
			var names []string
			for stream.Receive() {
				names = append(names, stream.Msg().GetService())
			}
			if err := stream.Err(); err != nil {
				return nil, err
			}
			resp := connect.NewResponse(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
			resp.Header().Set("X-Names", strings.Join(names, ","))
			return resp, nil
		}))
	h.mux.Handle(failProcedure, connect.NewUnaryHandler(failProcedure,
		func(ctx context.Context, req *connect.Request[healthpb.HealthCheckRequest]) (*connect.Response[healthpb.HealthCheckResponse], error) {
			err := connect.NewError(connect.CodeFailedPrecondition, errors.New("schema missing: 100% sure"))
			if d, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: "ERROR_REASON_TEST", Domain: "gatehouse"}); derr == nil {
				err.AddDetail(d)
			}
			bin := req.Header().Get("X-Raw-Bin")
			err.Meta().Set("X-Raw-Bin", bin) // echo binary metadata, still encoded
			return nil, err
		}))
	return h
}

func (h *testHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(*responseWriter); ok {
		h.bridged.Add(1)
	} else {
		h.direct.Add(1)
	}
	h.mux.ServeHTTP(w, r)
}

// start serves h with a Server on 127.0.0.1:0, plaintext or with tlsCfg.
func start(t *testing.T, h http.Handler, tlsCfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second})
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- s.ServeTLS(ln, tlsCfg)
			return
		}
		errc <- s.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

func grpcConn(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

// TestServe_RoutesEachProtocol: on one port, gRPC clients (grpc-go, and
// connect-go speaking gRPC over HTTP/2) go through the bridge, and Connect,
// gRPC-Web and plain HTTP/1 through net/http; all get answers.
func TestServe_RoutesEachProtocol(t *testing.T) {
	h := newTestHandler()
	addr := start(t, h, nil)
	ctx := context.Background()

	resp, err := healthpb.NewHealthClient(grpcConn(t, addr, nil)).Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc-go health check: %v, %v", resp, err)
	}
	if b, d := h.bridged.Load(), h.direct.Load(); b != 1 || d != 0 {
		t.Fatalf("grpc-go: bridged %d, direct %d; want 1, 0", b, d)
	}

	check := func(name string, client *http.Client, scheme string, opts ...connect.ClientOption) {
		t.Helper()
		c := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](client, scheme+addr+"/grpc.health.v1.Health/Check", opts...)
		r, err := c.CallUnary(ctx, connect.NewRequest(&healthpb.HealthCheckRequest{Service: "svc"}))
		if err != nil || r.Msg.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%s: %v, %v", name, r, err)
		}
	}
	h.bridged.Store(0)
	check("connect gRPC over h2c", h2cClient(), "http://", connect.WithGRPC())
	if b, d := h.bridged.Load(), h.direct.Load(); b != 1 || d != 0 {
		t.Fatalf("connect gRPC over h2c: bridged %d, direct %d; want 1, 0", b, d)
	}
	h.bridged.Store(0)
	check("Connect over HTTP/1.1", http.DefaultClient, "http://")
	check("Connect over h2c", h2cClient(), "http://")
	check("gRPC-Web over HTTP/1.1", http.DefaultClient, "http://", connect.WithGRPCWeb())
	check("gRPC-Web over h2c", h2cClient(), "http://", connect.WithGRPCWeb())
	if b, d := h.bridged.Load(), h.direct.Load(); b != 0 || d != 4 {
		t.Fatalf("Connect and gRPC-Web: bridged %d, direct %d; want 0, 4", b, d)
	}

	// An HTTP/1.0 request shorter than the HTTP/2 preface is answered at once.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.0 404") {
		t.Fatalf("short HTTP/1.0 request: %q, %v", line, err)
	}
}

// TestBridge_ErrorsAndMetadata: the handler's gRPC status, message, error
// details and metadata reach a grpc-go client as they would through net/http.
func TestBridge_ErrorsAndMetadata(t *testing.T) {
	addr := start(t, newTestHandler(), nil)
	raw := string([]byte{0, 1, 2, 0xff})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-raw-bin", raw)
	var trailer metadata.MD
	err := grpcConn(t, addr, nil).Invoke(ctx, failProcedure, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}, grpc.Trailer(&trailer))
	st, _ := status.FromError(err)
	if st.Code() != codes.FailedPrecondition || st.Message() != "schema missing: 100% sure" {
		t.Fatalf("status = %v %q, want FailedPrecondition with the handler's message", st.Code(), st.Message())
	}
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	if reason != "ERROR_REASON_TEST" {
		t.Errorf("details = %v, want the ErrorInfo reason", st.Details())
	}
	if got := trailer.Get("x-raw-bin"); len(got) != 1 || got[0] != raw {
		t.Errorf("binary metadata echoed as %q, want %q", got, raw)
	}

	// Unknown methods are Unimplemented, as net/http's 404 maps.
	err = grpcConn(t, addr, nil).Invoke(context.Background(), "/no.Such/Method", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v, want Unimplemented", err)
	}
}

// TestBridge_Streams: server and client streams pass every message, and
// headers and trailers, through the bridge.
func TestBridge_Streams(t *testing.T) {
	addr := start(t, newTestHandler(), nil)
	cc := grpcConn(t, addr, nil)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-token", "t1")

	ws, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, watchProcedure)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	ws.CloseSend()
	n := 0
	for {
		var m healthpb.HealthCheckResponse
		err := ws.RecvMsg(&m)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("server stream: %v", err)
		}
		n++
	}
	hdr, _ := ws.Header()
	if n != 3 || hdr.Get("x-echo")[0] != "t1" || ws.Trailer().Get("x-sent")[0] != "3" {
		t.Errorf("server stream: %d messages, header %v, trailer %v; want 3, x-echo t1, x-sent 3", n, hdr, ws.Trailer())
	}

	cs, err := cc.NewStream(context.Background(), &grpc.StreamDesc{ClientStreams: true}, collectProcedure)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := cs.SendMsg(&healthpb.HealthCheckRequest{Service: name}); err != nil {
			t.Fatal(err)
		}
	}
	cs.CloseSend()
	var resp healthpb.HealthCheckResponse
	if err := cs.RecvMsg(&resp); err != nil {
		t.Fatalf("client stream: %v", err)
	}
	hdr, _ = cs.Header()
	if got := hdr.Get("x-names"); len(got) != 1 || got[0] != "a,b,c" {
		t.Errorf("client stream: handler saw %v, want a,b,c", got)
	}
}

// TestServeTLS: over TLS, gRPC goes through the bridge and HTTPS clients
// (HTTP/2 by ALPN and HTTP/1.1) through net/http.
func TestServeTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	h := newTestHandler()
	addr := start(t, h, &tls.Config{Certificates: []tls.Certificate{cert}})
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})
	resp, err := healthpb.NewHealthClient(grpcConn(t, addr, creds)).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc over TLS: %v, %v", resp, err)
	}
	for _, h2 := range []bool{true, false} {
		p := new(http.Protocols)
		p.SetHTTP1(!h2)
		p.SetHTTP2(h2)
		hc := &http.Client{Transport: &http.Transport{Protocols: p, TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
		c := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](hc, "https://"+addr+"/grpc.health.v1.Health/Check")
		if _, err := c.CallUnary(context.Background(), connect.NewRequest(&healthpb.HealthCheckRequest{Service: "svc"})); err != nil {
			t.Fatalf("Connect over TLS (h2 %v): %v", h2, err)
		}
	}
	if b, d := h.bridged.Load(), h.direct.Load(); b != 1 || d != 2 {
		t.Errorf("bridged %d, direct %d; want 1, 2", b, d)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestClassify_ClientWaitsForServerSettings: a client that sends nothing after
// its preface and SETTINGS until it has the server's (as grpc-java does) gets
// them, and then both a gRPC and a non-gRPC first request are answered
// (net/http must not see the acknowledgement of SETTINGS it never sent).
func TestClassify_ClientWaitsForServerSettings(t *testing.T) {
	addr := start(t, newTestHandler(), nil)
	for _, grpcReq := range []bool{true, false} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, http2.ClientPreface)
		fr := http2.NewFramer(c, c)
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		fr.WriteSettings()
		// Wait for the server's SETTINGS, acknowledging every SETTINGS.
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("grpc %v: waiting for server SETTINGS: %v", grpcReq, err)
			}
			if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
				fr.WriteSettingsAck()
				break
			}
		}
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		field := func(k, v string) { enc.WriteField(hpack.HeaderField{Name: k, Value: v}) }
		field(":method", "POST")
		field(":scheme", "http")
		field(":authority", addr)
		field(":path", "/grpc.health.v1.Health/Check")
		var body []byte
		if grpcReq {
			field("content-type", "application/grpc")
			field("te", "trailers")
			body = []byte{0, 0, 0, 0, 0} // an empty message
		} else {
			field("content-type", "application/proto")
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
		fr.WriteData(1, true, body)
		var statusCode, grpcStatus string
		for statusCode == "" || (grpcReq && grpcStatus == "") {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("grpc %v: reading response: %v", grpcReq, err)
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				t.Fatalf("grpc %v: server sent GOAWAY %v", grpcReq, f.ErrCode)
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.MetaHeadersFrame:
				if s := f.PseudoValue("status"); s != "" {
					statusCode = s
				}
				for _, hf := range f.RegularFields() {
					if hf.Name == "grpc-status" {
						grpcStatus = hf.Value
					}
				}
			}
		}
		if statusCode != "200" || (grpcReq && grpcStatus != "0") {
			t.Errorf("grpc %v: status %s, grpc-status %q; want 200 and (for gRPC) 0", grpcReq, statusCode, grpcStatus)
		}
		c.Close()
	}
}

// TestAckFilter drops exactly the first empty SETTINGS acknowledgement after
// the preface, however the stream is split into reads.
func TestAckFilter(t *testing.T) {
	var in, want bytes.Buffer
	in.WriteString(http2.ClientPreface)
	want.WriteString(http2.ClientPreface)
	both := func(write func(fr *http2.Framer)) {
		write(http2.NewFramer(&in, nil))
		write(http2.NewFramer(&want, nil))
	}
	both(func(fr *http2.Framer) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	})
	both(func(fr *http2.Framer) { fr.WriteWindowUpdate(0, 1000) })
	// A DATA frame whose payload looks like a SETTINGS ack header must pass.
	both(func(fr *http2.Framer) { fr.WriteData(1, false, []byte{0, 0, 0, 4, 1, 0, 0, 0, 0}) })
	http2.NewFramer(&in, nil).WriteSettingsAck() // dropped
	both(func(fr *http2.Framer) { fr.WriteSettingsAck() })
	both(func(fr *http2.Framer) { fr.WritePing(false, [8]byte{1}) })
	stream := in.Bytes()
	for chunk := 1; chunk <= len(stream); chunk++ {
		f := &ackFilter{}
		var out []byte
		for off := 0; off < len(stream); off += chunk {
			p := append([]byte(nil), stream[off:min(off+chunk, len(stream))]...)
			if f.done() {
				out = append(out, p...)
				continue
			}
			out = append(out, f.apply(p)...)
		}
		if !bytes.Equal(out, want.Bytes()) {
			t.Fatalf("chunk %d: filtered stream differs (%d bytes, want %d)", chunk, len(out), want.Len())
		}
	}
}

// FuzzClassify: whatever a client sends first, classify returns, and the
// connection it returns replays exactly the bytes the client sent.
func FuzzClassify(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte(http2.ClientPreface))
	var h2 bytes.Buffer
	h2.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&h2, nil)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	enc.WriteField(hpack.HeaderField{Name: ":path", Value: "/x"})
	enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc"})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	f.Add(h2.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		defer client.Close()
		go func() {
			client.Write(data)
			client.Close()
		}()
		rc, _, err := classify(server, time.Second)
		if err != nil {
			if len(data) != 0 {
				t.Fatalf("classify failed on %d bytes: %v", len(data), err)
			}
			return
		}
		got, _ := io.ReadAll(rc)
		if !bytes.Equal(got, data) {
			t.Fatalf("replayed %q, want %q", got, data)
		}
	})
}
