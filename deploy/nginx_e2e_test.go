package deploy_test

// The forward-auth end to end: a real nginx running the shipped
// compose/nginx.conf, a real `gatehouse serve` process behind its
// auth_request, and the demo API as the upstream, all on loopback.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/enforce/enforcetest"
	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
)

// The binaries the end-to-end test runs, built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	buildOut  []byte
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds gatehouse and the demo API once and returns their directory.
func binaries(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "gatehouse-e2e-bin-"); buildErr != nil {
			return
		}
		buildOut, buildErr = exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
			"github.com/gatehouse-dev/gatehouse/cmd/gatehouse",
			"github.com/gatehouse-dev/gatehouse/examples/demoapi").CombinedOutput()
	})
	if buildErr != nil {
		tb.Fatalf("build gatehouse and demoapi: %v\n%s", buildErr, buildOut)
	}
	return binDir
}

// nginxBinary is nginx from PATH (or Debian's /usr/sbin); the test is skipped
// without it.
func nginxBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	tb.Skip("nginx is not installed (Debian package nginx); skipping the forward-auth end-to-end test")
	return ""
}

const (
	adminKey    = "e2e-admin-key"
	gatewayKey  = "e2e-gateway-key"
	environment = "prod" // what nginx says on every auth subrequest
)

// stack is the running deployment: nginx in front of the demo API, asking
// gatehouse.
type stack struct {
	issuer *identitytest.Issuer
	// gateway is nginx's forward-auth server; direct proxies to the demo API
	// without asking (for the benchmark's baseline).
	gateway, direct string
	gatehouse       string
}

// syncBuffer collects a child process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// child is a process the test started; it is stopped when the test ends.
type child struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startChild(tb testing.TB, name string, args ...string) *child {
	tb.Helper()
	c := &child{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "GATEHOUSE_DATASTORE=", "GATEHOUSE_PRESHARED_KEY=")
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	tb.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// waitFor polls ready until it succeeds, failing if the process exits first.
func (c *child) waitFor(tb testing.TB, what string, ready func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ready() {
			return
		}
		if c.exited() {
			tb.Fatalf("%s exited: %v\n%s", what, c.err, c.out.String())
		}
	}
	tb.Fatalf("%s did not start:\n%s", what, c.out.String())
}

// freeAddr is a loopback address with a port nobody listens on right now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// servingAddr finds the address in gatehouse's "gatehouse serving" log line.
func servingAddr(logs string) string {
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "gatehouse serving" {
			return rec.Addr
		}
	}
	return ""
}

// startStack starts the issuer, gatehouse with the scenario's data, the demo
// API and nginx running compose/nginx.conf.
func startStack(tb testing.TB) *stack {
	tb.Helper()
	nginx := nginxBinary(tb)
	bin := binaries(tb)
	dir := tb.TempDir()
	s := &stack{issuer: identitytest.New(tb, "corp", "gatehouse")}

	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(enforcetest.Routes), 0o600); err != nil {
		tb.Fatal(err)
	}
	gh := startChild(tb, filepath.Join(bin, "gatehouse"), "serve", "--datastore", "memory", "--addr", "127.0.0.1:0",
		"--preshared-key", adminKey, "--preshared-key", gatewayKey+":check",
		"--jwt-issuer", s.issuer.Spec(), "--routes", routesFile)
	gh.waitFor(tb, "gatehouse serve", func() bool {
		s.gatehouse = servingAddr(gh.out.String())
		return s.gatehouse != ""
	})
	enforcetest.Seed(tb, s.gatehouse, adminKey)

	demo := freeAddr(tb)
	api := startChild(tb, filepath.Join(bin, "demoapi"), "--addr", demo)
	api.waitFor(tb, "demoapi", func() bool { return accepts(demo) })

	s.gateway, s.direct = freeAddr(tb), freeAddr(tb)
	writeNginxConfig(tb, dir, s.gateway, s.direct, demo, s.gatehouse)
	ngx := startChild(tb, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	ngx.waitFor(tb, "nginx", func() bool { return accepts(s.gateway) && accepts(s.direct) })
	tb.Cleanup(func() {
		if tb.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			tb.Logf("nginx error.log:\n%s\ngatehouse:\n%s", errLog, gh.out.String())
		}
	})
	return s
}

