// Package routes is the route map every enforcement point shares: it turns an
// HTTP request (method and path, headers, query) into the question gatehouse
// decides — a resource, a permission, where the subject comes from, and the
// caveat context — so that a gateway (forward-auth), a mesh (Envoy ext_authz)
// and a service (package enforce) ask the same question of the same request.
//
// A map is YAML, versioned:
//
//	version: 1
//	unmatched: deny            # or allow; deny when left out
//	routes:
//	  - method: GET            # or a list, or "*"
//	    path: /v1/tenants/{tenant}/documents/{id}
//	    resource: document:{id}
//	    permission: view
//	    subject:               # optional; default: the verified token
//	      header: X-User-Id
//	      type: user
//	    context:
//	      tenant: {path: tenant}
//	      environment: {header: X-Environment}
//	      drafts: {query: drafts}
//	      region: {value: eu}
//
// Routes are tried in order; the first whose method and path match decides.
// A path template is literal segments and {name} segments, each matching one
// non-empty segment; a last segment {name...} matches the rest of the path.
// Everything is checked when the map is loaded: a map that does not load is
// never half-applied.
package routes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

// Version is the route map format this package reads.
const Version = 1

// Map is a loaded, validated route map.
type Map struct {
	// AllowUnmatched is true when a request no route matches is allowed.
	AllowUnmatched bool
	routes         []*Route
}

// Route is one entry of a map.
type Route struct {
	// Index is the route's position in the map, from 0.
	Index      int
	Methods    []string // upper case; empty = any method
	Path       string
	Permission string
	// SubjectHeader, when set, names the header holding the subject ID (of
	// type SubjectType); otherwise the subject is the verified token's.
	SubjectHeader string
	SubjectType   string

	segments     []segment
	resourceType string
	resourceID   []part
	context      map[string]source
}

// Question is what a matched request asks gatehouse.
type Question struct {
	Route      *Route
	Resource   tuple.Object
	Permission string
	// Subject is set when the route takes the subject from a header; nil
	// means the subject is the verified token's.
	Subject *tuple.Subject
	// Context holds the caveat context the route binds (strings, except
	// constant values, which keep their YAML type).
	Context map[string]any
}

// Request is the part of an HTTP request a route map reads.
type Request struct {
	Method string
	// Path is the URL path, still escaped (url.URL.EscapedPath): a %2F inside
	// a segment stays inside it.
	Path   string
	Query  url.Values
	Header http.Header
}

// RequestOf returns the Request for an original request's method and
// request URI (path and query, as nginx's $request_uri).
func RequestOf(method, requestURI string, header http.Header) (Request, error) {
	u, err := url.ParseRequestURI(requestURI)
	if err != nil {
		return Request{}, fmt.Errorf("request URI %q: %w", requestURI, err)
	}
	return Request{Method: method, Path: u.EscapedPath(), Query: u.Query(), Header: header}, nil
}

// MatchError is a matched route whose bound values are not valid (say, a
// path segment that is not a valid object ID).
type MatchError struct {
	Route *Route
	Err   error
}

func (e *MatchError) Error() string {
	return fmt.Sprintf("route %d (%s): %v", e.Route.Index, e.Route.Path, e.Err)
}

func (e *MatchError) Unwrap() error { return e.Err }

// Match finds the first route matching r and binds its values. ok is false
// when no route matches. A route that matches but cannot bind (an invalid
// resource ID, a missing subject header) is a *MatchError.
func (m *Map) Match(r Request) (q Question, ok bool, err error) {
	segs, err := splitPath(r.Path)
	if err != nil {
		return Question{}, false, err
	}
	method := strings.ToUpper(r.Method)
	for _, rt := range m.routes {
		if len(rt.Methods) > 0 && !slices.Contains(rt.Methods, method) {
			continue
		}
		params, matched := rt.match(segs)
		if !matched {
			continue
		}
		q, err := rt.bind(params, r)
		if err != nil {
			return Question{}, true, &MatchError{Route: rt, Err: err}
		}
		return q, true, nil
	}
	return Question{}, false, nil
}

// Routes returns the map's routes, in order.
func (m *Map) Routes() []*Route { return slices.Clone(m.routes) }

