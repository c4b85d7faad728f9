package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-dev/flotilla/internal/kube/drift"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// ErrUnhealthy means a wave's objects did not become healthy (one is
// Degraded, or the app's sync timeout passed), which fails its phase.
var ErrUnhealthy = errors.New("not healthy")

// pollInterval is how often waits read the objects they wait for.
const pollInterval = 500 * time.Millisecond

// syncRun is one app's sync in progress.
type syncRun struct {
	c       *Client
	o       Options
	id      string
	res     *Result
	desired []*unstructured.Unstructured
	live    []*unstructured.Unstructured // read before the sync (nil: not read)
	absent  []bool                       // known not to exist before the sync
	results []ObjectResult               // by index of desired
	applied []*unstructured.Unstructured
	index   map[*unstructured.Unstructured]int
	// hookResults are the hooks' outcomes, in the order they ran; extra
	// are prune's.
	hookResults, extra []ObjectResult
	deadline           time.Time
	// pruneComplete is false once a deletion failed or was refused: the
	// inventory's synced count moves only after a complete sync.
	pruneComplete bool
}

// stepName names a step in messages: "phase Sync, wave 1".
func stepName(s syncplan.Step) string {
	return fmt.Sprintf("phase %s, wave %d", s.Phase, s.Wave)
}

// runStep applies a step's objects in APPLY.md's kind stages, then starts
// its hooks and waits until they finish.
func (s *syncRun) runStep(ctx context.Context, step syncplan.Step) error {
	for _, b := range order.Batches(step.Objects) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.o.Concurrency)
		for _, j := range b.Indexes {
			i := s.index[step.Objects[j]]
			g.Go(func() error {
				s.results[i], s.applied[i] = s.c.applyObject(gctx, s.desired[i], s.live[i], s.absent[i], s.o)
				return nil
			})
		}
		_ = g.Wait()
		var failed []string
		for _, j := range b.Indexes {
			if r := s.results[s.index[step.Objects[j]]]; r.Action == Failed {
				failed = append(failed, r.Object)
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("%s, stage %d: %s failed: later stages, waves, phases and prune were skipped", stepName(step), b.Stage, strings.Join(failed, ", "))
		}
		if b.HasCRD && !s.o.DryRun {
			if err := s.c.waitEstablished(ctx, step.Objects, b.Indexes, s.o.Timeout); err != nil {
				return err
			}
		}
		if s.o.BetweenStages != nil {
			if err := s.o.BetweenStages(b.Stage); err != nil {
				return err
			}
		}
	}
	return s.runHooks(ctx, step)
}

