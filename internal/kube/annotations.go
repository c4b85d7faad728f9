package kube

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// Per-object annotations Flotilla reads.
const (
	// AnnotationSSA selects the apply strategy: Override (default), Merge
	// (no takeover from kubectl), IfNotPresent (create only), Ignore (no
	// apply, health or prune).
	AnnotationSSA = "flotilla.dev/ssa"
	// AnnotationForce "enabled" lets apply recreate an object whose change
	// touches an immutable field.
	AnnotationForce = "flotilla.dev/force"
	// AnnotationForceStateful "enabled" is the second opt-in needed to
	// recreate a PersistentVolumeClaim, PersistentVolume or StatefulSet.
	AnnotationForceStateful = "flotilla.dev/force-stateful"
	// AnnotationPrune "disabled" keeps an object; "enabled" is the opt-in
	// that lets a Namespace, CRD, PV or PVC Flotilla created be pruned.
	AnnotationPrune = "flotilla.dev/prune"
	// LastApplied is kubectl's client-side apply record.
	LastApplied = "kubectl.kubernetes.io/last-applied-configuration"
)

// strategy returns an object's flotilla.dev/ssa value (Override default).
func strategy(u *unstructured.Unstructured) string {
	switch s := strings.TrimSpace(u.GetAnnotations()[AnnotationSSA]); strings.ToLower(s) {
	case "merge":
		return "Merge"
	case "ifnotpresent":
		return "IfNotPresent"
	case "ignore":
		return "Ignore"
	}
	return "Override"
}

// keepSignals are the annotations (any one) that keep an object from prune.
func keep(u *unstructured.Unstructured) (bool, string) {
	a := u.GetAnnotations()
	switch {
	case strings.EqualFold(a[AnnotationPrune], "disabled"):
		return true, AnnotationPrune + ": disabled"
	case strings.EqualFold(a["kustomize.toolkit.fluxcd.io/prune"], "disabled"):
		return true, "kustomize.toolkit.fluxcd.io/prune: disabled"
	case strings.Contains(a["argocd.argoproj.io/sync-options"], "Prune=false"):
		return true, "argocd.argoproj.io/sync-options: Prune=false"
	case strings.Contains(a["argocd.argoproj.io/sync-options"], "Delete=false"):
		return true, "argocd.argoproj.io/sync-options: Delete=false"
	case strings.EqualFold(a["cli-utils.sigs.k8s.io/on-remove"], "keep"):
		return true, "cli-utils.sigs.k8s.io/on-remove: keep"
	case strings.EqualFold(a["helm.sh/resource-policy"], "keep"):
		return true, "helm.sh/resource-policy: keep"
	case strategy(u) == "Ignore":
		return true, AnnotationSSA + ": Ignore"
	case syncplan.IsHook(u):
		// Argo CD never prunes a hook: its delete policy governs it.
		return true, "hook"
	}
	return false, ""
}
