package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// startTestSystem starts the named system as a child of the test binary
// (see TestMain) and closes it when the test ends.
func startTestSystem(t *testing.T, name string) *System {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sys, err := startSystem(context.Background(), name, systemOptions{exe: exe, key: "test-key", conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	return sys
}

func TestSystemKind(t *testing.T) {
	for _, name := range systemNames() {
		if k := systemKind(name); k != "gatehouse" && k != "spicedb" {
			t.Errorf("systemKind(%q) = %q", name, k)
		}
	}
}

// TestStartSystem_ChildProcesses starts gatehouse and SpiceDB as child
// processes, asks both the same question, reads their CPU time and peak RSS,
// and checks that Close leaves no process behind.
func TestStartSystem_ChildProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse and SpiceDB")
	}
	ctx := context.Background()
	d := &Dataset{Schema: testSchema, Relationships: testRels()}
	q := CheckQuery{
		Resource:   &v1.ObjectReference{ObjectType: "doc", ObjectId: "d0"},
		Permission: "view",
		Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}},
	}
	for _, name := range []string{"gatehouse-memory", "spicedb-memory"} {
		t.Run(name, func(t *testing.T) {
			sys := startTestSystem(t, name)
			if sys.PID() == os.Getpid() || sys.Kind != systemKind(name) {
				t.Fatalf("system %+v runs in pid %d, the test's own", sys, sys.PID())
			}
			if _, err := load(ctx, sys, d); err != nil {
				t.Fatal(err)
			}
			if got, err := check(ctx, sys, q, fullyConsistent); err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
				t.Errorf("%s = %v, %v; want allowed", q, got, err)
			}
			cpu, err := sys.CPU()
			if err != nil {
				t.Fatal(err)
			}
			rss, err := sys.PeakRSS()
			if err != nil {
				t.Fatal(err)
			}
			// A Go server that has started and answered has used CPU and
			// holds megabytes.
			if cpu <= 0 || cpu > time.Minute || rss < 4<<20 || rss > 8<<30 {
				t.Errorf("cpu = %v, peak rss = %d bytes", cpu, rss)
			}
			pid := sys.PID()
			sys.Close()
			if !gone(pid) {
				t.Errorf("process %d still exists after Close", pid)
			}
		})
	}
}

// TestStartChild_SpiceDBPostgresUnreachable runs a real spicedb-postgres
// child whose database cannot be reached: it exits, and the parent's error
// is one line carrying the child's reason.
func TestStartChild_SpiceDBPostgresUnreachable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := childSpec{
		name: "spicedb-postgres", path: exe, args: []string{serveCommand, "--system", "spicedb-postgres"},
		env:   []string{envServeKey + "=k", envServeDatastoreURL + "=postgres://postgres@127.0.0.1:1/x?sslmode=disable"},
		ready: 30 * time.Second,
	}
	_, _, err = startChild(context.Background(), spec)
	if err == nil {
		t.Fatal("startChild succeeded")
	}
	want := "spicedb-postgres: exited before it was ready (exit status 1); last output: loadtest serve-system: spicedb-postgres: migrate: "
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error = %q, want one line starting %q and saying connection refused", err, want)
	}
}
