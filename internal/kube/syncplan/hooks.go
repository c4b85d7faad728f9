// Package syncplan holds Argo CD's sync rules as data, without a cluster:
// which objects are hooks and in which phases they run (Argo CD's and
// Helm's annotations, mapped as gitops-engine maps them), their deletion
// policies, sync waves, sync options, and the plan of a sync — phases
// PreSync, Sync and PostSync, waves ascending within each, SyncFail on
// failure. internal/kube carries the plan out against a cluster.
package syncplan

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Annotations read by the sync rules (Argo CD's and Helm's).
const (
	AnnotationHook             = "argocd.argoproj.io/hook"
	AnnotationHookDeletePolicy = "argocd.argoproj.io/hook-delete-policy"
	AnnotationSyncWave         = "argocd.argoproj.io/sync-wave"
	AnnotationSyncOptions      = "argocd.argoproj.io/sync-options"
	AnnotationHelmHook         = "helm.sh/hook"
	AnnotationHelmHookWeight   = "helm.sh/hook-weight"
	AnnotationHelmDeletePolicy = "helm.sh/hook-delete-policy"
)

// Phase is a sync phase.
type Phase string

// Sync phases, in the order they run; SyncFail runs only when one of the
// others failed. PostDelete hooks run when Argo CD deletes the app, never
// during a sync.
const (
	PreSync    Phase = "PreSync"
	Sync       Phase = "Sync"
	PostSync   Phase = "PostSync"
	SyncFail   Phase = "SyncFail"
	PostDelete Phase = "PostDelete"
	// Skip, as a hook type, means the object is not applied at all.
	Skip Phase = "Skip"
)

// helmHookTypes is gitops-engine's pkg/sync/hook/helm mapping; other Helm
// hooks (pre-delete, post-delete, pre-rollback, post-rollback, test) have
// no Argo CD phase and never run.
var helmHookTypes = map[string]Phase{
	"pre-install":  PreSync,
	"pre-upgrade":  PreSync,
	"post-install": PostSync,
	"post-upgrade": PostSync,
}

// IsHook reports whether Argo CD runs u as a resource hook rather than
// syncing it as one of the app's resources: it has an
// argocd.argoproj.io/hook annotation that is not only "Skip", or else a
// helm.sh/hook annotation other than "crd-install" (Helm's mark for CRDs,
// which are not hooks). A hook whose types name no phase (a Helm test hook,
// an unknown value) is a hook that never runs.
func IsHook(u *unstructured.Unstructured) bool {
	a := u.GetAnnotations()
	if _, ok := a[AnnotationHook]; ok {
		return !IsSkipped(u)
	}
	v, ok := a[AnnotationHelmHook]
	return ok && v != "crd-install"
}

// IsSkipped reports whether u is annotated argocd.argoproj.io/hook: Skip
// and nothing else: Argo CD neither applies nor runs it.
func IsSkipped(u *unstructured.Unstructured) bool {
	types := HookTypes(u)
	return len(types) == 1 && types[0] == Skip
}

// HookTypes returns the hook types of u as Argo CD reads them: the known
// values of argocd.argoproj.io/hook (comma-separated), or else those of
// helm.sh/hook mapped to Argo CD's.
func HookTypes(u *unstructured.Unstructured) []Phase {
	a := u.GetAnnotations()
	var out []Phase
	for _, t := range csv(a[AnnotationHook]) {
		switch p := Phase(t); p {
		case PreSync, Sync, PostSync, SyncFail, PostDelete, Skip:
			out = appendOnce(out, p)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, t := range csv(a[AnnotationHelmHook]) {
		if p, ok := helmHookTypes[t]; ok {
			out = appendOnce(out, p)
		}
	}
	return out
}

// DeletePolicy is a hook deletion policy.
type DeletePolicy string

// Hook deletion policies. BeforeHookCreation is the default when a hook
// names none.
const (
	BeforeHookCreation DeletePolicy = "BeforeHookCreation"
	HookSucceeded      DeletePolicy = "HookSucceeded"
	HookFailed         DeletePolicy = "HookFailed"
)

var helmDeletePolicies = map[string]DeletePolicy{
	"before-hook-creation": BeforeHookCreation,
	"hook-succeeded":       HookSucceeded,
	"hook-failed":          HookFailed,
}

// DeletePolicies returns a hook's deletion policies: Argo CD's annotation
// and Helm's, mapped, together; BeforeHookCreation when neither names one.
func DeletePolicies(u *unstructured.Unstructured) []DeletePolicy {
	a := u.GetAnnotations()
	var out []DeletePolicy
	for _, t := range csv(a[AnnotationHookDeletePolicy]) {
		switch p := DeletePolicy(t); p {
		case BeforeHookCreation, HookSucceeded, HookFailed:
			out = appendOnce(out, p)
		}
	}
	for _, t := range csv(a[AnnotationHelmDeletePolicy]) {
		if p, ok := helmDeletePolicies[t]; ok {
			out = appendOnce(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, BeforeHookCreation)
	}
	return out
}

// HasPolicy reports whether a hook has a deletion policy.
func HasPolicy(u *unstructured.Unstructured, p DeletePolicy) bool {
	for _, x := range DeletePolicies(u) {
		if x == p {
			return true
		}
	}
	return false
}

// Wave returns an object's sync wave: argocd.argoproj.io/sync-wave, else
// helm.sh/hook-weight (as gitops-engine reads it), else 0. A value that is
// not a number counts as unset.
func Wave(u *unstructured.Unstructured) int {
	a := u.GetAnnotations()
	if w, err := strconv.Atoi(strings.TrimSpace(a[AnnotationSyncWave])); err == nil {
		return w
	}
	if w, err := strconv.Atoi(strings.TrimSpace(a[AnnotationHelmHookWeight])); err == nil {
		return w
	}
	return 0
}

// csv splits a comma-separated annotation value, trimming spaces and
// dropping empty items.
func csv(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func appendOnce[T comparable](list []T, v T) []T {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
