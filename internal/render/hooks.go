package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// Hook annotations, as Argo CD reads them (gitops-engine pkg/sync/hook).
const (
	HookAnnotation     = syncplan.AnnotationHook
	HelmHookAnnotation = syncplan.AnnotationHelmHook
)

// IsHook reports whether Argo CD runs u as a resource hook rather than
// syncing it as one of the app's resources (syncplan.IsHook).
//
// Hooks stay in the hydrated manifest with their annotations, which is how
// apply recognises them; only hooks may use metadata.generateName.
func IsHook(u *unstructured.Unstructured) bool { return syncplan.IsHook(u) }

// HookTypes returns the hook types of u as Argo CD reads them
// (syncplan.HookTypes).
func HookTypes(u *unstructured.Unstructured) []string {
	var out []string
	for _, p := range syncplan.HookTypes(u) {
		out = append(out, string(p))
	}
	return out
}
