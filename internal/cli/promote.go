package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	git "github.com/go-git/go-git/v5"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
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
one step. Flotilla extensions per step: bakeTime (duration), requireApproval.

Flags:
  --fleet DIR           the fleet checkout (default ".")
  --repo PATH           the repository holding the hydrated branches (default
                        the fleet checkout)
  --forge local|github  local: pull requests, approvals and statuses live in
                        --repo itself (merges are made directly on the live
                        branch); github: GitHub pull requests on
                        $GITHUB_REPOSITORY with $GITHUB_TOKEN (default: github
                        under GitHub Actions, else local)
  --remote URL          with --forge github, the Git remote holding the branches
                        (default: --repo's origin)
  --github-repo O/R     (default $GITHUB_REPOSITORY)
  --github-url URL      GitHub Enterprise API root
  --approve CLUSTER     local forge: approve CLUSTER's pull request as it is now
                        (repeatable), then run
  --approver NAME       who approves with --approve (default $USER)
  --dry-run             print the plan only
  -o FORMAT             text (default: a table, for the job summary) or json

Exit codes:
  0  the pass ran (whether or not anything could move)
  1  acting on GitHub or Git failed
  2  bad flags or bad fleet input

Examples:
  promote --dry-run
  promote --forge local --approve prod-eu
`

type promoteOptions struct {
	fleet, repo, forge, remote, githubRepo, githubURL, approver, output string
	approve                                                             []string
	dryRun                                                              bool
}

// Promote runs the promote command.
func Promote(ctx context.Context, args []string, env Env) int {
	env, flush := env.redacting(args)
	defer flush()
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
	fs.BoolVar(&o.dryRun, "dry-run", false, "")
	fs.StringVar(&o.output, "o", "text", "")
	if err := parseFlags(fs, args, env, promoteUsage); err != nil {
		return report(env, "promote", err)
	}
	if err := outputFormat(o.output, "text", "json"); err != nil {
		return report(env, "promote", err)
	}
	if o.repo == "" {
		o.repo = o.fleet
	}
	if o.forge == "" {
		o.forge = "local"
		if getenv(env, "GITHUB_ACTIONS") == "true" {
			o.forge = "github"
		}
	}
	if o.approver == "" {
		o.approver = "local-user"
	}
	f, err := fleet.Load(o.fleet)
	if err != nil {
		return report(env, "promote", err)
	}
	repo, err := git.PlainOpenWithOptions(o.repo, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return report(env, "promote", fmt.Errorf("%w: --repo %s: %v", errUsage, redact.URL(o.repo), err))
	}
	runner := &promote.Runner{Fleet: f, Repo: repo, DryRun: o.dryRun}
	var gh *github.Forge
	switch o.forge {
	case "local":
		lf, err := local.Open(o.repo)
		if err != nil {
			return report(env, "promote", err)
		}
		runner.Forge = lf
		for _, c := range o.approve {
			if err := approveLocal(ctx, lf, f, c, o.approver); err != nil {
				return report(env, "promote", err)
			}
		}
	case "github":
		owner, name, ok := strings.Cut(o.githubRepo, "/")
		token := getenv(env, "GITHUB_TOKEN")
		if !ok || token == "" {
			return report(env, "promote", fmt.Errorf("%w: --forge github needs $GITHUB_REPOSITORY (or --github-repo) and $GITHUB_TOKEN", errUsage))
		}
		if gh, err = github.New(github.Options{Owner: owner, Repo: name, Token: token, BaseURL: o.githubURL}); err != nil {
			return report(env, "promote", err)
		}
		runner.Forge = gh
		runner.Remote = o.remote
		if runner.Remote == "" {
			runner.Remote = originURL(repo)
		}
		runner.Auth = authFor(runner.Remote, env)
		if len(o.approve) > 0 {
			return report(env, "promote", fmt.Errorf("%w: --approve is for the local forge; on GitHub, approve the pull request", errUsage))
		}
	default:
		return report(env, "promote", fmt.Errorf("%w: --forge %q is not local or github", errUsage, o.forge))
	}
	res, err := runner.Run(ctx)
	if err != nil {
		var fe *fleet.FileError
		if errors.As(err, &fe) {
			return report(env, "promote", err)
		}
		report(env, "promote", err)
		return ExitFailed
	}
	if o.output == "json" {
		return exitOf(writeJSON(env.Stdout, res), env)
	}
	writePromoteSummary(env.Stdout, res, o.dryRun)
	if gh != nil {
		u := gh.Usage()
		fmt.Fprintf(env.Stdout, "\nGitHub API: %d requests (%d answered 304, free); %d left this hour.\n", u.Requests, u.NotModified, u.Remaining)
	}
	if path := getenv(env, "GITHUB_STEP_SUMMARY"); path != "" {
		if fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			w := redact.NewWriter(fh, env.secrets)
			writePromoteSummary(w, res, o.dryRun)
			_ = w.Flush()
			fh.Close()
		}
	}
	return ExitOK
}

func exitOf(err error, env Env) int {
	if err != nil {
		return report(env, "promote", err)
	}
	return ExitOK
}

// approveLocal records an approval of a cluster's open pull request head.
func approveLocal(ctx context.Context, lf *local.Forge, f *fleet.Fleet, cluster, who string) error {
	prs, err := lf.ListPullRequests(ctx, forge.ListOptions{Head: promote.HeadPrefix + cluster, Base: f.Config.LiveBranch(cluster)})
	if err != nil {
		return err
	}
	if len(prs) == 0 {
		return fmt.Errorf("%w: --approve %s: no open promotion pull request for that cluster", errUsage, cluster)
	}
	return lf.Approve(ctx, prs[0].Number, who, prs[0].HeadSHA)
}

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
		for set, why := range res.Halted {
			fmt.Fprintf(w, "- %s: %s\n", set, why)
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
