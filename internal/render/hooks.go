package render

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Hook annotations, as Argo CD reads them (gitops-engine pkg/sync/hook).
const (
	HookAnnotation     = "argocd.argoproj.io/hook"
	HelmHookAnnotation = "helm.sh/hook"
)

// IsHook reports whether Argo CD runs u as a resource hook rather than
// syncing it as one of the app's resources: it has an
// argocd.argoproj.io/hook annotation that is not only "Skip", or else a
// helm.sh/hook annotation other than "crd-install" (Helm's mark for CRDs,
// which are not hooks).
//
// Hooks stay in the hydrated manifest with their annotations, which is how
// apply recognises them; only hooks may use metadata.generateName.
func IsHook(u *unstructured.Unstructured) bool {
	a := u.GetAnnotations()
	if _, ok := a[HookAnnotation]; ok {
		types := HookTypes(u)
		return !(len(types) == 1 && types[0] == "Skip")
	}
	v, ok := a[HelmHookAnnotation]
	return ok && v != "crd-install"
}

// HookTypes returns the hook types of u as Argo CD reads them: the known
// values of argocd.argoproj.io/hook (comma-separated), or else those of
// helm.sh/hook mapped to Argo CD's (pre-install and pre-upgrade → PreSync,
// post-install and post-upgrade → PostSync; Argo CD runs no other Helm
// hook).
func HookTypes(u *unstructured.Unstructured) []string {
	a := u.GetAnnotations()
	var out []string
	for _, t := range strings.Split(a[HookAnnotation], ",") {
		switch t = strings.TrimSpace(t); t {
		case "PreSync", "Sync", "PostSync", "SyncFail", "PostDelete", "Skip":
			out = append(out, t)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, t := range strings.Split(a[HelmHookAnnotation], ",") {
		switch strings.TrimSpace(t) {
		case "pre-install", "pre-upgrade":
			out = appendOnce(out, "PreSync")
		case "post-install", "post-upgrade":
			out = appendOnce(out, "PostSync")
		}
	}
	return out
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
