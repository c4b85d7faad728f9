package applier

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kube/drift"
	"github.com/flotilla-dev/flotilla/internal/kube/health"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// Target is what apply and verify share: where the hydrated branches are,
// how to reach the clusters and which apps to look at.
type Target struct {
	// Source is where the hydrated branches are read: a local repository
	// (a checkout or a bare repository, read at the newer of the branch
	// and its remote's by ancestry) or a Git URL (cloned in memory, that
	// branch only).
	Source string
	// Branch is the branch to read; "" is each cluster's live branch in
	// Layout.
	Branch string
	// Layout names the live branches.
	Layout layout.Layout
	// Kubeconfig is the kubeconfig file ("" is $KUBECONFIG, else
	// ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context; "" is the cluster's name.
	Context string
	// Own, when not nil, holds each cluster's own kubeconfig (its
	// contents, by cluster name) in place of Kubeconfig: a secret per
	// cluster. A cluster it lacks is failure.Input. Its context is
	// Context, else the one named after the cluster, else its current
	// one (kube.ConnectOwn).
	Own map[string][]byte
	// Apps selects apps by name, in this order; empty is every app on the
	// branch.
	Apps []string
	// Auth gives the credentials for a Git URL; nil is none.
	Auth func(url string) transport.AuthMethod
}

// Conn is one cluster opened for work: its live branch read, a client,
// and the apps selected.
type Conn struct {
	Cluster  string
	Branch   string
	Snapshot *hydrate.Snapshot
	Client   *kube.Client
	Apps     []hydrate.BranchApp
}

// Open reads cluster's branch, connects to the cluster and selects the
// apps. A branch that does not exist, a kubeconfig or context that cannot
// be loaded and an unknown app are failure.Input; a Git remote that fails
// or cannot be reached is failure.Remote.
func (t Target) Open(ctx context.Context, cluster string) (*Conn, error) {
	c := &Conn{Cluster: cluster, Branch: t.Branch}
	if c.Branch == "" {
		c.Branch = t.Layout.LiveBranch(cluster)
	}
	auth := t.Auth
	if auth == nil {
		auth = func(string) transport.AuthMethod { return nil }
	}
	var err error
	if c.Snapshot, err = hydrate.ReadBranch(ctx, t.Source, c.Branch, auth); err != nil {
		return nil, t.readError(err)
	}
	if c.Client, err = t.connect(cluster); err != nil {
		return nil, failure.Mark(failure.Input, err)
	}
	if c.Apps, err = SelectApps(c.Snapshot, t.Apps); err != nil {
		return nil, err
	}
	return c, nil
}

// connect opens a client for cluster: from its own kubeconfig when Own
// is set, else from Kubeconfig's context Context or the cluster's name.
func (t Target) connect(cluster string) (*kube.Client, error) {
	if t.Own != nil {
		data, ok := t.Own[cluster]
		if !ok || len(data) == 0 {
			return nil, fmt.Errorf("cluster %s has no kubeconfig of its own", cluster)
		}
		return kube.ConnectOwn(data, t.Context, cluster)
	}
	kctx := t.Context
	if kctx == "" {
		kctx = cluster
	}
	return kube.Connect(t.Kubeconfig, kctx)
}

// readError classifies an error reading the branch: a missing branch is
// the caller's input; otherwise what the error says of itself (a network
// error is Remote), else Remote when the branch came from a Git URL and
// Input when it came from a local path (missing, a file, not a repository,
// a broken one): decided by the source's form, not by what is on disk.
func (t Target) readError(err error) error {
	switch {
	case errors.Is(err, hydrate.ErrNoBranch):
		return failure.Mark(failure.Input, err)
	case failure.ClassOf(err) != failure.Failed:
		return err
	}
	if LooksLikeURL(t.Source) {
		return failure.Mark(failure.Remote, err)
	}
	// A local path: mistyped, a file, not a repository, a broken one.
	return failure.Mark(failure.Input, err)
}

