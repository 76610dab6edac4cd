package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/servicetest"
)

const testSchema = `caveat only_on(day string) {
	day == "mon"
}

definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation viewer: user | user:* | group#member | user with only_on
	relation banned: user
	permission view = viewer - banned
}`

// startServer boots the real handler on 127.0.0.1:0, accepting the
// development key, and returns its address.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, service.Config{})
}

// startServerWith is startServer with a configuration; the store and keys are
// provided.
func startServerWith(t *testing.T, cfg service.Config) string {
	t.Helper()
	cfg.Keys = []service.Key{
		{Secret: DevKey, Scopes: service.ScopeAll},
		{Secret: "reader", Scopes: service.ScopeCheck},
	}
	return servicetest.Start(t, cfg)
}

// cli runs gatehouse commands against one server.
type cli struct {
	t    *testing.T
	addr string
}

type result struct {
	stdout, stderr string
	err            error
}

// code is the exit status main would use.
func (r result) code() int {
	if r.err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(r.err, &ee) {
		return ee.Code
	}
	return 2
}

func (c cli) runIn(stdin string, args ...string) result {
	c.t.Helper()
	env := map[string]string{"GATEHOUSE_ADDR": c.addr}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), err: err}
}

// with returns c reporting to t, for use in subtests.
func (c cli) with(t *testing.T) cli { return cli{t: t, addr: c.addr} }

func (c cli) run(args ...string) result { c.t.Helper(); return c.runIn("", args...) }

// ok runs a command that must succeed and returns its stdout.
func (c cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.err != nil {
		cmd := strings.Join(args, " ")
		if len(cmd) > 200 {
			cmd = cmd[:200] + "..."
		}
		c.t.Fatalf("gatehouse %s: %v\nstderr: %s", cmd, r.err, r.stderr)
	}
	return r.stdout
}

// transcript runs each command, which must succeed, and returns the commands
// and their output as a shell session would show them.
func (c cli) transcript(cmds ...[]string) string {
	c.t.Helper()
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "$ gatehouse %s\n%s", strings.Join(args, " "), c.ok(args...))
	}
	return b.String()
}

// golden compares got with testdata/NAME.golden, rewriting it when REGEN=true.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if os.Getenv("REGEN") == "true" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with REGEN=true to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (REGEN=true to update):\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

func setup(t *testing.T) cli {
	t.Helper()
	c := cli{t: t, addr: startServer(t)}
	if r := c.runIn(testSchema, "schema", "write", "-"); r.err != nil {
		t.Fatalf("schema write: %v", r.err)
	}
	c.ok("rel", "write",
		"document:readme#viewer@group:eng#member",
		"group:eng#member@user:alice",
		"group:eng#member@user:bob",
		"document:readme#banned@user:bob",
		"document:public#viewer@user:*",
		"document:public#banned@user:mallory",
		`document:monday#viewer@user:carol[only_on]`,
		`document:fixed#viewer@user:carol[only_on:{"day":"tue"}]`,
	)
	return c
}

