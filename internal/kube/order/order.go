// Package order is Flotilla's apply order as data (APPLY.md, rule 5),
// after fluxcd/pkg/ssa's ReconcileOrder: which stage each kind is applied
// in, how objects sort for output and apply, where apply splits them into
// batches, and the one name every message gives an object. It is pure: no
// client, no renderer, so the cluster client links neither.
package order

import (
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SyncWave is the annotation that holds an object's sync wave.
const SyncWave = "argocd.argoproj.io/sync-wave"

// Rank places kinds in the apply order: its kinds sort together (by
// group, then kind) and are applied in its stage.
type Rank struct {
	// Kinds are kinds' names (their group is not read); "*Class" stands
	// for every kind whose name ends in Class, "*" for every kind no other
	// rank names.
	Kinds []string
	// Stage is the apply stage of the kinds' objects: a stage's objects
	// are applied (and its CRDs Established) before the next stage starts.
	Stage int
}

// Stages of the apply order.
const (
	StageFoundation = 0 // CRDs, Namespaces, ClusterRoles
	StageClasses    = 1 // kinds ending in Class
	StageResources  = 2 // everything else
	StageWebhooks   = 3 // admission webhook configurations
)

// Kinds is the apply order: an object's rank is the index of the entry
// that names its kind exactly, else of "*Class" when its kind ends in
// Class, else of "*".
var Kinds = []Rank{
	{[]string{"CustomResourceDefinition"}, StageFoundation},
	{[]string{"Namespace"}, StageFoundation},
	{[]string{"ClusterRole"}, StageFoundation},
	{[]string{"*Class"}, StageClasses},
	{[]string{"ClusterRoleBinding"}, StageResources},
	{[]string{"ResourceQuota"}, StageResources},
	{[]string{"ServiceAccount"}, StageResources},
	{[]string{"Role"}, StageResources},
	{[]string{"RoleBinding"}, StageResources},
	{[]string{"ConfigMap"}, StageResources},
	{[]string{"Secret"}, StageResources},
	{[]string{"Service"}, StageResources},
	{[]string{"LimitRange"}, StageResources},
	{[]string{"Deployment"}, StageResources},
	{[]string{"StatefulSet"}, StageResources},
	{[]string{"CronJob"}, StageResources},
	{[]string{"PodDisruptionBudget"}, StageResources},
	{[]string{"*"}, StageResources},
	{[]string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}, StageWebhooks},
}

// ranks indexes Kinds: exact names, and the two patterns.
var ranks, classRank, otherRank = func() (map[string]int, int, int) {
	exact, class, other := map[string]int{}, -1, -1
	for i, r := range Kinds {
		for _, k := range r.Kinds {
			switch k {
			case "*Class":
				class = i
			case "*":
				other = i
			default:
				exact[k] = i
			}
		}
	}
	return exact, class, other
}()

// rank is a kind's index in Kinds.
func rank(kind string) int {
	if r, ok := ranks[kind]; ok {
		return r
	}
	if strings.HasSuffix(kind, "Class") {
		return classRank
	}
	return otherRank
}

// Stage is an object's apply stage (StageFoundation to StageWebhooks).
func Stage(u *unstructured.Unstructured) int {
	return Kinds[rank(u.GetKind())].Stage
}

// Wave returns an object's argocd.argoproj.io/sync-wave (0 when unset or
// not a number).
func Wave(u *unstructured.Unstructured) int {
	w, err := strconv.Atoi(strings.TrimSpace(u.GetAnnotations()[SyncWave]))
	if err != nil {
		return 0
	}
	return w
}

// Less orders objects for output and apply: sync wave, kind rank, then
// group, kind, namespace, name, generateName.
func Less(a, b *unstructured.Unstructured) bool {
	if wa, wb := Wave(a), Wave(b); wa != wb {
		return wa < wb
	}
	ga, gb := a.GroupVersionKind().GroupKind(), b.GroupVersionKind().GroupKind()
	if ra, rb := rank(ga.Kind), rank(gb.Kind); ra != rb {
		return ra < rb
	}
	if ga.Group != gb.Group {
		return ga.Group < gb.Group
	}
	if ga.Kind != gb.Kind {
		return ga.Kind < gb.Kind
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	if a.GetName() != b.GetName() {
		return a.GetName() < b.GetName()
	}
	return a.GetGenerateName() < b.GetGenerateName()
}

// Sort orders objects with Less (stable).
func Sort(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool { return Less(objs[i], objs[j]) })
}

// Batch is a run of sorted objects of one sync wave and stage: apply
// applies a batch's objects together, and waits for them before the next.
type Batch struct {
	Stage, Wave int
	// Indexes are the batch's objects, as indexes of the slice given to
	// Batches.
	Indexes []int
	// HasCRD says whether a CustomResourceDefinition is among them (apply
	// waits until it is Established).
	HasCRD bool
}

// Batches splits sorted objects at every change of sync wave or stage.
func Batches(objs []*unstructured.Unstructured) []Batch {
	var out []Batch
	for i, u := range objs {
		stage, wave := Stage(u), Wave(u)
		if len(out) == 0 || out[len(out)-1].Stage != stage || out[len(out)-1].Wave != wave {
			out = append(out, Batch{Stage: stage, Wave: wave})
		}
		b := &out[len(out)-1]
		b.Indexes = append(b.Indexes, i)
		b.HasCRD = b.HasCRD || u.GetKind() == "CustomResourceDefinition"
	}
	return out
}

// ID names an object as Kind/namespace/name (Kind/name when cluster-scoped;
// name is generateName followed by "*" for a hook the API server names),
// the one form every message uses.
func ID(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + "/" + ns + "/" + DisplayName(u)
	}
	return u.GetKind() + "/" + DisplayName(u)
}

// DisplayName is metadata.name, or for an object the API server names
// (a hook with only generateName) the prefix followed by "*".
func DisplayName(u *unstructured.Unstructured) string {
	if name := u.GetName(); name != "" || u.GetGenerateName() == "" {
		return name
	}
	return u.GetGenerateName() + "*"
}
