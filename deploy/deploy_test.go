// Package deploy_test checks the deployment artifacts under deploy/: every
// YAML file parses, the manifests keep the properties the deployment relies on
// (non-root, read-only, gRPC probes, selectors that match), the gateway
// configurations ask gatehouse before forwarding, and, where the tools are
// installed, kustomize renders the Kubernetes directory and compose accepts
// the compose file.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gatehouse-dev/gatehouse/routes"

	// The typed configs envoy.yaml names, registered for protojson.
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// decodeAll returns every YAML document of path, decoded into a new T each.
func decodeAll[T any](t *testing.T, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeDocs[T](t, path, data)
}

func decodeDocs[T any](t *testing.T, name string, data []byte) []T {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []T
	for {
		var doc T
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", name)
	}
	return docs
}

// decodeOne is decodeAll of a file holding exactly one document.
func decodeOne[T any](t *testing.T, path string) T {
	t.Helper()
	docs := decodeAll[T](t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	return docs[0]
}

func TestYAML_WellFormed(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"compose.yaml", "compose/routes.yaml", "envoy/envoy.yaml", "kubernetes/kustomization.yaml", "kubernetes/deployment.yaml"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s not found under deploy/ (found %v)", want, files)
		}
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			for i, doc := range decodeAll[map[string]any](t, f) {
				if len(doc) == 0 {
					t.Errorf("document %d is empty", i)
				}
			}
		})
	}
}

// The parts of Kubernetes objects the checks read.
type (
	metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	object struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Metadata   metadata `yaml:"metadata"`
	}
	securityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		RunAsUser                *int  `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	}
	probe struct {
		GRPC *struct {
			Port int `yaml:"port"`
		} `yaml:"grpc"`
	}
	envVar struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Env   []envVar `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		StartupProbe   *probe `yaml:"startupProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext securityContext `yaml:"securityContext"`
		VolumeMounts    []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	deployment struct {
		object `yaml:",inline"`
		Spec   struct {
			Replicas int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata metadata `yaml:"metadata"`
				Spec     struct {
					SecurityContext securityContext `yaml:"securityContext"`
					Containers      []container     `yaml:"containers"`
					Volumes         []volume        `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	servicePort struct {
		Name        string `yaml:"name"`
		Port        int    `yaml:"port"`
		TargetPort  any    `yaml:"targetPort"`
		AppProtocol string `yaml:"appProtocol"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	}
	service struct {
		object `yaml:",inline"`
		Spec   struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []servicePort     `yaml:"ports"`
		} `yaml:"spec"`
	}
	pdb struct {
		object `yaml:",inline"`
		Spec   struct {
			MinAvailable any `yaml:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	hpa struct {
		object `yaml:",inline"`
		Spec   struct {
			ScaleTargetRef struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Name       string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			MaxReplicas int `yaml:"maxReplicas"`
			Metrics     []struct {
				Type     string `yaml:"type"`
				Resource struct {
					Name   string `yaml:"name"`
					Target struct {
						Type               string `yaml:"type"`
						AverageUtilization int    `yaml:"averageUtilization"`
					} `yaml:"target"`
				} `yaml:"resource"`
			} `yaml:"metrics"`
		} `yaml:"spec"`
	}
	secret struct {
		object     `yaml:",inline"`
		StringData map[string]string `yaml:"stringData"`
		Data       map[string]string `yaml:"data"`
	}
	kustomization struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
)

// routeMap is the route map format (version 1) of gatehouse serve --routes.
type routeMap struct {
	Version   int    `yaml:"version"`
	Unmatched string `yaml:"unmatched"`
	Routes    []struct {
		Method     any                          `yaml:"method"`
		Path       string                       `yaml:"path"`
		Resource   string                       `yaml:"resource"`
		Permission string                       `yaml:"permission"`
		Context    map[string]map[string]string `yaml:"context"`
	} `yaml:"routes"`
}

// subset reports whether every label of sel is in labels with the same value.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

// grpcPort is the container port named grpc.
func grpcPort(t *testing.T, c container) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == "grpc" {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named grpc", c.Name)
	return 0
}

