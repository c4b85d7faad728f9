// Package drift holds the pure rules that decide whether a live object
// differs from what apply would make of it: what of an object counts
// (Comparable), the fields apply's takeover from kubectl releases
// (Released), Argo CD's ignoreDifferences (Ignore), and the diff shown to
// people, with Secret values masked (Compare). Verify, apply --dry-run and
// apply all decide with these functions, so they agree by construction.
//
// The package does no I/O: the API server's dry-run result comes in, a
// verdict comes out.
package drift

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/textdiff"
)

// LastApplied is kubectl's client-side apply record, which apply's
// takeover removes and drift never counts.
const LastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// bookkeeping are the metadata fields the API server writes on every
// change (or at creation) and apply never sets.
var bookkeeping = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}

// Comparable is what drift is about: the object without status, without
// the metadata the server keeps for itself and without kubectl's
// last-applied annotation. Two objects whose Comparable are semantically
// equal are the same to apply.
func Comparable(u *unstructured.Unstructured) map[string]any {
	out := u.DeepCopy().Object
	delete(out, "status")
	md, _ := out["metadata"].(map[string]any)
	for _, k := range bookkeeping {
		delete(md, k)
	}
	if a, ok := md["annotations"].(map[string]any); ok {
		delete(a, LastApplied)
		if len(a) == 0 {
			delete(md, "annotations")
		}
	}
	return out
}

// Result is the comparison of a live object with what apply makes of it.
type Result struct {
	// Same says apply would change nothing that counts.
	Same bool
	// Diff is a unified diff from live to desired, Secret values masked;
	// empty when Same.
	Diff string
}

// Compare compares live with desired (the server's dry-run of the apply,
// after Released) once ig's rules are removed from both.
func Compare(live, desired *unstructured.Unstructured, ig *Ignore) (Result, error) {
	a, b := Comparable(live), Comparable(desired)
	if err := ig.strip(live, a, live); err != nil {
		return Result{}, err
	}
	if err := ig.strip(desired, b, live); err != nil {
		return Result{}, err
	}
	if equality.Semantic.DeepEqual(a, b) {
		return Result{Same: true}, nil
	}
	gvk := live.GroupVersionKind()
	if gvk.Group == "" && gvk.Kind == "Secret" {
		maskSecret(a, b)
	}
	return Result{Diff: textdiff.Unified("live", "desired", toYAML(a), toYAML(b))}, nil
}

// Released returns what preview, the server's dry-run of Flotilla's apply
// over an object other tools edited, becomes once apply has taken the
// fields of the takeover managers over: apply moves their main-resource
// field sets into owner's (kube's takeover) and the apply then releases
// every one of them it no longer sets that no other manager holds. Those
// fields are removed; nothing else changes. preview must carry its
// managedFields, as the server returns them.
func Released(preview *unstructured.Unstructured, owner string, takeover func(manager string) bool) (*unstructured.Unstructured, error) {
	taken, kept := &fieldpath.Set{}, &fieldpath.Set{}
	for _, mf := range preview.GetManagedFields() {
		set, err := fieldSet(mf)
		if err != nil {
			return nil, fmt.Errorf("read managedFields of %s: %w", mf.Manager, err)
		}
		if takeover(mf.Manager) && mf.Subresource == "" {
			taken = taken.Union(set)
		} else {
			// Owner's set here is exactly the fields this apply sets.
			kept = kept.Union(set)
		}
	}
	released := taken.Difference(kept)
	if released.Empty() {
		return preview, nil
	}
	out := preview.DeepCopy()
	var paths []Path
	released.Iterate(func(p fieldpath.Path) { paths = append(paths, fieldPath(p)) })
	for _, p := range paths {
		p.Remove(out.Object)
	}
	return out, nil
}

func fieldSet(mf metav1.ManagedFieldsEntry) (*fieldpath.Set, error) {
	set := &fieldpath.Set{}
	if mf.FieldsV1 == nil {
		return set, nil
	}
	if err := set.FromJSON(mf.FieldsV1.GetRawReader()); err != nil {
		return nil, err
	}
	return set, nil
}

// maskSecret replaces Secret values: equal ones by "***", differing ones
// by "*** (live)" and "*** (desired)".
func maskSecret(live, desired map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		l, _ := live[field].(map[string]any)
		d, _ := desired[field].(map[string]any)
		keys := map[string]bool{}
		for k := range l {
			keys[k] = true
		}
		for k := range d {
			keys[k] = true
		}
		for k := range keys {
			lv, lok := l[k]
			dv, dok := d[k]
			switch {
			case lok && dok && lv == dv:
				l[k], d[k] = "***", "***"
			default:
				if lok {
					l[k] = "*** (live)"
				}
				if dok {
					d[k] = "*** (desired)"
				}
			}
		}
	}
}

func toYAML(v map[string]any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
