package validate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifests is the rendered output of deploy/kubernetes, one typed struct per
// object, keyed by name where a kind may repeat.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
}

// add files obj, the result of decode, under its kind.
func (m *manifests) add(obj any) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		m.deployments = append(m.deployments, o)
	case *corev1.Service:
		m.services = append(m.services, o)
	case *corev1.ConfigMap:
		m.configMaps[o.Name] = o
	case *corev1.Secret:
		m.secrets[o.Name] = o
	case *policyv1.PodDisruptionBudget:
		m.pdbs = append(m.pdbs, o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		m.hpas = append(m.hpas, o)
	}
}

// decode strictly unmarshals one YAML document into the typed API struct its
// apiVersion and kind name: an unknown kind, an unknown or misspelled field, a
// duplicate key or a value of the wrong type is an error.
func decode(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("read apiVersion and kind: %w", err)
	}
	var obj any
	switch gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind); gvk {
	case appsv1.SchemeGroupVersion.WithKind("Deployment"):
		obj = &appsv1.Deployment{}
	case corev1.SchemeGroupVersion.WithKind("Service"):
		obj = &corev1.Service{}
	case corev1.SchemeGroupVersion.WithKind("ConfigMap"):
		obj = &corev1.ConfigMap{}
	case corev1.SchemeGroupVersion.WithKind("Secret"):
		obj = &corev1.Secret{}
	case policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"):
		obj = &policyv1.PodDisruptionBudget{}
	case autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"):
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	default:
		return nil, fmt.Errorf("unknown kind %q (apiVersion %q)", tm.Kind, tm.APIVersion)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

// parse splits a multi-document YAML stream and decodes every document.
func parse(stream []byte) (*manifests, error) {
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split documents: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, err := decode(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		m.add(obj)
	}
}

// render runs kubectl kustomize on deploy/kubernetes and decodes its output.
func render(t *testing.T) *manifests {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH: the rendered manifests are not validated")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", "../kubernetes").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("kubectl kustomize: %v", err)
	}
	m, err := parse(out)
	if err != nil {
		t.Fatalf("kubectl kustomize ../kubernetes: %v", err)
	}
	return m
}

// deployment is the one Deployment of m.
func (m *manifests) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	if len(m.deployments) != 1 {
		t.Fatalf("%d Deployments rendered, want 1", len(m.deployments))
	}
	return m.deployments[0]
}

// containers are the init and app containers of a pod spec.
func containers(spec *corev1.PodSpec) []*corev1.Container {
	var cs []*corev1.Container
	for i := range spec.InitContainers {
		cs = append(cs, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		cs = append(cs, &spec.Containers[i])
	}
	return cs
}

func TestManifests_Decode(t *testing.T) {
	m := render(t)
	counts := map[string]int{
		"Deployment":              len(m.deployments),
		"Service":                 len(m.services),
		"ConfigMap":               len(m.configMaps),
		"Secret":                  len(m.secrets),
		"PodDisruptionBudget":     len(m.pdbs),
		"HorizontalPodAutoscaler": len(m.hpas),
	}
	for kind, n := range counts {
		if n == 0 {
			t.Errorf("no %s rendered", kind)
		}
	}
}

func TestDecode_Rejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"misspelled field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatta: {a: b}\n", "datta"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "unknown kind"},
		{"wrong group", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: x}\n", "unknown kind"},
		{"bad quantity", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        resources: {limits: {cpu: two}}\n", "quantities"},
		{"duplicate key", "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ntype: Opaque\ntype: Opaque\n", "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decode = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestManifests_Ports checks that the Service's ports target ports the
// container declares and that every probe is gRPC health on the port the
// Service's grpc port reaches.
func TestManifests_Ports(t *testing.T) {
	m := render(t)
	d := m.deployment(t)
	pod := d.Spec.Template
	byName := map[string]int32{}
	var numbers []int32
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				byName[p.Name] = p.ContainerPort
			}
			numbers = append(numbers, p.ContainerPort)
		}
	}
	// resolve is the container port a Service's targetPort reaches, or 0.
	resolve := func(target intstr.IntOrString) int32 {
		if target.Type == intstr.String {
			return byName[target.StrVal]
		}
		if slices.Contains(numbers, target.IntVal) {
			return target.IntVal
		}
		return 0
	}

	var grpcPort int32
	for _, svc := range m.services {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port) // an unset targetPort is the port
			}
			port := resolve(target)
			if port == 0 {
				t.Errorf("Service %s port %s targets %s, which no container of Deployment %s declares", svc.Name, p.Name, target.String(), d.Name)
			}
			if p.Name == "grpc" {
				grpcPort = port
			}
		}
	}
	if grpcPort == 0 {
		t.Fatalf("no Service selecting Deployment %s has a grpc port reaching a container port", d.Name)
	}

	for _, c := range pod.Spec.Containers {
		probes := []struct {
			name  string
			probe *corev1.Probe
		}{
			{"startupProbe", c.StartupProbe},
			{"readinessProbe", c.ReadinessProbe},
			{"livenessProbe", c.LivenessProbe},
		}
		for _, p := range probes {
			switch {
			case p.probe == nil:
				t.Errorf("container %s has no %s", c.Name, p.name)
			case p.probe.GRPC == nil:
				t.Errorf("container %s %s is not a gRPC health probe", c.Name, p.name)
			case p.probe.GRPC.Port != grpcPort:
				t.Errorf("container %s %s probes port %d, but the Service's grpc port targets %d", c.Name, p.name, p.probe.GRPC.Port, grpcPort)
			}
		}
	}
}

