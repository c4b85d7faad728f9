package syncplan

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(kind, name string, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion("v1")
	u.SetKind(kind)
	u.SetNamespace("ns")
	if strings.HasSuffix(name, "-") {
		u.SetGenerateName(name)
	} else {
		u.SetName(name)
	}
	u.SetAnnotations(annotations)
	return u
}

// TestHookTypes follows gitops-engine's hook.IsHook, hook.Types and
// helm.Types: Argo CD's annotation wins over Helm's, Helm's install and
// upgrade hooks map to PreSync and PostSync, its other hooks never run,
// crd-install is no hook, Skip alone is skipped, not a hook.
func TestHookTypes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		annotations   map[string]string
		hook, skipped bool
		types         []Phase
	}{
		{nil, false, false, nil},
		{map[string]string{AnnotationSyncWave: "1"}, false, false, nil},
		{map[string]string{AnnotationHook: "PreSync"}, true, false, []Phase{PreSync}},
		{map[string]string{AnnotationHook: "PreSync, PostSync"}, true, false, []Phase{PreSync, PostSync}},
		{map[string]string{AnnotationHook: "SyncFail"}, true, false, []Phase{SyncFail}},
		{map[string]string{AnnotationHook: "Skip"}, false, true, []Phase{Skip}},
		{map[string]string{AnnotationHook: " Skip "}, false, true, []Phase{Skip}},
		{map[string]string{AnnotationHook: "Skip,PostSync"}, true, false, []Phase{Skip, PostSync}},
		{map[string]string{AnnotationHook: "Unknown"}, true, false, nil},
		{map[string]string{AnnotationHook: "Sync", AnnotationHelmHook: "pre-install"}, true, false, []Phase{Sync}},
		{map[string]string{AnnotationHelmHook: "pre-install,pre-upgrade"}, true, false, []Phase{PreSync}},
		{map[string]string{AnnotationHelmHook: "post-install"}, true, false, []Phase{PostSync}},
		{map[string]string{AnnotationHelmHook: "post-upgrade"}, true, false, []Phase{PostSync}},
		{map[string]string{AnnotationHelmHook: "pre-delete"}, true, false, nil},
		{map[string]string{AnnotationHelmHook: "post-rollback"}, true, false, nil},
		{map[string]string{AnnotationHelmHook: "test"}, true, false, nil},
		{map[string]string{AnnotationHelmHook: "test-success"}, true, false, nil},
		{map[string]string{AnnotationHelmHook: "crd-install"}, false, false, nil},
	} {
		u := obj("Job", "j", tt.annotations)
		if got := IsHook(u); got != tt.hook {
			t.Errorf("IsHook(%v) = %v, want %v", tt.annotations, got, tt.hook)
		}
		if got := IsSkipped(u); got != tt.skipped {
			t.Errorf("IsSkipped(%v) = %v, want %v", tt.annotations, got, tt.skipped)
		}
		if diff := cmp.Diff(tt.types, HookTypes(u)); diff != "" {
			t.Errorf("HookTypes(%v) (-want +got):\n%s", tt.annotations, diff)
		}
	}
}

// TestDeletePolicies: Argo CD's and Helm's policies together,
// BeforeHookCreation when none is named (gitops-engine's DeletePolicies).
func TestDeletePolicies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		annotations map[string]string
		want        []DeletePolicy
	}{
		{nil, []DeletePolicy{BeforeHookCreation}},
		{map[string]string{AnnotationHookDeletePolicy: "HookSucceeded"}, []DeletePolicy{HookSucceeded}},
		{map[string]string{AnnotationHookDeletePolicy: "HookSucceeded, HookFailed"}, []DeletePolicy{HookSucceeded, HookFailed}},
		{map[string]string{AnnotationHookDeletePolicy: "Bogus"}, []DeletePolicy{BeforeHookCreation}},
		{map[string]string{AnnotationHelmDeletePolicy: "hook-succeeded,before-hook-creation"}, []DeletePolicy{HookSucceeded, BeforeHookCreation}},
		{map[string]string{AnnotationHelmDeletePolicy: "hook-failed", AnnotationHookDeletePolicy: "HookFailed"}, []DeletePolicy{HookFailed}},
	} {
		if diff := cmp.Diff(tt.want, DeletePolicies(obj("Job", "j", tt.annotations))); diff != "" {
			t.Errorf("DeletePolicies(%v) (-want +got):\n%s", tt.annotations, diff)
		}
	}
}

