package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
	"github.com/flotilla-dev/flotilla/internal/verifier"
)

const verifyUsage = `Usage: verify --cluster NAME [flags]

verify compares a cluster with its live hydrated branch, hydrated/<cluster>,
and reports per app:
  sync    Synced when the commit apply recorded is the branch head and no
          object is missing, drifted (apply would change it: the server-side
          dry-run of apply's own request, less the fields apply's takeover
          from kubectl would remove, differs from the live object outside
          status and server bookkeeping) or extraneous (in the inventory, no
          longer in the branch); Pending when the branch is ahead of what was
          applied
  health  kstatus, with a Job healthy only when Complete, a paused
          Deployment Suspended and a LoadBalancer Service not awaiting an address
and posts one commit status per app on the branch head, context
flotilla/verify/<app>: success (Synced and Healthy), pending (not applied yet,
or still progressing), failure (drift, missing, degraded). Argo CD's
ignoreDifferences on the Application (jsonPointers, jqPathExpressions,
managedFieldsManagers) are left out of drift; with the sync option
RespectIgnoreDifferences=true apply and --heal keep their live values too.
A dry-run that fails is "unverifiable", not drift. Secret values are masked
in diffs.

Flags:
  --cluster NAME        the cluster (required unless --clusters-from)
  --repo PATH           a local Git repository (a checkout or a bare
                        repository) holding the hydrated branches (default
                        "."), read at the newer of the branch and origin's, by
                        ancestry, as apply does
  --remote URL          a Git remote (a URL, or the path of a bare repository)
                        holding them, read without a local repository; with
                        --forge local the statuses go there too (git notes
                        pushed by compare-and-set); excludes --repo
  --branch NAME         the branch (default hydrated/<cluster>, or the live
                        branch flotilla.yaml's hydrated.branch names with
                        --fleet)
  --fleet DIR           the fleet checkout whose flotilla.yaml names the live
                        branches (hydrated.branch); default: hydrated/<cluster>
  --kubeconfig FILE     kubeconfig (default $KUBECONFIG, else ~/.kube/config)
  --kubeconfig-env      each cluster's own kubeconfig, from $KUBECONFIG_<CLUSTER>
                        (upper-cased, every character but A-Z 0-9 as _)
  --context NAME        kubeconfig context (default: the cluster name)
  --app NAME            verify only this app (repeatable)
  --wait                poll until every app is healthy, or settled (healthy or
                        degraded), or --timeout passes
  --timeout D           how long --wait waits (default 5m)
  --heal                re-apply drifted or missing apps through apply, then
                        verify again
  --forge local|github|none
                        where statuses go: local writes git notes under
                        refs/notes/flotilla in --repo (or --remote); github
                        posts commit statuses; none posts nothing (default:
                        github under GitHub Actions, else local for a path,
                        else none). The --github-* flags are refused with
                        another forge
  --github-repo O/R     the GitHub repository (default $GITHUB_REPOSITORY)
  --github-url URL      the API root of GitHub Enterprise (default github.com)
  --github-token T      token for --forge github (default $GITHUB_TOKEN);
                        never printed
  --clusters-from FILE  with --shard: every cluster of the shard, from the JSON
                        of render --list-clusters -o json
  --shard i/n           with --clusters-from: the shard to verify
  --summary FILE        also write the table and the diffs as Markdown to FILE
                        (the body a scheduled job puts in its drift issue)
  -o FORMAT             text (default: a table and the diffs), json or yaml

The Markdown is also appended to $GITHUB_STEP_SUMMARY when that is set.

Exit codes:
  0  every app Synced and Healthy
  1  drift, pending, or unhealthy, or an app that left the branch still has
     objects in the cluster
  2  bad flags, or the branch or kubeconfig could not be read
  3  the Git remote, the cluster's API server or the forge failed or could
     not be reached: running again may help

Examples:
  verify --cluster prod-eu
  verify --cluster prod-eu --wait --timeout 10m
  verify --cluster prod-eu --heal
`

type verifyOptions struct {
	clusterTarget
	forge, summary, githubRepo, githubURL, githubToken string
	wait, heal                                         bool
	timeout                                            time.Duration
}

// clusterVerify is one cluster's result (-o json).
type clusterVerify struct {
	Cluster string            `json:"cluster"`
	Branch  string            `json:"branch"`
	Commit  string            `json:"commit"`
	Apps    []*kube.AppStatus `json:"apps"`
	Healed  []string          `json:"healed,omitempty"`
	// Removed are apps that left the branch but whose objects are still in
	// the cluster (their inventory says so), with their object counts.
	Removed map[string]int `json:"removed,omitempty"`
}

