package wire

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // clients that compress their requests
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// bridge answers every gRPC call grpc-go receives by handing it to h as the
// HTTP/2 gRPC request it arrived as: messages pass through as bytes (grpc-go
// has already undone any compression), the handler's response messages go back
// through grpc-go, and its gRPC trailers become the call's status.
type bridge struct {
	h http.Handler
}

// rawMessage is a message as bytes; rawCodec moves it without decoding:
// data is a received message, out one to send.
type rawMessage struct {
	data []byte
	out  mem.Buffer
}

type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, errors.New("wire: unexpected message type")
	}
	if m.out != nil {
		return mem.BufferSlice{m.out}, nil
	}
	return mem.BufferSlice{mem.SliceBuffer(m.data)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return errors.New("wire: unexpected message type")
	}
	m.data = data.Materialize()
	return nil
}

// Headers the bridge sets itself, or that describe grpc-go's framing rather
// than the call, are not copied from the call's metadata.
func skipRequestHeader(key string) bool {
	switch key {
	case "content-type", "te", "grpc-encoding", "grpc-accept-encoding", "grpc-timeout":
		return true
	}
	return strings.HasPrefix(key, ":")
}

func (b *bridge) serve(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "no method")
	}
	ctx := ss.Context()
	header := make(http.Header)
	md, _ := metadata.FromIncomingContext(ctx)
	for key, values := range md {
		if skipRequestHeader(key) {
			continue
		}
		ck := http.CanonicalHeaderKey(key)
		for _, v := range values {
			if strings.HasSuffix(key, "-bin") {
				// grpc-go decoded binary metadata; the handler expects it encoded.
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			header[ck] = append(header[ck], v)
		}
	}
	contentType := "application/grpc"
	if ct := md.Get("content-type"); len(ct) > 0 && strings.HasPrefix(ct[0], "application/grpc") {
		contentType = ct[0]
	}
	header.Set("Content-Type", contentType)
	header.Set("Te", "trailers")
	host := ""
	if a := md.Get(":authority"); len(a) > 0 {
		host = a[0]
	}
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           &url.URL{Path: method},
		RequestURI:    method,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        header,
		Body:          &requestBody{ss: ss},
		ContentLength: -1,
		Host:          host,
	}).WithContext(ctx)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		req.RemoteAddr = p.Addr.String()
	}
	w := &responseWriter{ss: ss, header: make(http.Header)}
	b.h.ServeHTTP(w, req)
	return w.finish()
}

// requestBody presents the call's messages as gRPC's length-prefixed stream.
type requestBody struct {
	ss     grpc.ServerStream
	prefix [5]byte
	head   []byte // what is left of the current message's prefix
	data   []byte // what is left of the current message
	err    error  // once set, the end of the stream
}

func (r *requestBody) Read(p []byte) (int, error) {
	for len(r.head) == 0 && len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		var m rawMessage
		if err := r.ss.RecvMsg(&m); err != nil {
			r.err = err
			continue
		}
		binary.BigEndian.PutUint32(r.prefix[1:5], uint32(len(m.data)))
		r.head, r.data = r.prefix[:], m.data
	}
	n := copy(p, r.head)
	r.head = r.head[n:]
	m := copy(p[n:], r.data)
	r.data = r.data[m:]
	return n + m, nil
}

func (r *requestBody) Close() error { return nil }

// responseWriter turns the handler's length-prefixed response messages into
// grpc-go messages and keeps its headers and trailers for the call's status.
type responseWriter struct {
	ss          grpc.ServerStream
	header      http.Header
	code        int
	pending     []byte // a partial message
	kind        int    // kindUnknown until the first write
	sentHeader  bool
	writeFailed error
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

// Flush implements http.Flusher; every complete message is sent at once.
func (w *responseWriter) Flush() {}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.writeFailed != nil {
		return 0, w.writeFailed
	}
	if w.kind == kindUnknown {
		// The headers are final from the first write on.
		w.kind = kindOther
		if w.grpcResponse() {
			w.kind = kindGRPC
		}
	}
	if w.kind != kindGRPC {
		// Not a gRPC response (say, a 404 page): finish maps its status.
		return len(p), nil
	}
	w.pending = append(w.pending, p...)
	off := 0
	for len(w.pending)-off >= 5 {
		n := int(binary.BigEndian.Uint32(w.pending[off+1 : off+5]))
		if len(w.pending)-off < 5+n {
			break
		}
		if w.pending[off]&1 != 0 {
			// The bridge asks for no compression, so the handler sends none.
			w.writeFailed = status.Error(codes.Internal, "compressed response message")
			return 0, w.writeFailed
		}
		if !w.sentHeader {
			w.sentHeader = true
			if md := w.metadata(false); len(md) > 0 {
				w.ss.SetHeader(md)
			}
		}
		// grpc-go may still hold the message after SendMsg returns, so it
		// gets a pooled buffer of its own, which grpc-go frees once written.
		pool := mem.DefaultBufferPool()
		buf := pool.Get(n)
		copy(*buf, w.pending[off+5:off+5+n])
		off += 5 + n
		if err := w.ss.SendMsg(&rawMessage{out: mem.NewBuffer(buf, pool)}); err != nil {
			w.writeFailed = err
			return 0, err
		}
	}
	// Keep a partial message at the start of the buffer, reusing it.
	w.pending = w.pending[:copy(w.pending, w.pending[off:])]
	return len(p), nil
}