// TestManifests_Resources checks that every container requests and limits CPU
// and memory, with requests no larger than limits.
func TestManifests_Resources(t *testing.T) {
	m := render(t)
	d := m.deployment(t)
	for _, c := range containers(&d.Spec.Template.Spec) {
		r := c.Resources
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := r.Requests[name]
			limit, hasLimit := r.Limits[name]
			if !hasReq || !hasLimit {
				t.Errorf("container %s: %s request %v, limit %v; want both set", c.Name, name, hasReq, hasLimit)
				continue
			}
			if req.Sign() <= 0 {
				t.Errorf("container %s: %s request %s is not positive", c.Name, name, req.String())
			}
			if req.Cmp(limit) > 0 {
				t.Errorf("container %s: %s request %s exceeds its limit %s", c.Name, name, req.String(), limit.String())
			}
			// The manifest's text round-trips through the quantity parser.
			for _, q := range []resource.Quantity{req, limit} {
				if _, err := resource.ParseQuantity(q.String()); err != nil {
					t.Errorf("container %s: %s: %v", c.Name, name, err)
				}
			}
		}
	}
}

// TestManifests_Selectors checks that the Deployment's, the Service's and the
// PodDisruptionBudget's selectors pick the Deployment's pods and that the
// HorizontalPodAutoscaler scales the Deployment.
func TestManifests_Selectors(t *testing.T) {
	m := render(t)
	d := m.deployment(t)
	podLabels := labels.Set(d.Spec.Template.Labels)

	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Errorf("Deployment %s selector %v (%v) does not match its pod labels %v", d.Name, sel, err, podLabels)
	}
	for _, svc := range m.services {
		if s := labels.SelectorFromSet(svc.Spec.Selector); s.Empty() || !s.Matches(podLabels) {
			t.Errorf("Service %s selector %v does not match the pod labels %v", svc.Name, s, podLabels)
		}
	}
	for _, pdb := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(podLabels) {
			t.Errorf("PodDisruptionBudget %s selector %v (%v) does not match the pod labels %v", pdb.Name, sel, err, podLabels)
		}
	}
	for _, hpa := range m.hpas {
		ref := hpa.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
			t.Errorf("HorizontalPodAutoscaler %s scales %s %s %s, want apps/v1 Deployment %s", hpa.Name, ref.APIVersion, ref.Kind, ref.Name, d.Name)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
			t.Errorf("HorizontalPodAutoscaler %s: minReplicas %v, maxReplicas %d", hpa.Name, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
			continue
		}
		// A drain must be able to evict a pod at the HPA's floor.
		for _, pdb := range m.pdbs {
			if ma := pdb.Spec.MinAvailable; ma != nil && ma.Type == intstr.Int && ma.IntVal >= *hpa.Spec.MinReplicas {
				t.Errorf("PodDisruptionBudget %s minAvailable %d blocks every eviction at HorizontalPodAutoscaler %s minReplicas %d", pdb.Name, ma.IntVal, hpa.Name, *hpa.Spec.MinReplicas)
			}
		}
	}
}