// writeNginxConfig renders the shipped compose/nginx.conf as compose would
// (the key and environment substituted), points its upstreams at the test's
// processes and its server at gateway, and wraps it in a main configuration
// with every path in dir. A second server on direct proxies to the demo API
// without asking gatehouse.
func writeNginxConfig(tb testing.TB, dir, gateway, direct, demo, gatehouse string) {
	tb.Helper()
	shipped, err := os.ReadFile("compose/nginx.conf")
	if err != nil {
		tb.Fatal(err)
	}
	conf := string(shipped)
	for _, r := range []struct{ old, new string }{
		{"${GATEHOUSE_KEY}", gatewayKey},
		{"${GATEHOUSE_ENVIRONMENT}", environment},
		{"server demoapi:8081;", "server " + demo + ";"},
		{"server gatehouse:50051;", "server " + gatehouse + ";"},
		{"listen 8080;", "listen " + gateway + ";"},
	} {
		if !strings.Contains(conf, r.old) {
			tb.Fatalf("compose/nginx.conf no longer has %q; update the end-to-end test", r.old)
		}
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	if err := os.WriteFile(filepath.Join(dir, "gateway.conf"), []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	wrapper := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/gateway.conf;
    server {
        listen %[2]s;
        location / {
            # As the shipped config proxies: kept-alive HTTP/1.1.
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://demoapi;
        }
    }
}
`, dir, direct)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(wrapper), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestNginx_ForwardAuth: requests with real signed tokens through nginx's
// auth_request to gatehouse reach the demo API only when allowed, with the
// authorized user and the decision's revision; otherwise nginx answers 401 or
// 403 with gatehouse's reason.
func TestNginx_ForwardAuth(t *testing.T) {
	s := startStack(t)
	alice := s.issuer.Token("alice", map[string]any{"tenant": "acme", "clearance": "internal"})
	expired := s.issuer.Token("alice", map[string]any{"tenant": "acme", "exp": time.Now().Add(-time.Hour).Unix()})
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		header     map[string]string
		wantStatus int
		wantReason string
		wantBody   string // JSON the demo API answers, for allowed requests
	}{
		{name: "allowed", method: "GET", path: "/v1/tenants/acme/documents/acme-plan", token: alice, wantStatus: 200,
			wantBody: `{"tenant":"acme","id":"acme-plan","user":"user:alice"}`},
		{name: "allowed with a query", method: "GET", path: "/v1/tenants/acme/documents/acme-plan?fields=all", token: alice, wantStatus: 200,
			wantBody: `{"tenant":"acme","id":"acme-plan","user":"user:alice"}`},
		{name: "other tenant denied", method: "GET", path: "/v1/tenants/globex/documents/globex-plan", token: alice, wantStatus: 403, wantReason: "PERMISSION_DENIED"},
		{name: "clearance too low", method: "GET", path: "/v1/secrets/acme-secret", token: alice, wantStatus: 403, wantReason: "PERMISSION_DENIED"},
		// nginx sets X-Environment on the subrequest: the client's is ignored.
		{name: "environment is the gateway's", method: "POST", path: "/v1/services/billing-svc/deploy", token: alice,
			header: map[string]string{"X-Environment": "staging"}, wantStatus: 403, wantReason: "PERMISSION_DENIED"},
		{name: "no token", method: "GET", path: "/v1/tenants/acme/documents/acme-plan", wantStatus: 401, wantReason: "SUBJECT_TOKEN_MISSING"},
		{name: "expired token", method: "GET", path: "/v1/tenants/acme/documents/acme-plan", token: expired, wantStatus: 401, wantReason: "SUBJECT_TOKEN_EXPIRED"},
		{name: "forged token", method: "GET", path: "/v1/tenants/acme/documents/acme-plan", token: s.issuer.Forged("alice", map[string]any{"tenant": "acme"}),
			wantStatus: 401, wantReason: "SUBJECT_TOKEN_BAD_SIGNATURE"},
		{name: "unmatched route", method: "GET", path: "/v1/other", token: alice, wantStatus: 403, wantReason: "ROUTE_NOT_FOUND"},
		{name: "unmatched method", method: "DELETE", path: "/v1/tenants/acme/documents/acme-plan", token: alice, wantStatus: 403, wantReason: "ROUTE_NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+s.gateway+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; headers %v, body %s", resp.StatusCode, tt.wantStatus, resp.Header, body)
			}
			switch tt.wantStatus {
			case 200:
				if strings.TrimSpace(string(body)) != tt.wantBody {
					t.Errorf("body %s, want %s", body, tt.wantBody)
				}
				if resp.Header.Get("Gatehouse-Revision") == "" {
					t.Errorf("no Gatehouse-Revision on an allowed answer: %v", resp.Header)
				}
			case 401:
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
				}
			}
			if tt.wantReason != "" {
				if got := resp.Header.Get("Gatehouse-Reason"); got != tt.wantReason {
					t.Errorf("Gatehouse-Reason %q, want %q", got, tt.wantReason)
				}
				var refusal struct{ Error, Reason string }
				if err := json.Unmarshal(body, &refusal); err != nil || refusal.Reason != tt.wantReason {
					t.Errorf("body %s (%v), want the reason %q", body, err, tt.wantReason)
				}
			}
		})
	}
}

// BenchmarkNginxForwardAuth measures the latency forward-auth adds at the
// gateway: the same GET through nginx with auth_request to gatehouse and
// through nginx straight to the demo API, concurrently, reporting p50 and p99
// of each and the difference (with-auth minus without-auth).
func BenchmarkNginxForwardAuth(b *testing.B) {
	s := startStack(b)
	alice := s.issuer.Token("alice", map[string]any{"tenant": "acme", "clearance": "internal"})
	const workers = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var baseP50, baseP99 float64
	run := func(b *testing.B, addr string) (p50, p99 float64) {
		url := "http://" + addr + "/v1/tenants/acme/documents/acme-plan"
		latencies := make([]time.Duration, b.N)
		var next atomic.Int64
		var failed atomic.Pointer[string]
		var wg sync.WaitGroup
		b.ResetTimer()
		for range workers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer "+alice)
					start := time.Now()
					resp, err := client.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							err = fmt.Errorf("status %d", resp.StatusCode)
						}
					}
					latencies[i] = time.Since(start)
					if err != nil {
						msg := err.Error()
						failed.Store(&msg)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if msg := failed.Load(); msg != nil {
			b.Fatal(*msg)
		}
		slices.Sort(latencies)
		p50 = micros(latencies[len(latencies)*50/100])
		p99 = micros(latencies[min(len(latencies)*99/100, len(latencies)-1)])
		b.ReportMetric(p50, "p50-µs")
		b.ReportMetric(p99, "p99-µs")
		return p50, p99
	}
	b.Run("without-auth", func(b *testing.B) { baseP50, baseP99 = run(b, s.direct) })
	b.Run("with-auth", func(b *testing.B) {
		p50, p99 := run(b, s.gateway)
		b.ReportMetric(p50-baseP50, "added-p50-µs")
		b.ReportMetric(p99-baseP99, "added-p99-µs")
	})
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
