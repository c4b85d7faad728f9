package kube

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/flotilla-dev/flotilla/internal/kube/drift"
	"github.com/flotilla-dev/flotilla/internal/kube/health"
	"github.com/flotilla-dev/flotilla/internal/kube/immutable"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// App is what apply needs of one application.
type App struct {
	Name    string
	Objects []*unstructured.Unstructured
	// Namespace is the destination namespace (for CreateNamespace).
	Namespace       string
	Prune           bool // the app's syncPolicy says prune
	AllowEmpty      bool // syncPolicy.automated.allowEmpty
	CreateNamespace bool // syncOptions CreateNamespace=true
	// SyncOptions are the Application's spec.syncPolicy.syncOptions; an
	// object's argocd.argoproj.io/sync-options override them for it.
	SyncOptions []string
	// NamespaceLabels and NamespaceAnnotations are
	// syncPolicy.managedNamespaceMetadata: with CreateNamespace they are
	// applied to the destination namespace.
	NamespaceLabels, NamespaceAnnotations map[string]string
	// Commit and Branch are the hydrated commit being applied.
	Commit, Branch string
	// Ignore is the Application's ignoreDifferences: left out of drift,
	// and of apply when RespectIgnoreDifferences is set.
	Ignore *drift.Ignore
	// RespectIgnoreDifferences (sync option RespectIgnoreDifferences=true)
	// makes apply keep the live value of every ignored field.
	RespectIgnoreDifferences bool
	// Health are the fleet's custom health checks (flotilla.yaml's
	// healthCheckExprs), before the built-in rules.
	Health *health.Checks
}

// Options tune one apply run.
type Options struct {
	// DryRun changes nothing: objects are applied with server-side dry-run
	// and the prune list is computed but not carried out.
	DryRun bool
	// Prune prunes even when the app's syncPolicy does not.
	Prune bool
	// ConfirmPrune lifts the deletion budget and confirms Prune=confirm.
	ConfirmPrune bool
	// ForceRecreate recreates objects whose change hits an immutable field,
	// as the flotilla.dev/force annotation does per object.
	ForceRecreate bool
	// Concurrency bounds the objects applied at once (default 16).
	Concurrency int
	// PruneBudget is the share of an inventory one run may delete (default 0.5).
	PruneBudget float64
	// InventoryNamespace holds the parent ConfigMaps (default flotilla-system).
	InventoryNamespace string
	// Tooling is the ApplySet tooling annotation, "flotilla/<version>".
	Tooling string
	// Timeout bounds each wait (CRD Established, deletion). Default 60s.
	Timeout time.Duration
	// SyncTimeout bounds an app's waits for health between waves and for
	// its hooks, all phases together. Default 5m.
	SyncTimeout time.Duration
	// BetweenStages, when set, runs after each stage (tests use it to
	// interrupt an apply half-way).
	BetweenStages func(stage int) error

	// appOpts are the app's sync options, parsed (set by Apply).
	appOpts syncplan.Options
	// app is the app being applied and diffs collects a dry run's diffs
	// (set by Apply).
	app   *App
	diffs *diffSink
	// listPage, when set, replaces the page size of readLive's LIST
	// (tests).
	listPage int64
}

type diffSink struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *diffSink) add(id, diff string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[id] = diff
}

// DefaultSyncTimeout is Options.SyncTimeout's default.
const DefaultSyncTimeout = 5 * time.Minute

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.PruneBudget <= 0 {
		o.PruneBudget = 0.5
	}
	if o.InventoryNamespace == "" {
		o.InventoryNamespace = DefaultInventoryNamespace
	}
	if o.Tooling == "" {
		o.Tooling = "flotilla/v0"
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = DefaultSyncTimeout
	}
}

// Action is what happened to an object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Skipped    Action = "skipped"
	Deleted    Action = "deleted"
	Kept       Action = "kept"
	Failed     Action = "failed"
)

// ObjectResult is the outcome for one object.
type ObjectResult struct {
	Object  string `json:"object"`
	Action  Action `json:"action"`
	Message string `json:"message,omitempty"`
}