// TestManifests_References checks that every ConfigMap and Secret the pod
// spec names, and every key it reads from one, is in the rendered output.
func TestManifests_References(t *testing.T) {
	m := render(t)
	d := m.deployment(t)
	spec := &d.Spec.Template.Spec

	configMap := func(where, name string, keys ...string) {
		cm, ok := m.configMaps[name]
		if !ok {
			t.Errorf("%s: ConfigMap %s is not rendered", where, name)
			return
		}
		for _, k := range keys {
			_, inData := cm.Data[k]
			_, inBinary := cm.BinaryData[k]
			if !inData && !inBinary {
				t.Errorf("%s: ConfigMap %s has no key %s", where, name, k)
			}
		}
	}
	secret := func(where, name string, keys ...string) {
		s, ok := m.secrets[name]
		if !ok {
			t.Errorf("%s: Secret %s is not rendered", where, name)
			return
		}
		for _, k := range keys {
			_, inData := s.Data[k]
			_, inString := s.StringData[k]
			if !inData && !inString {
				t.Errorf("%s: Secret %s has no key %s", where, name, k)
			}
		}
	}
	itemKeys := func(items []corev1.KeyToPath) []string {
		var keys []string
		for _, it := range items {
			keys = append(keys, it.Key)
		}
		return keys
	}

	refs := 0
	for _, v := range spec.Volumes {
		where := "volume " + v.Name
		if v.ConfigMap != nil {
			refs++
			configMap(where, v.ConfigMap.Name, itemKeys(v.ConfigMap.Items)...)
		}
		if v.Secret != nil {
			refs++
			secret(where, v.Secret.SecretName, itemKeys(v.Secret.Items)...)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil {
					refs++
					configMap(where, src.ConfigMap.Name, itemKeys(src.ConfigMap.Items)...)
				}
				if src.Secret != nil {
					refs++
					secret(where, src.Secret.Name, itemKeys(src.Secret.Items)...)
				}
			}
		}
	}
	for _, s := range spec.ImagePullSecrets {
		refs++
		secret("imagePullSecrets", s.Name)
	}
	for _, c := range containers(spec) {
		for _, e := range c.Env {
			where := fmt.Sprintf("container %s env %s", c.Name, e.Name)
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				refs++
				configMap(where, r.Name, r.Key)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				refs++
				secret(where, r.Name, r.Key)
			}
		}
		for _, e := range c.EnvFrom {
			where := fmt.Sprintf("container %s envFrom", c.Name)
			if e.ConfigMapRef != nil {
				refs++
				configMap(where, e.ConfigMapRef.Name)
			}
			if e.SecretRef != nil {
				refs++
				secret(where, e.SecretRef.Name)
			}
		}
	}
	if refs == 0 {
		t.Error("the pod spec references no ConfigMap or Secret: the route map and the Secret are not wired in")
	}
}

// TestManifests_SecurityContext checks that every container runs as non-root
// on a read-only root filesystem, cannot escalate and drops all capabilities.
func TestManifests_SecurityContext(t *testing.T) {
	m := render(t)
	d := m.deployment(t)
	pod := d.Spec.Template.Spec.SecurityContext
	for _, c := range containers(&d.Spec.Template.Spec) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		}
		// runAsNonRoot may come from the pod; the container's value wins.
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil && pod != nil {
			nonRoot = pod.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			t.Errorf("container %s: runAsNonRoot is not true", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s is privileged", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("container %s does not drop ALL capabilities", c.Name)
		} else if len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s adds capabilities %v", c.Name, sc.Capabilities.Add)
		}
	}
}
