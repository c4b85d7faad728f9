package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/redact"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
)

const renderUsage = `Usage: render [flags]

render reads a fleet repository (flotilla.yaml, a cluster inventory and Argo CD
ApplicationSets), evaluates every ApplicationSet exactly as Argo CD's
ApplicationSet controller would, builds every Application with Kustomize (or
as a plain directory), and commits the manifests to one branch per cluster,
hydrated/<cluster>-next, in the layout of Argo CD's Source Hydrator. Only
branches whose content changed get a commit; all of them are pushed in one
atomic push. Bad input stops the run before anything is committed.

Plain Application documents (in the files the applicationSets or applications
globs of flotilla.yaml match) are rendered like generated ones. An Application
whose output holds Argo CD Applications or ApplicationSets (an app of apps)
is expanded as Argo CD would: each child is rendered for its own destination,
up to 5 levels deep; a cycle, a deeper child or a child named like another
Application is an error. The parent's output keeps the child objects only
with appOfApps: {keepChildren: true} in flotilla.yaml.

Flags:
  --fleet DIR        the fleet repository checkout (default ".")
  --remote URL       the Git remote (a URL, or the path of a bare repository)
                     that holds the hydrated branches, as in promote, apply
                     and verify: render pushes there (default: hydrated.repo
                     from flotilla.yaml, else the checkout's origin); https
                     remotes use $GITHUB_TOKEN. The local repository is the
                     fleet checkout (there is no --repo)
  --no-push          commit to local branches of the fleet checkout only
  --out DIR          write each cluster's tree to DIR/<cluster>/ and touch no Git
  --shard i/n        render only the clusters of shard i of n (the k-th cluster
                     by name is in shard k mod n), for a CI matrix. The other
                     clusters' Applications are still built (builds shared
                     with the shard's cost nothing more), to find the
                     children of apps of apps destined to the shard
  --concurrency N    builds run at once (default: twice the CPUs)
  --no-build-cache   build every kustomization afresh; by default a build is
                     reused from an earlier run (kept in .git/flotilla/builds)
                     when every file and directory it read is unchanged
  --keep-going       write every cluster whose Applications all built, and keep
                     the branch (or --out folder) of a cluster with a failed
                     Application exactly as it was (never a partial tree: a
                     missing Application would read as a deletion); the
                     failures are listed per Application and the exit code is
                     1. ApplicationSet errors still stop the run (exit 2):
                     a set that does not generate cannot say which clusters
                     it would have reached. In a fleet with apps of apps, an
                     Application that fails before its children are known
                     keeps every cluster as it was (they may go anywhere)
  --diff-base REF    render REF and the checkout without any cluster or push,
                     and print what changes: "3/36 apps change on 3/8
                     clusters", per app the objects added, changed and
                     removed, every deletion, and the unified diffs (Secret
                     values masked), as plain text (-o json or yaml for
                     scripts; the Markdown goes to $GITHUB_STEP_SUMMARY)
  --policy-report-only
                     report the policy gate's denials without failing: by
                     default, an object that a cluster's own
                     ValidatingAdmissionPolicies or Pod Security labels (as
                     rendered for it, plus policy.policiesDir of
                     flotilla.yaml) would deny stops the run before anything
                     is written, with exit code 1
  --list-apps        print the Applications instead of rendering: those the
                     ApplicationSets generate, the Application documents, and
                     the children of apps of apps (every Application is built
                     to find them)
  --no-expand        with --list-apps: build nothing, leaving out the children
                     of apps of apps (what Argo CD's ApplicationSet controller
                     and the fleet's files define)
  --list-clusters    print the cluster inventory instead of rendering
  --shards N         with --list-clusters: assign the clusters to N shards, the
                     split --shard i/N uses (default 1)
  -o FORMAT          text (default), json or yaml for rendering; table
                     (default), json or yaml for the lists

Output:
  --list-apps -o json prints a JSON array of Argo CD Application objects
  sorted by metadata.name, with exactly the fields Argo CD would store.
  --list-clusters -o json prints [{"name", "server", "labels", "shard"}],
  ready for a GitHub Actions matrix:
    matrix:
      cluster: ${{ fromJSON(needs.plan.outputs.clusters) }}

Output:
  render -o json prints {"drySha", "mode", "target", "apps", "builds", "cachedBuilds",
  "clusters": [{"cluster", "branch", "oldCommit", "newCommit", "updated",
  "change": {"Added", "Changed", "Removed", "Objects"}, "kept", "failed"}],
  "failures": [{"cluster", "app", "error"}], "policy": {"denied",
  "deniedClusters", "warned", "audited", "violations": [{"cluster", "app",
  "apiVersion", "kind", "namespace", "name", "policy", "binding", "action",
  "message"}], "notEvaluated"}} (failures and failed only with --keep-going,
  when an Application failed; policy only when a policy found something).

Exit codes:
  0  success
  1  writing the branches failed (nothing partial is pushed), or, with
     --keep-going, an Application failed (the other clusters were written),
     or the policy gate found an object a cluster would deny (nothing written)
  2  bad flags or bad fleet input: the message names the file and line
  3  the remote could not be reached, refused the push, or moved on every
     retry: nothing was pushed; run again

Examples:
  render                                  # render . and push to origin
  render --fleet testdata/fleet --out /tmp/hydrated
  render --no-push -o json
  render --fleet testdata/fleet --list-apps
  render --fleet . --list-apps -o json | jq '.[].metadata.name'
  render --list-clusters --shards 4 -o json
`