// Verify runs the verify command.
func Verify(ctx context.Context, args []string, env Env) int {
	env, flush := env.redacting(args)
	defer flush()
	o, err := parseVerifyFlags(args, env, nil)
	if err != nil {
		return report(env, "verify", err)
	}
	all, code, err := runVerify(ctx, o, env)
	if err != nil {
		return report(env, "verify", err)
	}
	if o.output != "text" {
		if err := writeData(env.Stdout, o.output, all); err != nil {
			return report(env, "verify", err)
		}
	} else {
		for _, c := range all {
			writeVerifyText(env.Stdout, c)
		}
	}
	if path := getenv(env, "GITHUB_STEP_SUMMARY"); path != "" {
		var md bytes.Buffer
		for _, c := range all {
			writeVerifyMarkdown(&md, c)
		}
		if err := appendStepSummary(env, path, md.String()); err != nil {
			return report(env, "verify", fmt.Errorf("write the job summary %s: %w", path, err))
		}
	}
	if o.summary != "" {
		f, err := os.OpenFile(o.summary, os.O_TRUNC|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return report(env, "verify", err)
		}
		w := redact.NewWriter(f, env.secrets)
		for _, c := range all {
			writeVerifyMarkdown(w, c)
		}
		if err := errors.Join(w.Flush(), f.Close()); err != nil {
			return report(env, "verify", err)
		}
	}
	return code
}

// runVerify builds the forge o names and runs verifier.Run; it returns
// every cluster as -o json shows them and the exit code (ExitFailed when
// an app is not Synced and Healthy).
func runVerify(ctx context.Context, o verifyOptions, env Env) ([]clusterVerify, int, error) {
	clusters, err := o.clusters()
	if err != nil {
		return nil, 0, err
	}
	target, err := o.target(env, clusters)
	if err != nil {
		return nil, 0, err
	}
	statuses, err := verifyForge(o, env)
	if err != nil {
		return nil, 0, err
	}
	res, err := verifier.Run(ctx, verifier.Options{
		Target: target, Clusters: clusters,
		Wait: o.wait, Timeout: o.timeout, Heal: o.heal, Tooling: "flotilla/" + Version, Statuses: statuses,
		Waiting: verifyProgress(env),
	})
	if err != nil {
		return nil, 0, err
	}
	code := ExitOK
	var all []clusterVerify
	for _, c := range res.Clusters {
		if !c.InSync() {
			code = ExitFailed
		}
		all = append(all, clusterVerify{Cluster: c.Name, Branch: c.Branch, Commit: c.Commit, Apps: c.Apps, Healed: c.Healed, Removed: c.Removed})
	}
	return all, code, nil
}

func getenv(env Env, k string) string {
	if env.Getenv == nil {
		return ""
	}
	return env.Getenv(k)
}

// parseVerifyFlags parses verify's flags; listed, when not nil, are the
// clusters of the Action's clusters input (clusterTarget.listed).
func parseVerifyFlags(args []string, env Env, listed *[]string) (verifyOptions, error) {
	var o verifyOptions
	o.listed = listed
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	o.register(fs)
	fs.BoolVar(&o.wait, "wait", false, "")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "")
	fs.BoolVar(&o.heal, "heal", false, "")
	fs.StringVar(&o.forge, "forge", "", "")
	fs.StringVar(&o.summary, "summary", "", "")
	fs.StringVar(&o.githubRepo, "github-repo", getenv(env, "GITHUB_REPOSITORY"), "")
	fs.StringVar(&o.githubURL, "github-url", "", "")
	fs.StringVar(&o.githubToken, "github-token", getenv(env, "GITHUB_TOKEN"), "")
	if err := parseFlags(fs, args, env, verifyUsage); err != nil {
		return o, err
	}
	if err := o.check(fs); err != nil {
		return o, err
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	isPath := false
	if st, err := os.Stat(o.source()); err == nil && st.IsDir() {
		isPath = true
	}
	switch o.forge {
	case "":
		switch {
		case getenv(env, "GITHUB_ACTIONS") == "true" && o.githubRepo != "" && o.githubToken != "":
			o.forge = "github"
		case isPath:
			o.forge = "local"
		default:
			o.forge = "none"
		}
	case "none":
	case "github":
		if _, _, ok := strings.Cut(o.githubRepo, "/"); !ok {
			return o, fmt.Errorf("%w: --forge github needs --github-repo OWNER/REPO (or $GITHUB_REPOSITORY)", errUsage)
		}
		if o.githubToken == "" {
			return o, fmt.Errorf("%w: --forge github needs a token: set $GITHUB_TOKEN (or --github-token)", errUsage)
		}
	case "local":
		if !isPath && o.remote == "" {
			return o, fmt.Errorf("%w: --forge local writes git notes in --repo, which must be a local path", errUsage)
		}
	default:
		return o, fmt.Errorf("%w: --forge %q is not local, github or none", errUsage, o.forge)
	}
	if o.forge != "github" {
		if err := refuseFlags(o.set, "to --forge "+o.forge+" (it is for --forge github)", "github-repo", "github-url", "github-token"); err != nil {
			return o, err
		}
	}
	return o, nil
}

