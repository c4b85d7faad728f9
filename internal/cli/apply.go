package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kube/drift"
	"github.com/flotilla-dev/flotilla/internal/kube/health"
	"github.com/flotilla-dev/flotilla/internal/render"
)

const applyUsage = `Usage: apply --cluster NAME [flags]

apply makes a cluster run exactly what its live hydrated branch,
hydrated/<cluster>, says, with Argo CD's sync semantics: phases PreSync, Sync,
PostSync (SyncFail hooks when one fails), sync waves ascending within each,
each wave healthy and its hooks finished before the next; within a wave,
server-side apply (field manager "flotilla") in stages — CRDs, Namespaces and
ClusterRoles, then *Class kinds, then everything else, webhooks last —
applying only objects whose server-side dry-run differs from the cluster.
Hooks (argocd.argoproj.io/hook, Helm's install and upgrade hooks) run in
their phases under their delete policies and are never in the inventory.
Sync options (the Application's and argocd.argoproj.io/sync-options) apply;
an unknown one is an error. An object another app owns is never taken over
(SharedResourceWarning; FailOnSharedResource=true fails the app). Each app is an ApplySet with an inventory
(ConfigMap <app> in flotilla-system) that records what was applied and the
hydrated commit. Prune, when the app's syncPolicy or --prune asks for it,
deletes only inventory objects that left the branch, only after everything
applied, never more than half of what the app held after its last complete
sync without --confirm-prune (a refused prune stays refused on every retry),
and never an object another owner controls.

A local repository (--repo) is read at the newer of the branch and its remote's
tracking branch (origin/<branch>), by ancestry: the remote's when the local
branch is behind it, the local one when it has commits not pushed yet, and
an error when they have diverged. A shallow clone is deepened from the
remote until that can be decided.

Flags:
  --cluster NAME        the cluster (required unless --clusters-from)
  --repo PATH           a local Git repository (a checkout or a bare
                        repository) holding the hydrated branches (default ".")
  --remote URL          a Git remote (a URL, or the path of a bare repository)
                        holding them, read without a local repository (cloned
                        in memory, that branch only); excludes --repo
  --branch NAME         the branch to apply (default hydrated/<cluster>)
  --kubeconfig FILE     kubeconfig (default $KUBECONFIG, else ~/.kube/config)
  --context NAME        kubeconfig context (default: the cluster name)
  --app NAME            apply only this app (repeatable; default all)
  --prune               prune every app, whatever its syncPolicy says
  --confirm-prune       allow a prune that deletes more than half of what the
                        app held after its last complete sync
  --prune-removed       delete the objects of apps that left the branch (their
                        inventories say what they were; all prune safety rules
                        apply, and deleting a whole app needs --confirm-prune).
                        Without it such apps are only reported.
  --force-recreate      recreate objects whose change hits an immutable field
                        (never Namespaces or CRDs; PVCs, PVs and StatefulSets
                        also need the flotilla.dev/force-stateful annotation)
  --dry-run             print exactly what would be created, changed (with
                        the diff verify shows) and deleted (prune included)
                        and change nothing
  --concurrency N       objects applied at once per stage (default 16)
  --timeout DURATION    per app: how long its waves may take to become healthy
                        and its hooks to finish, all phases together
                        (default 5m); past it the app fails naming every
                        object not healthy yet
  --clusters-from FILE  with --shard: apply every cluster of the shard, from the
                        JSON of render --list-clusters -o json
  --shard i/n           with --clusters-from: the shard to apply
  -o FORMAT             text (default) or json

Secret values never appear in the output.

Exit codes:
  0  every app applied
  1  an app failed to apply or prune (the others still ran)
  2  bad flags, or the branch or kubeconfig could not be read

Examples:
  apply --cluster prod-eu --remote https://github.com/example/fleet.git
  apply --cluster prod-eu --dry-run
  apply --clusters-from clusters.json --shard 0/4 --kubeconfig fleet.kubeconfig
`

