package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/render"
)

// TestBatches pins the apply order: sync waves first, then APPLY.md's
// stages, a new batch at every change.
func TestBatches(t *testing.T) {
	t.Parallel()
	list := objs(t, `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hook}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: late, namespace: app, annotations: {argocd.argoproj.io/sync-wave: "1"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: app}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: batch/v1
kind: Job
metadata: {name: first, namespace: app, annotations: {argocd.argoproj.io/sync-wave: "-1"}}
`)
	render.Sort(list)
	var got [][]string
	for _, b := range batches(list) {
		var ids []string
		for _, i := range b.indexes {
			ids = append(ids, ObjectID(list[i]))
		}
		got = append(got, ids)
	}
	want := [][]string{
		{"Job/app/first"},
		{"Namespace/app"},
		{"StorageClass/fast"},
		{"ConfigMap/app/c"},
		{"ValidatingWebhookConfiguration/hook"},
		{"Deployment/app/late"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	u := objs(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, creationTimestamp: null}
spec:
  template:
    spec:
      containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
status: {replicas: 1}
`)[0]
	Normalize(u)
	ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	got := ports[0].(map[string]any)["ports"]
	want := []any{map[string]any{"containerPort": int64(80), "protocol": "TCP"}, map[string]any{"containerPort": int64(53), "protocol": "UDP"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if _, ok := u.Object["status"]; ok {
		t.Error("status kept")
	}
	if _, ok := u.Object["metadata"].(map[string]any)["creationTimestamp"]; ok {
		t.Error("null creationTimestamp kept")
	}
}
