package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/report"
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

// IgnoreRule removes fields from drift comparison: JSON pointers, for the
// objects matching the group/kind/name/namespace given (empty matches all).
// Argo CD's ignoreDifferences entries map onto it.
type IgnoreRule struct {
	Group, Kind, Name, Namespace string
	JSONPointers                 []string
}

func (r IgnoreRule) matches(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return (r.Group == "" || r.Group == gvk.Group) && (r.Kind == "" || r.Kind == gvk.Kind) &&
		(r.Name == "" || r.Name == u.GetName()) && (r.Namespace == "" || r.Namespace == u.GetNamespace())
}

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

// Verify compares an app's desired objects with the cluster: drift by
// server-side dry-run, health by kstatus, extraneous inventory objects, and
// whether the applied commit is the branch head.
func (c *Client) Verify(ctx context.Context, app App, rules []IgnoreRule, o Options) (*AppStatus, error) {
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
			results[i] = c.verifyObject(gctx, u, rules)
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
		st.Sync, st.Message = Pending, fmt.Sprintf("applied %s, branch is at %s", short(inv.Commit), short(app.Commit))
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

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
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
// sorted, without the ones annotated Ignore and without hooks (apply does
// not run hooks yet; they are never applied as ordinary objects, recorded
// in the inventory or verified).
func prepare(app App, id string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range app.Objects {
		if strategy(obj) == "Ignore" || render.IsHook(obj) {
			continue
		}
		u := obj.DeepCopy()
		Normalize(u)
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelPartOf] = id
		u.SetLabels(labels)
		out = append(out, u)
	}
	render.Sort(out)
	return out
}

func (c *Client) verifyObject(ctx context.Context, u *unstructured.Unstructured, rules []IgnoreRule) ObjectStatus {
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
	live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	if kerrors.IsNotFound(err) {
		r.State, r.Health, r.Message = StateMissing, Missing, "not found on the cluster"
		return r
	}
	if err != nil {
		r.State, r.Message = StateUnverifiable, err.Error()
		return r
	}
	r.Health, r.Message = HealthOf(live)
	preview, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: dryRunAll})
	if err != nil {
		r.State, r.Message = StateUnverifiable, Redact(u, "dry-run failed: "+err.Error())
		return r
	}
	a, b := comparable(live), comparable(preview)
	for _, rule := range rules {
		if rule.matches(u) {
			for _, p := range rule.JSONPointers {
				removePointer(a, p)
				removePointer(b, p)
			}
		}
	}
	if equality.Semantic.DeepEqual(a, b) {
		r.State = StateSynced
		return r
	}
	r.State = StateDrifted
	if u.GetKind() == "Secret" && u.GroupVersionKind().Group == "" {
		maskSecret(a, b)
	}
	r.Diff = report.UnifiedDiff("live", "desired", toYAML(a), toYAML(b))
	return r
}

// comparable keeps what drift is about: labels, annotations, and
// everything outside metadata and status.
func comparable(u *unstructured.Unstructured) map[string]any {
	out := map[string]any{}
	for k, v := range u.DeepCopy().Object {
		if k == "status" || k == "metadata" {
			continue
		}
		out[k] = v
	}
	md := map[string]any{}
	if l := u.GetLabels(); len(l) > 0 {
		md["labels"] = toAny(l)
	}
	if a := u.GetAnnotations(); len(a) > 0 {
		delete(a, LastApplied)
		if len(a) > 0 {
			md["annotations"] = toAny(a)
		}
	}
	if len(md) > 0 {
		out["metadata"] = md
	}
	return out
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// removePointer deletes the field at a JSON pointer (RFC 6901).
func removePointer(obj map[string]any, pointer string) {
	parts := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	cur := any(obj)
	for i, p := range parts {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return
		}
		if i == len(parts)-1 {
			delete(m, p)
			return
		}
		cur = m[p]
	}
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

// SortObjects orders object statuses by problem first.
func SortObjects(objs []ObjectStatus) {
	rank := map[string]int{StateDrifted: 0, StateMissing: 1, StateExtraneous: 2, StateUnknownKind: 3, StateUnverifiable: 4, StateSynced: 5}
	sort.SliceStable(objs, func(i, j int) bool { return rank[objs[i].State] < rank[objs[j].State] })
}