// Load reads and validates the route map in file path.
func Load(path string) (*Map, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// The YAML shape of a map.
type fileMap struct {
	Version   int         `yaml:"version"`
	Unmatched string      `yaml:"unmatched"`
	Routes    []fileRoute `yaml:"routes"`
}

type fileRoute struct {
	Method     methods               `yaml:"method"`
	Path       string                `yaml:"path"`
	Resource   string                `yaml:"resource"`
	Permission string                `yaml:"permission"`
	Subject    *fileSubject          `yaml:"subject"`
	Context    map[string]fileSource `yaml:"context"`
	line       int
}

type fileSubject struct {
	Header string `yaml:"header"`
	Type   string `yaml:"type"`
}

type fileSource struct {
	Path   string `yaml:"path"`
	Header string `yaml:"header"`
	Query  string `yaml:"query"`
	Value  any    `yaml:"value"`
}

// methods is "GET", ["GET", "HEAD"] or "*".
type methods []string

func (m *methods) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*m = methods{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*m = list
		return nil
	}
	return fmt.Errorf("line %d: method must be a name or a list of names", n.Line)
}

// Parse reads and validates a route map.
func Parse(data []byte) (*Map, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var fm fileMap
	if err := dec.Decode(&fm); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty route map")
		}
		return nil, fmt.Errorf("route map: %w", err)
	}
	// Line numbers of the routes, for messages.
	if err := yaml.Unmarshal(data, &doc); err == nil {
		for i, line := range routeLines(&doc) {
			if i < len(fm.Routes) {
				fm.Routes[i].line = line
			}
		}
	}
	if fm.Version != Version {
		return nil, fmt.Errorf("route map version %d is not supported (want version: %d)", fm.Version, Version)
	}
	m := &Map{}
	switch fm.Unmatched {
	case "", "deny":
	case "allow":
		m.AllowUnmatched = true
	default:
		return nil, fmt.Errorf("unmatched: %q is neither allow nor deny", fm.Unmatched)
	}
	seen := map[string]int{}
	for i, fr := range fm.Routes {
		rt, err := compileRoute(i, fr)
		if err != nil {
			return nil, fmt.Errorf("route %d (line %d): %w", i, fr.line, err)
		}
		for _, meth := range methodsOrAny(rt.Methods) {
			key := meth + " " + canonicalPath(rt.segments)
			if j, dup := seen[key]; dup {
				return nil, fmt.Errorf("route %d (line %d): %s %s is already route %d's, which always matches first", i, fr.line, meth, rt.Path, j)
			}
			seen[key] = i
		}
		m.routes = append(m.routes, rt)
	}
	return m, nil
}

// routeLines returns the line of each item of the top-level routes list.
func routeLines(doc *yaml.Node) []int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "routes" {
			var out []int
			for _, item := range top.Content[i+1].Content {
				out = append(out, item.Line)
			}
			return out
		}
	}
	return nil
}

func methodsOrAny(ms []string) []string {
	if len(ms) == 0 {
		return []string{"*"}
	}
	return ms
}

