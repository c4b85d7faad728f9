package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/promote"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

const promoteUsage = `Usage: promote [flags]

promote moves what render proposed (hydrated/<cluster>-next) into each
cluster's live branch (hydrated/<cluster>) through one pull request per
cluster, head flotilla/promote/<cluster>, tier by tier: an app enters its
cluster's pull request only when every app of its ApplicationSet in earlier
rollout steps is live and verified (verify's flotilla/verify/<app> status is
success on the live commit, for at least the step's bakeTime), fewer than
maxUpdate apps of its step are in flight, and no app of the set failed verify.
A pull request merges when all its apps' gates are open, the approvals its
steps require are on its current head, and it is mergeable. Apps no step
selects get a pull request that only a person merges. Each run reads the
state, decides, acts and prints why; it is safe to run again at any time.

Rollout steps: the ApplicationSet's strategy.rollingSync.steps (matched on the
app's labels, then its cluster's), else rollout.steps in flotilla.yaml, else
one step. Flotilla extensions per step: bakeTime (a duration, counted from the
first success of verify's current run of successes), requireApproval,
approvals (how many, default 1), approvers (logins or org/team slugs; only
reviewers with write access count) and pullRequest (default true).

pullRequest: false: the step's promotions open no pull request. Under the
same gates, each cluster's live branch is fast-forwarded to the commit its
pull request would have merged, all of a pass's clusters in one atomic push
(every branch moves or none), each commit with the trailers
Flotilla-Promoted-By (--actor) and Flotilla-Gate (the gates it passed). With
requireApproval the step moves only through a wave approval (below);
maxUpdate 0 with pullRequest: false is refused.

Wave approval: --plan decides as if every approval were given, changes
nothing, and prints the wave — each live branch that would move, from and to
which commit, its apps with object counts and deletions — and its plan hash
(sha256 over all of that). --execute-plan HASH decides again and, if the wave
is still exactly the one hashed, moves it (pushes, or opens and merges the
pull requests) and nothing else; if anything changed it does nothing and
exits 3, saying what the wave is now. A GitHub Environment with required
reviewers on the job that runs --execute-plan approves a wave of any size.

A pull request that needs no approval and no person is merged in the pass
that opens or updates it (actions open+merge, update+merge), so each tier
takes one pass once the tier before it is verified. GitHub merges it when it
is mergeable; when GitHub is not ready yet (mergeability still being
computed, a required check missing) it stays open and the next pass merges
it (GitHub's REST API cannot enable auto-merge).

Where the branches are (the same in render, promote, apply and verify):
  --repo PATH    a local Git repository, a checkout or a bare repository,
                 worked in directly: its branches are read and moved, and the
                 local forge keeps its pull requests and statuses in it
  --remote URL   a Git remote (a URL, or the path of a bare repository) that a
                 team shares: it holds the hydrated branches and, with the
                 local forge, the pull requests (refs/flotilla/forge) and
                 statuses (refs/notes/flotilla). It is read before acting and
                 written with compare-and-set pushes, so concurrent users lose
                 none of each other's updates; --repo is then only a local
                 cache whose own branches are never changed

Flags:
  --fleet DIR           the fleet checkout (default ".")
  --repo PATH           see above (default: the fleet checkout)
  --remote URL          see above (--forge github default: --repo's origin;
                        --forge local default: none, work in --repo)
  --forge local|github  local: pull requests, approvals and statuses live in
                        Git (--repo, or --remote when given) and merges are
                        real merge commits on the live branch; github: GitHub
                        pull requests on $GITHUB_REPOSITORY with $GITHUB_TOKEN
                        (default: github under GitHub Actions, else local)
  --github-repo O/R     --forge github only (default $GITHUB_REPOSITORY)
  --github-url URL      --forge github only: GitHub Enterprise API root
  --approve CLUSTER     --forge local only: approve CLUSTER's pull request as
                        it is now (repeatable), then run
  --approver NAME       --forge local only: who approves with --approve
                        (default $USER)
  --pause CLUSTERS      put the label flotilla/paused on these clusters' open
                        promotion pull requests, then run: a paused cluster's
                        pull request is neither updated, merged nor closed, and
                        the later rollout steps wait for it as for an unsettled
                        step (CLUSTERS: names separated by commas; repeatable)
  --resume CLUSTERS     --forge local only: take the label off again, then run
                        (on GitHub, remove the label on the pull request)
  --rollback CLUSTERS   (or all) instead of a promotion pass, open (or update,
                        when run again) per cluster a pull request from
                        flotilla/rollback/<cluster> that moves the live branch
                        back to its newest earlier commit on which verify
                        reported success for every app: one commit on the live
                        head with that commit's tree. It skips bake time and
                        the earlier steps' gates, merges in the same pass
                        unless a step of the cluster's apps requires approval
                        (then approve it — --forge local: --rollback C
                        --approve C — and run it again), and pauses the
                        cluster's promotion (the paused label on its promotion
                        pull request, opened for it if none is open). Refused
                        (exit 2, nothing pushed) when a cluster has no such
                        commit among the last 100
  --dry-run             print the plan only
  --plan                print the wave with every approval given and its hash;
                        change nothing
  --execute-plan HASH   move the wave --plan printed as HASH, if unchanged
  --plan-wave FILE      with --execute-plan: the wave --plan printed (its -o
                        json, or the Action's wave output; a file, or the JSON
                        itself), so that a refusal says what changed; the hash
                        still decides
  --actor NAME          who promotes, in direct pushes' Flotilla-Promoted-By
                        trailer (default $GITHUB_ACTOR, else flotilla)
  -o FORMAT             text (default: a table, for the job summary), json or yaml

Pausing: flotilla.yaml's rollout.paused (every ApplicationSet) or
rollout.pausedApplicationSets (some), with rollout.pauseReason, pause the
rollouts: promote opens, updates and merges nothing for them, and reports
their apps as paused with the reason and where it is set. The label
flotilla/paused on a cluster's promotion pull request (or an open rollback
pull request) pauses that cluster. Remove the switch or the label to resume.

A flag that does not apply to the chosen forge is refused (exit 2). When no
cluster has a hydrated branch to promote, promote warns on stderr, naming
where it looked and the branch pattern, and exits 0.

Exit codes:
  0  the pass ran (whether or not anything could move)
  1  the pass failed
  2  bad flags or bad fleet input; --rollback of a cluster with no earlier
     verified commit
  3  GitHub or the remote failed, refused a push (a protected-branch rule, a
     hook) or could not be reached, someone else moved a branch first, or
     the wave of --execute-plan is not the one planned

Examples:
  promote --dry-run
  promote --forge local --approve prod-eu
  promote --forge local --remote /srv/git/fleet.git
  promote --plan -o json
  promote --execute-plan 3f1c…(64 hex digits)
  promote --rollback canary
  promote --forge local --resume canary
`

