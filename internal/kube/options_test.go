package kube

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

func annotated(ns, name, options, value string) string {
	return "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: " + ns +
		", annotations: {argocd.argoproj.io/sync-options: '" + options + "'}}\ndata: {k: \"" + value + "\"}\n"
}

// TestUnknownSyncOption: an unknown option, the app's or an object's, is
// an error naming it, and nothing is applied.
func TestUnknownSyncOption(t *testing.T) {
	t.Parallel()
	c := client(t)
	for _, app := range []App{
		{Name: "badopt-app", SyncOptions: []string{"PruneFirst=true"}, Objects: objs(t, ns("badopt")+cm("badopt", "a", "1"))},
		{Name: "badopt-obj", Objects: objs(t, ns("badopt")+annotated("badopt", "a", "Prune=false,Wait=true", "1"))},
	} {
		_, err := c.Apply(t.Context(), app, Options{})
		var oe *syncplan.OptionError
		if !errors.Is(err, ErrSyncOption) || !errors.As(err, &oe) || !strings.Contains(err.Error(), "unknown sync option") {
			t.Errorf("%s: %v, want an unknown option error", app.Name, err)
		}
		if _, ok := get(t, c, cmGVR, "badopt", "a"); ok {
			t.Errorf("%s: applied despite an unknown option", app.Name)
		}
	}
}

// TestPruneOptions: Prune=false (object or app) keeps an object;
// Prune=confirm keeps it and fails the app until --confirm-prune.
func TestPruneOptions(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "pruneopts"
	base := ns(n) + cm(n, "a", "1") + cm(n, "b", "1") + cm(n, "c", "1") + cm(n, "d", "1")
	v1 := App{Name: n, Prune: true, Objects: objs(t, base+annotated(n, "nope", "Prune=false", "1")+annotated(n, "ask", "Prune=confirm", "1")+cm(n, "app-kept", "1"))}
	mustApply(t, c, v1, Options{})

	v2 := App{Name: n, Prune: true, SyncOptions: []string{"Prune=false"}, Objects: objs(t, base+annotated(n, "nope", "Prune=false", "1")+annotated(n, "ask", "Prune=confirm", "1"))}
	res := mustApply(t, c, v2, Options{})
	if m := messages(res)["ConfigMap/pruneopts/app-kept"]; m != "kept: the app's syncOptions: Prune=false" {
		t.Errorf("app Prune=false: %q", m)
	}

	v3 := App{Name: n, Prune: true, Objects: objs(t, base)}
	res, err := c.Apply(t.Context(), v3, Options{})
	if !errors.Is(err, ErrPruneConfirm) || !strings.Contains(err.Error(), "ConfigMap/pruneopts/ask: Prune=confirm: pass --confirm-prune to delete it") {
		t.Errorf("Prune=confirm: %v", err)
	}
	msgs := messages(res)
	if msgs["ConfigMap/pruneopts/nope"] != "kept: argocd.argoproj.io/sync-options: Prune=false" || msgs["ConfigMap/pruneopts/app-kept"] != "deleted: " {
		t.Errorf("prune: %v", msgs)
	}
	if _, ok := get(t, c, cmGVR, n, "ask"); !ok {
		t.Error("a Prune=confirm object was deleted without --confirm-prune")
	}
	res = mustApply(t, c, v3, Options{ConfirmPrune: true})
	if actions(res)["ConfigMap/pruneopts/ask"] != Deleted {
		t.Errorf("with --confirm-prune: %+v", res.Objects)
	}
	if _, ok := get(t, c, cmGVR, n, "nope"); !ok {
		t.Error("a Prune=false object was deleted")
	}
}