// Result is the outcome for one app.
type Result struct {
	App     string         `json:"app"`
	Commit  string         `json:"commit"`
	DryRun  bool           `json:"dryRun,omitempty"`
	Objects []ObjectResult `json:"objects"`
	// Pruned says whether prune ran (it runs only after full success).
	Pruned bool `json:"pruned"`
	// Notes are warnings that do not fail the app: shared resources left
	// alone, sync options Flotilla treats its own way.
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
	// Diffs are, in a dry run, what apply would change in each object it
	// would configure, by object, as verify shows them.
	Diffs map[string]string `json:"diffs,omitempty"`
}

// Counts tallies the actions.
func (r *Result) Counts() map[Action]int {
	out := map[Action]int{}
	for _, o := range r.Objects {
		out[o.Action]++
	}
	return out
}

// ErrEmpty means an app rendered to nothing and allowEmpty is not set.
var ErrEmpty = errors.New("the app renders no objects: refusing to apply and prune an empty set (set syncPolicy.automated.allowEmpty to allow it)")

// ErrSyncOption means an app or object names a sync option Flotilla does
// not know (errors.As finds the *syncplan.OptionError).
var ErrSyncOption = errors.New("invalid sync options")

// Apply makes the cluster run app's objects as Argo CD syncs them: phases
// PreSync, Sync and PostSync, waves ascending within each, each wave's
// objects healthy and hooks finished before the next starts (SyncFail
// hooks when a phase fails); server-side apply of only what differs,
// recorded in the app's inventory; prune after the Sync phase.
func (c *Client) Apply(ctx context.Context, app App, o Options) (*Result, error) {
	o.defaults()
	o.app = &app
	res := &Result{App: app.Name, Commit: app.Commit, DryRun: o.DryRun}
	if o.DryRun {
		o.diffs = &diffSink{}
		defer func() { res.Diffs = o.diffs.m }()
	}
	id := ApplySetID(app.Name, o.InventoryNamespace)

	appOpts, err := syncplan.ParseOptions(app.SyncOptions, "app "+app.Name+" spec.syncPolicy.syncOptions")
	var optErrs []error
	if err != nil {
		optErrs = append(optErrs, err)
	}
	for _, obj := range app.Objects {
		if _, err := syncplan.ObjectOptions(obj); err != nil {
			optErrs = append(optErrs, err)
		}
	}
	if len(optErrs) > 0 {
		return res, fmt.Errorf("%w: %w", ErrSyncOption, errors.Join(optErrs...))
	}
	o.appOpts = appOpts
	res.Notes = optionNotes(appOpts, app.Objects)

	ordinary, hooks, skipped := syncplan.Split(app.Objects)
	for _, s := range skipped {
		res.Objects = append(res.Objects, ObjectResult{order.ID(s.Object), Skipped, s.Reason})
	}
	for _, obj := range ordinary {
		if strategy(obj) == "Ignore" {
			res.Objects = append(res.Objects, ObjectResult{ObjectID(obj), Skipped, AnnotationSSA + ": Ignore"})
		}
	}
	if len(ordinary) == 0 && !app.AllowEmpty {
		return res, ErrEmpty
	}
	ordinaryApp := app
	ordinaryApp.Objects = ordinary
	desired := prepare(ordinaryApp, id)

	inv, err := c.ReadInventory(ctx, o.InventoryNamespace, app.Name)
	if err != nil {
		return res, err
	}
	live, absent := c.readLive(ctx, desired, id, o)
	desired, live, absent, err = c.checkShared(ctx, id, desired, live, absent, res, o)
	if err != nil {
		return res, err
	}
	plan := syncplan.New(desired, hooks)
	for _, s := range plan.Skipped {
		res.Objects = append(res.Objects, ObjectResult{order.ID(s.Object), Skipped, s.Reason})
	}

	old := inv.Entries
	if inv.Synced < 0 {
		// Written by a Flotilla that did not record the last complete
		// sync: what the inventory holds before this run is the closest
		// to it, and recording it now keeps a refusal refused.
		inv.Synced = len(old)
	}
	// Crash safety: record old ∪ new before touching anything, so an
	// interrupted run leaves nothing it applied unrecorded.
	next := map[string]Entry{}
	for k, e := range old {
		next[k] = e
	}
	for _, u := range desired {
		e := entryOf(u)
		if prev, ok := old[e.Key()]; ok {
			e.UID, e.Created = prev.UID, prev.Created
		}
		next[e.Key()] = e
	}
	if !o.DryRun {
		inv.Entries, inv.Branch = next, app.Branch
		if err := c.writeInventory(ctx, o.InventoryNamespace, o.Tooling, inv); err != nil {
			return res, err
		}
	}

	createNS := app.CreateNamespace || appOpts.True(syncplan.OptCreateNamespace)
	if createNS && app.Namespace != "" && !hasNamespace(desired, app.Namespace) && !o.DryRun {
		if err := c.createNamespace(ctx, app.Namespace, app.NamespaceLabels, app.NamespaceAnnotations); err != nil {
			return res, err
		}
	}

	s := &syncRun{c: c, o: o, id: id, res: res, desired: desired, live: live, absent: absent,
		results: make([]ObjectResult, len(desired)), applied: make([]*unstructured.Unstructured, len(desired)),
		index: map[*unstructured.Unstructured]int{}, deadline: time.Now().Add(o.SyncTimeout), pruneComplete: true}
	for i, u := range desired {
		s.index[u] = i
	}
	prune := app.Prune || o.Prune
	pruned := !prune
	var failure error
	for i, step := range plan.Steps {
		if step.Phase == syncplan.PostSync && !pruned {
			pruned = true
			if failure = s.prune(ctx, old, inv); failure != nil {
				break
			}
		}
		if failure = s.runStep(ctx, step); failure != nil {
			break
		}
		// Health is awaited before a next step, and before a PruneLast
		// prune; the last step's hooks are awaited by runStep.
		next := i+1 < len(plan.Steps)
		pruneLast := i+1 == len(plan.Steps) && !pruned && appOpts.True(syncplan.OptPruneLast)
		if next || pruneLast {
			if failure = s.waitHealthy(ctx, step); failure != nil {
				break
			}
		}
	}
	if failure == nil && !pruned {
		failure = s.prune(ctx, old, inv)
	}
	res.Objects = append(res.Objects, s.results...)
	res.Objects = dropEmpty(res.Objects)
	res.Objects = append(res.Objects, s.extra...)
	recordUIDs(inv, s.applied, s.results)
	if failure != nil {
		if !o.DryRun {
			_ = c.writeInventory(context.WithoutCancel(ctx), o.InventoryNamespace, o.Tooling, inv)
		}
		for _, step := range plan.OnFail {
			if err := s.runStep(ctx, step); err != nil {
				failure = fmt.Errorf("%w (and the SyncFail hooks failed: %w)", failure, err)
				break
			}
		}
		res.Objects = append(res.Objects, s.hookResults...)
		return res, failure
	}
	res.Objects = append(res.Objects, s.hookResults...)
	if o.DryRun {
		return res, nil
	}
	inv.Commit, inv.Branch = app.Commit, app.Branch
	if s.pruneComplete {
		inv.Synced = len(inv.Entries)
	}
	return res, c.writeInventory(ctx, o.InventoryNamespace, o.Tooling, inv)
}