type promoteOptions struct {
	fleet, repo, forge, remote, githubRepo, githubURL, approver, output string
	approve, pause, resume, rollback                                    []string
	dryRun                                                              bool
	plan                                                                bool
	executePlan, actor, planWave                                        string
}

// parsePromoteFlags maps promote's command line to its options and the
// flags given.
func parsePromoteFlags(args []string, env Env) (promoteOptions, map[string]bool, error) {
	var o promoteOptions
	fs := flag.NewFlagSet("promote", flag.ContinueOnError)
	fs.StringVar(&o.fleet, "fleet", ".", "")
	fs.StringVar(&o.repo, "repo", "", "")
	fs.StringVar(&o.forge, "forge", "", "")
	fs.StringVar(&o.remote, "remote", "", "")
	fs.StringVar(&o.githubRepo, "github-repo", getenv(env, "GITHUB_REPOSITORY"), "")
	fs.StringVar(&o.githubURL, "github-url", "", "")
	fs.Var((*stringList)(&o.approve), "approve", "")
	fs.StringVar(&o.approver, "approver", getenv(env, "USER"), "")
	fs.Var((*clusterList)(&o.pause), "pause", "")
	fs.Var((*clusterList)(&o.resume), "resume", "")
	fs.Var((*clusterList)(&o.rollback), "rollback", "")
	fs.BoolVar(&o.dryRun, "dry-run", false, "")
	fs.BoolVar(&o.plan, "plan", false, "")
	fs.StringVar(&o.executePlan, "execute-plan", "", "")
	fs.StringVar(&o.actor, "actor", getenv(env, "GITHUB_ACTOR"), "")
	fs.StringVar(&o.planWave, "plan-wave", "", "")
	fs.StringVar(&o.output, "o", "text", "")
	if err := parseFlags(fs, args, env, promoteUsage); err != nil {
		return o, nil, err
	}
	set := setFlags(fs)
	if o.plan && set["execute-plan"] || (o.plan || set["execute-plan"]) && o.dryRun {
		return o, set, fmt.Errorf("%w: --plan, --execute-plan and --dry-run exclude each other", errUsage)
	}
	if set["execute-plan"] && o.executePlan == "" {
		return o, set, fmt.Errorf("%w: --execute-plan needs the hash promote --plan printed", errUsage)
	}
	if set["plan-wave"] && !set["execute-plan"] {
		return o, set, fmt.Errorf("%w: --plan-wave goes with --execute-plan", errUsage)
	}
	return o, set, outputFormat(o.output, "text", "json", "yaml")
}