var (
	methodRE = regexp.MustCompile(`^[A-Z]+$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func compileRoute(i int, fr fileRoute) (*Route, error) {
	rt := &Route{Index: i, Path: fr.Path, Permission: fr.Permission, context: map[string]source{}}
	for _, meth := range fr.Method {
		meth = strings.ToUpper(strings.TrimSpace(meth))
		switch {
		case meth == "*":
			if len(fr.Method) > 1 {
				return nil, errors.New(`method "*" must stand alone`)
			}
		case !methodRE.MatchString(meth):
			return nil, fmt.Errorf("method %q is not an HTTP method", meth)
		default:
			rt.Methods = append(rt.Methods, meth)
		}
	}
	if len(fr.Method) == 0 {
		return nil, errors.New(`method is required (a name, a list, or "*")`)
	}
	segs, err := parseTemplate(fr.Path)
	if err != nil {
		return nil, err
	}
	rt.segments = segs
	params := map[string]bool{}
	for _, s := range segs {
		if s.param != "" {
			if params[s.param] {
				return nil, fmt.Errorf("path %q names {%s} twice", fr.Path, s.param)
			}
			params[s.param] = true
		}
	}
	typ, idTemplate, found := strings.Cut(fr.Resource, ":")
	if !found || !nameRE.MatchString(strings.ReplaceAll(typ, "/", "_")) || idTemplate == "" {
		return nil, fmt.Errorf("resource %q must be TYPE:ID, the ID literal or built from {path} parameters", fr.Resource)
	}
	rt.resourceType = typ
	if rt.resourceID, err = parseParts(idTemplate, params); err != nil {
		return nil, fmt.Errorf("resource %q: %w", fr.Resource, err)
	}
	if !nameRE.MatchString(fr.Permission) {
		return nil, fmt.Errorf("permission %q is not a relation or permission name", fr.Permission)
	}
	if fr.Subject != nil {
		if fr.Subject.Header == "" || fr.Subject.Type == "" {
			return nil, errors.New("subject needs both header and type (leave subject out to use the verified token)")
		}
		if !nameRE.MatchString(strings.ReplaceAll(fr.Subject.Type, "/", "_")) {
			return nil, fmt.Errorf("subject type %q is not a type name", fr.Subject.Type)
		}
		rt.SubjectHeader, rt.SubjectType = http.CanonicalHeaderKey(fr.Subject.Header), fr.Subject.Type
	}
	for name, fs := range fr.Context {
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("context name %q is not a caveat parameter name", name)
		}
		switch name {
		case "caller", "resource", "subject":
			return nil, fmt.Errorf("context name %q is reserved: gatehouse binds it itself", name)
		}
		src, err := compileSource(fs, params)
		if err != nil {
			return nil, fmt.Errorf("context %s: %w", name, err)
		}
		rt.context[name] = src
	}
	return rt, nil
}

// source is where a context value comes from.
type source struct {
	kind  int // srcPath, srcHeader, srcQuery or srcValue
	name  string
	value any
}

const (
	srcPath = iota
	srcHeader
	srcQuery
	srcValue
)

func compileSource(fs fileSource, params map[string]bool) (source, error) {
	var set []source
	if fs.Path != "" {
		if !params[fs.Path] {
			return source{}, fmt.Errorf("path parameter {%s} is not in the route's path", fs.Path)
		}
		set = append(set, source{kind: srcPath, name: fs.Path})
	}
	if fs.Header != "" {
		set = append(set, source{kind: srcHeader, name: http.CanonicalHeaderKey(fs.Header)})
	}
	if fs.Query != "" {
		set = append(set, source{kind: srcQuery, name: fs.Query})
	}
	if fs.Value != nil {
		// As JSON would carry it (numbers as float64), like a request's
		// context.
		b, err := json.Marshal(fs.Value)
		if err != nil {
			return source{}, fmt.Errorf("value: %w", err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return source{}, fmt.Errorf("value: %w", err)
		}
		set = append(set, source{kind: srcValue, value: v})
	}
	if len(set) != 1 {
		return source{}, errors.New("give exactly one of path, header, query or value")
	}
	return set[0], nil
}

// segment is one segment of a path template: literal text, a {param}, or a
// final {param...} that takes the rest of the path.
type segment struct {
	literal string
	param   string
	rest    bool
}

func parseTemplate(path string) ([]segment, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q must start with /", path)
	}
	raw := strings.Split(path[1:], "/")
	var out []segment
	for i, s := range raw {
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			rest := strings.HasSuffix(name, "...")
			name = strings.TrimSuffix(name, "...")
			if !nameRE.MatchString(name) {
				return nil, fmt.Errorf("path %q: {%s} is not a parameter name", path, name)
			}
			if rest && i != len(raw)-1 {
				return nil, fmt.Errorf("path %q: {%s...} must be the last segment", path, name)
			}
			out = append(out, segment{param: name, rest: rest})
		case strings.ContainsAny(s, "{}"):
			return nil, fmt.Errorf("path %q: a parameter must be a whole segment, as {name}", path)
		default:
			lit, err := url.PathUnescape(s)
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", path, err)
			}
			out = append(out, segment{literal: lit})
		}
	}
	return out, nil
}

// canonicalPath is a template with parameter names erased, so that two
// templates matching the same paths compare equal.
func canonicalPath(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch {
		case s.rest:
			b.WriteString("{...}")
		case s.param != "":
			b.WriteString("{}")
		default:
			b.WriteString(url.PathEscape(s.literal))
		}
	}
	return b.String()
}

// splitPath splits an escaped request path into unescaped segments.
func splitPath(escaped string) ([]string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return nil, fmt.Errorf("request path %q does not start with /", escaped)
	}
	raw := strings.Split(escaped[1:], "/")
	out := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, fmt.Errorf("request path %q: %w", escaped, err)
		}
		out[i] = u
	}
	return out, nil
}

func (rt *Route) match(segs []string) (map[string]string, bool) {
	params := map[string]string{}
	for i, s := range rt.segments {
		if s.rest {
			if i >= len(segs) {
				return nil, false
			}
			rest := strings.Join(segs[i:], "/")
			if rest == "" {
				return nil, false
			}
			params[s.param] = rest
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		switch {
		case s.param != "":
			if segs[i] == "" {
				return nil, false
			}
			params[s.param] = segs[i]
		case s.literal != segs[i]:
			return nil, false
		}
	}
	return params, len(segs) == len(rt.segments)
}

// part is literal text or a {param} of a resource ID template.
type part struct {
	literal string
	param   string
}

func parseParts(tmpl string, params map[string]bool) ([]part, error) {
	var out []part
	for tmpl != "" {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			if strings.ContainsRune(tmpl, '}') {
				return nil, errors.New("unbalanced }")
			}
			out = append(out, part{literal: tmpl})
			break
		}
		if open > 0 {
			if strings.ContainsRune(tmpl[:open], '}') {
				return nil, errors.New("unbalanced }")
			}
			out = append(out, part{literal: tmpl[:open]})
		}
		end := strings.IndexByte(tmpl[open:], '}')
		if end < 0 {
			return nil, errors.New("unbalanced {")
		}
		name := tmpl[open+1 : open+end]
		if !params[name] {
			return nil, fmt.Errorf("{%s} is not a parameter of the route's path", name)
		}
		out = append(out, part{param: name})
		tmpl = tmpl[open+end+1:]
	}
	return out, nil
}

func (rt *Route) bind(params map[string]string, r Request) (Question, error) {
	var id strings.Builder
	for _, p := range rt.resourceID {
		if p.param != "" {
			id.WriteString(params[p.param])
		} else {
			id.WriteString(p.literal)
		}
	}
	res, err := tuple.ParseObject(rt.resourceType + ":" + id.String())
	if err != nil || res.ID == "*" {
		return Question{}, fmt.Errorf("resource %s:%s is not a valid object", rt.resourceType, id.String())
	}
	q := Question{Route: rt, Resource: res, Permission: rt.Permission}
	if rt.SubjectHeader != "" {
		v := strings.TrimSpace(r.Header.Get(rt.SubjectHeader))
		if v == "" {
			return Question{}, fmt.Errorf("no subject: header %s is missing", rt.SubjectHeader)
		}
		sub, err := tuple.ParseSubject(rt.SubjectType + ":" + v)
		if err != nil || sub.Relation != "" {
			return Question{}, fmt.Errorf("header %s does not hold a valid %s ID", rt.SubjectHeader, rt.SubjectType)
		}
		q.Subject = &sub
	}
	if len(rt.context) > 0 {
		q.Context = make(map[string]any, len(rt.context))
		for name, src := range rt.context {
			switch src.kind {
			case srcPath:
				q.Context[name] = params[src.name]
			case srcHeader:
				if vs := r.Header.Values(src.name); len(vs) > 0 {
					q.Context[name] = vs[0]
				}
			case srcQuery:
				if vs, ok := r.Query[src.name]; ok && len(vs) > 0 {
					q.Context[name] = vs[0]
				}
			case srcValue:
				q.Context[name] = src.value
			}
		}
	}
	return q, nil
}

// Holder holds the route map of a file and reloads it on demand (on SIGHUP,
// say). A reload that fails keeps the map in use.
type Holder struct {
	path string
	cur  atomic.Pointer[Map]
}

// Open loads the route map in path.
func Open(path string) (*Holder, error) {
	h := &Holder{path: path}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Static holds m, which never reloads (tests, and maps built in code).
func Static(m *Map) *Holder {
	h := &Holder{}
	h.cur.Store(m)
	return h
}

// Map returns the map in use.
func (h *Holder) Map() *Map { return h.cur.Load() }

// Path is the file the map comes from; "" for a static map.
func (h *Holder) Path() string { return h.path }

// Reload reads the file again; on any error the map in use stays.
func (h *Holder) Reload() error {
	if h.path == "" {
		return nil
	}
	m, err := Load(h.path)
	if err != nil {
		return err
	}
	h.cur.Store(m)
	return nil
}