// TestReplaceAndValidate: Replace=true replaces the object whole (a label
// another manager added goes, which server-side apply would keep);
// Force=true with it deletes and creates (a new uid); Validate=false lets
// an unknown field through, which apply otherwise refuses (Strict, as
// kubectl) when it creates or replaces; ServerSideApply=false is noted.
func TestReplaceAndValidate(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "replace"
	mustApply(t, c, App{Name: n, Objects: objs(t, ns(n)+cm(n, "r", "1"))}, Options{})
	other := objs(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r, namespace: replace, labels: {extra: \"yes\"}}\n")[0]
	if _, err := c.Dynamic.Resource(cmGVR).Namespace(n).Apply(t.Context(), "r", other, metav1.ApplyOptions{FieldManager: "other-controller"}); err != nil {
		t.Fatal(err)
	}
	res := mustApply(t, c, App{Name: n, Objects: objs(t, ns(n)+cm(n, "r", "1"))}, Options{})
	if actions(res)["ConfigMap/replace/r"] != Unchanged {
		t.Fatalf("server-side apply touched another manager's label: %+v", res.Objects)
	}
	res = mustApply(t, c, App{Name: n, Objects: objs(t, ns(n)+annotated(n, "r", "Replace=true", "1"))}, Options{})
	if m := messages(res)["ConfigMap/replace/r"]; m != "configured: replaced (Replace=true)" {
		t.Errorf("Replace=true: %q", m)
	}
	live, _ := get(t, c, cmGVR, n, "r")
	if _, ok := live.GetLabels()["extra"]; ok {
		t.Error("Replace=true kept a label that is not in Git")
	}
	uid := live.GetUID()
	res = mustApply(t, c, App{Name: n, Objects: objs(t, ns(n)+annotated(n, "r", "Replace=true,Force=true", "2"))}, Options{})
	if m := messages(res)["ConfigMap/replace/r"]; m != "configured: deleted and created (Replace=true, Force=true)" {
		t.Errorf("Force=true: %q", m)
	}
	if live, _ = get(t, c, cmGVR, n, "r"); live.GetUID() == uid {
		t.Error("Replace=true,Force=true did not recreate the object")
	}

	// An object with a field its schema does not declare: created whole
	// (Replace=true), the API server refuses it under Strict validation
	// (apply's default, as kubectl's) and drops the field under Ignore.
	// (Server-side apply refuses undeclared fields whatever the validation.)
	unknown := func(options string) App {
		return App{Name: n + "-validate", Objects: objs(t, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: v, namespace: replace, annotations: {argocd.argoproj.io/sync-options: '"+options+"'}}\nbogus: field\n")}
	}
	res, err := c.Apply(t.Context(), unknown("Replace=true"), Options{})
	if err == nil || !strings.Contains(messages(res)["ConfigMap/replace/v"], `unknown field "bogus"`) {
		t.Errorf("an unknown field passed validation: %v %v", err, messages(res))
	}
	res = mustApply(t, c, unknown("Replace=true,Validate=false,ServerSideApply=false"), Options{})
	if actions(res)["ConfigMap/replace/v"] != Created {
		t.Errorf("Validate=false: %+v", res.Objects)
	}
	if want := "ConfigMap/replace/v: ServerSideApply=false: Flotilla always applies server-side (field manager flotilla)"; len(res.Notes) != 1 || res.Notes[0] != want {
		t.Errorf("notes: %q, want %q", res.Notes, want)
	}
}

// TestCreateNamespaceMetadata: CreateNamespace=true with
// managedNamespaceMetadata gives the namespace those labels and
// annotations.
func TestCreateNamespaceMetadata(t *testing.T) {
	t.Parallel()
	c := client(t)
	app := App{Name: "nsmeta", Namespace: "nsmeta", SyncOptions: []string{"CreateNamespace=true"},
		NamespaceLabels: map[string]string{"team": "a"}, NamespaceAnnotations: map[string]string{"owner": "ops"},
		Objects: objs(t, cm("nsmeta", "a", "1"))}
	mustApply(t, c, app, Options{})
	live, ok := get(t, c, schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, "", "nsmeta")
	if !ok || live.GetLabels()["team"] != "a" || live.GetAnnotations()["owner"] != "ops" {
		t.Errorf("namespace: %v", live)
	}
}

// TestSharedResources: an object another app applied is never taken
// over: a second app rendering it is told (SharedResourceWarning, naming
// the owner) and leaves it alone; with FailOnSharedResource=true it fails
// before applying anything.
func TestSharedResources(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "shared"
	mustApply(t, c, App{Name: "owner-a", Objects: objs(t, ns(n)+cm(n, "x", "a"))}, Options{})
	res := mustApply(t, c, App{Name: "taker-b", Objects: objs(t, cm(n, "x", "b")+cm(n, "b-only", "b"))}, Options{})
	want := "SharedResourceWarning: ConfigMap/shared/x is part of app owner-a (ApplySet " + ApplySetID("owner-a", DefaultInventoryNamespace) + ")"
	if m := messages(res)["ConfigMap/shared/x"]; m != "skipped: "+want+": not taken over (remove it from one of the apps)" {
		t.Errorf("shared: %q", m)
	}
	if len(res.Notes) != 1 || res.Notes[0] != want {
		t.Errorf("notes: %q", res.Notes)
	}
	x, _ := get(t, c, cmGVR, n, "x")
	if x.GetLabels()[LabelPartOf] != ApplySetID("owner-a", DefaultInventoryNamespace) || x.Object["data"].(map[string]any)["k"] != "a" {
		t.Errorf("the second app took the object over: %v", x.Object)
	}
	inv, _ := c.ReadInventory(t.Context(), DefaultInventoryNamespace, "taker-b")
	if _, ok := inv.Entries[n+"_x__ConfigMap"]; ok {
		t.Error("the shared object is in the second app's inventory")
	}

	_, err := c.Apply(t.Context(), App{Name: "taker-b", SyncOptions: []string{"FailOnSharedResource=true"}, Objects: objs(t, cm(n, "x", "b")+cm(n, "b-two", "b"))}, Options{})
	if !errors.Is(err, ErrSharedResource) || !strings.Contains(err.Error(), want) {
		t.Errorf("FailOnSharedResource: %v", err)
	}
	if _, ok := get(t, c, cmGVR, n, "b-two"); ok {
		t.Error("FailOnSharedResource applied the app's other objects")
	}
}

// TestForceRecreates: Force=true alone is kubectl apply --force: a change
// the API server refuses as immutable recreates the object, which apply
// otherwise refuses with the opt-ins it needs.
func TestForceRecreates(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "forceopt"
	frozen := func(options, value string) App {
		return App{Name: n, Objects: objs(t, ns(n)+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: f, namespace: forceopt, annotations: {argocd.argoproj.io/sync-options: '"+options+"'}}\nimmutable: true\ndata: {k: \""+value+"\"}\n")}
	}
	mustApply(t, c, frozen("Force=false", "1"), Options{})
	res, err := c.Apply(t.Context(), frozen("Force=false", "2"), Options{})
	if err == nil || !strings.Contains(messages(res)["ConfigMap/forceopt/f"], "the change needs the object recreated") {
		t.Errorf("without Force: %v %v", err, messages(res))
	}
	res = mustApply(t, c, frozen("Force=true", "2"), Options{})
	if m := messages(res)["ConfigMap/forceopt/f"]; m != "configured: recreated (immutable field changed)" {
		t.Errorf("Force=true: %q", m)
	}
}
