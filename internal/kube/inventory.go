package kube

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ApplySet labels and annotations (KEP-3659), as kubectl reads them.
const (
	LabelPartOf             = "applyset.kubernetes.io/part-of"
	LabelApplySetID         = "applyset.kubernetes.io/id"
	AnnotationTooling       = "applyset.kubernetes.io/tooling"
	AnnotationGroupKinds    = "applyset.kubernetes.io/contains-group-kinds"
	AnnotationAdditionalNSs = "applyset.kubernetes.io/additional-namespaces"
)

// AnnotationSynced, on an ApplySet parent, is the number of objects the
// app's inventory held when its last complete sync (every stage applied,
// then prune, if it prunes, with no deletion failed) ended. The deletion
// budget is measured against it, not against the inventory, which holds
// old ∪ new from the moment a run starts: measured against that union, a
// refused prune would be allowed on the next run.
const AnnotationSynced = "flotilla.dev/synced-objects"

// DefaultInventoryNamespace holds the parent ConfigMaps.
const DefaultInventoryNamespace = "flotilla-system"

var configMapGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// ApplySetID is kubectl's id of an ApplySet whose parent is a ConfigMap:
// "applyset-" + unpadded URL-safe base64 of sha256("<name>.<namespace>.<kind>.<group>") + "-v1".
func ApplySetID(name, namespace string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{name, namespace, "ConfigMap", ""}, ".")))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// Entry is one object of an inventory.
type Entry struct {
	Group, Version, Kind, Namespace, Name string
	UID                                   string
	// Created is true when Flotilla created the object (protected kinds
	// are pruned only then).
	Created bool
}

// Key is <namespace>_<name>_<group>_<kind>, the inventory's identity.
func (e Entry) Key() string {
	return e.Namespace + "_" + e.Name + "_" + e.Group + "_" + e.Kind
}

// ID is Kind/namespace/name.
func (e Entry) ID() string {
	if e.Namespace != "" {
		return e.Kind + "/" + e.Namespace + "/" + e.Name
	}
	return e.Kind + "/" + e.Name
}

func (e Entry) gvk() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
}

func entryOf(u *unstructured.Unstructured) Entry {
	gvk := u.GroupVersionKind()
	return Entry{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName(), UID: string(u.GetUID())}
}

// Inventory is an app's record of what it applied.
type Inventory struct {
	App     string
	Entries map[string]Entry // by Key
	// Commit is the hydrated commit last applied in full.
	Commit    string
	Branch    string
	AppliedAt string
	// Synced is the number of objects the inventory held after the app's
	// last complete sync (AnnotationSynced): 0 for an app never applied,
	// -1 when an older Flotilla wrote the inventory without it.
	Synced int
	// resourceVersion of the parent, for the precondition on writes.
	resourceVersion string
}

func (inv *Inventory) sorted() []Entry {
	out := make([]Entry, 0, len(inv.Entries))
	for _, e := range inv.Entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// ReadInventory reads an app's inventory; a missing one is empty.
func (c *Client) ReadInventory(ctx context.Context, namespace, app string) (*Inventory, error) {
	inv := &Inventory{App: app, Entries: map[string]Entry{}}
	cm, err := c.Dynamic.Resource(configMapGVR).Namespace(namespace).Get(ctx, app, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return inv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read inventory %s/%s: %w", namespace, app, err)
	}
	return inventoryOf(cm), nil
}

// inventoryOf reads an inventory from its parent ConfigMap.
func inventoryOf(cm *unstructured.Unstructured) *Inventory {
	inv := &Inventory{App: cm.GetName(), Entries: map[string]Entry{}, resourceVersion: cm.GetResourceVersion(), Synced: -1}
	if n, err := strconv.Atoi(cm.GetAnnotations()[AnnotationSynced]); err == nil && n >= 0 {
		inv.Synced = n
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	inv.Commit, inv.Branch, inv.AppliedAt = data["commit"], data["branch"], data["appliedAt"]
	for _, line := range strings.Split(data["objects"], "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		parts := strings.SplitN(f[0], "_", 4)
		if len(parts) != 4 {
			continue
		}
		e := Entry{Namespace: parts[0], Name: parts[1], Group: parts[2], Kind: parts[3], Version: f[1], UID: strings.TrimPrefix(f[2], "-")}
		e.Created = len(f) > 3 && f[3] == "created"
		inv.Entries[e.Key()] = e
	}
	return inv
}

// writeInventory writes the parent ConfigMap with the ApplySet labels, the
// entries and the commit. The namespace is created when missing.
func (c *Client) writeInventory(ctx context.Context, namespace, tooling string, inv *Inventory) error {
	if err := c.ensureNamespace(ctx, namespace, InventoryManager); err != nil {
		return err
	}
	var lines []string
	gks := map[string]bool{}
	nss := map[string]bool{}
	for _, e := range inv.sorted() {
		uid := e.UID
		if uid == "" {
			uid = "-" // recorded before it was applied
		}
		line := e.Key() + " " + e.Version + " " + uid
		if e.Created {
			line += " created"
		}
		lines = append(lines, line)
		gk := e.Kind
		if e.Group != "" {
			gk += "." + e.Group
		}
		gks[gk] = true
		if e.Namespace != "" && e.Namespace != namespace {
			nss[e.Namespace] = true
		}
	}
	annotations := map[string]any{
		AnnotationTooling:    tooling,
		AnnotationGroupKinds: strings.Join(slices.Sorted(maps.Keys(gks)), ","),
	}
	if len(nss) > 0 {
		annotations[AnnotationAdditionalNSs] = strings.Join(slices.Sorted(maps.Keys(nss)), ",")
	}
	if inv.Synced >= 0 {
		annotations[AnnotationSynced] = strconv.Itoa(inv.Synced)
	}
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": inv.App, "namespace": namespace,
			"labels":      map[string]any{LabelApplySetID: ApplySetID(inv.App, namespace), "app.kubernetes.io/managed-by": "flotilla"},
			"annotations": annotations,
		},
		"data": map[string]any{
			"objects":   strings.Join(lines, "\n"),
			"commit":    inv.Commit,
			"branch":    inv.Branch,
			"appliedAt": time.Now().UTC().Format(time.RFC3339),
		},
	}}
	if inv.resourceVersion != "" {
		// One apply per cluster at a time: a concurrent writer makes this fail.
		cm.SetResourceVersion(inv.resourceVersion)
	}
	out, err := c.Dynamic.Resource(configMapGVR).Namespace(namespace).Apply(ctx, inv.App, cm,
		metav1.ApplyOptions{FieldManager: InventoryManager, Force: true})
	if err != nil {
		return fmt.Errorf("write inventory %s/%s: %w", namespace, inv.App, err)
	}
	inv.resourceVersion = out.GetResourceVersion()
	return nil
}

// ensureNamespace creates a namespace when it is missing.
func (c *Client) ensureNamespace(ctx context.Context, name, manager string) error {
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	if _, err := c.Dynamic.Resource(nsGVR).Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	_, err := c.Dynamic.Resource(nsGVR).Apply(ctx, name, ns, metav1.ApplyOptions{FieldManager: manager, Force: true})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