type renderOptions struct {
	fleet        string
	listApps     bool
	listClusters bool
	shards       int
	output       string
	remote       string
	noPush       bool
	out          string
	shard        string
	concurrency  int
	diffBase     string
	noBuildCache bool
	keepGoing    bool
	noExpand     bool
	// policyReportOnly reports the policy gate's denials without failing.
	policyReportOnly bool
}

// Render runs the render command.
func Render(ctx context.Context, args []string, env Env) int {
	env, flush := env.redacting(args)
	defer flush()
	opts, err := parseRenderFlags(args, env)
	if err != nil {
		return report(env, "render", err)
	}
	_, code := runRender(ctx, opts, env)
	return code
}

// hydratorOptions maps render's flags to the hydrator's options; https
// remotes use env's GITHUB_TOKEN (see authFor).
func (o renderOptions) hydratorOptions(env Env) hydrator.Options {
	sh, _ := parseShard(o.shard) // checked by parseRenderFlags
	return hydrator.Options{
		Fleet:            o.fleet,
		ListClusters:     o.listClusters,
		Shards:           o.shards,
		ListApps:         o.listApps,
		NoExpand:         o.noExpand,
		DiffBase:         o.diffBase,
		Out:              o.out,
		NoPush:           o.noPush,
		Remote:           o.remote,
		Auth:             func(remote string) transport.AuthMethod { return authFor(remote, env) },
		ShardIndex:       sh.i,
		ShardCount:       sh.n,
		Concurrency:      o.concurrency,
		NoBuildCache:     o.noBuildCache,
		HelmCredentials:  []byte(getenv(env, hydrator.HelmCredentialsEnv)),
		KeepGoing:        o.keepGoing,
		PolicyReportOnly: o.policyReportOnly,
		Progress:         renderProgress(env),
	}
}

// renderProgress, on a terminal, reports each phase of a written render on
// stderr as it ends ("render: built 5000 apps" would need counts the phases
// do not carry; the phase and its time say where a long run is).
func renderProgress(env Env) func(phase string, took time.Duration) {
	w := env.progress()
	if w == nil {
		return nil
	}
	return func(phase string, took time.Duration) {
		fmt.Fprintf(w, "render: %s done in %s\n", phase, took.Round(10*time.Millisecond))
	}
}

