package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/kube/drift"
	"github.com/flotilla-dev/flotilla/internal/kube/normalize"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// Sync states of an object.
const (
	StateSynced       = "synced"
	StateMissing      = "missing"
	StateDrifted      = "drifted"
	StateExtraneous   = "extraneous"
	StateUnverifiable = "unverifiable"
	StateUnknownKind  = "unknown-kind"
)

// ObjectStatus is one object's verification.
type ObjectStatus struct {
	Object  string `json:"object"`
	State   string `json:"state"`
	Health  Health `json:"health,omitempty"`
	Message string `json:"message,omitempty"`
	// Diff is a unified diff from live to desired; Secret values masked.
	Diff string `json:"diff,omitempty"`
}

// AppStatus is one app's verification.
type AppStatus struct {
	App string `json:"app"`
	// Commit is the branch head; Applied the commit apply recorded.
	Commit  string         `json:"commit"`
	Applied string         `json:"applied"`
	Sync    string         `json:"sync"` // Synced, OutOfSync, Pending
	Health  Health         `json:"health"`
	Objects []ObjectStatus `json:"objects"`
	Message string         `json:"message"`
}

// Sync values of an app.
const (
	Synced    = "Synced"
	OutOfSync = "OutOfSync"
	Pending   = "Pending"
)

// Verify compares an app's desired objects with the cluster: drift is what
// apply would change (the server's dry-run of the same apply request, with
// the fields apply's takeover from kubectl would release removed, and
// app.Ignore's fields left out), health by kstatus, extraneous inventory
// objects, and whether the applied commit is the branch head.
func (c *Client) Verify(ctx context.Context, app App, o Options) (*AppStatus, error) {
	o.defaults()
	id := ApplySetID(app.Name, o.InventoryNamespace)
	st := &AppStatus{App: app.Name, Commit: app.Commit, Health: Healthy}
	inv, err := c.ReadInventory(ctx, o.InventoryNamespace, app.Name)
	if err != nil {
		return nil, err
	}
	st.Applied = inv.Commit
	desired := prepare(app, id)
	results := make([]ObjectStatus, len(desired))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i, u := range desired {
		g.Go(func() error {
			results[i] = c.verifyObject(gctx, u, app)
			return nil
		})
	}
	_ = g.Wait()
	want := map[string]bool{}
	for _, u := range desired {
		want[entryOf(u).Key()] = true
	}
	for _, e := range inv.sorted() {
		if want[e.Key()] {
			continue
		}
		if live := c.getEntry(ctx, e); live != nil && live.GetLabels()[LabelPartOf] == id {
			results = append(results, ObjectStatus{Object: e.ID(), State: StateExtraneous, Message: "in the inventory but no longer in the branch (apply with prune removes it)"})
		}
	}
	st.Objects = results

	counts := map[string]int{}
	var worst ObjectStatus
	for _, r := range results {
		counts[r.State]++
		if r.Health != "" {
			if Worse(st.Health, r.Health) != st.Health {
				worst = r
			}
			st.Health = Worse(st.Health, r.Health)
		}
	}
	problems := counts[StateMissing] + counts[StateDrifted] + counts[StateExtraneous] + counts[StateUnknownKind]
	var parts []string
	for _, s := range []string{StateDrifted, StateMissing, StateExtraneous, StateUnknownKind} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	// Differences from a commit not applied yet are expected, not drift:
	// the app is pending until apply catches up.
	switch {
	case inv.Commit != app.Commit && inv.Commit == "":
		st.Sync, st.Message = Pending, "not applied yet"
	case inv.Commit != app.Commit:
		st.Sync, st.Message = Pending, fmt.Sprintf("applied %s, branch is at %s", layout.Short(inv.Commit), layout.Short(app.Commit))
	case problems > 0:
		st.Sync, st.Message = OutOfSync, strings.Join(parts, ", ")
	default:
		st.Sync, st.Message = Synced, "in sync"
	}
	if st.Sync == Pending && len(parts) > 0 {
		st.Message += " (" + strings.Join(parts, ", ") + ")"
	}
	if st.Health != Healthy && st.Health != Missing && worst.Object != "" {
		msg := fmt.Sprintf("%s %s", worst.Object, strings.ToLower(string(worst.Health)))
		if worst.Message != "" {
			msg += ": " + worst.Message
		}
		if st.Sync == Synced {
			st.Message = msg
		} else {
			st.Message += "; " + msg
		}
	}
	if counts[StateUnverifiable] > 0 {
		st.Message += fmt.Sprintf(" (%d unverifiable)", counts[StateUnverifiable])
	}
	return st, nil
}