type applyOptions struct {
	clusterTarget
	prune, confirmPrune, forceRecreate, dryRun, pruneRemoved bool
	concurrency                                              int
	timeout                                                  time.Duration
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Apply runs the apply command.
func Apply(ctx context.Context, args []string, env Env) int {
	env, flush := env.redacting(args)
	defer flush()
	o, err := parseApplyFlags(args, env)
	if err != nil {
		return report(env, "apply", err)
	}
	clusters, err := o.clusters()
	if err != nil {
		return report(env, "apply", err)
	}
	var all []clusterApply
	code := ExitOK
	for _, cluster := range clusters {
		res, c, err := applyCluster(ctx, o, cluster, env)
		if err != nil {
			report(env, "apply", fmt.Errorf("cluster %s: %w", cluster, err))
		}
		if c > code {
			code = c
		}
		if res != nil {
			all = append(all, *res)
		}
	}
	if o.output == "json" {
		if err := writeJSON(env.Stdout, all); err != nil {
			return report(env, "apply", err)
		}
	}
	return code
}

func parseApplyFlags(args []string, env Env) (applyOptions, error) {
	var o applyOptions
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	o.register(fs)
	fs.BoolVar(&o.prune, "prune", false, "")
	fs.BoolVar(&o.confirmPrune, "confirm-prune", false, "")
	fs.BoolVar(&o.pruneRemoved, "prune-removed", false, "")
	fs.BoolVar(&o.forceRecreate, "force-recreate", false, "")
	fs.BoolVar(&o.dryRun, "dry-run", false, "")
	fs.IntVar(&o.concurrency, "concurrency", 16, "")
	fs.DurationVar(&o.timeout, "timeout", kube.DefaultSyncTimeout, "")
	if err := parseFlags(fs, args, env, applyUsage); err != nil {
		return o, err
	}
	if err := o.check(fs); err != nil {
		return o, err
	}
	switch {
	case o.clustersFrom != "" && (o.branch != "" || o.context != ""):
		return o, fmt.Errorf("%w: --branch and --context name one cluster; with --clusters-from each cluster uses its own", errUsage)
	case o.pruneRemoved && len(o.apps) > 0:
		return o, fmt.Errorf("%w: --prune-removed works on the whole branch; it cannot be combined with --app", errUsage)
	case o.concurrency < 1:
		return o, fmt.Errorf("%w: --concurrency must be at least 1", errUsage)
	case o.timeout <= 0:
		return o, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	return o, nil
}

// shardClusters reads render --list-clusters -o json and keeps a shard.
func shardClusters(file, shardFlag string) ([]string, error) {
	sh, err := parseShard(shardFlag)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: --clusters-from: %v", errUsage, err)
	}
	var list []clusterEntry
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%w: --clusters-from %s: not the JSON of render --list-clusters -o json: %v", errUsage, file, err)
	}
	var out []string
	for k, c := range list {
		if err := checkClusterFlag("--clusters-from "+file+":", c.Name); err != nil {
			return nil, err
		}
		if shardOf(k, sh.n) == sh.i {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

// clusterApply is one cluster's result (-o json).
type clusterApply struct {
	Cluster string         `json:"cluster"`
	Branch  string         `json:"branch"`
	Commit  string         `json:"commit"`
	Apps    []*kube.Result `json:"apps"`
	// Removed are apps that left the branch but still have objects in the
	// cluster (without --prune-removed), with their object counts.
	Removed map[string]int `json:"removed,omitempty"`
}

func applyCluster(ctx context.Context, o applyOptions, cluster string, env Env) (*clusterApply, int, error) {
	c, err := o.open(ctx, cluster, env)
	if err != nil {
		return nil, ExitUsage, err
	}
	res := &clusterApply{Cluster: cluster, Branch: c.branch, Commit: c.snap.Commit}
	code := ExitOK
	// inUse: namespaces the branch's apps use, kept when removed apps go.
	inUse := map[string]bool{}
	for _, a := range c.apps {
		app, err := kubeApp(a, c.snap)
		if err != nil {
			return res, ExitUsage, err
		}
		inUse[app.Namespace] = true
		for _, u := range app.Objects {
			inUse[u.GetNamespace()] = true
		}
		r, err := c.client.Apply(ctx, app, kube.Options{
			DryRun: o.dryRun, Prune: o.prune, ConfirmPrune: o.confirmPrune, ForceRecreate: o.forceRecreate,
			Concurrency: o.concurrency, Tooling: "flotilla/" + Version, SyncTimeout: o.timeout,
		})
		if err != nil {
			r.Error = err.Error()
			code = ExitFailed
		}
		res.Apps = append(res.Apps, r)
		if o.output != "json" {
			writeAppSummary(env.Stdout, r, o.dryRun)
		}
	}
	if len(o.apps) == 0 {
		if rc, err := removeApps(ctx, o, c, inUse, res, env); err != nil {
			return res, ExitFailed, err
		} else if rc > code {
			code = rc
		}
	}
	return res, code, nil
}

// removeApps reports the apps that left the branch but still have objects
// in the cluster or, with --prune-removed, deletes what they left.
func removeApps(ctx context.Context, o applyOptions, c *clusterConn, inUse map[string]bool, res *clusterApply, env Env) (int, error) {
	removed, err := c.removed(ctx)
	if err != nil {
		return ExitFailed, err
	}
	code := ExitOK
	for _, name := range slices.Sorted(maps.Keys(removed)) {
		if !o.pruneRemoved {
			if res.Removed == nil {
				res.Removed = map[string]int{}
			}
			res.Removed[name] = removed[name]
			if o.output != "json" {
				fmt.Fprintf(env.Stdout, "%s: %s\n", name, removedMessage(removed[name]))
			}
			continue
		}
		r, err := c.client.Remove(ctx, name, inUse, kube.Options{
			DryRun: o.dryRun, ConfirmPrune: o.confirmPrune, Concurrency: o.concurrency, Tooling: "flotilla/" + Version,
		})
		if err != nil {
			r.Error = "removing an app that left the branch: " + err.Error()
			code = ExitFailed
		}
		res.Apps = append(res.Apps, r)
		if o.output != "json" {
			writeAppSummary(env.Stdout, r, o.dryRun)
		}
	}
	return code, nil
}

func selectApps(snap *hydrate.Snapshot, names []string) ([]hydrate.BranchApp, error) {
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
			return nil, fmt.Errorf("%w: --app %s: no such app on %s (apps: %s)", errUsage, n, snap.Branch, strings.Join(known, ", "))
		}
		out = append(out, a)
	}
	return out, nil
}

func kubeApp(a hydrate.BranchApp, snap *hydrate.Snapshot) (kube.App, error) {
	objs, err := render.Decode(a.Name+"/"+hydrate.ManifestFile, a.Manifest)
	if err != nil {
		return kube.App{}, err
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
		return kube.App{}, fmt.Errorf("app %s: %w", a.Name, err)
	}
	if app.Health, err = health.Compile(info.HealthCheckExprs); err != nil {
		return kube.App{}, fmt.Errorf("app %s: %w", a.Name, err)
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

func writeAppSummary(w io.Writer, r *kube.Result, dryRun bool) {
	counts := r.Counts()
	var parts []string
	for _, a := range []kube.Action{kube.Created, kube.Configured, kube.Unchanged, kube.Deleted, kube.Kept, kube.Skipped, kube.Failed} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	prefix := ""
	if dryRun {
		prefix = "(dry run) "
	}
	commit := r.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	fmt.Fprintf(w, "%s%s @ %s: %s\n", prefix, r.App, commit, orDash(strings.Join(parts, ", ")))
	for _, o := range r.Objects {
		if o.Action == kube.Unchanged || (o.Action == kube.Created || o.Action == kube.Configured) && !dryRun && o.Message == "" {
			continue
		}
		line := fmt.Sprintf("  %-10s %s", o.Action, o.Object)
		if o.Message != "" && o.Message != "dry run" {
			line += "  (" + o.Message + ")"
		}
		fmt.Fprintln(w, line)
		if d := r.Diffs[o.Object]; d != "" {
			fmt.Fprint(w, indent(d, "      "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
}

// Version is Flotilla's version, recorded as the ApplySet tooling.
const Version = "v0.1.0"