// optionNotes lists, once each, what Flotilla does its own way for the
// app's options and each object's.
func optionNotes(app syncplan.Options, objs []*unstructured.Unstructured) []string {
	out := app.Notes()
	for _, u := range objs {
		opts, _ := syncplan.ObjectOptions(u)
		for _, n := range opts.Notes() {
			out = append(out, order.ID(u)+": "+n)
		}
	}
	return out
}

func dropEmpty(rs []ObjectResult) []ObjectResult {
	out := rs[:0]
	for _, r := range rs {
		if r.Object != "" {
			out = append(out, r)
		}
	}
	return out
}

// recordUIDs stores the uid of applied objects, and whether Flotilla
// created them.
func recordUIDs(inv *Inventory, applied []*unstructured.Unstructured, results []ObjectResult) {
	for i, u := range applied {
		if u == nil || u.GetUID() == "" {
			continue
		}
		e := entryOf(u)
		prev, had := inv.Entries[e.Key()]
		e.Created = results[i].Action == Created || had && prev.Created ||
			results[i].Message == "recreated (immutable field changed)"
		inv.Entries[e.Key()] = e
	}
}

func hasNamespace(objs []*unstructured.Unstructured, ns string) bool {
	for _, u := range objs {
		if u.GetKind() == "Namespace" && u.GroupVersionKind().Group == "" && u.GetName() == ns {
			return true
		}
	}
	return false
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitEstablished waits until the batch's CRDs are Established, then
// forgets the cached discovery so their kinds resolve.
func (c *Client) waitEstablished(ctx context.Context, objs []*unstructured.Unstructured, idx []int, timeout time.Duration) error {
	for _, i := range idx {
		u := objs[i]
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			live, err := c.Dynamic.Resource(crdGVR).Get(ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CustomResourceDefinition %s is not Established after %s: %w", u.GetName(), timeout, err)
		}
	}
	c.reset()
	return nil
}

var dryRunAll = []string{metav1.DryRunAll}

// applyObject applies one object if its dry-run differs from live. Secret
// values never reach its messages.
func (c *Client) applyObject(ctx context.Context, u, known *unstructured.Unstructured, absent bool, o Options) (ObjectResult, *unstructured.Unstructured) {
	r, out := c.applyOne(ctx, u, known, absent, o)
	r.Message = Redact(u, r.Message)
	return r, out
}

// Redact replaces a Secret's values, plain or base64, in a message.
func Redact(u *unstructured.Unstructured, msg string) string {
	if u.GetKind() != "Secret" || u.GroupVersionKind().Group != "" || msg == "" {
		return msg
	}
	data, _, _ := unstructured.NestedStringMap(u.Object, "data")
	var secrets []string
	for _, v := range data {
		if len(v) >= 2 {
			secrets = append(secrets, v)
		}
		if plain, err := base64.StdEncoding.DecodeString(v); err == nil && len(plain) >= 2 {
			secrets = append(secrets, string(plain))
		}
	}
	// Longest first: a value that holds another is hidden whole, never
	// left as the other's "***" plus the rest of it; and the message does
	// not depend on map order.
	slices.SortFunc(secrets, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, v := range slices.Compact(secrets) {
		msg = strings.ReplaceAll(msg, v, "***")
	}
	return msg
}

func (c *Client) applyOne(ctx context.Context, u, known *unstructured.Unstructured, absent bool, o Options) (ObjectResult, *unstructured.Unstructured) {
	id := ObjectID(u)
	fail := func(format string, args ...any) (ObjectResult, *unstructured.Unstructured) {
		return ObjectResult{id, Failed, fmt.Sprintf(format, args...)}, nil
	}
	ri, _, err := c.resource(u)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return fail("kind %s is not served by the cluster (is its CRD installed?)", u.GroupVersionKind())
		}
		return fail("%v", err)
	}
	opts := o.appOpts.For(u)
	live := known
	switch {
	case live != nil:
	case absent:
		err = kerrors.NewNotFound(schema.GroupResource{}, u.GetName())
	default:
		live, err = ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	}
	if opts.True(syncplan.OptReplace) && (err == nil || kerrors.IsNotFound(err)) {
		if err != nil {
			live = nil
		}
		return c.replaceOne(ctx, ri, u, live, opts, o)
	}
	switch {
	case kerrors.IsNotFound(err):
		out, err := applyPatch(ctx, ri, u, o.DryRun, opts)
		if err != nil {
			return fail("%v", err)
		}
		return ObjectResult{id, Created, ""}, out
	case err != nil:
		return fail("%v", err)
	}
	strat := strategy(u)
	if strat == "IfNotPresent" {
		return ObjectResult{id, Skipped, AnnotationSSA + ": IfNotPresent and the object exists"}, live
	}
	if o.app != nil && o.app.RespectIgnoreDifferences {
		if u, err = o.app.Ignore.ForApply(u, live); err != nil {
			return fail("%v", err)
		}
	}
	if strat == "Override" && needsTakeover(live) && !o.DryRun {
		if live, err = c.takeOver(ctx, ri, live); err != nil {
			return fail("take over from kubectl: %v", err)
		}
	}
	preview, err := applyPatch(ctx, ri, u, true, opts)
	if err != nil {
		if immutable.Is(err) {
			return c.recreate(ctx, ri, u, live, err, o)
		}
		return fail("%v", err)
	}
	// A controller may have written the object between the two reads
	// (a Deployment's revision annotation): compare with what the dry-run
	// saw.
	for i := 0; i < 3 && preview.GetResourceVersion() != live.GetResourceVersion(); i++ {
		if live, err = ri.Get(ctx, u.GetName(), metav1.GetOptions{}); err != nil {
			return fail("%v", err)
		}
		if preview, err = applyPatch(ctx, ri, u, true, opts); err != nil {
			return fail("%v", err)
		}
	}
	if o.DryRun {
		// What the takeover a real run makes first would release.
		if preview, err = afterTakeover(u, live, preview); err != nil {
			return fail("%v", err)
		}
	}
	var ignore *drift.Ignore
	if o.app != nil {
		ignore = o.app.Ignore
	}
	d, err := drift.Compare(live, preview, ignore)
	if err != nil {
		return fail("%v", err)
	}
	if d.Same {
		return ObjectResult{id, Unchanged, ""}, live
	}
	if o.DryRun {
		o.diffs.add(id, d.Diff)
		return ObjectResult{id, Configured, "dry run"}, live
	}
	out, err := applyPatch(ctx, ri, u, false, opts)
	if err != nil {
		if immutable.Is(err) {
			return c.recreate(ctx, ri, u, live, err, o)
		}
		return fail("%v", err)
	}
	return ObjectResult{id, Configured, ""}, out
}