// clusterList is a repeatable flag of comma-separated cluster names.
type clusterList []string

func (s *clusterList) String() string { return strings.Join(*s, ",") }
func (s *clusterList) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*s = append(*s, n)
		}
	}
	return nil
}

// Promote runs the promote command.
func Promote(ctx context.Context, args []string, env Env) int {
	env, flush := env.redacting(args)
	defer flush()
	o, set, err := parsePromoteFlags(args, env)
	if err != nil {
		return report(env, "promote", err)
	}
	res, gh, err := runPromote(ctx, &o, set, env)
	if err != nil {
		return report(env, "promote", err)
	}
	if o.output != "text" {
		return exitOf(writeData(env.Stdout, o.output, res), env)
	}
	writePromoteText(env.Stdout, res, o.dryRun || o.plan)
	writeWaveText(env.Stdout, res.Wave, o.plan)
	if gh != nil {
		u := gh.Usage()
		fmt.Fprintf(env.Stdout, "\nGitHub API: %d requests (%d answered 304, free); %d left this hour.\n", u.Requests, u.NotModified, u.Remaining)
	}
	if path := getenv(env, "GITHUB_STEP_SUMMARY"); path != "" {
		var md bytes.Buffer
		writePromoteSummary(&md, res, o.dryRun || o.plan)
		writeWaveSummary(&md, res.Wave, o.plan)
		_ = appendStepSummary(env, path, md.String())
	}
	return ExitOK
}

// runPromote runs a promotion pass as promote's options say, and writes
// its warnings to stderr: what the command and the Action share. gh is
// the forge when it is GitHub (for its request counts).
func runPromote(ctx context.Context, o *promoteOptions, set map[string]bool, env Env) (*promote.Result, *github.Forge, error) {
	opts, gh, err := openPromote(o, set, env)
	if err != nil {
		return nil, nil, err
	}
	res, err := promote.Run(ctx, opts)
	var noPR *promote.NoPullRequestError
	if errors.As(err, &noPR) {
		return nil, nil, fmt.Errorf("%w: --%s %s", errUsage, noPR.Verb, noPR.Error()[len(noPR.Verb)+1:])
	}
	if err != nil {
		return nil, nil, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(env.Stderr, "promote: warning: %s%s\n", w.Message, promoteHint(w, *o, opts))
	}
	return res, gh, nil
}

