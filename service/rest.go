package service

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	// Registers the authzed descriptors, with their google.api.http rules, in
	// protoregistry.GlobalFiles, where vanguard looks services up.
	_ "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// restServices are the services whose google.api.http annotations are served
// as SpiceDB's REST (JSON over HTTP) API.
var restServices = []string{
	"authzed.api.v1.PermissionsService",
	"authzed.api.v1.SchemaService",
	"authzed.api.v1.WatchService",
}

// withREST serves SpiceDB's REST paths (/v1/...) next to the RPC handlers in
// next, by transcoding them with vanguard onto next's Connect handlers, so
// authentication and every other handler option still apply. Other requests
// go straight to next, keeping the gRPC and Connect paths free of the
// transcoder.
func withREST(next http.Handler) (http.Handler, error) {
	services := make([]*vanguard.Service, len(restServices))
	for i, name := range restServices {
		services[i] = vanguard.NewService(name, next, vanguard.WithTargetProtocols(vanguard.ProtocolConnect))
	}
	tc, err := vanguard.NewTranscoder(services, vanguard.WithUnknownHandler(next))
	if err != nil {
		return nil, fmt.Errorf("rest transcoder: %w", err)
	}
	streams, err := streamRoutes(restServices)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		if procedure, ok := streams[r.URL.Path]; ok {
			serveRESTStream(w, r, next, procedure)
			return
		}
		tc.ServeHTTP(w, r)
	}), nil
}

// streamRoutes maps the REST path of each server-streaming method to its
// procedure. vanguard v0.4.0 refuses server streams over REST (415), so these
// are served by serveRESTStream instead.
func streamRoutes(services []string) (map[string]string, error) {
	ext, err := protoregistry.GlobalTypes.FindExtensionByName("google.api.http")
	if err != nil {
		return nil, fmt.Errorf("rest: google.api.http: %w", err)
	}
	routes := map[string]string{}
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("rest: %w", err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("rest: %s is not a service", name)
		}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			opts := md.Options().ProtoReflect()
			if !md.IsStreamingServer() || md.IsStreamingClient() || !opts.Has(ext.TypeDescriptor()) {
				continue
			}
			rule := opts.Get(ext.TypeDescriptor()).Message()
			post := rule.Get(rule.Descriptor().Fields().ByName("post")).String()
			if post != "" && !strings.Contains(post, "{") {
				routes[post] = "/" + name + "/" + string(md.Name())
			}
		}
	}
	return routes, nil
}

// serveRESTStream serves a server-streaming method as grpc-gateway (and so
// SpiceDB) does: the JSON request in, one `{"result": ...}` line per message
// out, and a final `{"error": ...}` line if the stream fails after it started.
// It calls next with the Connect streaming protocol in JSON, so handler
// options and authentication apply as for any other call.
func serveRESTStream(w http.ResponseWriter, r *http.Request, next http.Handler, procedure string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeRESTError(w, connect.CodeUnimplemented, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		writeRESTError(w, connect.CodeUnimplemented, http.StatusUnsupportedMediaType, "compressed request bodies are not supported on streaming endpoints")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		writeRESTError(w, connect.CodeInvalidArgument, http.StatusBadRequest, "request body too large or unreadable")
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	env := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(env[1:], uint32(len(body)))
	env = append(env, body...)

	in := r.Clone(r.Context())
	in.URL.Path, in.URL.RawPath, in.RequestURI = procedure, "", ""
	in.Body, in.ContentLength = io.NopCloser(bytes.NewReader(env)), int64(len(env))
	in.Header.Del("Content-Length")
	in.Header.Del("Accept-Encoding")
	in.Header.Del("Content-Encoding")
	in.Header.Set("Content-Type", "application/connect+json")
	sw := &streamWriter{w: w, header: http.Header{}}
	next.ServeHTTP(sw, in)
	sw.finish()
}

// streamWriter turns a Connect streaming response into grpc-gateway's
// newline-delimited JSON.
type streamWriter struct {
	w       http.ResponseWriter
	header  http.Header
	status  int
	raw     bool // a non-Connect response (such as a 404 from the mux), copied as is
	started bool // a result line has been written
	buf     []byte
}

func (s *streamWriter) Header() http.Header { return s.header }

func (s *streamWriter) WriteHeader(code int) {
	if s.status != 0 {
		return
	}
	s.status = code
	if code != http.StatusOK || !strings.HasPrefix(s.header.Get("Content-Type"), "application/connect+json") {
		s.raw = true
		for k, v := range s.header {
			s.w.Header()[k] = v
		}
		s.w.WriteHeader(code)
	}
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	if s.raw {
		return s.w.Write(p)
	}
	s.buf = append(s.buf, p...)
	for len(s.buf) >= 5 {
		n := int(binary.BigEndian.Uint32(s.buf[1:5]))
		if len(s.buf) < 5+n {
			break
		}
		flags, msg := s.buf[0], s.buf[5:5+n]
		if flags&0x02 != 0 {
			s.end(msg)
		} else if err := s.result(msg); err != nil {
			return 0, err
		}
		s.buf = s.buf[5+n:]
	}
	return len(p), nil
}

func (s *streamWriter) Flush() {
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *streamWriter) result(msg []byte) error {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
	line := make([]byte, 0, len(msg)+12)
	line = append(line, `{"result":`...)
	line = append(line, msg...)
	line = append(line, "}\n"...)
	if _, err := s.w.Write(line); err != nil {
		return err
	}
	s.Flush()
	return nil
}

// end handles the Connect end-of-stream message.
func (s *streamWriter) end(msg []byte) {
	var end struct {
		Error *struct {
			Code    connect.Code `json:"code"`
			Message string       `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg, &end); err != nil {
		end.Error = &struct {
			Code    connect.Code `json:"code"`
			Message string       `json:"message"`
		}{connect.CodeInternal, "malformed end of stream"}
	}
	if end.Error == nil {
		if !s.started {
			// An empty stream: a 200 with no lines, as grpc-gateway sends.
			s.started = true
			s.w.Header().Set("Content-Type", "application/json")
			s.w.WriteHeader(http.StatusOK)
		}
		return
	}
	if !s.started {
		s.started = true
		writeRESTError(s.w, end.Error.Code, httpStatus(end.Error.Code), end.Error.Message)
		return
	}
	line, _ := json.Marshal(map[string]any{"error": restStatus{Code: int(end.Error.Code), Message: end.Error.Message}})
	s.w.Write(append(line, '\n'))
}

func (s *streamWriter) finish() {
	if s.status == 0 || (!s.raw && !s.started) {
		writeRESTError(s.w, connect.CodeInternal, http.StatusInternalServerError, "stream ended without a status")
	}
}

// restStatus is google.rpc.Status as grpc-gateway writes it.
type restStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

func writeRESTError(w http.ResponseWriter, code connect.Code, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(restStatus{Code: int(code), Message: msg, Details: []any{}})
	w.Write(b)
}

// httpStatus is grpc-gateway's mapping of RPC codes to HTTP statuses.
func httpStatus(c connect.Code) int {
	switch c {
	case connect.CodeCanceled:
		return 499
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// mustREST is withREST for Handler: it fails only if the compiled-in
// descriptors lack a service, which is a build defect, not a runtime one.
func mustREST(next http.Handler) http.Handler {
	h, err := withREST(next)
	if err != nil {
		panic(err)
	}
	return h
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.w }
