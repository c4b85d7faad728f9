package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var jobGVR = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}

// job is a Job in namespace ns; meta is its metadata's YAML flow body
// (name or generateName, annotations). fail makes it never start (no
// node matches) and fail one second later: DeadlineExceeded.
func job(ns, meta string, fail bool) string {
	spec := "template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox}]}}"
	if fail {
		spec = "activeDeadlineSeconds: 1\n  template: {spec: {restartPolicy: Never, nodeSelector: {nowhere: \"true\"}, containers: [{name: m, image: busybox}]}}"
	}
	return fmt.Sprintf("---\napiVersion: batch/v1\nkind: Job\nmetadata: {namespace: %s, %s}\nspec:\n  %s\n", ns, meta, spec)
}

func jobs(t *testing.T, c *Client, ns string) []string {
	t.Helper()
	list, err := c.Dynamic.Resource(jobGVR).Namespace(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range list.Items {
		if j.GetDeletionTimestamp() == nil {
			out = append(out, j.GetName())
		}
	}
	return out
}

func messages(res *Result) map[string]string {
	out := map[string]string{}
	for _, o := range res.Objects {
		out[o.Object] = string(o.Action) + ": " + o.Message
	}
	return out
}

// TestHooks runs hooks as Argo CD does: a generateName hook is created
// (never applied), BeforeHookCreation (the default) deletes the earlier
// run's instance first, HookSucceeded deletes it after success, Helm's
// pre-install hook runs as PreSync and its test hook never runs, a Skip
// object is not applied; hooks carry no ApplySet label, stay out of the
// inventory and of verify, and are never pruned.
func TestHooks(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "hooks"
	// The namespace comes from CreateNamespace, before PreSync (as in
	// Argo CD: a Namespace in the manifests is a Sync object).
	manifest := cm(n, "a", "1") +
		job(n, "generateName: migrate-, annotations: {argocd.argoproj.io/hook: PreSync}", false) +
		job(n, "name: smoke, annotations: {argocd.argoproj.io/hook: PostSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded}", false) +
		job(n, "name: helm-pre, annotations: {helm.sh/hook: pre-install, helm.sh/hook-weight: \"-1\"}", false) +
		job(n, "name: helm-test, annotations: {helm.sh/hook: test}", false) +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped, namespace: hooks, annotations: {argocd.argoproj.io/hook: Skip}}\n"
	app := App{Name: "hooks", Prune: true, Namespace: n, SyncOptions: []string{"CreateNamespace=true"}, Objects: objs(t, manifest)}
	res := mustApply(t, c, app, Options{SyncTimeout: time.Minute})
	msgs := messages(res)
	for id, want := range map[string]string{
		"Job/hooks/helm-pre":      "created: PreSync hook succeeded",
		"Job/hooks/smoke":         "created: PostSync hook succeeded; deleted (HookSucceeded)",
		"Job/hooks/helm-test":     "skipped: Helm hook test has no Argo CD phase (only pre/post-install and pre/post-upgrade run): never run",
		"ConfigMap/hooks/skipped": "skipped: argocd.argoproj.io/hook: Skip",
	} {
		if msgs[id] != want {
			t.Errorf("%s: %q, want %q", id, msgs[id], want)
		}
	}
	var first string
	for id, m := range msgs {
		if strings.HasPrefix(id, "Job/hooks/migrate-") && m == "created: PreSync hook succeeded" {
			first = strings.TrimPrefix(id, "Job/hooks/")
		}
	}
	if first == "" {
		t.Fatalf("the generateName hook did not run: %v", msgs)
	}
	if _, ok := get(t, c, cmGVR, n, "skipped"); ok {
		t.Error("a Skip object was applied")
	}
	got := strings.Join(jobs(t, c, n), ",")
	if got != "helm-pre,"+first && got != first+",helm-pre" {
		t.Errorf("jobs after the first sync: %s, want helm-pre and %s (smoke deleted, helm-test never run)", got, first)
	}
	j, _ := get(t, c, jobGVR, n, first)
	if _, ok := j.GetLabels()[LabelPartOf]; ok || j.GetLabels()[LabelHookOf] != ApplySetID("hooks", DefaultInventoryNamespace) {
		t.Errorf("hook labels: %v", j.GetLabels())
	}
	inv, err := c.ReadInventory(t.Context(), DefaultInventoryNamespace, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	for k := range inv.Entries {
		if strings.Contains(k, "Job") || strings.Contains(k, "skipped") {
			t.Errorf("a hook is in the inventory: %v", inv.Entries)
		}
	}
	st, err := c.Verify(t.Context(), app, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st.Objects {
		if strings.Contains(o.Object, "Job") {
			t.Errorf("verify reports a hook: %+v", o)
		}
		if o.Object == "ConfigMap/hooks/skipped" {
			t.Errorf("verify reports a Skip object, which apply never applies: %+v", o)
		}
	}

	// Again: BeforeHookCreation replaced the earlier instances; prune
	// leaves the hooks alone.
	res = mustApply(t, c, app, Options{SyncTimeout: time.Minute})
	got2 := jobs(t, c, n)
	if len(got2) != 2 || strings.Contains(strings.Join(got2, ","), first) {
		t.Errorf("jobs after the second sync: %v, want helm-pre and one migrate- other than %s", got2, first)
	}
	for _, o := range res.Objects {
		if o.Action == Deleted || o.Action == Kept {
			t.Errorf("prune touched %+v", o)
		}
	}

	// Hooks alone are an empty render.
	if _, err := c.Apply(t.Context(), App{Name: "hooks-only", Prune: true, Objects: objs(t, job(n, "generateName: x-, annotations: {argocd.argoproj.io/hook: PreSync}", false))}, Options{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("hooks only: %v, want ErrEmpty", err)
	}
}

// TestHookFailure: a PreSync hook that fails stops the sync with the
// Job's reason: no Sync object applied, no prune; SyncFail hooks run; a
// HookFailed hook is deleted.
func TestHookFailure(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "hookfail"
	v1 := App{Name: n, Prune: true, Objects: objs(t, ns(n)+cm(n, "old", "1"))}
	mustApply(t, c, v1, Options{})
	v2 := App{Name: n, Prune: true, Objects: objs(t, ns(n)+cm(n, "new", "1")+
		job(n, "name: migrate, annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookFailed}", true)+
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: failed, namespace: hookfail, annotations: {argocd.argoproj.io/hook: SyncFail}}\n")}
	res, err := c.Apply(t.Context(), v2, Options{SyncTimeout: time.Minute})
	if !errors.Is(err, ErrHookFailed) || !strings.Contains(err.Error(), "phase PreSync, wave 0: Job/hookfail/migrate: PreSync hook failed: DeadlineExceeded: Job was active longer than specified deadline; deleted (HookFailed)") {
		t.Fatalf("err = %v, want the Job's reason", err)
	}
	if _, ok := get(t, c, cmGVR, n, "new"); ok {
		t.Error("a Sync object was applied after PreSync failed")
	}
	if _, ok := get(t, c, cmGVR, n, "old"); !ok {
		t.Error("prune ran after a failed phase")
	}
	if _, ok := get(t, c, jobGVR, n, "migrate"); ok {
		t.Error("the HookFailed hook was not deleted")
	}
	if m := messages(res)["ConfigMap/hookfail/failed"]; m != "created: SyncFail hook succeeded" {
		t.Errorf("SyncFail hook: %q", m)
	}
	if _, ok := get(t, c, cmGVR, n, "failed"); !ok {
		t.Error("the SyncFail hook is not on the cluster")
	}
}