// openPromote opens what a promotion pass reads and writes, as promote's
// flags say (status reads the same in a dry run): the fleet, the
// repository and the forge (gh when it is GitHub), as promote.Options. A
// flag that does not apply to the chosen forge is a usage error.
func openPromote(o *promoteOptions, set map[string]bool, env Env) (promote.Options, *github.Forge, error) {
	if o.repo == "" {
		o.repo = o.fleet
	}
	if o.forge == "" {
		o.forge = "local"
		if getenv(env, "GITHUB_ACTIONS") == "true" {
			o.forge = "github"
		}
	}
	var err error
	switch o.forge {
	case "local":
		err = refuseFlags(set, "to --forge local (it is for --forge github)", "github-repo", "github-url")
	case "github":
		err = refuseFlags(set, "to --forge github (approve the pull request on GitHub)", "approve", "approver")
		if err == nil {
			err = refuseFlags(set, "to --forge github (remove the label "+layout.PausedLabel+" from the pull request on GitHub)", "resume")
		}
	default:
		err = fmt.Errorf("%w: --forge %q is not local or github", errUsage, o.forge)
	}
	if err != nil {
		return promote.Options{}, nil, err
	}
	if o.approver == "" {
		o.approver = "local-user"
	}
	f, err := fleet.Load(o.fleet)
	if err != nil {
		return promote.Options{}, nil, err
	}
	repo, err := openRepo(o.repo)
	if err != nil {
		return promote.Options{}, nil, fmt.Errorf("%w: --repo %s: %v", errUsage, redact.URL(o.repo), err)
	}
	if len(o.rollback) > 0 && (len(o.pause) > 0 || len(o.resume) > 0) {
		return promote.Options{}, nil, fmt.Errorf("%w: --rollback pauses the clusters it rolls back; give --pause and --resume without it", errUsage)
	}
	opts := promote.Options{Fleet: f, Repo: repo, DryRun: o.dryRun, Where: "the repository " + o.repo,
		Plan: o.plan, ExecutePlan: o.executePlan, Actor: o.actor,
		Pause: o.pause, Resume: o.resume, Rollback: o.rollback}
	if o.planWave != "" {
		if opts.PlannedWave, err = readPlanWave(o.planWave); err != nil {
			return promote.Options{}, nil, err
		}
	}
	for _, c := range o.approve {
		opts.Approvals = append(opts.Approvals, promote.Approval{Cluster: c, Approver: o.approver})
	}
	var gh *github.Forge
	switch o.forge {
	case "local":
		var lf *local.Forge
		if o.remote == "" {
			lf, err = local.Open(o.repo)
		} else {
			lf, err = local.OpenRemote(o.repo, o.remote)
		}
		if err != nil {
			return promote.Options{}, nil, err
		}
		if o.remote != "" {
			opts.Remote, opts.Auth = o.remote, authFor(o.remote, env)
			lf.Auth = opts.Auth
		}
		opts.Forge = lf
	case "github":
		owner, name, ok := strings.Cut(o.githubRepo, "/")
		token := getenv(env, "GITHUB_TOKEN")
		if !ok || token == "" {
			return promote.Options{}, nil, fmt.Errorf("%w: --forge github needs $GITHUB_REPOSITORY (or --github-repo) and $GITHUB_TOKEN", errUsage)
		}
		if gh, err = github.New(github.Options{Owner: owner, Repo: name, Token: token, BaseURL: o.githubURL}); err != nil {
			return promote.Options{}, nil, err
		}
		opts.Forge = gh
		opts.Remote = o.remote
		if opts.Remote == "" {
			opts.Remote = originURL(repo)
			opts.Where = "the remote " + redact.URL(opts.Remote) + " (--repo's origin)"
		}
		opts.Auth = authFor(opts.Remote, env)
	}
	if o.remote != "" {
		opts.Where = "the remote " + redact.URL(o.remote)
	}
	return opts, gh, nil
}