// gatehouseContainer is the container named gatehouse of d.
func gatehouseContainer(t *testing.T, d deployment) container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "gatehouse" {
			return c
		}
	}
	t.Fatal("the Deployment has no container named gatehouse")
	return container{}
}

func TestKubernetes_Deployment(t *testing.T) {
	d := decodeOne[deployment](t, "kubernetes/deployment.yaml")
	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		t.Fatalf("deployment.yaml is %s %s", d.APIVersion, d.Kind)
	}
	if d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", d.Spec.Replicas)
	}
	sel := d.Spec.Selector.MatchLabels
	if len(sel) == 0 || !subset(sel, d.Spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not select the pod template's labels %v", sel, d.Spec.Template.Metadata.Labels)
	}
	pod := d.Spec.Template.Spec
	if !isTrue(pod.SecurityContext.RunAsNonRoot) {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if u := pod.SecurityContext.RunAsUser; u == nil || *u == 0 {
		t.Error("pod securityContext.runAsUser is unset or root")
	}
	c := gatehouseContainer(t, d)
	sc := c.SecurityContext
	if !isTrue(sc.RunAsNonRoot) {
		t.Error("container securityContext.runAsNonRoot is not true")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("container securityContext.readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container securityContext.allowPrivilegeEscalation is not false")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", sc.Capabilities.Drop)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" || pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("seccompProfile is not RuntimeDefault on the pod and the container")
	}

	port := grpcPort(t, c)
	if port != 50051 {
		t.Errorf("grpc containerPort = %d, want 50051", port)
	}
	if !slices.Contains(c.Args, "--addr=:"+strconv.Itoa(port)) {
		t.Errorf("args %v do not listen on the grpc port %d", c.Args, port)
	}
	for name, p := range map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.GRPC == nil || p.GRPC.Port != port {
			t.Errorf("%s probe is not a gRPC probe on port %d", name, port)
		}
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("resources.requests.%s is not set", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("resources.limits.memory is not set")
	}
	if c.Args[0] != "serve" || !slices.Contains(c.Args, "--migrate") {
		t.Errorf("args = %v, want serve ... --migrate", c.Args)
	}

	// The route map: the ConfigMap generated from routes.yaml, mounted where
	// --routes points.
	var routesVolume string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == "gatehouse-routes" {
			routesVolume = v.Name
		}
	}
	if routesVolume == "" {
		t.Fatal("no volume of the gatehouse-routes ConfigMap")
	}
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.Name == routesVolume && slices.Contains(c.Args, "--routes="+m.MountPath+"/routes.yaml") && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the routes volume is not mounted read-only where --routes points (args %v)", c.Args)
	}

	// Secrets come from the Secret, by name and key.
	s := decodeOne[secret](t, "kubernetes/secret.yaml")
	for _, name := range []string{"GATEHOUSE_DATASTORE", "GATEHOUSE_PRESHARED_KEY"} {
		i := slices.IndexFunc(c.Env, func(e envVar) bool { return e.Name == name })
		if i < 0 {
			t.Errorf("env %s is not set", name)
			continue
		}
		ref := c.Env[i].ValueFrom.SecretKeyRef
		if ref == nil || ref.Name != s.Metadata.Name {
			t.Errorf("env %s does not come from Secret %s", name, s.Metadata.Name)
			continue
		}
		if _, ok := s.StringData[ref.Key]; !ok {
			t.Errorf("env %s reads key %q, which Secret %s lacks", name, ref.Key, s.Metadata.Name)
		}
	}
	if !strings.HasPrefix(s.StringData["datastore"], "postgres://") {
		t.Errorf("Secret datastore = %q, want a postgres:// URL", s.StringData["datastore"])
	}
	for k, v := range s.StringData {
		if !strings.Contains(v, "CHANGE-ME") {
			t.Errorf("Secret %s holds a value that is not a CHANGE-ME placeholder", k)
		}
	}
}

