package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The gatehouse binary, built once for the tests that run it as a process.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
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

// gatehouseBinary builds this command once per test run and returns its path.
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "gatehouse-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gatehouse")
		buildOut, buildErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build gatehouse: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// process is a `gatehouse serve` child process.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan error
}

// startProcess runs `gatehouse serve --addr 127.0.0.1:0 args...` and waits
// until it serves. The process is killed when the test ends if still running.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(gatehouseBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_DATASTORE=", "GATEHOUSE_PRESHARED_KEY=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.Write(append(sc.Bytes(), '\n'))
		}
	}()
	go func() {
		<-copied
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if addr := logAddr(p.logs.String(), "gatehouse serving"); addr != "" {
			p.addr = addr
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("gatehouse serve exited: %v\n%s", err, p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("gatehouse serve did not start:\n%s", p.logs.String())
	return nil
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *process) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("gatehouse serve exited with %v after SIGTERM:\n%s", err, p.logs.String())
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("gatehouse serve did not exit after SIGTERM:\n%s", p.logs.String())
	}
}

// client connects the authzed-go gRPC client with the development key.
func (p *process) client() *authzed.Client {
	p.t.Helper()
	c, err := authzed.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpcutil.WithInsecureBearerToken(DevKey))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Close() })
	return c
}

// tcpProxy forwards connections to a target; down() cuts every connection and
// refuses new ones until up(), as a restarting database server would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	isDown bool
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.down() })
	go p.serve()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.isDown {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *tcpProxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = false
}

// waitFor retries fn until it succeeds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, fn func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = fn(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %v: %v", what, d, err)
}