// LooksLikeURL reports whether s is a Git URL (scheme://… or scp-like
// user@host:path) rather than a local path.
func LooksLikeURL(s string) bool {
	if strings.Contains(s, "://") {
		return true
	}
	at, colon := strings.Index(s, "@"), strings.Index(s, ":")
	return at > 0 && colon > at && !strings.Contains(s[:colon], "/")
}

// Removed returns the apps whose inventory says they were applied from the
// branch but that are no longer on it, with their object counts.
func (c *Conn) Removed(ctx context.Context) (map[string]int, error) {
	recorded, err := c.Client.InventoryApps(ctx, kube.DefaultInventoryNamespace, c.Branch)
	if err != nil {
		return nil, err
	}
	for _, a := range c.Snapshot.Apps {
		delete(recorded, a.Name)
	}
	return recorded, nil
}

// SelectApps returns the apps of snap named in names, in that order (all
// of them when names is empty); an unknown name is failure.Input.
func SelectApps(snap *hydrate.Snapshot, names []string) ([]hydrate.BranchApp, error) {
	if len(names) == 0 {
		return snap.Apps, nil
	}
	byName := map[string]hydrate.BranchApp{}
	for _, a := range snap.Apps {
		byName[a.Name] = a
	}
	var out []hydrate.BranchApp
	for _, n := range names {
		a, ok := byName[n]
		if !ok {
			var known []string
			for _, a := range snap.Apps {
				known = append(known, a.Name)
			}
			return nil, failure.Inputf("--app %s: no such app on %s (apps: %s)", n, snap.Branch, strings.Join(known, ", "))
		}
		out = append(out, a)
	}
	return out, nil
}

// KubeApp is a hydrated app as internal/kube applies and verifies it: its
// objects, sync policy, ignoreDifferences and health checks from its
// hydrator.metadata. A manifest or a rule that does not compile is
// failure.Input.
func KubeApp(a hydrate.BranchApp, snap *hydrate.Snapshot) (kube.App, error) {
	objs, err := render.Decode(a.Name+"/"+layout.ManifestFile, a.Manifest)
	if err != nil {
		return kube.App{}, failure.Mark(failure.Input, err)
	}
	info := a.Metadata.Flotilla
	app := kube.App{Name: a.Name, Objects: objs, Namespace: info.Destination.Namespace, Commit: snap.Commit, Branch: snap.Branch}
	if sp := info.SyncPolicy; sp != nil {
		if sp.Automated != nil {
			app.Prune, app.AllowEmpty = sp.Automated.Prune, sp.Automated.AllowEmpty
		}
		app.CreateNamespace = sp.HasOption("CreateNamespace=true")
		app.RespectIgnoreDifferences = sp.HasOption("RespectIgnoreDifferences=true")
		app.SyncOptions = sp.SyncOptions
		if m := sp.ManagedNamespaceMetadata; m != nil {
			app.NamespaceLabels, app.NamespaceAnnotations = m.Labels, m.Annotations
		}
	}
	if app.Ignore, err = ignoreRules(info.IgnoreDifferences); err != nil {
		return kube.App{}, failure.Mark(failure.Input, fmt.Errorf("app %s: %w", a.Name, err))
	}
	if app.Health, err = health.Compile(info.HealthCheckExprs); err != nil {
		return kube.App{}, failure.Mark(failure.Input, fmt.Errorf("app %s: %w", a.Name, err))
	}
	return app, nil
}

// ignoreRules compiles an Application's ignoreDifferences, carried in its
// hydrator.metadata, for verify's drift and apply.
func ignoreRules(ds []fleet.ResourceIgnoreDifferences) (*drift.Ignore, error) {
	rules := make([]drift.Rule, len(ds))
	for i, d := range ds {
		rules[i] = drift.Rule{Group: d.Group, Kind: d.Kind, Name: d.Name, Namespace: d.Namespace,
			JSONPointers: d.JSONPointers, JQPathExpressions: d.JQPathExpressions, ManagedFieldsManagers: d.ManagedFieldsManagers}
	}
	return drift.Compile(rules)
}