// recreate deletes and re-creates an object whose change hits an immutable
// field, only with the opt-ins.
func (c *Client) recreate(ctx context.Context, ri resourceClient, u, live *unstructured.Unstructured, cause error, o Options) (ObjectResult, *unstructured.Unstructured) {
	id := ObjectID(u)
	kind := u.GroupVersionKind().GroupKind()
	stateful := kind.Kind == "PersistentVolumeClaim" || kind.Kind == "PersistentVolume" || kind.Kind == "StatefulSet"
	// Force=true alone is kubectl apply --force: recreate when the apply
	// cannot patch.
	optIn := o.ForceRecreate || strings.EqualFold(u.GetAnnotations()[AnnotationForce], "enabled") ||
		o.appOpts.For(u).True(syncplan.OptForce)
	switch {
	case kind.Kind == "Namespace" || kind.Kind == "CustomResourceDefinition":
		return ObjectResult{id, Failed, fmt.Sprintf("%v (a %s is never recreated)", cause, kind.Kind)}, nil
	case !optIn:
		return ObjectResult{id, Failed, fmt.Sprintf("%v: the change needs the object recreated; annotate it %s: enabled (or pass --force-recreate) to allow that", cause, AnnotationForce)}, nil
	case stateful && !strings.EqualFold(u.GetAnnotations()[AnnotationForceStateful], "enabled"):
		return ObjectResult{id, Failed, fmt.Sprintf("%v: recreating a %s can lose data; it needs %s: enabled as well", cause, kind.Kind, AnnotationForceStateful)}, nil
	case o.DryRun:
		return ObjectResult{id, Configured, "would be recreated (immutable field changed)"}, live
	}
	bg := metav1.DeletePropagationBackground
	uid := live.GetUID()
	if err := ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !kerrors.IsNotFound(err) {
		return ObjectResult{id, Failed, fmt.Sprintf("delete for recreation: %v", err)}, nil
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, o.Timeout, true, func(ctx context.Context) (bool, error) {
		_, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		return kerrors.IsNotFound(err), nil
	})
	if err != nil {
		return ObjectResult{id, Failed, fmt.Sprintf("waiting for deletion before recreation: %v", err)}, nil
	}
	out, err := applyPatch(ctx, ri, u, false, o.appOpts.For(u))
	if err != nil {
		return ObjectResult{id, Failed, fmt.Sprintf("recreate: %v", err)}, nil
	}
	return ObjectResult{id, Configured, "recreated (immutable field changed)"}, out
}

