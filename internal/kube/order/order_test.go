package order

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// obj makes an object of apiVersion and kind, in namespace ns (cluster-
// scoped when empty), with a sync wave when wave is not "".
func obj(apiVersion, kind, ns, name, wave string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	if wave != "" {
		u.SetAnnotations(map[string]string{SyncWave: wave})
	}
	return u
}

// TestStage is APPLY.md's rule 5, one row per entry of Kinds and per
// pattern: the stage each kind is applied in.
func TestStage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		apiVersion, kind string
		want             int
	}{
		{"apiextensions.k8s.io/v1", "CustomResourceDefinition", StageFoundation},
		{"v1", "Namespace", StageFoundation},
		{"rbac.authorization.k8s.io/v1", "ClusterRole", StageFoundation},
		{"storage.k8s.io/v1", "StorageClass", StageClasses},
		{"networking.k8s.io/v1", "IngressClass", StageClasses},
		{"example.com/v1", "WidgetClass", StageClasses}, // any kind ending in Class
		{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", StageResources},
		{"v1", "ConfigMap", StageResources},
		{"apps/v1", "Deployment", StageResources},
		{"batch/v1", "Job", StageResources},
		{"example.com/v1", "Widget", StageResources}, // a kind nobody names
		{"admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", StageWebhooks},
		{"admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", StageWebhooks},
		{"example.com/v1", "ClusterRole", StageFoundation}, // the group is not read
	} {
		if got := Stage(obj(tt.apiVersion, tt.kind, "", "x", "")); got != tt.want {
			t.Errorf("Stage(%s %s) = %d, want %d", tt.apiVersion, tt.kind, got, tt.want)
		}
	}
}

// TestKindsTable: the table names each kind once, has both patterns, and
// its stages never go down (an object of a later entry is never applied
// in an earlier stage).
func TestKindsTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i, r := range Kinds {
		if len(r.Kinds) == 0 {
			t.Errorf("Kinds[%d] names no kind", i)
		}
		for _, k := range r.Kinds {
			if seen[k] {
				t.Errorf("Kinds[%d]: %s a second time", i, k)
			}
			seen[k] = true
		}
		if i > 0 && r.Stage < Kinds[i-1].Stage {
			t.Errorf("Kinds[%d]: %v in stage %d after %v in stage %d", i, r.Kinds, r.Stage, Kinds[i-1].Kinds, Kinds[i-1].Stage)
		}
	}
	if !seen["*"] || !seen["*Class"] {
		t.Error(`Kinds lacks "*" or "*Class"`)
	}
}

func TestWave(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		wave string
		want int
	}{{"", 0}, {"3", 3}, {" -2 ", -2}, {"x", 0}, {"1.5", 0}} {
		if got := Wave(obj("v1", "ConfigMap", "a", "c", tt.wave)); got != tt.want {
			t.Errorf("Wave(%q) = %d, want %d", tt.wave, got, tt.want)
		}
	}
}

// TestSort pins the whole order: wave, rank, group, kind, namespace,
// name, generateName, whatever order the input comes in.
func TestSort(t *testing.T) {
	t.Parallel()
	hook := obj("batch/v1", "Job", "a", "", "")
	hook.SetGenerateName("migrate-")
	want := []*unstructured.Unstructured{
		obj("batch/v1", "Job", "a", "first", "-1"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", ""),
		obj("v1", "Namespace", "", "a", ""),
		obj("v1", "Namespace", "", "b", ""),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r", ""),
		obj("example.com/v1", "WidgetClass", "", "w", ""),
		obj("storage.k8s.io/v1", "StorageClass", "", "fast", ""),
		obj("v1", "ServiceAccount", "a", "sa", ""),
		obj("v1", "ConfigMap", "a", "c", ""),
		obj("v1", "ConfigMap", "b", "c", ""),
		obj("v1", "Secret", "a", "s", ""),
		obj("apps/v1", "Deployment", "a", "d", ""),
		obj("policy/v1", "PodDisruptionBudget", "a", "p", ""),
		hook, // no name sorts first
		obj("batch/v1", "Job", "a", "j", ""),
		obj("example.com/v1", "Widget", "a", "w", ""),
		obj("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "", "m", ""),
		obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "v", ""),
		obj("example.com/v1", "MutatingWebhookConfiguration", "", "m", ""), // one rank: by group first
		obj("apps/v1", "Deployment", "a", "late", "1"),
	}
	for _, perm := range [][]int{reversed(len(want)), rotated(len(want), 7)} {
		got := make([]*unstructured.Unstructured, len(want))
		for i, j := range perm {
			got[i] = want[j]
		}
		Sort(got)
		if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

func reversed(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = n - 1 - i
	}
	return out
}

func rotated(n, k int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = (i + k) % n
	}
	return out
}

func ids(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, u := range objs {
		out = append(out, ID(u))
	}
	return out
}

// TestBatches pins the apply order: sync waves first, then APPLY.md's
// stages, a new batch at every change.
func TestBatches(t *testing.T) {
	t.Parallel()
	list := []*unstructured.Unstructured{
		obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "hook", ""),
		obj("apps/v1", "Deployment", "app", "late", "1"),
		obj("v1", "ConfigMap", "app", "c", ""),
		obj("storage.k8s.io/v1", "StorageClass", "", "fast", ""),
		obj("v1", "Namespace", "", "app", ""),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", ""),
		obj("batch/v1", "Job", "app", "first", "-1"),
	}
	Sort(list)
	type batch struct {
		Stage, Wave int
		IDs         []string
		HasCRD      bool
	}
	var got []batch
	for _, b := range Batches(list) {
		var ids []string
		for _, i := range b.Indexes {
			ids = append(ids, ID(list[i]))
		}
		got = append(got, batch{b.Stage, b.Wave, ids, b.HasCRD})
	}
	want := []batch{
		{StageResources, -1, []string{"Job/app/first"}, false},
		{StageFoundation, 0, []string{"CustomResourceDefinition/widgets.example.com", "Namespace/app"}, true},
		{StageClasses, 0, []string{"StorageClass/fast"}, false},
		{StageResources, 0, []string{"ConfigMap/app/c"}, false},
		{StageWebhooks, 0, []string{"ValidatingWebhookConfiguration/hook"}, false},
		{StageResources, 1, []string{"Deployment/app/late"}, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestID(t *testing.T) {
	t.Parallel()
	hook := obj("batch/v1", "Job", "a", "", "")
	hook.SetGenerateName("migrate-")
	for _, tt := range []struct {
		u    *unstructured.Unstructured
		want string
	}{
		{obj("v1", "ConfigMap", "a", "c", ""), "ConfigMap/a/c"},
		{obj("v1", "Namespace", "", "a", ""), "Namespace/a"},
		{hook, "Job/a/migrate-*"},
	} {
		if got := ID(tt.u); got != tt.want {
			t.Errorf("ID = %q, want %q", got, tt.want)
		}
	}
}
