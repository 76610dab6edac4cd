// Command demoapi is a tiny HTTP API that stands behind a gateway in the
// deployment examples and the forward-auth end-to-end test. It authorizes
// nothing itself: the gateway asks gatehouse first.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// SubjectHeader is the header a gateway sets to the subject gatehouse
// authorized (nginx: auth_request_set from the forward-auth answer).
const SubjectHeader = "X-Gatehouse-Subject"

// document is the answer to GET /v1/tenants/{tenant}/documents/{id}.
type document struct {
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
	User   string `json:"user,omitempty"`
}

// newHandler serves the demo API's one route.
func newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tenants/{tenant}/documents/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(document{
			Tenant: r.PathValue("tenant"),
			ID:     r.PathValue("id"),
			User:   r.Header.Get(SubjectHeader),
		})
	})
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "demoapi:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string) error {
	srv := &http.Server{Addr: addr, Handler: newHandler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("demoapi listening", "addr", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
