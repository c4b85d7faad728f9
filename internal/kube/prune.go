package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// ErrPruneBudget means one run would delete too much of an app.
var ErrPruneBudget = fmt.Errorf("prune refused")

// ErrPruneConfirm means objects marked Prune=confirm were kept because
// the run had no ConfirmPrune; the rest was pruned.
var ErrPruneConfirm = errors.New("prune needs confirmation")

// confirmMessage is why an object marked Prune=confirm is kept.
const confirmMessage = "Prune=confirm: pass --confirm-prune to delete it"

// prune deletes what the previous inventory holds and the desired set does
// not, with every safety rule of APPLY.md: inventory only, after full
// success, within the deletion budget, re-checking each live object's
// labels, uid, owners and state right before deleting it, honouring keep
// annotations and protected kinds, in reverse apply order.
//
// inUse names namespaces that other apps still use (a namespace is never
// pruned while a desired object lives in it). base is what the budget is
// a share of: the objects the app held after its last complete sync.
func (c *Client) prune(ctx context.Context, id string, old map[string]Entry, desired []*unstructured.Unstructured, inv *Inventory, o Options, inUse map[string]bool, base int) ([]ObjectResult, error) {
	want := map[string]bool{}
	usedNS := map[string]bool{}
	for ns := range inUse {
		usedNS[ns] = true
	}
	for _, u := range desired {
		want[entryOf(u).Key()] = true
		usedNS[u.GetNamespace()] = true
	}
	var candidates []Entry
	for k, e := range old {
		if !want[k] {
			candidates = append(candidates, e)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	if share := float64(len(candidates)) / float64(base); share > o.PruneBudget && !o.ConfirmPrune {
		var ids []string
		for _, e := range candidates {
			ids = append(ids, e.ID())
		}
		slices.Sort(ids)
		of := fmt.Sprintf("%.0f%% of the app's %d, more than the %.0f%% budget", 100*share, base, 100*o.PruneBudget)
		if base == 0 {
			of = "and the app held none after its last complete sync"
		}
		objects := "objects"
		if len(candidates) == 1 {
			objects = "object"
		}
		return nil, fmt.Errorf("%w: it would delete %d %s (%s): %s; check the render, then pass --confirm-prune",
			ErrPruneBudget, len(candidates), objects, of, strings.Join(ids, ", "))
	}
	// Reverse apply order.
	stubs := make([]*unstructured.Unstructured, len(candidates))
	byStub := map[*unstructured.Unstructured]Entry{}
	for i, e := range candidates {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(e.gvk())
		u.SetNamespace(e.Namespace)
		u.SetName(e.Name)
		stubs[i], byStub[u] = u, e
	}
	order.Sort(stubs)
	var results []ObjectResult
	for i := len(stubs) - 1; i >= 0; i-- {
		e := byStub[stubs[i]]
		r := c.pruneOne(ctx, id, e, usedNS, o)
		if r.Action == Deleted && !o.DryRun {
			delete(inv.Entries, e.Key())
		}
		if r.Action == Kept && strings.HasPrefix(r.Message, "another owner") {
			delete(inv.Entries, e.Key())
		}
		results = append(results, r)
	}
	return results, nil
}

func (c *Client) pruneOne(ctx context.Context, id string, e Entry, usedNS map[string]bool, o Options) ObjectResult {
	r := ObjectResult{Object: e.ID()}
	m, err := c.mapping(e.gvk())
	if meta.IsNoMatchError(err) {
		r.Action, r.Message = Deleted, "its kind is no longer served (CRD removed)"
		return r
	}
	if err != nil {
		r.Action, r.Message = Failed, err.Error()
		return r
	}
	ri := c.Dynamic.Resource(m.Resource)
	var rc resourceClient = ri
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		rc = ri.Namespace(e.Namespace)
	}
	live, err := rc.Get(ctx, e.Name, metav1.GetOptions{})
	if kerrors.IsNotFound(err) {
		r.Action, r.Message = Deleted, "already gone"
		return r
	}
	if err != nil {
		r.Action, r.Message = Failed, err.Error()
		return r
	}
	kept := func(why string) ObjectResult { r.Action, r.Message = Kept, why; return r }
	switch {
	case live.GetLabels()[LabelPartOf] != id:
		return kept("another owner controls it now (its " + LabelPartOf + " label is not this app's)")
	case e.UID != "" && string(live.GetUID()) != e.UID:
		return kept("another owner controls it now (it was recreated: uid " + string(live.GetUID()) + ", recorded " + e.UID + ")")
	case metav1.GetControllerOf(live) != nil:
		return kept("another owner controls it now (controller " + metav1.GetControllerOf(live).Kind + "/" + metav1.GetControllerOf(live).Name + ")")
	case live.GetDeletionTimestamp() != nil:
		return kept("it is already being deleted")
	}
	objOpts, err := syncplan.ObjectOptions(live)
	if err != nil {
		return kept(fmt.Sprintf("%v: fix the annotation to prune it", err))
	}
	opts := o.appOpts.For(live)
	switch {
	case objOpts.Is(syncplan.OptPrune, "false"):
		return kept(syncplan.AnnotationSyncOptions + ": Prune=false")
	case opts.Is(syncplan.OptPrune, "false"):
		return kept("the app's syncOptions: Prune=false")
	case opts.Is(syncplan.OptPrune, "confirm") && !o.ConfirmPrune:
		return kept(confirmMessage)
	}
	if k, why := keep(live); k {
		return kept(why)
	}
	switch e.Kind {
	case "Namespace", "CustomResourceDefinition", "PersistentVolume", "PersistentVolumeClaim":
		if !e.Created || !strings.EqualFold(live.GetAnnotations()[AnnotationPrune], "enabled") {
			return kept(fmt.Sprintf("a %s is pruned only if Flotilla created it and it is annotated %s: enabled", e.Kind, AnnotationPrune))
		}
		if e.Kind == "Namespace" && usedNS[e.Name] {
			return kept("desired objects still live in it")
		}
	}
	propagation := metav1.DeletePropagationBackground
	switch opts[syncplan.OptPrunePropagationPolicy] {
	case "foreground":
		propagation = metav1.DeletePropagationForeground
	case "orphan":
		propagation = metav1.DeletePropagationOrphan
	}
	uid := live.GetUID()
	del := metav1.DeleteOptions{PropagationPolicy: &propagation, Preconditions: &metav1.Preconditions{UID: &uid}}
	if o.DryRun {
		del.DryRun = dryRunAll
	}
	if err := rc.Delete(ctx, e.Name, del); err != nil && !kerrors.IsNotFound(err) {
		r.Action, r.Message = Failed, "delete: "+err.Error()
		return r
	}
	r.Action = Deleted
	if o.DryRun {
		r.Message = "dry run"
	}
	return r
}
