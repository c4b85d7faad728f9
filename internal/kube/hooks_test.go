package kube

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const hookJob = `---
apiVersion: batch/v1
kind: Job
metadata:
  generateName: migrate-
  namespace: hooks
  annotations: {argocd.argoproj.io/hook: PreSync}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: helm-hook
  namespace: hooks
  annotations: {helm.sh/hook: post-install}
`

// TestHooksAreNotApplied: apply skips hooks with a message instead of
// applying them as ordinary objects (a generateName Job cannot be applied
// at all), leaves them out of the inventory and of verify, and never
// prunes a live hook.
func TestHooksAreNotApplied(t *testing.T) {
	t.Parallel()
	c := client(t)
	v1 := App{Name: "hooks", Prune: true, Objects: objs(t, ns("hooks")+cm("hooks", "a", "1")+cm("hooks", "hooked-later", "1")+hookJob)}
	res := mustApply(t, c, v1, Options{})
	msgs := map[string]string{}
	for _, o := range res.Objects {
		msgs[o.Object] = string(o.Action) + ": " + o.Message
	}
	for id, want := range map[string]string{
		"Job/hooks/migrate-*":       "skipped: hook Job/hooks/migrate-* (PreSync) not run: hooks are not supported by apply yet",
		"ConfigMap/hooks/helm-hook": "skipped: hook ConfigMap/hooks/helm-hook (PostSync) not run: hooks are not supported by apply yet",
	} {
		if msgs[id] != want {
			t.Errorf("%s: %q, want %q", id, msgs[id], want)
		}
	}
	if _, ok := get(t, c, cmGVR, "hooks", "helm-hook"); ok {
		t.Error("the hook ConfigMap was applied")
	}
	jobs, err := c.Dynamic.Resource(schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}).Namespace("hooks").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Errorf("the hook Job was created: %d jobs", len(jobs.Items))
	}
	inv, err := c.ReadInventory(t.Context(), DefaultInventoryNamespace, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	for k := range inv.Entries {
		if strings.Contains(k, "helm-hook") || strings.Contains(k, "Job") {
			t.Errorf("a hook is in the inventory: %v", inv.Entries)
		}
	}
	if len(inv.Entries) != 3 {
		t.Errorf("inventory: %v, want the Namespace and two ConfigMaps", inv.Entries)
	}
	st, err := c.Verify(t.Context(), v1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st.Objects {
		if strings.Contains(o.Object, "migrate") || strings.Contains(o.Object, "helm-hook") {
			t.Errorf("verify reports a hook: %+v", o)
		}
	}

	// A live object that became a hook is never pruned.
	if out, err := kubectl(t, "", "annotate", "configmap", "hooked-later", "-n", "hooks", "argocd.argoproj.io/hook=PostSync"); err != nil {
		t.Fatal(out)
	}
	v2 := App{Name: "hooks", Prune: true, Objects: objs(t, ns("hooks")+cm("hooks", "a", "1")+hookJob)}
	res = mustApply(t, c, v2, Options{})
	if got := actions(res)["ConfigMap/hooks/hooked-later"]; got != Kept {
		t.Errorf("live hook: %s, want kept: %+v", got, res.Objects)
	}
	if _, ok := get(t, c, cmGVR, "hooks", "hooked-later"); !ok {
		t.Error("a live hook was pruned")
	}

	// Hooks alone are an empty render.
	if _, err := c.Apply(t.Context(), App{Name: "hooks-only", Prune: true, Objects: objs(t, hookJob)}, Options{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("hooks only: %v, want ErrEmpty", err)
	}
}
