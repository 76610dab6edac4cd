package main

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/caveats/library"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
	"github.com/gatehouse-dev/gatehouse/service"
)

var attrSchema = library.All() + `

definition user {}

definition document {
	relation viewer: user with same_tenant
	relation reader: user with clearance_covers_classification
	permission view = viewer
	permission read = reader & viewer
}`

// tokenServer starts a server trusting a test issuer, with attrSchema.
func tokenServer(t *testing.T) (cli, *identitytest.Issuer) {
	t.Helper()
	issuer := identitytest.New(t, "corp", "gatehouse")
	v, err := identity.NewVerifier(context.Background(), []identity.Issuer{issuer.Config()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	c := cli{t: t, addr: startServerWith(t, service.Config{Verifier: v})}
	if r := c.runIn(attrSchema, "schema", "write", "-"); r.err != nil {
		t.Fatalf("schema write: %v\n%s", r.err, r.stderr)
	}
	return c, issuer
}

func TestCLI_Attr(t *testing.T) {
	c, _ := tokenServer(t)
	golden(t, "attr", c.transcript(
		[]string{"attr", "set", "document:q3", "tenant=acme", "classification=confidential", "environments=[\"prod\",\"staging\"]", "level=3"},
		[]string{"attr", "set", "document:q4", "tenant=globex"},
		[]string{"attr", "get", "document:q3", "document:q4", "document:none"},
		[]string{"attr", "unset", "document:q3", "level", "environments"},
		[]string{"attr", "get", "document:q3"},
		[]string{"attr", "set", "--replace", "document:q4", "tenant=initech"},
		[]string{"attr", "list", "document"},
		[]string{"attr", "delete", "document:q4"},
		[]string{"attr", "list", "document"},
	))
	if r := c.run("attr", "get", "document:q4"); r.code() != 1 {
		t.Fatalf("attr get of an object without attributes: exit %d, want 1", r.code())
	}
	errs := []struct {
		args []string
		want string
	}{
		{[]string{"attr", "set", "document:q3"}, "wrong number of arguments"},
		{[]string{"attr", "set", "document:q3", "novalue"}, "want KEY=VALUE"},
		{[]string{"attr", "set", "folder:x", "a=1"}, "object definition `folder` not found"},
		{[]string{"attr", "set", "document:q3", "big=" + strings.Repeat("x", 5000)}, "over the limit"},
		{[]string{"attr", "set", "--key", "reader", "document:q3", "a=1"}, "PermissionDenied"},
		{[]string{"attr", "bogus"}, "unknown subcommand"},
	}
	for _, tt := range errs {
		r := c.run(tt.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("gatehouse %s: %v, want an error containing %q", strings.Join(tt.args, " "), r.err, tt.want)
		}
	}
}

func TestCLI_CheckSubjectToken(t *testing.T) {
	c, issuer := tokenServer(t)
	c.ok("rel", "write", "document:q3#viewer@user:alice[same_tenant]", "document:q3#reader@user:alice[clearance_covers_classification]")
	c.ok("attr", "set", "document:q3", "tenant=acme", "classification=confidential")
	acme := issuer.Token("alice", map[string]any{"tenant": "acme", "clearance": "internal"})
	globex := issuer.Token("alice", map[string]any{"tenant": "globex"})

	r := c.run("check", "document:q3", "view", "--subject-token", acme)
	if r.code() != 0 || !strings.HasPrefix(r.stdout, "subject: user:alice\nallowed\n") {
		t.Fatalf("check with acme token: exit %d\n%s%s", r.code(), r.stdout, r.stderr)
	}
	if r := c.run("check", "document:q3", "view", "user:alice", "--subject-token", globex); r.code() != 1 || !strings.HasPrefix(r.stdout, "denied\n") {
		t.Fatalf("check with globex token: exit %d\n%s", r.code(), r.stdout)
	}
	// Without a token the caveat lacks the caller: conditional, as SpiceDB says.
	if r := c.run("check", "document:q3", "view", "user:alice"); r.code() != 2 || !strings.HasPrefix(r.stdout, "conditional (missing: caller)") {
		t.Fatalf("check without a token: exit %d\n%s", r.code(), r.stdout)
	}
	if r := c.run("check", "document:q3", "view", "--subject-token", issuer.Forged("alice", nil)); r.code() != 2 ||
		!strings.Contains(r.err.Error(), "subject token bad signature") || !strings.Contains(r.err.Error(), "Unauthenticated") {
		t.Fatalf("forged token: exit %d, %v", r.code(), r.err)
	}
	if r := c.run("check", "document:q3", "view"); r.err == nil || !strings.Contains(r.err.Error(), "give a SUBJECT or a --subject-token") {
		t.Fatalf("no subject: %v", r.err)
	}

	r = c.run("check", "document:q3", "read", "--subject-token", acme, "--explain")
	if r.code() != 1 {
		t.Fatalf("read with internal clearance: exit %d\n%s", r.code(), r.stdout)
	}
	for _, want := range []string{
		"why:\n  permission document:q3#read: denied\n    intersection: denied\n",
		"document:q3#reader@user:alice[clearance_covers_classification]: denied",
		`caveat clearance_covers_classification saw {"caller":{`,
		`"resource":{"classification":"confidential","tenant":"acme"}`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("explanation lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCLI_SchemaLibrary(t *testing.T) {
	c := cli{t: t}
	all := c.ok("schema", "library")
	for _, name := range library.Names() {
		if !strings.Contains(all, "caveat "+name+"(") {
			t.Errorf("schema library lacks %s", name)
		}
	}
	one := c.ok("schema", "library", "same_tenant")
	if !strings.Contains(one, "caveat same_tenant(") || strings.Contains(one, "caveat clearance") {
		t.Fatalf("schema library same_tenant printed:\n%s", one)
	}
	if r := c.run("schema", "library", "nope"); r.err == nil || !strings.Contains(r.err.Error(), "no caveat \"nope\"") {
		t.Fatalf("unknown caveat: %v", r.err)
	}
	// What it prints is a schema gatehouse accepts.
	srv, _ := tokenServer(t)
	if r := srv.runIn(all+"\ndefinition user {}\n", "schema", "write", "-"); r.err != nil {
		t.Fatalf("schema write of the library: %v\n%s", r.err, r.stderr)
	}
}