func TestCLI_Schema(t *testing.T) {
	c := cli{t: t, addr: startServer(t)}
	path := filepath.Join(t.TempDir(), "schema.zed")
	if err := os.WriteFile(path, []byte(testSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("schema", "write", path); !strings.HasPrefix(out, "zedtoken: ") {
		t.Errorf("schema write printed %q", out)
	}
	got := c.ok("schema", "read")
	for _, want := range []string{"definition document", "caveat only_on", "permission view = viewer - banned"} {
		if !strings.Contains(got, want) {
			t.Errorf("schema read lacks %q:\n%s", want, got)
		}
	}
	r := c.runIn("definition document {\n\trelation viewer: nosuch\n}", "schema", "write", "-")
	if r.err == nil || !strings.Contains(r.err.Error(), "nosuch") || strings.Contains(r.err.Error(), "rpc error") {
		t.Errorf("bad schema: %v", r.err)
	}
	changed := strings.Replace(testSchema, "definition document {", "definition folder {}\n\ndefinition document {", 1)
	if d := c.runIn(changed, "schema", "diff", "-"); d.err != nil || !strings.Contains(d.stdout, "definition_added folder") {
		t.Errorf("schema diff: %q %v", d.stdout, d.err)
	}
}

func TestCLI_Rel(t *testing.T) {
	c := setup(t)
	golden(t, "rel_read", c.transcript(
		[]string{"rel", "read", "document"},
		[]string{"rel", "read", "document:readme"},
		[]string{"rel", "read", "document#viewer@user"},
		[]string{"rel", "read", "document:public#viewer@user:*"},
		[]string{"rel", "read", "document@group:eng#member"},
		[]string{"rel", "read", "group:eng#member@user:bob"},
		[]string{"rel", "read", "group:nosuch"},
	))

	t.Run("write existing fails", func(t *testing.T) {
		c := c.with(t)
		r := c.run("rel", "write", "group:eng#member@user:alice", "group:eng#member@user:dave")
		if r.err == nil || r.code() != 2 || strings.Contains(r.err.Error(), "rpc error") {
			t.Fatalf("err = %v", r.err)
		}
		if got := c.ok("rel", "read", "group:eng#member@user:dave"); got != "" {
			t.Fatalf("half-written: %q", got)
		}
		c.ok("rel", "touch", "group:eng#member@user:alice", "group:eng#member@user:dave")
		if got := c.ok("rel", "read", "group:eng#member@user:dave"); got != "group:eng#member@user:dave\n" {
			t.Fatalf("touch: %q", got)
		}
	})
	t.Run("delete", func(t *testing.T) {
		c := c.with(t)
		c.ok("rel", "delete", "group:eng#member@user:dave")
		if got := c.ok("rel", "read", "group:eng#member@user:dave"); got != "" {
			t.Fatalf("after delete: %q", got)
		}
	})
	t.Run("bad tuple", func(t *testing.T) {
		c := c.with(t)
		r := c.run("rel", "write", "group:eng#member@user:erin", "document:1#viewer")
		if r.err == nil || !strings.Contains(r.err.Error(), `"document:1#viewer"`) {
			t.Fatalf("err = %v", r.err)
		}
		if got := c.ok("rel", "read", "group:eng#member@user:erin"); got != "" {
			t.Fatalf("written despite bad tuple: %q", got)
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		c := c.with(t)
		if r := c.run("rel", "read", "Document:"); r.err == nil || !strings.Contains(r.err.Error(), "invalid filter") {
			t.Fatalf("err = %v", r.err)
		}
	})
	t.Run("server rejects relation", func(t *testing.T) {
		c := c.with(t)
		r := c.run("rel", "write", "document:1#view@user:a")
		if r.err == nil || !strings.Contains(r.err.Error(), "InvalidArgument") || strings.Contains(r.err.Error(), "rpc error") {
			t.Fatalf("err = %v", r.err)
		}
	})
}

func TestCLI_ImportExport(t *testing.T) {
	c := setup(t)
	dir := t.TempDir()

	t.Run("bad line", func(t *testing.T) {
		c := c.with(t)
		path := filepath.Join(dir, "bad.txt")
		os.WriteFile(path, []byte("# people\n\ngroup:ops#member@user:olga\ngroup:ops#member@user:oscar\nnot a tuple\ngroup:ops#member@user:otto\n"), 0o644)
		r := c.run("rel", "import", path)
		if r.err == nil || !strings.Contains(r.err.Error(), path+":5:") {
			t.Fatalf("err = %v", r.err)
		}
		if got := c.ok("rel", "read", "group:ops"); got != "" {
			t.Fatalf("batch partly written: %q", got)
		}
	})

	t.Run("large file", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("# generated\n")
		for i := range 2500 {
			fmt.Fprintf(&b, "group:big#member@user:u%04d\n", i)
		}
		path := filepath.Join(dir, "big.txt")
		os.WriteFile(path, []byte(b.String()), 0o644)
		big := cli{t: t, addr: startServer(t)}
		big.ok("schema", "write", writeTemp(t, testSchema))
		r := big.run("rel", "import", path)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !strings.HasPrefix(r.stdout, "imported 2500 relationships\n") || !strings.Contains(r.stderr, "imported 2000 relationships (line 2001)") {
			t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
		}
		if n := strings.Count(big.ok("rel", "export"), "\n"); n != 2500 {
			t.Fatalf("read %d", n)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		c := c.with(t)
		exported := c.ok("rel", "export")
		golden(t, "rel_export", exported)

		fresh := cli{t: t, addr: startServer(t)}
		fresh.ok("schema", "write", writeTemp(t, testSchema))
		r := fresh.runIn(exported, "rel", "import", "-")
		if r.err != nil {
			t.Fatal(r.err)
		}
		if got := fresh.ok("rel", "export"); got != exported {
			t.Fatalf("round trip:\n%s\nwant:\n%s", got, exported)
		}
	})
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLI_Check(t *testing.T) {
	c := setup(t)
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"allowed", []string{"document:readme", "view", "user:alice"}, 0, "allowed"},
		{"denied by exclusion", []string{"document:readme", "view", "user:bob"}, 1, "denied"},
		{"wildcard", []string{"document:public", "view", "user:anyone"}, 0, "allowed"},
		{"conditional", []string{"document:monday", "view", "user:carol"}, 2, "conditional (missing: day)"},
		{"context allows", []string{"document:monday", "view", "user:carol", "--context", `{"day":"mon"}`}, 0, "allowed"},
		{"context denies", []string{"--context", `{"day":"sun"}`, "document:monday", "view", "user:carol"}, 1, "denied"},
		{"stored context", []string{"document:fixed", "view", "user:carol", "--consistency", "minimize"}, 1, "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(append([]string{"check"}, tt.args...)...)
			if r.code() != tt.code {
				t.Fatalf("exit %d (%v), want %d", r.code(), r.err, tt.code)
			}
			lines := strings.Split(r.stdout, "\n")
			if lines[0] != tt.out || len(lines) != 3 || !strings.HasPrefix(lines[1], "zedtoken: ") || len(lines[1]) < 12 {
				t.Fatalf("stdout %q", r.stdout)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		c := c.with(t)
		for _, args := range [][]string{
			{"check", "document:readme", "view"},
			{"check", "document", "view", "user:alice"},
			{"check", "document:readme", "view", "user:alice", "--context", "[1]"},
			{"check", "document:readme", "nosuch", "user:alice"},
			{"check", "document:readme", "view", "user:alice", "--consistency", "eventual"},
		} {
			r := c.run(args...)
			if r.code() != 2 || r.err == nil || strings.Contains(r.err.Error(), "rpc error") {
				t.Errorf("%v: exit %d, err %v", args, r.code(), r.err)
			}
		}
	})
}

func TestCLI_Lookup(t *testing.T) {
	c := setup(t)
	out := c.transcript(
		[]string{"lookup", "resources", "document", "view", "user:alice"},
		[]string{"lookup", "resources", "document", "view", "user:carol"},
		[]string{"lookup", "resources", "document", "view", "user:carol", "--context", `{"day":"mon"}`},
		[]string{"lookup", "resources", "document", "view", "group:eng#member"},
		[]string{"lookup", "subjects", "document:readme", "view", "user"},
		[]string{"lookup", "subjects", "document:public", "view", "user"},
		[]string{"lookup", "subjects", "document:monday", "view", "user"},
		[]string{"lookup", "subjects", "document:monday", "view", "user", "--context", `{"day":"mon"}`},
		[]string{"lookup", "subjects", "document:readme", "view", "group#member"},
	)
	golden(t, "lookup", out)
}

func TestCLI_Errors(t *testing.T) {
	c := setup(t)
	t.Run("bad key", func(t *testing.T) {
		c := c.with(t)
		r := c.run("rel", "read", "document", "--key", "wrong")
		if r.code() != 2 || r.err == nil || strings.Contains(r.err.Error(), "rpc error") || !strings.Contains(r.err.Error(), "Unauthenticated") {
			t.Fatalf("err = %v", r.err)
		}
	})
	t.Run("bad key from env", func(t *testing.T) {
		env := map[string]string{"GATEHOUSE_ADDR": c.addr, "GATEHOUSE_KEY": "wrong"}
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"schema", "read"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
			t.Fatalf("err = %v", err)
		}
		help := c.run("schema", "read", "-h")
		if strings.Contains(help.stderr, "wrong") {
			t.Fatalf("help shows the key: %s", help.stderr)
		}
	})
	t.Run("read-only key", func(t *testing.T) {
		c := c.with(t)
		r := c.run("rel", "touch", "--key=reader", "group:eng#member@user:zed")
		if r.err == nil || !strings.Contains(r.err.Error(), "PermissionDenied") {
			t.Fatalf("err = %v", r.err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		c := c.with(t)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		r := c.run("schema", "read", "--addr", addr, "--timeout", "2s")
		if r.err == nil || !strings.Contains(r.err.Error(), "unavailable") && !strings.Contains(r.err.Error(), "timed out") {
			t.Fatalf("err = %v", r.err)
		}
	})
	t.Run("usage", func(t *testing.T) {
		c := c.with(t)
		for _, args := range [][]string{{}, {"nosuch"}, {"rel"}, {"rel", "nosuch"}, {"rel", "write"}, {"schema", "read", "extra"}, {"lookup", "subjects", "a:b", "view", "user:x"}} {
			if r := c.run(args...); r.err == nil {
				t.Errorf("%v: no error", args)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		c := c.with(t)
		for _, args := range [][]string{{"-h"}, {"rel", "-h"}, {"rel", "import", "-h"}, {"check", "-h"}, {"lookup", "subjects", "-h"}, {"schema", "write", "--help"}} {
			r := c.run(args...)
			if r.err != nil || r.stdout+r.stderr == "" {
				t.Errorf("%v: err %v, no help", args, r.err)
			}
		}
	})
}

func TestSplitKeys(t *testing.T) {
	for env, want := range map[string][]string{
		"k":                          {"k"},
		"a,b":                        {"a", "b"},
		"ops:check,write,reader":     {"ops:check,write", "reader"},
		"ops:admin, ro:check,other":  {"ops:admin", "ro:check", "other"},
		"write,ops:check,admin,read": {"write", "ops:check,admin", "read"},
	} {
		if got := splitKeys(env); !slices.Equal(got, want) {
			t.Errorf("splitKeys(%q) = %q, want %q", env, got, want)
		}
	}
}
