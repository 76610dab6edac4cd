package main

import (
	"context"
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// gone reports whether no process pid exists any more.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func shChild(script string) childSpec {
	return childSpec{name: "test-child", path: "/bin/sh", args: []string{"-c", script}, ready: 2 * time.Second, grace: 200 * time.Millisecond}
}

func TestStartChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /bin/sh and signals")
	}
	t.Run("ready", func(t *testing.T) {
		c, addr, err := startChild(context.Background(), shChild("echo noise; echo "+readyPrefix+"127.0.0.1:1; exec cat"))
		if err != nil {
			t.Fatal(err)
		}
		if addr != "127.0.0.1:1" {
			t.Errorf("addr = %q", addr)
		}
		c.stop()
		if !gone(c.pid()) {
			t.Errorf("child %d still exists after stop", c.pid())
		}
	})
	t.Run("ignores SIGTERM", func(t *testing.T) {
		c, _, err := startChild(context.Background(), shChild("trap '' TERM; echo "+readyPrefix+"x; exec sleep 60"))
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		c.stop()
		if !gone(c.pid()) {
			t.Errorf("child %d still exists after stop", c.pid())
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("stop took %v, want about the 200ms grace", d)
		}
	})
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{"exits", "echo starting >&2; echo 'cannot connect' >&2; exit 3", "test-child: exited before it was ready (exit status 3); last output: starting | cannot connect"},
		{"never ready", "echo 'waiting for nothing' >&2; exec sleep 60", "test-child: not ready after 300ms; last output: waiting for nothing"},
		{"silent", "exit 0", "test-child: exited before it was ready (exit status 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := shChild(tt.script)
			spec.ready = 300 * time.Millisecond
			_, _, err := startChild(context.Background(), spec)
			if err == nil {
				t.Fatal("startChild succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestLineTail_KeepsLast(t *testing.T) {
	tail := newLineTail(2)
	for _, l := range []string{"a", "", "  b ", "c"} {
		tail.add(l)
	}
	if got, want := tail.suffix(), "; last output: b | c"; got != want {
		t.Errorf("suffix = %q, want %q", got, want)
	}
	if got := newLineTail(2).suffix(); got != "" {
		t.Errorf("empty suffix = %q", got)
	}
}

func TestMain(m *testing.M) {
	// The test binary stands in for the loadtest binary as the children's
	// executable (os.Executable), so it serves systems too.
	if len(os.Args) > 1 && os.Args[1] == serveCommand {
		os.Exit(runMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}
