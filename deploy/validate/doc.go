// Package validate checks the rendered Kubernetes manifests of deploy/kubernetes
// against the typed Kubernetes API, in its own module so that k8s.io/api stays
// out of gatehouse's go.mod.
package validate
