package main

import (
	"net"
	"strings"
	"testing"
)

func TestHealthcheck_Serving(t *testing.T) {
	c := cli{t: t, addr: startServer(t)}
	r := c.run("healthcheck", "--addr", c.addr, "--timeout", "5s")
	if r.code() != 0 {
		t.Fatalf("healthcheck of a running server exited %d: %v\n%s", r.code(), r.err, r.stderr)
	}
	if want := c.addr + ": SERVING\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
}

func TestHealthcheck_NotServing(t *testing.T) {
	// A port that was just free: nothing listens on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	live := startServer(t)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"closed port", []string{"--addr", closed}, "healthcheck " + closed + ": not healthy:"},
		{"unknown service", []string{"--addr", live, "--service", "no.such.Service"}, "NotFound"},
		{"tls to a plaintext server", []string{"--addr", live, "--tls", "--insecure-skip-verify"}, "not healthy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli{t: t}.run(append([]string{"healthcheck", "--timeout", "2s"}, tt.args...)...)
			if r.code() != 1 {
				t.Fatalf("exit %d, want 1 (err %v)", r.code(), r.err)
			}
			msg := r.err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line containing %q", msg, tt.want)
			}
		})
	}
}

func TestHealthcheck_TLS(t *testing.T) {
	certFile, keyFile := selfSigned(t, t.TempDir())
	addr := startServe(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if r := (cli{t: t}).run("healthcheck", "--addr", addr, "--tls", "--ca", certFile); r.code() != 0 {
		t.Fatalf("healthcheck over TLS exited %d: %v", r.code(), r.err)
	}
	if r := (cli{t: t}).run("healthcheck", "--addr", addr); r.code() != 1 {
		t.Fatalf("plaintext healthcheck of a TLS server exited %d, want 1", r.code())
	}
}

func TestHealthcheck_Usage(t *testing.T) {
	r := cli{t: t}.run("healthcheck", "extra")
	if r.code() != 2 || !strings.Contains(r.err.Error(), "unexpected argument") {
		t.Fatalf("exit %d, err %v; want 2 and unexpected argument", r.code(), r.err)
	}
}