// runRender runs the hydrator and writes its result: the lists, the fleet
// diff, or what was rendered and written, as text or JSON. It returns the
// result when the run wrote the clusters (with failed Applications under
// --keep-going, exit 1), else nil, and the exit code.
func runRender(ctx context.Context, o renderOptions, env Env) (*hydrator.Result, int) {
	res, err := hydrator.Run(ctx, o.hydratorOptions(env))
	if o.diffBase != "" || o.listApps || o.listClusters {
		if err == nil {
			err = writeRendered(env, o, res)
		}
		if err != nil {
			return nil, report(env, "render", err)
		}
		return res, ExitOK
	}
	if res != nil {
		writeRenderWarnings(env, res.Warnings)
		if res.Policy != nil {
			annotatePolicy(env, res.Policy)
		}
	}
	if errors.Is(err, hydrator.ErrPolicyDenied) {
		if o.output != "text" {
			if werr := writeData(env.Stdout, o.output, struct {
				Policy *hydrator.PolicyReport `json:"policy"`
			}{res.Policy}); werr != nil {
				err = werr
			}
		} else {
			writePolicyText(env.Stdout, res.Policy)
		}
	}
	if err != nil {
		return nil, report(env, "render", err)
	}
	if o.output != "text" {
		err = writeData(env.Stdout, o.output, res)
	} else {
		err = writeHydrateSummary(env.Stdout, res)
		if err == nil && res.Policy != nil {
			writePolicyText(env.Stdout, res.Policy)
		}
	}
	if err != nil {
		report(env, "render", err)
	}
	if len(res.Failures) == 0 {
		return res, ExitOK
	}
	// The other clusters were written: the failed Applications fail the
	// check (exit 1), whatever their errors' class.
	failures := make([]error, len(res.Failures))
	for i, f := range res.Failures {
		failures[i] = f.Err
	}
	report(env, "render", errors.Join(failures...))
	return res, ExitFailed
}

// writeRendered writes the lists and the fleet diff.
func writeRendered(env Env, o renderOptions, res *hydrator.Result) error {
	switch {
	case o.diffBase != "":
		if o.output != "text" {
			return writeData(env.Stdout, o.output, res.Diff)
		}
		// Plain text for people; the Markdown goes to the job summary.
		if path := getenv(env, "GITHUB_STEP_SUMMARY"); path != "" {
			_, full := res.Diff.Markdown(rpt.CommentLimit)
			_ = appendStepSummary(env, path, full)
		}
		_, err := io.WriteString(env.Stdout, res.Diff.Text())
		return err
	case o.listClusters:
		return writeClusters(env.Stdout, res.Inventory, o.output)
	}
	warnings := make([]string, len(res.Warnings))
	for i, w := range res.Warnings {
		warnings[i] = w.String()
	}
	writeWarnings(env.Stderr, "render", warnings)
	clusters := make([]fleet.Cluster, len(res.Inventory))
	for i, c := range res.Inventory {
		clusters[i] = c.Cluster
	}
	return writeApps(env.Stdout, res.Applications, o.output, clusters)
}

