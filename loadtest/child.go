package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyPrefix starts the one line a serve-system child prints on stdout once
// it answers RPCs; the rest of the line is its gRPC address.
const readyPrefix = "loadtest-ready addr="

// stopGrace is how long a child has to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// child is a server process started by the parent loadtest process.
type child struct {
	name  string
	grace time.Duration
	cmd   *exec.Cmd
	stdin io.Closer
	tail  *lineTail
	done  chan struct{} // closed once the process has exited and been reaped
	err   error         // the exit status, set before done is closed
	once  sync.Once
}

// childSpec says how to run one child.
type childSpec struct {
	name  string   // for errors
	path  string   // executable
	args  []string // after the executable
	env   []string // added to the parent's environment
	ready time.Duration
	grace time.Duration // between SIGTERM and SIGKILL; 0 means stopGrace
}

// startChild runs the child and waits for its ready line. If the child exits
// or stays silent until the timeout, it is stopped and the error names the
// reason and ends with the last lines of its output.
func startChild(ctx context.Context, spec childSpec) (*child, string, error) {
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Env = append(os.Environ(), spec.env...)
	cmd.SysProcAttr = childProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", spec.name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", spec.name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", spec.name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("%s: start: %w", spec.name, err)
	}
	c := &child{name: spec.name, grace: cmp.Or(spec.grace, stopGrace), cmd: cmd, stdin: stdin, tail: newLineTail(5), done: make(chan struct{})}
	addr := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), readyPrefix); ok {
				select {
				case addr <- a:
				default:
				}
				continue
			}
			c.tail.add(sc.Text())
		}
		io.Copy(io.Discard, stdout) // a line too long for the scanner
	})
	readers.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.tail.add(sc.Text())
		}
		io.Copy(io.Discard, stderr)
	})
	go func() {
		// Wait closes the pipes, so it runs only after both readers saw EOF.
		readers.Wait()
		c.err = cmd.Wait()
		close(c.done)
	}()

	timer := time.NewTimer(spec.ready)
	defer timer.Stop()
	var why string
	select {
	case a := <-addr:
		return c, a, nil
	case <-c.done:
		why = "exited before it was ready (exit status 0)"
		if c.err != nil {
			why = fmt.Sprintf("exited before it was ready (%v)", c.err)
		}
	case <-timer.C:
		why = fmt.Sprintf("not ready after %v", spec.ready)
	case <-ctx.Done():
		why = ctx.Err().Error()
	}
	c.stop()
	return nil, "", fmt.Errorf("%s: %s%s", spec.name, why, c.tail.suffix())
}

// pid is the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the child to exit (SIGTERM and stdin closed), waits up to its
// grace period, then kills it, and returns once it has been reaped.
func (c *child) stop() {
	c.once.Do(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		c.stdin.Close()
		select {
		case <-c.done:
			return
		case <-time.After(c.grace):
		}
		c.cmd.Process.Kill()
		<-c.done
	})
}

// lineTail keeps the last few lines a child wrote, for error messages.
type lineTail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newLineTail(n int) *lineTail { return &lineTail{n: n} }

func (t *lineTail) add(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == t.n {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, line)
}

// suffix is "; last output: a | b", or "" when the child wrote nothing, so
// that an error stays on one line.
func (t *lineTail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; last output: " + strings.Join(t.lines, " | ")
}
