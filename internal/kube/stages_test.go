package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

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