// resourceClient is the part of dynamic.ResourceInterface apply uses.
type resourceClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, subresources ...string) (*unstructured.Unstructured, error)
	Apply(ctx context.Context, name string, obj *unstructured.Unstructured, opts metav1.ApplyOptions, subresources ...string) (*unstructured.Unstructured, error)
	Create(ctx context.Context, obj *unstructured.Unstructured, opts metav1.CreateOptions, subresources ...string) (*unstructured.Unstructured, error)
	Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions, subresources ...string) (*unstructured.Unstructured, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions, subresources ...string) error
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*unstructured.Unstructured, error)
}

// takeoverManagers are the field managers whose fields Flotilla takes over
// once: without it, fields removed from Git would never be removed.
func isTakeoverManager(m string) bool {
	return m == "before-first-apply" || m == "kubectl" || strings.HasPrefix(m, "kubectl-")
}

func needsTakeover(live *unstructured.Unstructured) bool {
	if _, ok := live.GetAnnotations()[LastApplied]; ok {
		return true
	}
	for _, mf := range live.GetManagedFields() {
		if takenOver(mf) {
			return true
		}
	}
	return false
}

// takenOver says whether the takeover moves an entry to Flotilla: a
// takeover manager's fields of the object itself. A subresource's entry
// (kubectl scale writes spec.replicas through /scale) stays: the API
// server refuses an Apply entry on a subresource, and a field Git sets is
// taken from it by the forced apply anyway.
func takenOver(mf metav1.ManagedFieldsEntry) bool {
	return isTakeoverManager(mf.Manager) && mf.Subresource == ""
}

