package render

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// TestIsHook follows gitops-engine's hook.IsHook and hook.Types.
func TestIsHook(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		annotations map[string]string
		hook        bool
		types       []string
	}{
		{nil, false, nil},
		{map[string]string{"argocd.argoproj.io/sync-wave": "1"}, false, nil},
		{map[string]string{HookAnnotation: "PreSync"}, true, []string{"PreSync"}},
		{map[string]string{HookAnnotation: "PreSync, PostSync"}, true, []string{"PreSync", "PostSync"}},
		{map[string]string{HookAnnotation: "Skip"}, false, []string{"Skip"}},
		{map[string]string{HookAnnotation: "Skip,PostSync"}, true, []string{"Skip", "PostSync"}},
		{map[string]string{HookAnnotation: "Unknown"}, true, nil},
		{map[string]string{HookAnnotation: "Sync", HelmHookAnnotation: "pre-install"}, true, []string{"Sync"}},
		{map[string]string{HelmHookAnnotation: "pre-install,pre-upgrade"}, true, []string{"PreSync"}},
		{map[string]string{HelmHookAnnotation: "post-upgrade"}, true, []string{"PostSync"}},
		{map[string]string{HelmHookAnnotation: "test"}, true, nil},
		{map[string]string{HelmHookAnnotation: "crd-install"}, false, nil},
	} {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetAnnotations(tt.annotations)
		if got := IsHook(u); got != tt.hook {
			t.Errorf("IsHook(%v) = %v, want %v", tt.annotations, got, tt.hook)
		}
		if diff := cmp.Diff(tt.types, HookTypes(u)); diff != "" {
			t.Errorf("HookTypes(%v) (-want +got):\n%s", tt.annotations, diff)
		}
	}
}

// TestHooksAreKept: hooks stay in the hydrated manifest with their
// annotations (how apply knows them), generateName included; two hooks of
// one kind and namespace that differ only in generateName are not
// duplicates, the same generateName twice is.
func TestHooksAreKept(t *testing.T) {
	t.Parallel()
	job := func(meta string) string {
		return "apiVersion: batch/v1\nkind: Job\nmetadata: " + meta + "\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox}]}}}\n"
	}
	dir := gittest.Files(t, map[string]string{
		"app/migrate.yaml": job("{generateName: migrate-, annotations: {argocd.argoproj.io/hook: PreSync}}"),
		"app/notify.yaml":  job("{generateName: notify-, annotations: {argocd.argoproj.io/hook: PostSync}}"),
		"app/helm.yaml":    job("{name: helm-test, annotations: {helm.sh/hook: post-install}}"),
		"app/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"dup/a.yaml":       job("{generateName: migrate-, annotations: {argocd.argoproj.io/hook: PreSync}}"),
		"dup/b.yaml":       job("{generateName: migrate-, annotations: {argocd.argoproj.io/hook: PostSync}}"),
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	out, err := b.Render(t.Context(), app("web", "app", "prod", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range out.Objects() {
		got = append(got, order.ID(o)+" hook="+strings.Join(HookTypes(o), ","))
	}
	want := []string{
		"ConfigMap/prod/c hook=",
		"Job/prod/migrate-* hook=PreSync", // no name sorts first, then by generateName
		"Job/prod/notify-* hook=PostSync",
		"Job/prod/helm-test hook=PostSync",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	m := string(out.Manifest)
	for _, s := range []string{"generateName: migrate-\n", "argocd.argoproj.io/hook: PreSync\n", "helm.sh/hook: post-install\n"} {
		if !strings.Contains(m, s) {
			t.Errorf("manifest lacks %q:\n%s", s, m)
		}
	}
	_, err = b.Render(t.Context(), app("web", "dup", "prod", nil, nil))
	if err == nil || !strings.Contains(err.Error(), "Job/prod/migrate-* appears more than once") {
		t.Errorf("same generateName twice: %v", err)
	}
	if errors.Is(err, ErrObjectName) {
		t.Errorf("a duplicate is not a name error: %v", err)
	}
}

// TestUnknownSyncOptions: an Application's syncOptions and an object's
// argocd.argoproj.io/sync-options are checked at render, so an option
// apply would refuse never reaches a hydrated branch.
func TestUnknownSyncOptions(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"ok/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {argocd.argoproj.io/sync-options: 'Prune=false,Replace=true'}}\n",
		"bad/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {argocd.argoproj.io/sync-options: 'Prune=false,Wait=true'}}\n",
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	if _, err := b.Render(t.Context(), app("web", "ok", "prod", nil, nil)); err != nil {
		t.Fatal(err)
	}
	var oe *syncplan.OptionError
	_, err := b.Render(t.Context(), app("web", "bad", "prod", nil, nil))
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), `ConfigMap/c annotation argocd.argoproj.io/sync-options: unknown sync option "Wait=true"`) {
		t.Errorf("object option: %v", err)
	}
	a := app("web", "ok", "prod", nil, nil)
	a.Spec.SyncPolicy = &fleet.SyncPolicy{SyncOptions: []string{"CreateNamespace=true", "PruneFirst=true"}}
	_, err = b.Render(t.Context(), a)
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), `spec.syncPolicy.syncOptions: unknown sync option "PruneFirst=true"`) {
		t.Errorf("app option: %v", err)
	}
}
