package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InventoryApps returns the apps that have an inventory in namespace
// recorded as applied from branch, with their object counts: what the
// cluster runs from that branch, including apps that have since left it.
func (c *Client) InventoryApps(ctx context.Context, namespace, branch string) (map[string]int, error) {
	list, err := c.Dynamic.Resource(configMapGVR).Namespace(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: LabelApplySetID + ",app.kubernetes.io/managed-by=flotilla",
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list inventories in %s: %w", namespace, err)
	}
	out := map[string]int{}
	for _, cm := range list.Items {
		inv := inventoryOf(&cm)
		if inv.Branch == branch && cm.GetLabels()[LabelApplySetID] == ApplySetID(inv.App, namespace) {
			out[inv.App] = len(inv.Entries)
		}
	}
	return out, nil
}

// Remove deletes what an app that left its branch still has in the
// cluster: every object of its inventory, under all of prune's safety rules
// (the deletion budget included, so removing an app with objects needs
// ConfirmPrune), then the inventory itself once nothing in it is left to
// delete. inUse names the namespaces the branch's other apps still use.
func (c *Client) Remove(ctx context.Context, app string, inUse map[string]bool, o Options) (*Result, error) {
	o.defaults()
	res := &Result{App: app, DryRun: o.DryRun, Pruned: true}
	inv, err := c.ReadInventory(ctx, o.InventoryNamespace, app)
	if err != nil {
		return res, err
	}
	res.Commit = inv.Commit
	old := map[string]Entry{}
	for k, e := range inv.Entries {
		old[k] = e
	}
	// The budget's base is what is left, not the last complete sync: the
	// whole app goes, which always needs ConfirmPrune, on every retry.
	pruned, err := c.prune(ctx, ApplySetID(app, o.InventoryNamespace), old, nil, inv, o, inUse, len(old))
	res.Objects = pruned
	if err != nil || o.DryRun {
		return res, err
	}
	// Objects kept on purpose (a keep annotation, a protected kind) are let
	// go with the app; failed deletions stay recorded for the next run.
	failed := 0
	for _, r := range pruned {
		if r.Action == Failed {
			failed++
		}
	}
	if failed > 0 {
		if err := c.writeInventory(ctx, o.InventoryNamespace, o.Tooling, inv); err != nil {
			return res, err
		}
		return res, fmt.Errorf("%d of the removed app's objects could not be deleted; the inventory keeps them for the next run", failed)
	}
	err = c.Dynamic.Resource(configMapGVR).Namespace(o.InventoryNamespace).Delete(ctx, app, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &inv.resourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return res, fmt.Errorf("delete inventory %s/%s: %w", o.InventoryNamespace, app, err)
	}
	return res, nil
}