func TestKubernetes_SelectorsMatch(t *testing.T) {
	d := decodeOne[deployment](t, "kubernetes/deployment.yaml")
	podLabels := d.Spec.Template.Metadata.Labels
	c := gatehouseContainer(t, d)

	svc := decodeOne[service](t, "kubernetes/service.yaml")
	if len(svc.Spec.Selector) == 0 || !subset(svc.Spec.Selector, podLabels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p servicePort) bool { return p.Name == "grpc" })
	if i < 0 {
		t.Fatal("Service has no port named grpc")
	}
	p := svc.Spec.Ports[i]
	if p.Port != 50051 || p.AppProtocol == "" {
		t.Errorf("Service grpc port = %d, appProtocol %q; want 50051 and an appProtocol", p.Port, p.AppProtocol)
	}
	switch tp := p.TargetPort.(type) {
	case string:
		if tp != "grpc" {
			t.Errorf("Service targetPort %q is not the container's grpc port", tp)
		}
	case int:
		if tp != grpcPort(t, c) {
			t.Errorf("Service targetPort %d is not the container's grpc port %d", tp, grpcPort(t, c))
		}
	default:
		t.Errorf("Service targetPort %v is not set", tp)
	}

	b := decodeOne[pdb](t, "kubernetes/pdb.yaml")
	if b.Kind != "PodDisruptionBudget" || b.APIVersion != "policy/v1" {
		t.Errorf("pdb.yaml is %s %s", b.APIVersion, b.Kind)
	}
	if len(b.Spec.Selector.MatchLabels) == 0 || !subset(b.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("PDB selector %v does not select the pods %v", b.Spec.Selector.MatchLabels, podLabels)
	}
	if b.Spec.MinAvailable != 1 {
		t.Errorf("PDB minAvailable = %v, want 1", b.Spec.MinAvailable)
	}

	h := decodeOne[hpa](t, "kubernetes/hpa.yaml")
	if h.APIVersion != "autoscaling/v2" {
		t.Errorf("HPA apiVersion = %s, want autoscaling/v2", h.APIVersion)
	}
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != d.Metadata.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA scales %s %s/%s, want the Deployment %s", ref.APIVersion, ref.Kind, ref.Name, d.Metadata.Name)
	}
	if h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < h.Spec.MinReplicas {
		t.Errorf("HPA replicas %d..%d, want at least 2", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource.Name != "cpu" || h.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Errorf("HPA metrics = %+v, want CPU at 70%%", h.Spec.Metrics)
	}
}

func TestKubernetes_Kustomization(t *testing.T) {
	k := decodeOne[kustomization](t, "kubernetes/kustomization.yaml")
	// Every manifest in the directory is listed, and every listed one exists.
	entries, err := os.ReadDir("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == "kustomization.yaml" || name == "routes.yaml" || filepath.Ext(name) != ".yaml" {
			continue
		}
		if !slices.Contains(k.Resources, name) {
			t.Errorf("%s is not in kustomization.yaml's resources", name)
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("resource %s: %v", r, err)
		}
	}
	if len(k.ConfigMapGenerator) != 1 || k.ConfigMapGenerator[0].Name != "gatehouse-routes" ||
		!slices.Equal(k.ConfigMapGenerator[0].Files, []string{"routes.yaml"}) {
		t.Errorf("configMapGenerator = %+v, want gatehouse-routes from routes.yaml", k.ConfigMapGenerator)
	}
}

func TestRouteMaps(t *testing.T) {
	var parsed []routeMap
	for _, f := range []string{"compose/routes.yaml", "kubernetes/routes.yaml"} {
		// gatehouse's own loader accepts it (what serve --routes does)...
		if _, err := routes.Load(f); err != nil {
			t.Errorf("gatehouse would not load %s: %v", f, err)
		}
		// ...and it says what the demo needs.
		m := decodeOne[routeMap](t, f)
		if m.Version != 1 {
			t.Errorf("%s: version %d, want 1", f, m.Version)
		}
		if m.Unmatched != "deny" {
			t.Errorf("%s: unmatched %q, want deny", f, m.Unmatched)
		}
		if len(m.Routes) == 0 {
			t.Errorf("%s: no routes", f)
		}
		for i, r := range m.Routes {
			typ, id, ok := strings.Cut(r.Resource, ":")
			if r.Method == nil || !strings.HasPrefix(r.Path, "/") || !ok || typ == "" || id == "" || r.Permission == "" {
				t.Errorf("%s: route %d incomplete: %+v", f, i, r)
			}
			for name, src := range r.Context {
				if len(src) != 1 {
					t.Errorf("%s: route %d context %s: want one source, got %v", f, i, name, src)
				}
				if p, ok := src["path"]; ok && !strings.Contains(r.Path, "{"+p+"}") {
					t.Errorf("%s: route %d context %s reads path parameter %q that %s lacks", f, i, name, p, r.Path)
				}
			}
		}
		parsed = append(parsed, m)
	}
	// The two examples describe the same demo API.
	if len(parsed) == 2 && !equalYAML(t, parsed[0], parsed[1]) {
		t.Error("compose/routes.yaml and kubernetes/routes.yaml differ")
	}
}