// Whether a response is gRPC, decided at its first write.
const (
	kindUnknown = iota
	kindGRPC
	kindOther
)

// grpcResponse reports whether the handler is answering in gRPC.
func (w *responseWriter) grpcResponse() bool {
	return w.code == http.StatusOK && strings.HasPrefix(w.header.Get("Content-Type"), "application/grpc")
}

// metadata returns the handler's custom headers, or with trailers its
// custom trailers, as gRPC metadata.
func (w *responseWriter) metadata(trailers bool) metadata.MD {
	var md metadata.MD
	for key, values := range w.header {
		name, isTrailer := strings.CutPrefix(key, http.TrailerPrefix)
		if isTrailer != trailers {
			continue
		}
		lower := strings.ToLower(name)
		switch {
		case lower == "content-type", lower == "grpc-encoding", lower == "grpc-accept-encoding",
			lower == "grpc-status", lower == "grpc-message", lower == "grpc-status-details-bin", lower == "trailer":
			continue
		}
		for _, v := range values {
			if strings.HasSuffix(lower, "-bin") {
				if raw, err := decodeBinary(v); err == nil {
					v = string(raw)
				}
			}
			if md == nil {
				md = metadata.MD{}
			}
			md.Append(lower, v)
		}
	}
	return md
}

// trailer returns a gRPC trailer the handler set, as a trailer or (for a
// response that never started) as a header.
func (w *responseWriter) trailer(name string) (string, bool) {
	if v := w.header.Values(http.TrailerPrefix + name); len(v) > 0 {
		return v[0], true
	}
	for key, v := range w.header {
		if len(v) > 0 && strings.EqualFold(strings.TrimPrefix(key, http.TrailerPrefix), name) {
			return v[0], true
		}
	}
	return "", false
}

// finish returns the call's status from the handler's response.
func (w *responseWriter) finish() error {
	if w.writeFailed != nil {
		return w.writeFailed
	}
	if md := w.metadata(true); len(md) > 0 {
		w.ss.SetTrailer(md)
	}
	if len(w.pending) > 0 {
		return status.Error(codes.Internal, "truncated response message")
	}
	raw, ok := w.trailer("Grpc-Status")
	if !ok {
		return status.Error(httpStatusCode(w.code), "the handler sent no gRPC status")
	}
	code, err := strconv.ParseUint(raw, 10, 32)
	if err != nil {
		return status.Error(codes.Internal, "the handler sent an invalid gRPC status")
	}
	if code == 0 {
		return nil
	}
	if bin, ok := w.trailer("Grpc-Status-Details-Bin"); ok {
		if data, err := decodeBinary(bin); err == nil {
			var st spb.Status
			if proto.Unmarshal(data, &st) == nil && st.GetCode() == int32(code) {
				return status.FromProto(&st).Err()
			}
		}
	}
	msg, _ := w.trailer("Grpc-Message")
	if m, err := url.PathUnescape(msg); err == nil {
		msg = m
	}
	return status.Error(codes.Code(code), msg)
}

// httpStatusCode maps an HTTP status without gRPC trailers to a gRPC code as
// gRPC's HTTP-to-gRPC status mapping does.
func httpStatusCode(code int) codes.Code {
	switch code {
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}

// decodeBinary decodes a binary header, padded or not.
func decodeBinary(v string) ([]byte, error) {
	if len(v)%4 == 0 {
		return base64.StdEncoding.DecodeString(v)
	}
	return base64.RawStdEncoding.DecodeString(v)
}
