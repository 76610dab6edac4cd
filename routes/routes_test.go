package routes

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

const sample = `version: 1
routes:
  - method: GET
    path: /v1/tenants/{tenant}/documents/{id}
    resource: document:{id}
    permission: view
    context:
      tenant: {path: tenant}
      environment: {header: X-Environment}
      drafts: {query: drafts}
      limit: {value: 10}
  - method: [PUT, PATCH]
    path: /v1/tenants/{tenant}/documents/{id}
    resource: document:{tenant}-{id}
    permission: edit
  - method: "*"
    path: /files/{path...}
    resource: file:f
    permission: read
    subject: {header: X-User-Id, type: user}
    context:
      file: {path: path}
`

func mustParse(t *testing.T, src string) *Map {
	t.Helper()
	m, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatch(t *testing.T) {
	m := mustParse(t, sample)
	if m.AllowUnmatched {
		t.Error("unmatched requests are allowed by default")
	}
	h := http.Header{}
	h.Set("X-Environment", "prod")
	h.Set("X-User-Id", "alice")
	tests := []struct {
		method, uri string
		ok          bool
		resource    string
		permission  string
		subject     string
		context     map[string]any
	}{
		{"GET", "/v1/tenants/acme/documents/q3?drafts=yes", true, "document:q3", "view", "",
			map[string]any{"tenant": "acme", "environment": "prod", "drafts": "yes", "limit": 10.0}},
		{"get", "/v1/tenants/acme/documents/q3", true, "document:q3", "view", "",
			map[string]any{"tenant": "acme", "environment": "prod", "limit": 10.0}},
		{"PATCH", "/v1/tenants/acme/documents/q3", true, "document:acme-q3", "edit", "", nil},
		{"DELETE", "/v1/tenants/acme/documents/q3", false, "", "", "", nil},
		{"GET", "/v1/tenants/acme/documents", false, "", "", "", nil},
		{"GET", "/v1/tenants/acme/documents/q3/extra", false, "", "", "", nil},
		{"GET", "/v1/tenants//documents/q3", false, "", "", "", nil},
		// An escaped slash stays inside its segment (and then is no valid ID).
		{"POST", "/files/a/b%2Fc", true, "file:f", "read", "user:alice", map[string]any{"file": "a/b/c"}},
		{"POST", "/files/", false, "", "", "", nil},
	}
	for _, tt := range tests {
		r, err := RequestOf(tt.method, tt.uri, h)
		if err != nil {
			t.Fatal(err)
		}
		q, ok, err := m.Match(r)
		if err != nil {
			t.Errorf("%s %s: %v", tt.method, tt.uri, err)
			continue
		}
		if ok != tt.ok {
			t.Errorf("%s %s: matched %v, want %v", tt.method, tt.uri, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if q.Resource.String() != tt.resource || q.Permission != tt.permission {
			t.Errorf("%s %s: %s#%s, want %s#%s", tt.method, tt.uri, q.Resource, q.Permission, tt.resource, tt.permission)
		}
		subj := ""
		if q.Subject != nil {
			subj = q.Subject.String()
		}
		if subj != tt.subject {
			t.Errorf("%s %s: subject %q, want %q", tt.method, tt.uri, subj, tt.subject)
		}
		if !reflect.DeepEqual(q.Context, tt.context) {
			t.Errorf("%s %s: context %v, want %v", tt.method, tt.uri, q.Context, tt.context)
		}
	}
}

func TestMatch_BindErrors(t *testing.T) {
	m := mustParse(t, sample)
	for _, tt := range []struct {
		uri, want string
		header    http.Header
	}{
		{"/v1/tenants/acme/documents/bad%20id", "not a valid object", http.Header{}},
		{"/files/x", "header X-User-Id is missing", http.Header{}},
		{"/files/x", "does not hold a valid user ID", http.Header{"X-User-Id": {"bad id"}}},
	} {
		method := "GET"
		r, err := RequestOf(method, tt.uri, tt.header)
		if err != nil {
			t.Fatal(err)
		}
		_, ok, err := m.Match(r)
		var me *MatchError
		if !ok || !errors.As(err, &me) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ok %v, err %v; want a MatchError containing %q", tt.uri, ok, err, tt.want)
		}
	}
}

func TestParse_Errors(t *testing.T) {
	route := func(body string) string {
		return "version: 1\nroutes:\n  - " + strings.ReplaceAll(body, "\n", "\n    ") + "\n"
	}
	ok := "method: GET\npath: /d/{id}\nresource: document:{id}\npermission: view"
	if _, err := Parse([]byte(route(ok))); err != nil {
		t.Fatalf("the base route does not parse: %v", err)
	}
	tests := []struct{ src, want string }{
		{"", "empty route map"},
		{"version: 2\nroutes: []\n", "version 2 is not supported"},
		{"routes: []\n", "version 0 is not supported"},
		{"version: 1\nunmatched: maybe\n", `"maybe" is neither allow nor deny`},
		{"version: 1\nroutes: []\nextra: 1\n", "field extra not found"},
		{route(strings.Replace(ok, "method: GET", "method: G3T", 1)), `method "G3T" is not an HTTP method`},
		{route(strings.Replace(ok, "method: GET\n", "", 1)), "method is required"},
		{route(strings.Replace(ok, "path: /d/{id}", "path: d/{id}", 1)), "must start with /"},
		{route(strings.Replace(ok, "path: /d/{id}", "path: /d/x{id}", 1)), "must be a whole segment"},
		{route(strings.Replace(ok, "path: /d/{id}", "path: /d/{id...}/x", 1)), "must be the last segment"},
		{route(strings.Replace(ok, "path: /d/{id}", "path: /d/{id}/{id}", 1)), "names {id} twice"},
		{route(strings.Replace(ok, "resource: document:{id}", "resource: document", 1)), "must be TYPE:ID"},
		{route(strings.Replace(ok, "resource: document:{id}", "resource: document:{other}", 1)), "{other} is not a parameter"},
		{route(strings.Replace(ok, "resource: document:{id}", "resource: document:{id", 1)), "unbalanced {"},
		{route(strings.Replace(ok, "permission: view", "permission: ''", 1)), "is not a relation or permission name"},
		{route(ok + "\nsubject: {header: X-User}"), "needs both header and type"},
		{route(ok + "\ncontext:\n  caller: {value: x}"), `"caller" is reserved`},
		{route(ok + "\ncontext:\n  t: {path: nope}"), "{nope} is not in the route's path"},
		{route(ok + "\ncontext:\n  t: {header: A, query: b}"), "exactly one of"},
		{route(ok) + "  - " + strings.ReplaceAll(strings.Replace(ok, "{id}", "{x}", -1), "\n", "\n    ") + "\n", "already route 0's"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.src, err, tt.want)
		}
	}
	// Errors name the route and its line.
	_, err := Parse([]byte(route(ok) + "  - " + strings.ReplaceAll(strings.Replace(ok, "GET", "BAD1", 1), "\n", "\n    ") + "\n"))
	if err == nil || !strings.Contains(err.Error(), "route 1 (line 7)") {
		t.Errorf("error %v does not name route 1 at line 7", err)
	}
}

func TestHolder_ReloadKeepsTheMapOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	first := h.Map()
	if err := os.WriteFile(path, []byte("version: 1\nunmatched: allow\nroutes: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err != nil || !h.Map().AllowUnmatched || len(h.Map().Routes()) != 0 {
		t.Fatalf("reload: %v; map %+v", err, h.Map())
	}
	second := h.Map()
	if err := os.WriteFile(path, []byte("version: 1\nroutes:\n  - method: GET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err == nil {
		t.Fatal("a broken map reloaded")
	}
	if h.Map() != second || h.Map() == first {
		t.Error("a failed reload replaced the map in use")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("version: 1\nunmatched: allow\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		// A map that loads must match without panicking.
		r, err := RequestOf("GET", "/v1/tenants/a/documents/b?x=1", http.Header{"X-User-Id": {"u"}})
		if err != nil {
			t.Fatal(err)
		}
		if q, ok, err := m.Match(r); ok && err == nil && q.Resource == (tuple.Object{}) {
			t.Fatalf("matched with an empty resource: %+v", q)
		}
	})
}