func equalYAML(t *testing.T, a, b any) bool {
	t.Helper()
	ya, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ya, yb)
}

// composeFile is the part of compose.yaml the checks read.
type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     []string                     `yaml:"command"`
		Environment map[string]string            `yaml:"environment"`
		Volumes     []string                     `yaml:"volumes"`
		DependsOn   map[string]map[string]string `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func TestCompose(t *testing.T) {
	c := decodeOne[composeFile](t, "compose.yaml")
	for _, name := range []string{"postgres", "gatehouse", "demoapi", "nginx"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s is missing", name)
		}
	}
	for name, s := range c.Services {
		if s.Build != nil {
			df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				t.Errorf("service %s: dockerfile: %v", name, err)
			}
		}
		for _, v := range s.Volumes {
			if src, _, _ := strings.Cut(v, ":"); strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s: bind mount source: %v", name, err)
				}
			}
		}
	}

	pg := c.Services["postgres"]
	if !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("postgres: want the official image with a pg_isready healthcheck, got %s %+v", pg.Image, pg.Healthcheck)
	}

	g := c.Services["gatehouse"]
	if g.Build == nil || g.Build.Dockerfile != "deploy/Dockerfile" {
		t.Errorf("gatehouse is not built from deploy/Dockerfile: %+v", g.Build)
	}
	for _, arg := range []string{"serve", "--migrate", "--routes=/etc/gatehouse/routes.yaml"} {
		if !slices.Contains(g.Command, arg) {
			t.Errorf("gatehouse command %v lacks %s", g.Command, arg)
		}
	}
	if !slices.Contains(g.Volumes, "./compose/routes.yaml:/etc/gatehouse/routes.yaml:ro") {
		t.Errorf("gatehouse does not mount compose/routes.yaml at --routes: %v", g.Volumes)
	}
	if ds := g.Environment["GATEHOUSE_DATASTORE"]; !strings.HasPrefix(ds, "postgres://") || !strings.Contains(ds, "@postgres:5432/") {
		t.Errorf("GATEHOUSE_DATASTORE = %q, want the postgres service", ds)
	}
	if k := g.Environment["GATEHOUSE_PRESHARED_KEY"]; !strings.Contains(k, "dev-only") {
		t.Errorf("GATEHOUSE_PRESHARED_KEY = %q, want an env var with a dev-only default", k)
	}
	if g.Healthcheck == nil || !slices.Equal(g.Healthcheck.Test[:3], []string{"CMD", "/gatehouse", "healthcheck"}) {
		t.Errorf("gatehouse healthcheck = %+v, want /gatehouse healthcheck", g.Healthcheck)
	}
	if g.DependsOn["postgres"]["condition"] != "service_healthy" {
		t.Error("gatehouse does not wait for a healthy postgres")
	}

	n := c.Services["nginx"]
	if !strings.HasPrefix(n.Image, "nginx:") {
		t.Errorf("nginx image = %q, want the official image", n.Image)
	}
	if !slices.Contains(n.Volumes, "./compose/nginx.conf:/etc/nginx/templates/default.conf.template:ro") {
		t.Errorf("nginx does not mount compose/nginx.conf as a template: %v", n.Volumes)
	}
	if n.Environment["GATEHOUSE_KEY"] != g.Environment["GATEHOUSE_PRESHARED_KEY"] {
		t.Errorf("nginx's GATEHOUSE_KEY %q is not gatehouse's key %q", n.Environment["GATEHOUSE_KEY"], g.Environment["GATEHOUSE_PRESHARED_KEY"])
	}
	if n.DependsOn["gatehouse"]["condition"] != "service_healthy" {
		t.Error("nginx does not wait for a healthy gatehouse")
	}

	// Every ${VAR} of the template is set for nginx and passes its envsubst filter.
	conf, err := os.ReadFile("compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	filter := regexp.MustCompile(n.Environment["NGINX_ENVSUBST_FILTER"])
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(string(conf), -1) {
		if _, ok := n.Environment[m[1]]; !ok || !filter.MatchString(m[1]) {
			t.Errorf("nginx.conf uses ${%s}, which compose does not substitute", m[1])
		}
	}
}

func TestCompose_NginxForwardAuth(t *testing.T) {
	data, err := os.ReadFile("compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(data)
	for _, want := range []string{
		"auth_request /_gatehouse;",
		"location = /_gatehouse {",
		"internal;",
		"proxy_pass http://gatehouse/ext/forward-auth;",
		"server gatehouse:50051;",
		"proxy_pass_request_body off;",
		`proxy_set_header Content-Length "";`,
		"proxy_set_header X-Original-URI $request_uri;",
		"proxy_set_header X-Original-Method $request_method;",
		"proxy_set_header Gatehouse-Key $gatehouse_key;",
		"error_page 401 = @unauthenticated;",
		"error_page 403 = @forbidden;",
		"proxy_pass http://demoapi;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	// Braces balance: a truncated edit does not slip through.
	if o, c := strings.Count(conf, "{")-strings.Count(conf, "${"), strings.Count(conf, "}")-strings.Count(conf, "${"); o != c {
		t.Errorf("nginx.conf has %d blocks opened and %d closed", o, c)
	}
}

func TestDockerfiles(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"Dockerfile", []string{
			"FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build",
			"--mount=type=cache,target=/go/pkg/mod",
			"CGO_ENABLED=0",
			`go build -trimpath -ldflags "-s -w" -o /out/gatehouse ./cmd/gatehouse`,
			"FROM gcr.io/distroless/static-debian12:nonroot",
			"USER 65532:65532",
			"COPY --from=build --chown=65532:65532 /out/data /data",
			`VOLUME ["/data"]`,
			"EXPOSE 50051",
			`CMD ["/gatehouse", "healthcheck"`,
			`ENTRYPOINT ["/gatehouse"]`,
			`CMD ["serve", "--addr", ":50051", "--data-dir", "/data"]`,
		}},
		{"demoapi.Dockerfile", []string{
			"./examples/demoapi",
			"FROM gcr.io/distroless/static-debian12:nonroot",
			"USER 65532:65532",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(data), want) {
					t.Errorf("%s lacks %q", tt.file, want)
				}
			}
			if regexp.MustCompile(`(?m)^USER\s+(root|0)\b`).Match(data) {
				t.Errorf("%s runs as root", tt.file)
			}
		})
	}
	// The packages the images build exist.
	for _, dir := range []string{"../cmd/gatehouse", "../examples/demoapi"} {
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
			t.Error(err)
		}
	}
}

func TestEnvoy(t *testing.T) {
	raw := decodeOne[map[string]any](t, "envoy/envoy.yaml")
	js, err := jsonOf(raw)
	if err != nil {
		t.Fatal(err)
	}
	var bs bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, &bs); err != nil {
		t.Fatalf("envoy.yaml is not an Envoy v3 bootstrap: %v", err)
	}
	if err := bs.ValidateAll(); err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	clusters := map[string]bool{}
	for _, c := range bs.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = true
	}
	listeners := bs.GetStaticResources().GetListeners()
	if len(listeners) != 1 || listeners[0].GetAddress().GetSocketAddress().GetPortValue() != 8080 {
		t.Fatalf("want one listener on 8080, got %v", listeners)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := listeners[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatalf("first network filter is not the http_connection_manager: %v", err)
	}
	if err := hcm.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if c := r.GetRoute().GetCluster(); !clusters[c] {
				t.Errorf("route to cluster %q, which does not exist", c)
			}
		}
	}
	filters := hcm.GetHttpFilters()
	if len(filters) < 2 || filters[0].GetName() != "envoy.filters.http.ext_authz" || filters[len(filters)-1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("http filters: want ext_authz first and the router last, got %v", filters)
	}
	var authz extauthzv3.ExtAuthz
	if err := filters[0].GetTypedConfig().UnmarshalTo(&authz); err != nil {
		t.Fatal(err)
	}
	if err := authz.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if authz.GetFailureModeAllow() || authz.GetTransportApiVersion().String() != "V3" || authz.GetWithRequestBody() != nil {
		t.Errorf("ext_authz: failure_mode_allow %v, transport %v, with_request_body %v; want false, V3, unset",
			authz.GetFailureModeAllow(), authz.GetTransportApiVersion(), authz.GetWithRequestBody())
	}
	gs := authz.GetGrpcService()
	authzCluster := gs.GetEnvoyGrpc().GetClusterName()
	if !clusters[authzCluster] {
		t.Fatalf("ext_authz calls cluster %q, which does not exist (clusters %v)", authzCluster, slices.Sorted(maps.Keys(clusters)))
	}
	if !slices.ContainsFunc(gs.GetInitialMetadata(), func(h *corev3.HeaderValue) bool { return h.GetKey() == "gatehouse-key" && h.GetValue() != "" }) {
		t.Error("ext_authz sends no gatehouse-key metadata")
	}
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() != authzCluster {
			continue
		}
		var opts upstreamhttpv3.HttpProtocolOptions
		if err := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(&opts); err != nil {
			t.Fatalf("cluster %s: no HttpProtocolOptions: %v", c.GetName(), err)
		}
		if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			t.Errorf("cluster %s does not speak HTTP/2 (gRPC) explicitly", c.GetName())
		}
		port := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
		if port != 50051 {
			t.Errorf("cluster %s port = %d, want 50051", c.GetName(), port)
		}
	}
}

func TestKustomize_Renders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH: kustomize rendering not checked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", "kubernetes").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("kubectl kustomize: %v", err)
	}
	objs := decodeDocs[map[string]any](t, "kubectl kustomize", out)
	kinds := map[string]map[string]any{}
	for i, o := range objs {
		var h object
		if err := remarshal(o, &h); err != nil {
			t.Fatal(err)
		}
		if h.APIVersion == "" || h.Kind == "" || h.Metadata.Name == "" {
			t.Errorf("rendered object %d lacks apiVersion, kind or metadata.name: %v", i, o)
		}
		if h.Metadata.Labels["app.kubernetes.io/part-of"] != "gatehouse" {
			t.Errorf("%s %s lacks the kustomization's label", h.Kind, h.Metadata.Name)
		}
		kinds[h.Kind] = o
	}
	want := []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret", "Service"}
	if got := slices.Sorted(maps.Keys(kinds)); !slices.Equal(got, want) {
		t.Fatalf("rendered kinds %v, want %v", got, want)
	}
	var cm struct {
		object `yaml:",inline"`
		Data   map[string]string `yaml:"data"`
	}
	if err := remarshal(kinds["ConfigMap"], &cm); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^gatehouse-routes-[a-z0-9]{6,}$`).MatchString(cm.Metadata.Name) {
		t.Errorf("generated ConfigMap is named %q, want gatehouse-routes-<hash>", cm.Metadata.Name)
	}
	decodeDocs[routeMap](t, "rendered routes.yaml", []byte(cm.Data["routes.yaml"]))
	var d deployment
	if err := remarshal(kinds["Deployment"], &d); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v volume) bool {
		return v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name
	}) {
		t.Errorf("the rendered Deployment does not mount the generated ConfigMap %s", cm.Metadata.Name)
	}
	if img := gatehouseContainer(t, d).Image; img == "gatehouse" || img == "" {
		t.Errorf("rendered image %q: kustomization's images did not apply", img)
	}
}

func TestCompose_Config(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not on PATH: docker compose config not checked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, docker, "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker compose is not available (%v: %s): docker compose config not checked", err, firstLine(out))
	}
	out, err := exec.CommandContext(ctx, docker, "compose", "-f", "compose.yaml", "config", "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, out)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// jsonOf is a decoded YAML document as JSON (for protojson).
func jsonOf(doc map[string]any) ([]byte, error) {
	return json.Marshal(doc)
}

// remarshal converts a decoded YAML value into v through YAML.
func remarshal(in any, v any) error {
	data, err := yaml.Marshal(in)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, v)
}
