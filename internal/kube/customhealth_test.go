package kube

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-dev/flotilla/internal/kube/health"
)

// TestCustomHealth: a custom resource kstatus calls healthy (no
// conditions) follows flotilla.yaml's CEL check instead, as its operator
// writes its status.
func TestCustomHealth(t *testing.T) {
	t.Parallel()
	c := client(t)
	app := App{Name: "custom-health", Objects: objs(t, ns("custom-health")+`---
apiVersion: example.org/v1
kind: Database
metadata: {name: db, namespace: custom-health}
spec: {size: 1}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: databases.example.org}
spec:
  group: example.org
  scope: Namespaced
  names: {kind: Database, plural: databases, singular: database, listKind: DatabaseList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`)}
	mustApply(t, c, app, Options{})
	healthOf := func(t *testing.T, app App) (Health, string) {
		t.Helper()
		st, err := c.Verify(t.Context(), app, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range st.Objects {
			if o.Object == "Database/custom-health/db" {
				if o.State != StateSynced {
					t.Errorf("the operator's status is drift: %+v", o)
				}
				return o.Health, o.Message
			}
		}
		t.Fatal("no Database in verify's objects")
		return "", ""
	}
	if h, _ := healthOf(t, app); h != Healthy {
		t.Fatalf("kstatus: %s, want Healthy (a resource without conditions)", h)
	}
	var err error
	app.Health, err = health.Compile([]health.Check{{APIVersion: "example.org/v1", Kind: "Database",
		Current: "status.phase == 'Ready'", Failed: "status.phase == 'Error'"}})
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "example.org", Version: "v1", Resource: "databases"}
	for _, step := range []struct {
		status string
		want   Health
	}{{"", Progressing}, {`{"status":{"phase":"Ready"}}`, Healthy}, {`{"status":{"phase":"Error"}}`, Degraded}} {
		if step.status != "" {
			if _, err := c.Dynamic.Resource(gvr).Namespace("custom-health").Patch(t.Context(), "db", types.MergePatchType, []byte(step.status), metav1.PatchOptions{FieldManager: "db-operator"}); err != nil {
				t.Fatal(err)
			}
		}
		if h, msg := healthOf(t, app); h != step.want {
			t.Errorf("status %s: %s (%s), want %s", step.status, h, msg, step.want)
		}
	}
}