func parseRenderFlags(args []string, env Env) (renderOptions, error) {
	var o renderOptions
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.StringVar(&o.fleet, "fleet", ".", "")
	fs.BoolVar(&o.listApps, "list-apps", false, "")
	fs.BoolVar(&o.listClusters, "list-clusters", false, "")
	fs.IntVar(&o.shards, "shards", 1, "")
	fs.StringVar(&o.output, "o", "", "")
	fs.StringVar(&o.remote, "remote", "", "")
	fs.BoolVar(&o.noPush, "no-push", false, "")
	fs.StringVar(&o.out, "out", "", "")
	fs.StringVar(&o.shard, "shard", "", "")
	fs.IntVar(&o.concurrency, "concurrency", defaultConcurrency(), "")
	fs.BoolVar(&o.noBuildCache, "no-build-cache", false, "")
	fs.StringVar(&o.diffBase, "diff-base", "", "")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "")
	fs.BoolVar(&o.noExpand, "no-expand", false, "")
	fs.BoolVar(&o.policyReportOnly, "policy-report-only", false, "")
	if err := parseFlags(fs, args, env, renderUsage); err != nil {
		return o, err
	}
	listing := o.listApps || o.listClusters
	switch {
	case listing && o.output == "":
		o.output = "table"
	case !listing && o.output == "":
		o.output = "text"
	}
	if listing {
		if err := outputFormat(o.output, "table", "json", "yaml"); err != nil {
			return o, err
		}
	} else if err := outputFormat(o.output, "text", "json", "yaml"); err != nil {
		return o, err
	}
	if o.concurrency < 1 {
		return o, fmt.Errorf("%w: --concurrency must be at least 1", errUsage)
	}
	exclusive := 0
	for _, set := range []bool{o.remote != "", o.noPush, o.out != ""} {
		if set {
			exclusive++
		}
	}
	if exclusive > 1 {
		return o, fmt.Errorf("%w: --remote, --no-push and --out exclude each other", errUsage)
	}
	if o.diffBase != "" && (listing || o.out != "" || o.noPush || o.remote != "") {
		return o, fmt.Errorf("%w: --diff-base writes nothing: it excludes --out, --no-push, --remote and the lists", errUsage)
	}
	if o.keepGoing && (listing || o.diffBase != "") {
		return o, fmt.Errorf("%w: --keep-going only applies to writing the branches: a fleet diff and the lists stay strict", errUsage)
	}
	if o.noExpand && !o.listApps {
		return o, fmt.Errorf("%w: --no-expand only applies to --list-apps", errUsage)
	}
	if o.listApps && o.listClusters {
		return o, fmt.Errorf("%w: --list-apps and --list-clusters cannot be combined", errUsage)
	}
	if o.shards < 1 {
		return o, fmt.Errorf("%w: --shards must be at least 1", errUsage)
	}
	if _, err := parseShard(o.shard); err != nil {
		return o, err
	}
	return o, nil
}

func writeApps(w io.Writer, apps []appset.Generated, format string, clusters []fleet.Cluster) error {
	list := make([]fleet.Application, len(apps))
	for i, g := range apps {
		list[i] = g.App
	}
	if format == "json" || format == "yaml" {
		return writeData(w, format, list)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	byServer := map[string]string{}
	for _, c := range clusters {
		byServer[c.Server] = c.Name
	}
	fmt.Fprintln(tw, "NAME\tAPPLICATIONSET\tPARENT\tPROJECT\tCLUSTER\tNAMESPACE\tSOURCE")
	for _, g := range apps {
		a := g.App
		dest := a.Spec.Destination.Name
		if dest == "" {
			dest = byServer[a.Spec.Destination.Server]
		}
		var srcs []string
		for _, s := range a.Spec.AllSources() {
			rev := s.TargetRevision
			if rev == "" {
				rev = "HEAD"
			}
			srcs = append(srcs, fmt.Sprintf("%s/%s@%s", redact.URL(strings.TrimSuffix(s.RepoURL, ".git")), s.Path, rev))
		}
		parent := ""
		if len(g.Parents) > 0 {
			parent = g.Parents[len(g.Parents)-1]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Metadata.Name, orDash(g.SetName()), orDash(parent), a.Spec.Project,
			dest, orDash(a.Spec.Destination.Namespace), strings.Join(srcs, " + "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d applications\n", len(apps))
	return err
}

// writeData writes v as JSON or YAML.
func writeData(w io.Writer, format string, v any) error {
	if format == "json" {
		return writeJSON(w, v)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// clusterEntry is one row of --list-clusters.
type clusterEntry struct {
	Name   string            `json:"name"`
	Server string            `json:"server"`
	Labels map[string]string `json:"labels"`
	Shard  int               `json:"shard"`
}

func writeClusters(w io.Writer, clusters []hydrator.ListedCluster, format string) error {
	list := make([]clusterEntry, 0, len(clusters))
	for _, c := range clusters {
		labels := c.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		list = append(list, clusterEntry{Name: c.Name, Server: c.Server, Labels: labels, Shard: c.Shard})
	}
	if format == "json" || format == "yaml" {
		return writeData(w, format, list)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVER\tSHARD\tLABELS")
	for _, c := range list {
		keys := make([]string, 0, len(c.Labels))
		for k := range c.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+c.Labels[k])
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", c.Name, c.Server, c.Shard, orDash(strings.Join(kv, ",")))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