// verifyForge is where verify posts its statuses (nil: nowhere): the
// local forge in --repo or over --remote, or GitHub.
func verifyForge(o verifyOptions, env Env) (forge.Statuses, error) {
	switch o.forge {
	case "local":
		if o.remote == "" {
			f, err := local.Open(o.repo)
			if err != nil {
				return nil, failure.Mark(failure.Input, fmt.Errorf("--forge local: %w", err))
			}
			return f, nil
		}
		// The shared remote: notes pushed by compare-and-set, through a
		// cache in memory holding each branch's commits.
		lf, err := local.OpenRemoteInMemory(o.remote)
		if err != nil {
			return nil, err
		}
		lf.Auth = authFor(o.remote, env)
		return remoteStatuses{lf}, nil
	case "github":
		owner, repo, _ := strings.Cut(o.githubRepo, "/")
		return github.New(github.Options{Owner: owner, Repo: repo, Token: o.githubToken, BaseURL: o.githubURL})
	}
	return nil, nil
}

// remoteStatuses is the local forge over a remote: it fetches a branch
// before statuses are posted on its head (verifier.BranchFetcher).
type remoteStatuses struct{ *local.Forge }

// FetchBranch fetches branch into the forge's memory.
func (r remoteStatuses) FetchBranch(ctx context.Context, branch string) error {
	_, err := r.GetBranch(ctx, branch)
	return err
}

func writeVerifyText(w io.Writer, c clusterVerify) {
	fmt.Fprintf(w, "%s @ %s\n\n", c.Branch, layout.Short(c.Commit))
	writeVerifyTable(w, c, false)
	for _, a := range c.Apps {
		objs := append([]kube.ObjectStatus(nil), a.Objects...)
		kube.SortObjects(objs)
		for _, o := range objs {
			if o.State == kube.StateSynced && (o.Health == kube.Healthy || o.Health == "") {
				continue
			}
			fmt.Fprintf(w, "\n%s %s: %s", a.App, o.Object, o.State)
			if o.Health != "" && o.Health != kube.Healthy {
				fmt.Fprintf(w, ", %s", strings.ToLower(string(o.Health)))
			}
			if o.Message != "" {
				fmt.Fprintf(w, " (%s)", o.Message)
			}
			fmt.Fprintln(w)
			if o.Diff != "" {
				fmt.Fprint(w, indent(o.Diff, "    "))
			}
		}
	}
	if len(c.Healed) > 0 {
		fmt.Fprintf(w, "\nhealed: %s\n", strings.Join(c.Healed, ", "))
	}
	for _, app := range slices.Sorted(maps.Keys(c.Removed)) {
		fmt.Fprintf(w, "\n%s: %s\n", app, removedMessage(c.Removed[app]))
	}
	fmt.Fprintln(w)
}

func writeVerifyTable(w io.Writer, c clusterVerify, markdown bool) {
	if markdown {
		fmt.Fprintf(w, "### verify `%s` @ `%s`\n\n| app | sync | health | drifted objects | message |\n|---|---|---|---|---|\n", c.Cluster, layout.Short(c.Commit))
	} else {
		fmt.Fprintf(w, "%-34s %-9s %-11s %-7s %s\n", "APP", "SYNC", "HEALTH", "DRIFTED", "MESSAGE")
	}
	for _, a := range c.Apps {
		drifted := 0
		for _, o := range a.Objects {
			if o.State == kube.StateDrifted || o.State == kube.StateMissing || o.State == kube.StateExtraneous {
				drifted++
			}
		}
		if markdown {
			fmt.Fprintf(w, "| %s | %s | %s | %d | %s |\n", a.App, a.Sync, a.Health, drifted, strings.ReplaceAll(a.Message, "|", "\\|"))
		} else {
			fmt.Fprintf(w, "%-34s %-9s %-11s %-7d %s\n", a.App, a.Sync, a.Health, drifted, a.Message)
		}
	}
	if markdown {
		for _, app := range slices.Sorted(maps.Keys(c.Removed)) {
			fmt.Fprintf(w, "| %s | OutOfSync | - | %d | %s |\n", app, c.Removed[app], removedMessage(c.Removed[app]))
		}
	}
}

func writeVerifyMarkdown(w io.Writer, c clusterVerify) {
	writeVerifyTable(w, c, true)
	for _, a := range c.Apps {
		for _, o := range a.Objects {
			if o.Diff != "" {
				fence := rpt.Fence(o.Diff)
				fmt.Fprintf(w, "\n<details><summary>%s %s drifted</summary>\n\n%sdiff\n%s%s\n</details>\n", a.App, o.Object, fence, o.Diff, fence)
			}
		}
	}
	fmt.Fprintln(w)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}

// verifyProgress, on a terminal, says after each of --wait's checks what
// it still waits for: "verify: prod-eu: waiting 12s for web (Progressing),
// api (Missing)".
func verifyProgress(env Env) func(string, time.Duration, []*kube.AppStatus) {
	w := env.progress()
	if w == nil {
		return nil
	}
	return func(cluster string, waited time.Duration, unsettled []*kube.AppStatus) {
		names := make([]string, 0, len(unsettled))
		for _, a := range unsettled {
			names = append(names, fmt.Sprintf("%s (%s)", a.App, a.Health))
		}
		fmt.Fprintf(w, "verify: %s: waiting %s for %s\n", cluster, waited.Round(time.Second), strings.Join(names, ", "))
	}
}
