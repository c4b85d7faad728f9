package cli

import (
	"flag"
	"fmt"
	"os"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/applier"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// clusterTarget is what apply and verify share: which clusters, where their
// hydrated branches are, how to reach them and which apps to look at.
type clusterTarget struct {
	cluster, repo, remote, branch, kubeconfig, context, clustersFrom, shard, output, fleet string
	apps                                                                                   []string
	// kubeconfigEnv: each cluster's own kubeconfig is the value of
	// $KUBECONFIG_<CLUSTER> (layout.KubeconfigSecret).
	kubeconfigEnv bool
	// layout names the live branches: the default, or --fleet's.
	layout layout.Layout
	// listed, when set, are the clusters the Action's clusters input
	// names: they take the place of --clusters-from (and --shard keeps its
	// share of them).
	listed *[]string
	// set holds the flags given on the command line.
	set map[string]bool
}

// register adds the shared flags to fs.
func (t *clusterTarget) register(fs *flag.FlagSet) {
	fs.StringVar(&t.cluster, "cluster", "", "")
	fs.StringVar(&t.repo, "repo", ".", "")
	fs.StringVar(&t.remote, "remote", "", "")
	fs.StringVar(&t.branch, "branch", "", "")
	fs.StringVar(&t.kubeconfig, "kubeconfig", "", "")
	fs.BoolVar(&t.kubeconfigEnv, "kubeconfig-env", false, "")
	fs.StringVar(&t.context, "context", "", "")
	fs.Var((*stringList)(&t.apps), "app", "")
	fs.StringVar(&t.clustersFrom, "clusters-from", "", "")
	fs.StringVar(&t.shard, "shard", "", "")
	fs.StringVar(&t.output, "o", "text", "")
	fs.StringVar(&t.fleet, "fleet", "", "")
}

// check validates the shared flags once parsed.
func (t *clusterTarget) check(fs *flag.FlagSet) error {
	t.set = setFlags(fs)
	if err := outputFormat(t.output, "text", "json", "yaml"); err != nil {
		return err
	}
	if t.remote != "" && t.set["repo"] {
		return fmt.Errorf("%w: --repo and --remote exclude each other: the branch is read from one of them", errUsage)
	}
	if st, err := os.Stat(t.repo); t.remote == "" && (err != nil || !st.IsDir()) && applier.LooksLikeURL(t.repo) {
		return fmt.Errorf("%w: --repo %s: a URL goes in --remote (--repo is a local repository, as in every command)", errUsage, redact.URL(t.repo))
	}
	switch {
	case t.cluster == "" && !t.many():
		return fmt.Errorf("%w: --cluster is required (or --clusters-from with --shard)", errUsage)
	case t.cluster != "" && t.many():
		return fmt.Errorf("%w: --cluster and --clusters-from exclude each other", errUsage)
	}
	if t.cluster != "" {
		if err := checkClusterFlag("--cluster", t.cluster); err != nil {
			return err
		}
	}
	if _, err := parseShard(t.shard); err != nil {
		return err
	}
	if t.kubeconfigEnv && t.kubeconfig != "" {
		return fmt.Errorf("%w: --kubeconfig and --kubeconfig-env exclude each other: one kubeconfig for every cluster, or each cluster's own from $KUBECONFIG_<CLUSTER>", errUsage)
	}
	t.layout = layout.Default()
	if t.fleet != "" {
		f, err := fleet.Load(t.fleet)
		if err != nil {
			return fmt.Errorf("--fleet %s: %w", t.fleet, err)
		}
		t.layout = f.Config.Layout()
	}
	return nil
}

// source is where the hydrated branches are read: --remote, else --repo.
func (t *clusterTarget) source() string {
	if t.remote != "" {
		return t.remote
	}
	return t.repo
}

// looksLikeURL tells a Git URL (scheme://… or scp-like user@host:path)
// from a path.

// checkClusterFlag refuses a cluster name render would have refused: it
// becomes a branch name (hydrated/<cluster>) and a kubeconfig context.
func checkClusterFlag(flag, name string) error {
	if err := fleet.CheckClusterName(name); err != nil {
		return fmt.Errorf("%w: %s %q is not a valid cluster name: %v", errUsage, flag, name, err)
	}
	return nil
}

// many reports whether the clusters come from a list (--clusters-from,
// or the Action's clusters input) rather than --cluster.
func (t *clusterTarget) many() bool { return t.clustersFrom != "" || t.listed != nil }

// clusters returns the cluster to work on, or the shard's clusters.
func (t *clusterTarget) clusters() ([]string, error) {
	switch {
	case t.listed != nil:
		return keepShard(*t.listed, t.shard)
	case t.clustersFrom != "":
		return shardClusters(t.clustersFrom, t.shard)
	}
	return []string{t.cluster}, nil
}

// target is where the branches are and how to reach the clusters, for
// internal/applier and internal/verifier.
func (t *clusterTarget) target(env Env, clusters []string) (applier.Target, error) {
	tg := applier.Target{
		Source: t.source(), Branch: t.branch, Layout: t.layout,
		Kubeconfig: t.kubeconfig, Context: t.context, Apps: t.apps,
		Auth: func(url string) transport.AuthMethod { return authFor(url, env) },
	}
	if t.kubeconfigEnv {
		own, err := ownKubeconfigs(env, clusters)
		if err != nil {
			return tg, err
		}
		tg.Own = own
	}
	return tg, nil
}

func removedMessage(objects int) string {
	return fmt.Sprintf("left the branch; its %d objects remain in the cluster (apply --prune-removed deletes them)", objects)
}