// promoteHint is what promote adds to a warning about where it looked:
// the nothing-rendered warning of a local pass in --repo whose origin
// render may have pushed to.
func promoteHint(w promote.Warning, o promoteOptions, opts promote.Options) string {
	if w.Kind != promote.NothingRendered || o.remote != "" || o.forge != "local" {
		return ""
	}
	origin := originURL(opts.Repo)
	if origin == "" {
		return ""
	}
	return fmt.Sprintf(", or, if render pushed to %s (its default, the origin), pass --remote %s", redact.URL(origin), redact.URL(origin))
}

func exitOf(err error, env Env) int {
	if err != nil {
		return report(env, "promote", err)
	}
	return ExitOK
}

// writePromoteText is promote's terminal output: the same tables as the
// job summary, as plain text with labelled columns (Markdown goes to
// summaries only).
func writePromoteText(w io.Writer, res *promote.Result, dryRun bool) {
	title := "Promotion"
	if dryRun {
		title += " (dry run: nothing changed)"
	}
	fmt.Fprintf(w, "%s\n\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tAPP\tCLUSTER\tSTATE\tWAITING FOR")
	for _, a := range res.Apps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Step, a.App, a.Cluster, a.State, orDash(a.WaitingFor))
	}
	_ = tw.Flush()
	if len(res.Halted) > 0 {
		fmt.Fprintln(w, "\nHalted:")
		for _, set := range slices.Sorted(maps.Keys(res.Halted)) {
			fmt.Fprintf(w, "  %s: %s\n", set, res.Halted[set])
		}
	}
	if len(res.Paused) > 0 {
		fmt.Fprintln(w, "\nPaused:")
		for _, p := range res.Paused {
			fmt.Fprintf(w, "  %s %s: by %s\n", p.Kind, p.Name, p.By)
		}
	}
	if len(res.Actions) == 0 {
		fmt.Fprintln(w, "\nNothing to do.")
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tACTION\tAPPS\tRESULT")
	for _, a := range res.Actions {
		result := a.Result
		if result == "" {
			result = a.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Cluster, a.Kind, orDash(strings.Join(a.Apps, ", ")), result)
	}
	_ = tw.Flush()
}

// writePromoteSummary is promote's job-summary Markdown.
func writePromoteSummary(w io.Writer, res *promote.Result, dryRun bool) {
	title := "Promotion"
	if dryRun {
		title += " (dry run: nothing changed)"
	}
	fmt.Fprintf(w, "### %s\n\n| step | app | cluster | state | waiting for |\n|---|---|---|---|---|\n", title)
	for _, a := range res.Apps {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", a.Step, a.App, a.Cluster, a.State, orDash(a.WaitingFor))
	}
	if len(res.Halted) > 0 {
		fmt.Fprintln(w, "\n**Halted:**")
		for _, set := range slices.Sorted(maps.Keys(res.Halted)) {
			fmt.Fprintf(w, "- %s: %s\n", set, res.Halted[set])
		}
	}
	if len(res.Paused) > 0 {
		fmt.Fprintln(w, "\n**Paused:**")
		for _, p := range res.Paused {
			fmt.Fprintf(w, "- %s %s: by %s\n", p.Kind, p.Name, p.By)
		}
	}
	if len(res.Actions) > 0 {
		fmt.Fprintf(w, "\n| cluster | action | apps | result |\n|---|---|---|---|\n")
		for _, a := range res.Actions {
			result := a.Result
			if result == "" {
				result = a.Reason
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", a.Cluster, a.Kind, orDash(strings.Join(a.Apps, ", ")), result)
		}
	} else {
		fmt.Fprintln(w, "\nNothing to do.")
	}
}