func TestWave(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		annotations map[string]string
		want        int
	}{
		{nil, 0},
		{map[string]string{AnnotationSyncWave: "-2"}, -2},
		{map[string]string{AnnotationSyncWave: " 3 "}, 3},
		{map[string]string{AnnotationSyncWave: "x"}, 0},
		{map[string]string{AnnotationHelmHookWeight: "5"}, 5},
		{map[string]string{AnnotationHelmHookWeight: "5", AnnotationSyncWave: "1"}, 1},
	} {
		if got := Wave(obj("Job", "j", tt.annotations)); got != tt.want {
			t.Errorf("Wave(%v) = %d, want %d", tt.annotations, got, tt.want)
		}
	}
}

// TestPlan pins the order of a sync: PreSync, Sync, PostSync, waves
// ascending within each, a hook in every phase it names, SyncFail apart,
// hooks that never run reported as skipped.
func TestPlan(t *testing.T) {
	t.Parallel()
	all := []*unstructured.Unstructured{
		obj("ConfigMap", "late", map[string]string{AnnotationSyncWave: "2"}),
		obj("ConfigMap", "plain", nil),
		obj("ConfigMap", "early", map[string]string{AnnotationSyncWave: "-1"}),
		obj("Job", "migrate-", map[string]string{AnnotationHook: "PreSync"}),
		obj("Job", "schema-", map[string]string{AnnotationHelmHook: "pre-upgrade", AnnotationHelmHookWeight: "-5"}),
		obj("Job", "smoke", map[string]string{AnnotationHook: "PostSync,PreSync"}),
		obj("Pod", "during", map[string]string{AnnotationHook: "Sync", AnnotationSyncWave: "2"}),
		obj("Job", "cleanup", map[string]string{AnnotationHook: "SyncFail"}),
		obj("Pod", "test", map[string]string{AnnotationHelmHook: "test"}),
		obj("Job", "bye", map[string]string{AnnotationHook: "PostDelete"}),
		obj("ConfigMap", "skipped", map[string]string{AnnotationHook: "Skip"}),
	}
	ordinary, hooks, skipped := Split(all)
	plan := New(ordinary, hooks)
	plan.Skipped = append(skipped, plan.Skipped...)
	type step struct {
		Phase          Phase
		Wave           int
		Objects, Hooks []string
	}
	names := func(us []*unstructured.Unstructured) []string {
		var out []string
		for _, u := range us {
			out = append(out, objectID(u))
		}
		return out
	}
	view := func(steps []Step) []step {
		var out []step
		for _, s := range steps {
			out = append(out, step{s.Phase, s.Wave, names(s.Objects), names(s.Hooks)})
		}
		return out
	}
	want := []step{
		{PreSync, -5, nil, []string{"Job/ns/schema-*"}},
		{PreSync, 0, nil, []string{"Job/ns/migrate-*", "Job/ns/smoke"}},
		{Sync, -1, []string{"ConfigMap/ns/early"}, nil},
		{Sync, 0, []string{"ConfigMap/ns/plain"}, nil},
		{Sync, 2, []string{"ConfigMap/ns/late"}, []string{"Pod/ns/during"}},
		{PostSync, 0, nil, []string{"Job/ns/smoke"}},
	}
	if diff := cmp.Diff(want, view(plan.Steps)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]step{{SyncFail, 0, nil, []string{"Job/ns/cleanup"}}}, view(plan.OnFail)); diff != "" {
		t.Errorf("on fail (-want +got):\n%s", diff)
	}
	var gotSkipped []string
	for _, s := range plan.Skipped {
		gotSkipped = append(gotSkipped, objectID(s.Object)+": "+s.Reason)
	}
	wantSkipped := []string{
		"ConfigMap/ns/skipped: argocd.argoproj.io/hook: Skip",
		"Pod/ns/test: Helm hook test has no Argo CD phase (only pre/post-install and pre/post-upgrade run): never run",
		"Job/ns/bye: PostDelete hook: it runs when the app is deleted, not in a sync",
	}
	if diff := cmp.Diff(wantSkipped, gotSkipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

// TestParseOptions: every option Argo CD knows parses; unknown options
// and unknown values are errors naming the option and where it was
// written; the object's annotation overrides the app's options key by key.
func TestParseOptions(t *testing.T) {
	t.Parallel()
	good := []string{"Prune=false", "Prune=confirm", "Delete=false", "PruneLast=true", "Replace=true", "Force=true",
		"ServerSideApply=true", "ServerSideApply=false", "Validate=false", "FailOnSharedResource=true", "CreateNamespace=true",
		"RespectIgnoreDifferences=true", "ApplyOutOfSyncOnly=true", "SkipDryRunOnMissingResource=true",
		"PrunePropagationPolicy=orphan", "ClientSideApplyMigration=false", " Replace = true ", ""}
	for _, opt := range good {
		if _, err := ParseOptions([]string{opt}, "app a syncPolicy.syncOptions"); err != nil {
			t.Errorf("%q: %v", opt, err)
		}
	}
	for opt, want := range map[string]string{
		"Prune=maybe":            `app a syncPolicy.syncOptions: sync option "Prune=maybe": Prune takes true, false, confirm`,
		"Replace":                `app a syncPolicy.syncOptions: sync option "Replace": Replace takes true, false`,
		"PruneFirst=true":        `app a syncPolicy.syncOptions: unknown sync option "PruneFirst=true" (known: ApplyOutOfSyncOnly, ClientSideApplyMigration, CreateNamespace, Delete, FailOnSharedResource, Force, Prune, PruneLast, PrunePropagationPolicy, Replace, RespectIgnoreDifferences, ServerSideApply, SkipDryRunOnMissingResource, Validate)`,
		"prune=false":            `app a syncPolicy.syncOptions: unknown sync option "prune=false"`,
		"CreateNamespace=yes":    `app a syncPolicy.syncOptions: sync option "CreateNamespace=yes": CreateNamespace takes true, false`,
		"PrunePropagationPolicy": `PrunePropagationPolicy takes foreground, background, orphan`,
	} {
		_, err := ParseOptions([]string{"Prune=false", opt}, "app a syncPolicy.syncOptions")
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != strings.TrimSpace(opt) {
			t.Errorf("%q: %v, want an OptionError naming it", opt, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %q, want it to contain %q", opt, err, want)
		}
	}

	app, err := ParseOptions([]string{"Prune=false", "Validate=false"}, "app")
	if err != nil {
		t.Fatal(err)
	}
	u := obj("ConfigMap", "c", map[string]string{AnnotationSyncOptions: "Prune=confirm, Replace=true"})
	if diff := cmp.Diff(Options{"Prune": "confirm", "Validate": "false", "Replace": "true"}, app.For(u)); diff != "" {
		t.Errorf("For (-want +got):\n%s", diff)
	}
	bad := obj("ConfigMap", "c", map[string]string{AnnotationSyncOptions: "Prune=false,Wait=true"})
	if _, err := ObjectOptions(bad); err == nil || !strings.Contains(err.Error(), `ConfigMap/ns/c annotation argocd.argoproj.io/sync-options: unknown sync option "Wait=true"`) {
		t.Errorf("object: %v", err)
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add("Prune=false,Replace=true")
	f.Add("PrunePropagationPolicy=orphan, Wait=1")
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := ParseOptions(strings.Split(s, ","), "fuzz")
		if err != nil {
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("%q: %v is not an OptionError", s, err)
			}
			return
		}
		for k, v := range opts {
			if _, ok := knownOptions[k]; !ok || !strings.Contains(s, k) || !strings.Contains(s, v) {
				t.Fatalf("%q parsed to %v", s, opts)
			}
		}
	})
}

// TestNotes: options Flotilla accepts but treats its own way are noted,
// in a fixed order; the others are not.
func TestNotes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts []string
		want []string
	}{
		{[]string{"ServerSideApply=true", "Prune=false", "Validate=false", "Replace=true"}, nil},
		{[]string{"ClientSideApplyMigration=false", "ServerSideApply=false"}, []string{
			"ServerSideApply=false: Flotilla always applies server-side (field manager flotilla)",
			"ClientSideApplyMigration=false: Flotilla always takes fields over from kubectl's client-side apply"}},
		{[]string{"Validate=false"}, []string{"Validate=false: server-side apply still refuses fields the schema does not declare (with Replace=true they are dropped)"}},
	} {
		o, err := ParseOptions(tt.opts, "t")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, o.Notes()); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.opts, diff)
		}
	}
}
