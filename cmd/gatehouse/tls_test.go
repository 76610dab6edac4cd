package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost and its key to dir, returning their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// startServe runs `gatehouse serve args...` on 127.0.0.1:0 until the test
// ends and returns the address it logged.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	addr, _ := startServeLogs(t, args...)
	return addr
}

// logAddr returns the addr field of the log record with message msg.
func logAddr(logs, msg string) string {
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return rec.Addr
		}
	}
	return ""
}

// startServeLogs is startServe also returning the server's logs so far.
func startServeLogs(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		logs := stderr.String()
		if addr := logAddr(logs, "gatehouse serving"); addr != "" {
			return addr, logs
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", stderr.String())
	return "", ""
}

func TestServe_TLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	c := cli{t: t, addr: startServe(t, "--tls-cert", certFile, "--tls-key", keyFile)}

	t.Run("ca", func(t *testing.T) {
		c := c.with(t)
		if r := c.runIn(testSchema, "schema", "write", "--ca", certFile, "-"); r.err != nil {
			t.Fatalf("schema write over TLS: %v\n%s", r.err, r.stderr)
		}
		c.ok("rel", "write", "--ca", certFile, "document:readme#viewer@user:alice")
		if out := c.ok("check", "--ca", certFile, "document:readme", "view", "user:alice"); !strings.HasPrefix(out, "allowed") {
			t.Errorf("check printed %q", out)
		}
	})
	t.Run("insecure skip verify", func(t *testing.T) {
		c := c.with(t)
		if out := c.ok("schema", "read", "--insecure-skip-verify"); !strings.Contains(out, "definition document") {
			t.Errorf("schema read printed %q", out)
		}
	})
	t.Run("env", func(t *testing.T) {
		env := map[string]string{"GATEHOUSE_ADDR": c.addr, "GATEHOUSE_TLS": "true", "GATEHOUSE_CA": certFile}
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"schema", "read"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("schema read with GATEHOUSE_TLS: %v", err)
		}
	})
	t.Run("unknown ca", func(t *testing.T) {
		r := c.with(t).run("schema", "read", "--tls", "--timeout", "2s")
		if r.err == nil {
			t.Fatal("an unverifiable certificate was accepted")
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		r := c.with(t).run("schema", "read", "--timeout", "2s")
		if r.err == nil {
			t.Fatal("a plaintext client reached a TLS server")
		}
	})
}

func TestServe_TLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"cert only", []string{"--tls-cert", certFile}, "--tls-cert given without --tls-key"},
		{"key only", []string{"--tls-key", keyFile}, "--tls-key given without --tls-cert"},
		{"bad cert", []string{"--tls-cert", bad, "--tls-key", keyFile}, "load TLS certificate"},
		{"missing key", []string{"--tls-cert", certFile, "--tls-key", filepath.Join(dir, "nosuch.pem")}, "nosuch.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tt.args...)
			err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
