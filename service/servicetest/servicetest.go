// Package servicetest starts gatehouse's real API server on 127.0.0.1:0 for tests.
package servicetest

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/wire"
	"github.com/gatehouse-dev/gatehouse/store/memory"
)

// Start serves service.New(cfg) over HTTP/1.1 and cleartext HTTP/2, as
// `gatehouse serve` does (package wire), on 127.0.0.1:0 and returns its address; a memory store is provided when cfg has
// none. Everything stops when t ends.
func Start(t testing.TB, cfg service.Config) string {
	t.Helper()
	if cfg.Store == nil {
		st := memory.New()
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	srv, err := service.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws := wire.New(&http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second})
	go ws.Serve(ln)
	t.Cleanup(func() { ws.Close() })
	return ln.Addr().String()
}
