package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/applier"
	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/layout"
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
  --branch NAME         the branch to apply (default hydrated/<cluster>, or
                        the live branch flotilla.yaml's hydrated.branch names
                        with --fleet)
  --fleet DIR           the fleet checkout whose flotilla.yaml names the live
                        branches (hydrated.branch); default: hydrated/<cluster>
  --kubeconfig FILE     kubeconfig (default $KUBECONFIG, else ~/.kube/config)
  --kubeconfig-env      each cluster's own kubeconfig, from $KUBECONFIG_<CLUSTER>
                        (upper-cased, every character but A-Z 0-9 as _)
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
  -o FORMAT             text (default), json or yaml

Secret values never appear in the output.

Exit codes:
  0  every app applied
  1  an app failed to apply or prune (the others still ran)
  2  bad flags, or the branch or kubeconfig could not be read
  3  the Git remote or the cluster's API server failed or could not be
     reached: running again may help

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
	o, err := parseApplyFlags(args, env, nil)
	if err != nil {
		return report(env, "apply", err)
	}
	all, code, err := runApply(ctx, o, env)
	if err != nil {
		return report(env, "apply", err)
	}
	if o.output != "text" {
		if err := writeData(env.Stdout, o.output, all); err != nil {
			return report(env, "apply", err)
		}
	}
	return code
}

// runApply runs applier.Run with o (text: each app's summary as it is
// applied; every cluster's error reported when it is done) and returns the
// clusters that were read, as -o json shows them, and the exit code.
func runApply(ctx context.Context, o applyOptions, env Env) ([]clusterApply, int, error) {
	clusters, err := o.clusters()
	if err != nil {
		return nil, 0, err
	}
	target, err := o.target(env, clusters)
	if err != nil {
		return nil, 0, err
	}
	opts := applier.Options{
		Target: target, Clusters: clusters,
		Prune: o.prune, ConfirmPrune: o.confirmPrune, PruneRemoved: o.pruneRemoved, ForceRecreate: o.forceRecreate, DryRun: o.dryRun,
		Concurrency: o.concurrency, Timeout: o.timeout, Tooling: "flotilla/" + Version,
	}
	opts.Progress.Cluster = func(c *applier.Cluster) {
		if c.Err != nil {
			report(env, "apply", fmt.Errorf("cluster %s: %w", c.Name, c.Err))
		}
	}
	if o.output == "text" {
		opts.Progress.App = func(_ string, a *applier.App) { writeAppSummary(env.Stdout, a.Result, o.dryRun) }
		opts.Progress.Removed = func(_, app string, objects int) {
			fmt.Fprintf(env.Stdout, "%s: %s\n", app, removedMessage(objects))
		}
	}
	res, err := applier.Run(ctx, opts)
	if err != nil {
		return nil, 0, err
	}
	return applyJSON(res), failure.ExitCode(res.Err()), nil
}

// applyJSON is the -o json view of a result: the clusters whose branch
// was read.
func applyJSON(res *applier.Result) []clusterApply {
	var all []clusterApply
	for _, c := range res.Clusters {
		if !c.Opened {
			continue
		}
		ca := clusterApply{Cluster: c.Name, Branch: c.Branch, Commit: c.Commit, Removed: c.Removed}
		for _, a := range c.Apps {
			ca.Apps = append(ca.Apps, a.Result)
		}
		all = append(all, ca)
	}
	return all
}

// parseApplyFlags parses apply's flags; listed, when not nil, are the
// clusters of the Action's clusters input (clusterTarget.listed).
func parseApplyFlags(args []string, env Env, listed *[]string) (applyOptions, error) {
	var o applyOptions
	o.listed = listed
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
	case o.many() && (o.branch != "" || o.context != ""):
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
	if _, err := parseShard(shardFlag); err != nil {
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
	names := make([]string, len(list))
	for k, c := range list {
		if err := checkClusterFlag("--clusters-from "+file+":", c.Name); err != nil {
			return nil, err
		}
		names[k] = c.Name
	}
	return keepShard(names, shardFlag)
}

// keepShard keeps the clusters of the shard i/n (all for ""): the k-th
// cluster is in shard k mod n, as render --shards.
func keepShard(names []string, shardFlag string) ([]string, error) {
	sh, err := parseShard(shardFlag)
	if err != nil {
		return nil, err
	}
	var out []string
	for k, n := range names {
		if hydrator.ShardOf(k, sh.n) == sh.i {
			out = append(out, n)
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
	fmt.Fprintf(w, "%s%s @ %s: %s\n", prefix, r.App, layout.Short(r.Commit), orDash(strings.Join(parts, ", ")))
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
