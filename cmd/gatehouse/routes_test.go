package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/enforce"
	"github.com/gatehouse-dev/gatehouse/service"
)

// TestServe_RoutesReloadOnSIGHUP: `serve --routes` answers forward-auth from
// the file; after SIGHUP it answers from the rewritten file; a broken
// rewrite is logged and the map in use stays; a map that does not load
// stops serve from starting, with the file's error.
func TestServe_RoutesReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "routes.yaml")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version: 1\nroutes: []\n")
	p := startProcess(t, "--datastore", "memory", "--preshared-key", "gw", "--routes", file)
	reason := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+p.addr+service.ForwardAuthPath, nil)
		req.Header.Set(service.GatewayKeyHeader, "gw")
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Original-URI", "/anything")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(enforce.ReasonHeader)
	}
	if got := reason(); got != "ROUTE_NOT_FOUND" {
		t.Fatalf("before reload: %q, want ROUTE_NOT_FOUND", got)
	}
	write("version: 1\nunmatched: allow\nroutes: []\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForReason := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for reason() != want {
			if time.Now().After(deadline) {
				t.Fatalf("forward-auth still not %q after SIGHUP:\n%s", want, p.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitForReason("ROUTE_NOT_FOUND_ALLOWED")
	write("version: 1\nunmatched: sometimes\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logs.String(), "route map not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the broken map:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := reason(); got != "ROUTE_NOT_FOUND_ALLOWED" {
		t.Errorf("after a broken reload: %q, want the previous map's ROUTE_NOT_FOUND_ALLOWED", got)
	}
	p.stop()

	cmd := exec.Command(gatehouseBinary(t), "serve", "--datastore", "memory", "--addr", "127.0.0.1:0", "--routes", file)
	cmd.Env = append(os.Environ(), "GATEHOUSE_DATASTORE=", "GATEHOUSE_PRESHARED_KEY=")
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err == nil || !strings.Contains(out, "--routes: "+file) || !strings.Contains(out, `"sometimes" is neither allow nor deny`) {
		t.Errorf("serve with a broken map: %v\n%s", err, out)
	}
}
