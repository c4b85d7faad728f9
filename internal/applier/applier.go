// Package applier is the apply pipeline: for each cluster, read its live
// hydrated branch, connect, apply every selected app with Argo CD's sync
// semantics (internal/kube), then report, or with PruneRemoved delete,
// the apps that left the branch. Results are data, errors values with
// their class (internal/failure); nothing is printed: progress goes to
// the optional callbacks in Progress.
//
// Target, Conn, SelectApps and KubeApp are shared with internal/verifier.
package applier

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Options are one apply run.
type Options struct {
	Target
	// Clusters are applied one after the other, in this order.
	Clusters []string
	// Prune prunes every app, whatever its syncPolicy says.
	Prune bool
	// ConfirmPrune allows a prune that deletes more than half of what an
	// app held after its last complete sync.
	ConfirmPrune bool
	// PruneRemoved deletes the objects of apps that left the branch;
	// without it they are only reported (Cluster.Removed). It needs every
	// app (Target.Apps empty).
	PruneRemoved bool
	// ForceRecreate recreates objects whose change hits an immutable field.
	ForceRecreate bool
	// DryRun changes nothing and reports what would change.
	DryRun bool
	// Concurrency is how many objects are applied at once per stage.
	Concurrency int
	// Timeout is how long each app's waves and hooks may take.
	Timeout time.Duration
	// Tooling is the ApplySet tooling recorded in inventories
	// ("flotilla/<version>").
	Tooling string
	// Progress receives results as they come; its fields may be nil.
	Progress Progress
}

// Progress receives an apply's results as they come, for a command that
// shows them while the run goes on.
type Progress struct {
	// App is called after each app is applied (or, with PruneRemoved,
	// removed).
	App func(cluster string, a *App)
	// Removed is called for each app that left the branch but still has
	// objects in the cluster, when PruneRemoved is off.
	Removed func(cluster, app string, objects int)
	// Cluster is called when a cluster is done, its Err set if it failed.
	Cluster func(c *Cluster)
}

// Result is a run's outcome, one Cluster per Options.Clusters.
type Result struct {
	Clusters []*Cluster
}

// Cluster is one cluster's outcome.
type Cluster struct {
	Name string
	// Opened: the branch was read and the apps selected (Branch and
	// Commit are set).
	Opened bool
	Branch string
	Commit string
	// Apps are the branch's apps in order, then the removed apps deleted
	// (PruneRemoved).
	Apps []*App
	// Removed are the apps that left the branch but still have objects in
	// the cluster (PruneRemoved off), with their object counts.
	Removed map[string]int
	// Err is why the cluster could not be worked on or finished: its
	// branch, its kubeconfig, an app whose hydrated files do not decode,
	// the inventories. failure.ClassOf tells its class.
	Err error
}

// App is one app's outcome.
type App struct {
	// Result is what happened to every object (Result.Error holds Err's
	// text).
	Result *kube.Result
	// Removed: the app had left the branch; its objects were deleted.
	Removed bool
	// Err is why the app failed, if it did (failure.ClassOf tells its
	// class: Remote when the API server failed or could not be reached).
	Err error
}

// Err is the run's first error by class severity, for an exit code: a
// cluster's error, else an app's; nil when everything applied.
func (r *Result) Err() error {
	var errs []error
	for _, c := range r.Clusters {
		if c.Err != nil {
			errs = append(errs, c.Err)
		}
		for _, a := range c.Apps {
			if a.Err != nil {
				errs = append(errs, a.Err)
			}
		}
	}
	return worst(errs)
}

// worst is the error of errs with the highest exit code, the first of
// equals.
func worst(errs []error) error {
	var out error
	for _, e := range errs {
		if out == nil || failure.ExitCode(e) > failure.ExitCode(out) {
			out = e
		}
	}
	return out
}

// Run applies every cluster of o. A cluster that fails does not stop the
// others; each outcome is in the Result. The error is for Options that
// cannot run at all.
func Run(ctx context.Context, o Options) (*Result, error) {
	switch {
	case o.PruneRemoved && len(o.Apps) > 0:
		return nil, failure.Usagef("--prune-removed works on the whole branch; it cannot be combined with --app")
	case o.Concurrency < 1:
		return nil, failure.Usagef("--concurrency must be at least 1")
	case o.Timeout <= 0:
		return nil, failure.Usagef("--timeout must be positive")
	}
	res := &Result{}
	for _, name := range o.Clusters {
		c := &Cluster{Name: name}
		c.Err = applyCluster(ctx, o, c)
		res.Clusters = append(res.Clusters, c)
		if o.Progress.Cluster != nil {
			o.Progress.Cluster(c)
		}
	}
	return res, nil
}

func applyCluster(ctx context.Context, o Options, res *Cluster) error {
	c, err := o.Open(ctx, res.Name)
	if err != nil {
		return err
	}
	res.Opened, res.Branch, res.Commit = true, c.Branch, c.Snapshot.Commit
	// inUse: namespaces the branch's apps use, kept when removed apps go.
	inUse := map[string]bool{}
	for _, a := range c.Apps {
		app, err := KubeApp(a, c.Snapshot)
		if err != nil {
			return err
		}
		inUse[app.Namespace] = true
		for _, u := range app.Objects {
			inUse[u.GetNamespace()] = true
		}
		r, err := c.Client.Apply(ctx, app, kube.Options{
			DryRun: o.DryRun, Prune: o.Prune, ConfirmPrune: o.ConfirmPrune, ForceRecreate: o.ForceRecreate,
			Concurrency: o.Concurrency, Tooling: o.Tooling, SyncTimeout: o.Timeout,
		})
		o.done(res, &App{Result: r, Err: err}, "")
	}
	if len(o.Apps) > 0 {
		return nil
	}
	return removeApps(ctx, o, c, inUse, res)
}

// done records an app's outcome (errPrefix before its error text) and
// reports it.
func (o Options) done(res *Cluster, a *App, errPrefix string) {
	if a.Err != nil {
		a.Result.Error = errPrefix + a.Err.Error()
	}
	res.Apps = append(res.Apps, a)
	if o.Progress.App != nil {
		o.Progress.App(res.Name, a)
	}
}

// removeApps reports the apps that left the branch but still have objects
// in the cluster or, with PruneRemoved, deletes what they left.
func removeApps(ctx context.Context, o Options, c *Conn, inUse map[string]bool, res *Cluster) error {
	removed, err := c.Removed(ctx)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(removed)) {
		if !o.PruneRemoved {
			if res.Removed == nil {
				res.Removed = map[string]int{}
			}
			res.Removed[name] = removed[name]
			if o.Progress.Removed != nil {
				o.Progress.Removed(res.Name, name, removed[name])
			}
			continue
		}
		r, err := c.Client.Remove(ctx, name, inUse, kube.Options{
			DryRun: o.DryRun, ConfirmPrune: o.ConfirmPrune, Concurrency: o.Concurrency, Tooling: o.Tooling,
		})
		o.done(res, &App{Result: r, Removed: true, Err: err}, "removing an app that left the branch: ")
	}
	return nil
}