// takeOver moves kubectl's managed fields to Flotilla's manager. Its patch
// is conditional on the resourceVersion read: when a controller wrote the
// object in between (a Deployment's status, while it scales), the object
// is read again and the takeover retried.
func (c *Client) takeOver(ctx context.Context, ri resourceClient, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	for attempt := 0; ; attempt++ {
		out, err := takeOverOnce(ctx, ri, live)
		if err == nil || attempt == 4 {
			return out, err
		}
		fresh, gerr := ri.Get(ctx, live.GetName(), metav1.GetOptions{})
		if gerr != nil || fresh.GetResourceVersion() == live.GetResourceVersion() {
			return nil, err
		}
		if !needsTakeover(fresh) {
			return fresh, nil
		}
		live = fresh
	}
}

// takeOverOnce moves kubectl's managed fields to Flotilla's manager (merging
// field sets) and removes the last-applied annotation, in one JSON patch.
func takeOverOnce(ctx context.Context, ri resourceClient, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	var entries []metav1.ManagedFieldsEntry
	merged := map[string]int{} // apiVersion+subresource -> index of Flotilla's entry
	for _, mf := range live.GetManagedFields() {
		if takenOver(mf) || mf.Manager == FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" {
			mf.Manager, mf.Operation = FieldManager, metav1.ManagedFieldsOperationApply
			key := mf.APIVersion + "/" + mf.Subresource
			if i, ok := merged[key]; ok {
				set, err := unionFields(entries[i].FieldsV1, mf.FieldsV1)
				if err != nil {
					return nil, err
				}
				entries[i].FieldsV1 = set
				continue
			}
			merged[key] = len(entries)
		}
		entries = append(entries, mf)
	}
	patch := []map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
		{"op": "replace", "path": "/metadata/managedFields", "value": entries},
	}
	if _, ok := live.GetAnnotations()[LastApplied]; ok {
		patch = append(patch, map[string]any{"op": "remove", "path": "/metadata/annotations/" + strings.ReplaceAll(LastApplied, "/", "~1")})
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	return ri.Patch(ctx, live.GetName(), types.JSONPatchType, b, metav1.PatchOptions{FieldManager: FieldManager})
}

func unionFields(a, b *metav1.FieldsV1) (*metav1.FieldsV1, error) {
	if a == nil {
		return b, nil
	}
	if b == nil {
		return a, nil
	}
	sa, sb := &fieldpath.Set{}, &fieldpath.Set{}
	if err := sa.FromJSON(a.GetRawReader()); err != nil {
		return nil, err
	}
	if err := sb.FromJSON(b.GetRawReader()); err != nil {
		return nil, err
	}
	raw, err := sa.Union(sb).ToJSON()
	if err != nil {
		return nil, err
	}
	return metav1.NewFieldsV1(string(raw)), nil
}