func (c *Client) getEntry(ctx context.Context, e Entry) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(e.gvk())
	u.SetNamespace(e.Namespace)
	u.SetName(e.Name)
	ri, _, err := c.resource(u)
	if err != nil {
		return nil
	}
	live, err := ri.Get(ctx, e.Name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return live
}

// prepare gives the objects as apply sends them: normalised, labelled,
// sorted, without the ones annotated Ignore, without hooks (run as hooks,
// never applied as ordinary objects, recorded in the inventory or
// verified) and without objects whose hook is Skip (never applied).
func prepare(app App, id string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range app.Objects {
		if strategy(obj) == "Ignore" || syncplan.IsHook(obj) || syncplan.IsSkipped(obj) {
			continue
		}
		u := obj.DeepCopy()
		normalize.Object(u)
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelPartOf] = id
		u.SetLabels(labels)
		out = append(out, u)
	}
	order.Sort(out)
	return out
}

func (c *Client) verifyObject(ctx context.Context, u *unstructured.Unstructured, app App) ObjectStatus {
	r := ObjectStatus{Object: ObjectID(u)}
	ri, _, err := c.resource(u)
	if err != nil {
		if meta.IsNoMatchError(err) {
			r.State, r.Health, r.Message = StateUnknownKind, Missing, fmt.Sprintf("kind %s is not served", u.GroupVersionKind())
			return r
		}
		r.State, r.Message = StateUnverifiable, err.Error()
		return r
	}
	desired := u
	var live, preview *unstructured.Unstructured
	// The live object and the dry-run must see one version of the object:
	// a controller writing between the two reads (a Deployment's revision
	// annotation) would read as drift. Read both again, a few times.
	for attempt := 0; ; attempt++ {
		u = desired
		live, err = ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		if kerrors.IsNotFound(err) {
			r.State, r.Health, r.Message = StateMissing, Missing, "not found on the cluster"
			return r
		}
		if err != nil {
			r.State, r.Message = StateUnverifiable, err.Error()
			return r
		}
		r.Health, r.Message = HealthWith(app.Health, live)
		if strategy(u) == "IfNotPresent" {
			// apply leaves an existing object alone: nothing it would change.
			r.State = StateSynced
			return r
		}
		if app.RespectIgnoreDifferences {
			if u, err = app.Ignore.ForApply(u, live); err != nil {
				r.State, r.Message = StateUnverifiable, err.Error()
				return r
			}
		}
		preview, err = ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: dryRunAll})
		if err != nil {
			r.State, r.Message = StateUnverifiable, Redact(u, "dry-run failed: "+err.Error())
			return r
		}
		if preview.GetResourceVersion() == live.GetResourceVersion() || attempt == 2 {
			break
		}
	}
	if preview, err = afterTakeover(u, live, preview); err != nil {
		r.State, r.Message = StateUnverifiable, err.Error()
		return r
	}
	d, err := drift.Compare(live, preview, app.Ignore)
	if err != nil {
		r.State, r.Message = StateUnverifiable, err.Error()
		return r
	}
	if d.Same {
		r.State = StateSynced
		return r
	}
	r.State, r.Diff = StateDrifted, d.Diff
	return r
}

// afterTakeover is what preview, a dry-run of apply over live, becomes
// once apply has taken kubectl's fields over (which a dry-run cannot do):
// the fields only kubectl held and Git no longer sets are removed.
func afterTakeover(u, live, preview *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if strategy(u) != "Override" || !needsTakeover(live) {
		return preview, nil
	}
	out, err := drift.Released(preview, FieldManager, isTakeoverManager)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ObjectID(u), err)
	}
	return out, nil
}

// SortObjects orders object statuses by problem first.
func SortObjects(objs []ObjectStatus) {
	rank := map[string]int{StateDrifted: 0, StateMissing: 1, StateExtraneous: 2, StateUnknownKind: 3, StateUnverifiable: 4, StateSynced: 5}
	sort.SliceStable(objs, func(i, j int) bool { return rank[objs[i].State] < rank[objs[j].State] })
}