// runHooks starts a step's hooks and waits until every one has finished,
// failing on the first that fails.
func (s *syncRun) runHooks(ctx context.Context, step syncplan.Step) error {
	if len(step.Hooks) == 0 {
		return nil
	}
	runs := make([]*hookRun, len(step.Hooks))
	results := make([]ObjectResult, len(step.Hooks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.Concurrency)
	for i, h := range step.Hooks {
		g.Go(func() error {
			runs[i], results[i] = s.c.startHook(gctx, h, step.Phase, s.id, s.o)
			return nil
		})
	}
	_ = g.Wait()
	base := len(s.hookResults)
	s.hookResults = append(s.hookResults, results...)
	var failed []string
	pending := map[int]*hookRun{}
	for i, r := range results {
		if r.Action == Failed {
			failed = append(failed, r.Object+": "+r.Message)
		} else if runs[i] != nil {
			runs[i].index = base + i
			pending[i] = runs[i]
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s: %s", ErrHookFailed, stepName(step), strings.Join(failed, "; "))
	}
	for len(pending) > 0 {
		for _, i := range slices.Sorted(maps.Keys(pending)) {
			run := pending[i]
			live, err := run.ri.Get(ctx, run.name, metav1.GetOptions{})
			if err != nil {
				if kerrors.IsNotFound(err) {
					err = errors.New("deleted while it ran")
				}
				r := &s.hookResults[run.index]
				r.Action, r.Message = Failed, fmt.Sprintf("%s hook: %v", run.phase, err)
				return fmt.Errorf("%w: %s: %s: %s", ErrHookFailed, stepName(step), r.Object, r.Message)
			}
			state, why := s.c.hookStatus(ctx, live)
			if state == hookRunning {
				continue
			}
			delete(pending, i)
			r := &s.hookResults[run.index]
			after := s.c.finishHook(ctx, run, state, s.o.Timeout)
			if state == hookFailed {
				r.Action, r.Message = Failed, fmt.Sprintf("%s hook failed: %s%s", run.phase, why, after)
				return fmt.Errorf("%w: %s: %s: %s", ErrHookFailed, stepName(step), r.Object, r.Message)
			}
			r.Message = fmt.Sprintf("%s hook succeeded%s", run.phase, after)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(s.deadline) {
			var names []string
			for _, i := range slices.Sorted(maps.Keys(pending)) {
				r := &s.hookResults[pending[i].index]
				r.Action, r.Message = Failed, fmt.Sprintf("%s hook still running after %s (the app's sync timeout)", pending[i].phase, s.o.SyncTimeout)
				names = append(names, r.Object)
			}
			return fmt.Errorf("%w: %s: %s still running after %s (the app's sync timeout; raise it with --timeout)", ErrHookFailed, stepName(step), strings.Join(names, ", "), s.o.SyncTimeout)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return err
		}
	}
	return nil
}

// waitHealthy waits until a step's objects are healthy (or suspended),
// reading them with observe each poll: a Degraded object fails at once;
// the app's sync deadline fails with every object that is not healthy
// yet, its health and message.
func (s *syncRun) waitHealthy(ctx context.Context, step syncplan.Step) error {
	if s.o.DryRun || len(step.Objects) == 0 {
		return nil
	}
	pending := map[int]string{}
	for _, u := range step.Objects {
		pending[s.index[u]] = ""
	}
	type read struct {
		health Health
		msg    string
	}
	for {
		ids := slices.Sorted(maps.Keys(pending))
		reads := make([]read, len(ids))
		for k, obs := range s.observe(ctx, ids) {
			if obs.err != nil {
				reads[k] = read{Missing, obs.err.Error()}
				continue
			}
			reads[k].health, reads[k].msg = s.o.healthOf(obs.live)
		}
		for k, i := range ids {
			switch r := reads[k]; r.health {
			case Healthy, Suspended:
				delete(pending, i)
			case Degraded:
				return fmt.Errorf("%w: %s: %s is Degraded: %s (later waves, phases and prune were skipped)", ErrUnhealthy, stepName(step), ObjectID(s.desired[i]), r.msg)
			default:
				pending[i] = string(r.health) + ": " + r.msg
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(s.deadline) {
			var list []string
			for _, i := range slices.Sorted(maps.Keys(pending)) {
				list = append(list, ObjectID(s.desired[i])+" ("+pending[i]+")")
			}
			return fmt.Errorf("%w: %s: after %s (the app's sync timeout; raise it with --timeout) still not healthy: %s; later waves, phases and prune were skipped",
				ErrUnhealthy, stepName(step), s.o.SyncTimeout, strings.Join(list, ", "))
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// observation is an object as the server has it now, or why it could not
// be read.
type observation struct {
	live *unstructured.Unstructured
	err  error
}

// observe reads the desired objects ids from the server: per resource and
// namespace with more than one of them, one LIST of the app's ApplySet
// (every object apply wrote carries its label); the rest, and any the
// LIST did not show, one by one.
func (s *syncRun) observe(ctx context.Context, ids []int) []observation {
	out := make([]observation, len(ids))
	live := make([]*unstructured.Unstructured, len(s.desired))
	type group struct {
		ri  resourceGetter
		idx []int // indexes of desired
	}
	groups := map[string]*group{}
	var keys []string
	pos := map[int]int{} // index of desired -> index of out
	for k, i := range ids {
		pos[i] = k
		ri, m, err := s.c.resource(s.desired[i])
		if err != nil {
			out[k].err = err
			continue
		}
		key := m.Resource.String() + "/" + s.desired[i].GetNamespace()
		if groups[key] == nil {
			groups[key] = &group{ri: ri}
			keys = append(keys, key)
		}
		groups[key].idx = append(groups[key].idx, i)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.Concurrency)
	for _, key := range keys {
		gr := groups[key]
		if len(gr.idx) < 2 {
			continue
		}
		g.Go(func() error {
			gr.idx = listInto(gctx, gr.ri, metav1.ListOptions{LabelSelector: LabelPartOf + "=" + s.id}, s.desired, gr.idx, live, nil)
			return nil
		})
	}
	_ = g.Wait()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(s.o.Concurrency)
	for _, key := range keys {
		gr := groups[key]
		for _, i := range gr.idx {
			g.Go(func() error {
				live[i], out[pos[i]].err = gr.ri.Get(gctx, s.desired[i].GetName(), metav1.GetOptions{})
				return nil
			})
		}
	}
	_ = g.Wait()
	for k, i := range ids {
		if out[k].err == nil {
			out[k].live = live[i]
		}
	}
	return out
}

// resourceGetter is the part of dynamic.ResourceInterface observe uses.
type resourceGetter interface {
	resourceLister
	Get(ctx context.Context, name string, opts metav1.GetOptions, subresources ...string) (*unstructured.Unstructured, error)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// prune runs prune once, after the Sync phase: with the app's sync
// options, a PruneLast prune after every object is healthy.
func (s *syncRun) prune(ctx context.Context, old map[string]Entry, inv *Inventory) error {
	s.res.Pruned = true
	// The budget is a share of what the app held after its last complete
	// sync. old is larger when a run was interrupted or its prune refused
	// (it recorded old ∪ new first), and a share of it would let the next
	// run delete what this one refused.
	pruned, err := s.c.prune(ctx, s.id, old, s.desired, inv, s.o, nil, inv.Synced)
	s.extra = append(s.extra, pruned...)
	if err != nil {
		s.pruneComplete = false
		return err
	}
	var confirm []string
	for _, r := range pruned {
		s.pruneComplete = s.pruneComplete && r.Action != Failed
		if r.Action == Kept && strings.HasPrefix(r.Message, confirmMessage) {
			confirm = append(confirm, r.Object)
		}
	}
	if len(confirm) > 0 {
		s.pruneComplete = false
		return fmt.Errorf("%w: %s: %s", ErrPruneConfirm, strings.Join(confirm, ", "), confirmMessage)
	}
	return nil
}

// readLive reads the live objects of the desired set before the sync, so
// a shared object is known before anything changes; absent marks objects
// known not to exist. Per resource and namespace it LISTs the app's
// ApplySet (a re-apply reads everything it needs there); what that leaves
// unread, when more than one object, it settles with one unfiltered LIST
// of at most one page (listPage objects; a first apply, or objects new to
// the app);
// the rest it reads one by one, as apply would anyway. Groups are read
// concurrently, within the apply's concurrency.
func (c *Client) readLive(ctx context.Context, desired []*unstructured.Unstructured, id string, o Options) ([]*unstructured.Unstructured, []bool) {
	live := make([]*unstructured.Unstructured, len(desired))
	absent := make([]bool, len(desired))
	type key struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	groups := map[key][]int{}
	var keys []key
	for i, u := range desired {
		// The cached mapping only: a kind not served yet (its CRD comes
		// in this apply) must not reset discovery once per object, and
		// applyOne reads it once its kind is served.
		m, err := c.mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			continue
		}
		k := key{gvr: m.Resource}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			k.ns = u.GetNamespace()
		}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	page := o.listPage
	if page <= 0 {
		page = listPage
	}
	unread := make([][]int, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for n, k := range keys {
		g.Go(func() error {
			rc := c.Dynamic.Resource(k.gvr).Namespace(k.ns)
			idx := listInto(gctx, rc, metav1.ListOptions{LabelSelector: LabelPartOf + "=" + id}, desired, groups[k], live, nil)
			if len(idx) > 1 {
				idx = listInto(gctx, rc, metav1.ListOptions{Limit: page}, desired, idx, live, absent)
			}
			unread[n] = idx
			return nil
		})
	}
	_ = g.Wait()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for n, k := range keys {
		rc := c.Dynamic.Resource(k.gvr).Namespace(k.ns)
		for _, i := range unread[n] {
			g.Go(func() error {
				got, err := rc.Get(gctx, desired[i].GetName(), metav1.GetOptions{})
				switch {
				case err == nil:
					live[i] = got
				case kerrors.IsNotFound(err):
					absent[i] = true
				}
				return nil
			})
		}
	}
	_ = g.Wait()
	return live, absent
}

// listPage bounds the unfiltered LIST readLive settles absence with: what
// a namespace holding more objects of a resource does not show on the
// first page is read object by object.
const listPage = 500

// listInto LISTs a resource and namespace and sets live[i] of the objects
// idx it holds. When absent is not nil and the list is complete (one page,
// no continue token), the objects it lacks are marked absent. It returns
// the indexes still unread (all of them when the LIST fails).
func listInto(ctx context.Context, rc resourceLister, opts metav1.ListOptions, desired []*unstructured.Unstructured, idx []int, live []*unstructured.Unstructured, absent []bool) []int {
	list, err := rc.List(ctx, opts)
	if err != nil {
		return idx
	}
	complete := absent != nil && list.GetContinue() == ""
	byName := map[string]*unstructured.Unstructured{}
	for i := range list.Items {
		byName[list.Items[i].GetName()] = &list.Items[i]
	}
	var rest []int
	for _, i := range idx {
		got, ok := byName[desired[i].GetName()]
		switch {
		case ok && got.GroupVersionKind().Kind == desired[i].GetKind():
			live[i] = got
		case !ok && complete:
			absent[i] = true
		default:
			rest = append(rest, i)
		}
	}
	return rest
}

// resourceLister is the part of dynamic.ResourceInterface readLive uses.
type resourceLister interface {
	List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error)
}

// ErrSharedResource means an object the app renders belongs to another
// app (or ApplySet) and FailOnSharedResource=true is set.
var ErrSharedResource = errors.New("shared resource")

// checkShared finds desired objects that live in another ApplySet (Argo
// CD's SharedResourceWarning). Such an object is never taken over: with
// FailOnSharedResource=true the sync fails before anything changes;
// otherwise it is skipped and reported, and the rest goes on.
func (c *Client) checkShared(ctx context.Context, id string, desired, live []*unstructured.Unstructured, absent []bool, res *Result, o Options) ([]*unstructured.Unstructured, []*unstructured.Unstructured, []bool, error) {
	var owners map[string]string
	var refuse []string
	keep := make([]bool, len(desired))
	shared := false
	for i, u := range desired {
		keep[i] = true
		other := ""
		if live[i] != nil {
			other = live[i].GetLabels()[LabelPartOf]
		}
		if other == "" || other == id {
			continue
		}
		if owners == nil {
			owners = c.applySetOwners(ctx, o.InventoryNamespace)
		}
		owner := "another ApplySet (" + other + ")"
		if name, ok := owners[other]; ok {
			owner = "app " + name + " (ApplySet " + other + ")"
		}
		msg := fmt.Sprintf("SharedResourceWarning: %s is part of %s", ObjectID(u), owner)
		if o.appOpts.For(u).True(syncplan.OptFailOnSharedResource) {
			refuse = append(refuse, msg)
			res.Objects = append(res.Objects, ObjectResult{ObjectID(u), Failed, msg + ": FailOnSharedResource=true"})
			continue
		}
		shared, keep[i] = true, false
		res.Objects = append(res.Objects, ObjectResult{ObjectID(u), Skipped, msg + ": not taken over (remove it from one of the apps)"})
		res.Notes = append(res.Notes, msg)
	}
	if len(refuse) > 0 {
		return nil, nil, nil, fmt.Errorf("%w: %s; FailOnSharedResource=true refuses the sync: nothing was applied", ErrSharedResource, strings.Join(refuse, "; "))
	}
	if !shared {
		return desired, live, absent, nil
	}
	var d, l []*unstructured.Unstructured
	var a []bool
	for i := range desired {
		if keep[i] {
			d, l, a = append(d, desired[i]), append(l, live[i]), append(a, absent[i])
		}
	}
	return d, l, a, nil
}

// applySetOwners maps the ApplySet ids of the inventories in namespace to
// their apps.
func (c *Client) applySetOwners(ctx context.Context, namespace string) map[string]string {
	out := map[string]string{}
	list, err := c.Dynamic.Resource(configMapGVR).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelApplySetID})
	if err != nil {
		return out
	}
	for _, cm := range list.Items {
		out[cm.GetLabels()[LabelApplySetID]] = cm.GetName()
	}
	return out
}

// createNamespace creates the destination namespace (CreateNamespace=true);
// with managedNamespaceMetadata it applies those labels and annotations
// to it, created or not, as Flotilla's fields.
func (c *Client) createNamespace(ctx context.Context, name string, labels, annotations map[string]string) error {
	if len(labels) == 0 && len(annotations) == 0 {
		return c.ensureNamespace(ctx, name, FieldManager)
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	ns.SetLabels(labels)
	ns.SetAnnotations(annotations)
	_, err := c.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Apply(ctx, name, ns, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("create namespace %s with managedNamespaceMetadata: %w", name, err)
	}
	return nil
}

// applyPatch server-side applies u with Flotilla's field manager, the
// field validation its Validate option asks for (Strict, as kubectl;
// Validate=false: Ignore).
func applyPatch(ctx context.Context, ri resourceClient, u *unstructured.Unstructured, dryRun bool, opts syncplan.Options) (*unstructured.Unstructured, error) {
	b, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	force := true
	po := metav1.PatchOptions{FieldManager: FieldManager, Force: &force, FieldValidation: fieldValidation(opts)}
	if dryRun {
		po.DryRun = dryRunAll
	}
	return ri.Patch(ctx, u.GetName(), types.ApplyPatchType, b, po)
}

func fieldValidation(opts syncplan.Options) string {
	if opts.Is(syncplan.OptValidate, "false") {
		return metav1.FieldValidationIgnore
	}
	return metav1.FieldValidationStrict
}

// replaceOne replaces an object (Replace=true) as kubectl replace does:
// created when missing, else updated whole when its dry-run differs; with
// Force=true deleted and created instead.
func (c *Client) replaceOne(ctx context.Context, ri resourceClient, u, live *unstructured.Unstructured, opts syncplan.Options, o Options) (ObjectResult, *unstructured.Unstructured) {
	id := ObjectID(u)
	fail := func(format string, args ...any) (ObjectResult, *unstructured.Unstructured) {
		return ObjectResult{id, Failed, "Replace=true: " + fmt.Sprintf(format, args...)}, nil
	}
	create := func() (*unstructured.Unstructured, error) {
		co := metav1.CreateOptions{FieldManager: FieldManager, FieldValidation: fieldValidation(opts)}
		if o.DryRun {
			co.DryRun = dryRunAll
		}
		return ri.Create(ctx, u, co)
	}
	if live == nil {
		out, err := create()
		if err != nil {
			return fail("%v", err)
		}
		return ObjectResult{id, Created, "Replace=true"}, out
	}
	next := u.DeepCopy()
	next.SetResourceVersion(live.GetResourceVersion())
	uo := metav1.UpdateOptions{FieldManager: FieldManager, FieldValidation: fieldValidation(opts), DryRun: dryRunAll}
	preview, err := ri.Update(ctx, next, uo)
	if err == nil {
		var ignore *drift.Ignore
		if o.app != nil {
			ignore = o.app.Ignore
		}
		if d, cerr := drift.Compare(live, preview, ignore); cerr == nil && d.Same {
			return ObjectResult{id, Unchanged, ""}, live
		}
	}
	force := opts.True(syncplan.OptForce)
	if err != nil && !(force && kerrors.IsInvalid(err)) {
		return fail("%v", err)
	}
	if o.DryRun {
		msg := "dry run: would be replaced"
		if force {
			msg = "dry run: would be deleted and created (Replace=true, Force=true)"
		}
		return ObjectResult{id, Configured, msg}, live
	}
	if force {
		if err := deleteAndWait(ctx, ri, live, o.Timeout); err != nil {
			return fail("Force=true: delete: %v", err)
		}
		out, err := create()
		if err != nil {
			return fail("Force=true: create: %v", err)
		}
		return ObjectResult{id, Configured, "deleted and created (Replace=true, Force=true)"}, out
	}
	uo.DryRun = nil
	out, err := ri.Update(ctx, next, uo)
	if err != nil {
		return fail("%v", err)
	}
	return ObjectResult{id, Configured, "replaced (Replace=true)"}, out
}
