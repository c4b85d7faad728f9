package syncplan

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Step is one wave of one phase: the app's ordinary objects of that wave
// (Sync phase only) and the hooks that run in it, each in the order given.
type Step struct {
	Phase   Phase
	Wave    int
	Objects []*unstructured.Unstructured
	Hooks   []*unstructured.Unstructured
}

// Skipped is an object a sync neither applies nor runs, and why.
type Skipped struct {
	Object *unstructured.Unstructured
	Reason string
}

// Plan is a sync, as data: Steps run in order, each waiting for the one
// before it to be healthy (its objects) and finished (its hooks); OnFail
// runs when a step fails.
type Plan struct {
	Steps  []Step
	OnFail []Step
	// Skipped are hooks that never run in a sync (PostDelete, Helm's test
	// and delete hooks, unknown hook types) and objects annotated Skip.
	Skipped []Skipped
}

var phaseOrder = map[Phase]int{PreSync: 0, Sync: 1, PostSync: 2, SyncFail: 3}

// Split sorts an app's objects into ordinary objects (applied and
// recorded in the inventory), hooks (run in their phases) and skipped
// objects, keeping their order.
func Split(objs []*unstructured.Unstructured) (ordinary, hooks []*unstructured.Unstructured, skipped []Skipped) {
	for _, u := range objs {
		switch {
		case IsSkipped(u):
			skipped = append(skipped, Skipped{u, AnnotationHook + ": Skip"})
		case IsHook(u):
			hooks = append(hooks, u)
		default:
			ordinary = append(ordinary, u)
		}
	}
	return ordinary, hooks, skipped
}

// New plans a sync of ordinary objects and hooks (as Split returns them):
// one step per phase and wave that holds anything, phases PreSync, Sync,
// PostSync, waves ascending; SyncFail's waves in OnFail. Each step keeps
// its objects and hooks in the order given.
func New(ordinary, hooks []*unstructured.Unstructured) Plan {
	type key struct {
		phase Phase
		wave  int
	}
	steps := map[key]*Step{}
	step := func(p Phase, w int) *Step {
		k := key{p, w}
		if s, ok := steps[k]; ok {
			return s
		}
		s := &Step{Phase: p, Wave: w}
		steps[k] = s
		return s
	}
	var plan Plan
	for _, u := range ordinary {
		s := step(Sync, Wave(u))
		s.Objects = append(s.Objects, u)
	}
	for _, h := range hooks {
		ran := false
		for _, p := range HookTypes(h) {
			if _, ok := phaseOrder[p]; !ok {
				continue
			}
			s := step(p, Wave(h))
			s.Hooks = append(s.Hooks, h)
			ran = true
		}
		if !ran {
			plan.Skipped = append(plan.Skipped, Skipped{h, skipReason(h)})
		}
	}
	all := make([]*Step, 0, len(steps))
	for _, s := range steps {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool {
		if a, b := phaseOrder[all[i].Phase], phaseOrder[all[j].Phase]; a != b {
			return a < b
		}
		return all[i].Wave < all[j].Wave
	})
	for _, s := range all {
		if s.Phase == SyncFail {
			plan.OnFail = append(plan.OnFail, *s)
		} else {
			plan.Steps = append(plan.Steps, *s)
		}
	}
	return plan
}

func skipReason(h *unstructured.Unstructured) string {
	for _, p := range HookTypes(h) {
		if p == PostDelete {
			return "PostDelete hook: it runs when the app is deleted, not in a sync"
		}
	}
	if v, ok := h.GetAnnotations()[AnnotationHook]; ok {
		return "hook type " + v + " names no sync phase (PreSync, Sync, PostSync, SyncFail): never run"
	}
	return "Helm hook " + h.GetAnnotations()[AnnotationHelmHook] + " has no Argo CD phase (only pre/post-install and pre/post-upgrade run): never run"
}
