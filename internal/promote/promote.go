package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// Options are what a promotion pass reads and writes. The caller opens
// the repository and builds the forge (GitHub, or the local forge in Git).
type Options struct {
	// Fleet is the fleet; when nil, Run loads it from FleetDir.
	Fleet    *fleet.Fleet
	FleetDir string
	// Repo holds the hydrated branches (and receives promotion branches).
	Repo *git.Repository
	// Remote, when set, is fetched first and receives the promotion
	// branches (the GitHub flow, or a shared remote); empty when the
	// forge works in Repo.
	Remote string
	Auth   transport.AuthMethod
	// Forge holds the pull requests, reviews and statuses.
	Forge forge.Forge
	// Approvals are recorded on the clusters' open pull requests, as they
	// are now, before the pass (a dry run too); the forge must be an
	// Approver.
	Approvals []Approval
	// Where names where the branches were read, in warnings (default:
	// "the remote <Remote>", else "the repository").
	Where string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// DryRun decides and reports without changing a branch or a pull
	// request.
	DryRun bool
	// Plan decides with every approval given and returns the Wave that
	// would move (Result.Wave, with its hash), changing nothing: the
	// first half of a wave approval (promote --plan).
	Plan bool
	// ExecutePlan is an approved wave's hash (promote --execute-plan): the
	// pass decides as Plan does, refuses with a *PlanChangedError when
	// the wave's hash differs, and otherwise moves exactly that wave —
	// its approvals given by the approval of the plan — and nothing else.
	ExecutePlan string
	// PlannedWave, optional with ExecutePlan, is the wave --plan printed
	// (its hash must be ExecutePlan): a refusal then says what changed.
	// Only the message reads it; the hash decides.
	PlannedWave *Wave
	// Actor is who runs the pass, recorded in the Flotilla-Promoted-By
	// trailer of direct pushes (default DefaultActor).
	Actor string
	// Pause puts the paused label on these clusters' open promotion pull
	// requests before the pass; Resume takes it off (the forge must be a
	// LabelRemover: on GitHub a person removes the label). Neither is
	// done in a dry run.
	Pause, Resume []string
	// Rollback names the clusters to roll back (RollbackAll for every
	// cluster with a live branch): instead of a promotion pass, Run opens
	// a rollback pull request per cluster (see rollback.go).
	Rollback []string
}

// LabelRemover is a forge that takes labels off pull requests for
// promote (the local forge, for --resume).
type LabelRemover interface {
	RemoveLabel(ctx context.Context, number int, label string) error
}

// Approval is an approval of a cluster's open promotion pull request, by
// Approver.
type Approval struct {
	Cluster, Approver string
}

// Approver is a forge that records approvals itself (the local forge);
// on GitHub people approve pull requests on GitHub.
type Approver interface {
	Approve(ctx context.Context, number int, who, sha string) error
}

// WarningKind names a kind of warning.
type WarningKind string

// Warning kinds.
const (
	// NothingRendered: no cluster has a staging branch where the pass
	// looked (most often render pushed elsewhere).
	NothingRendered WarningKind = "nothing-rendered"
	// ApprovalNotRecorded: a dry run was given approvals; it checked
	// each has an open pull request and recorded none.
	ApprovalNotRecorded WarningKind = "approval-not-recorded"
)

// Warning is something a pass noticed that is not an error.
type Warning struct {
	Kind    WarningKind
	Message string
}

// NoPullRequestError is an approval, pause or resume of a cluster that
// has no open promotion (or, with Rollback, rollback) pull request: a
// usage error.
type NoPullRequestError struct {
	// Verb is what was asked: approve, pause or resume.
	Verb, Cluster string
	// Rollback: the pull request asked for is the rollback's.
	Rollback bool
}

func (e *NoPullRequestError) Error() string {
	kind := "promotion"
	if e.Rollback {
		kind = "rollback"
	}
	msg := e.Verb + " " + e.Cluster + ": no open " + kind + " pull request for that cluster"
	if e.Verb == "pause" {
		msg += "; pause its rollout in flotilla.yaml instead (rollout.paused or rollout.pausedApplicationSets): that holds before a pull request opens, and is the only pause for steps promoted by direct push (pullRequest: false), which open none"
	}
	return msg
}

// FailureClass is failure.Usage: the approval names the wrong cluster.
func (e *NoPullRequestError) FailureClass() failure.Class { return failure.Usage }

// Run makes one promotion pass: it records the approvals, reads the
// branches and the forge into a Snapshot, decides (Decide) and, unless
// DryRun, acts. The Result is data; nothing is printed. An error leaves
// what was done before it done (each step is safe to repeat): a forge's
// API failure is failure.Remote, a fleet error failure.Input.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Fleet == nil {
		f, err := fleet.Load(o.FleetDir)
		if err != nil {
			return nil, err
		}
		o.Fleet = f
	}
	if o.Repo == nil || o.Forge == nil {
		return nil, errors.New("promote: Options need a repository and a forge")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Plan && o.ExecutePlan != "" {
		return nil, failure.Usagef("plan or execute a plan, not both")
	}
	if (o.Plan || o.ExecutePlan != "") && len(o.Pause)+len(o.Resume)+len(o.Rollback) > 0 {
		return nil, failure.Usagef("a plan moves only its wave: pause, resume or roll back in a pass of its own")
	}
	if o.Plan {
		o.DryRun = true
	}
	if o.ExecutePlan != "" {
		if o.DryRun {
			return nil, failure.Usagef("execute a plan or make a dry run, not both")
		}
		o.ExecutePlan = NormalizePlanHash(o.ExecutePlan)
		if len(o.ExecutePlan) != 64 || strings.Trim(o.ExecutePlan, "0123456789abcdef") != "" {
			return nil, failure.Usagef("execute plan %q: not a plan hash (64 hex digits, as promote --plan prints)", o.ExecutePlan)
		}
		if o.PlannedWave != nil && o.PlannedWave.HashOf() != o.ExecutePlan {
			return nil, failure.Usagef("execute plan %s: the planned wave given is not the wave of that hash (its hash is %s)", layout.Short(o.ExecutePlan), layout.Short(o.PlannedWave.HashOf()))
		}
	}
	if err := checkClusters(o); err != nil {
		return nil, err
	}
	var warnings []Warning
	if len(o.Approvals) > 0 {
		var err error
		if warnings, err = approve(ctx, o); err != nil {
			return nil, err
		}
	}
	if !o.DryRun && len(o.Pause)+len(o.Resume) > 0 {
		if err := pauseResume(ctx, o); err != nil {
			return nil, err
		}
	}
	r := &runner{Options: o}
	if len(o.Rollback) > 0 {
		res, err := r.rollback(ctx)
		if res != nil {
			res.Warnings = append(res.Warnings, warnings...)
		}
		return res, err
	}
	res, err := r.run(ctx)
	if err != nil {
		return res, err
	}
	res.Warnings = append(res.Warnings, warnings...)
	if res.Proposals == 0 {
		res.Warnings = append(res.Warnings, nothingRendered(o))
	}
	return res, nil
}

// checkClusters refuses an approval, pause or resume of a cluster the
// fleet does not promote (usage), before anything is read or written.
func checkClusters(o Options) error {
	for _, a := range o.Approvals {
		if err := knownCluster(o.Fleet, "approve", a.Cluster); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		verb  string
		names []string
	}{{"pause", o.Pause}, {"resume", o.Resume}} {
		for _, name := range t.names {
			if err := knownCluster(o.Fleet, t.verb, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// knownCluster is a usage error unless name is a cluster of the fleet's
// inventory (not the local cluster, which has no live branch).
func knownCluster(f *fleet.Fleet, verb, name string) error {
	if c, ok := f.Cluster(name); !ok || c.Local {
		return failure.Usagef("%s %s: no such cluster in the fleet", verb, name)
	}
	return nil
}

// approve records each approval of the cluster's open pull request head;
// a dry run checks the pull requests and records nothing (a warning each).
func approve(ctx context.Context, o Options) ([]Warning, error) {
	ap, ok := o.Forge.(Approver)
	if !ok {
		return nil, failure.Usagef("approve the pull requests on the forge: it does not take approvals from promote")
	}
	var warnings []Warning
	for _, a := range o.Approvals {
		head := o.Fleet.Config.Layout().PromoteHead(a.Cluster)
		if len(o.Rollback) > 0 {
			head = o.Fleet.Config.Layout().RollbackHead(a.Cluster)
		}
		prs, err := o.Forge.ListPullRequests(ctx, forge.ListOptions{Head: head, Base: o.Fleet.Config.LiveBranch(a.Cluster)})
		if err != nil {
			return nil, err
		}
		if len(prs) == 0 {
			return nil, &NoPullRequestError{Verb: "approve", Cluster: a.Cluster, Rollback: len(o.Rollback) > 0}
		}
		if o.DryRun {
			warnings = append(warnings, Warning{Kind: ApprovalNotRecorded, Message: fmt.Sprintf(
				"dry run: the approval of %s by %s was not recorded (pull request #%d); run without --dry-run to approve", a.Cluster, a.Approver, prs[0].Number)})
			continue
		}
		if err := ap.Approve(ctx, prs[0].Number, a.Approver, prs[0].HeadSHA); err != nil {
			return nil, err
		}
	}
	return warnings, nil
}

// pauseResume puts the paused label on, or takes it off, each named
// cluster's open promotion pull request.
func pauseResume(ctx context.Context, o Options) error {
	rm, ok := o.Forge.(LabelRemover)
	if len(o.Resume) > 0 && !ok {
		return failure.Usagef("resume: remove the label %s from the promotion pull request on the forge: it does not take labels off for promote", layout.PausedLabel)
	}
	for _, t := range []struct {
		verb     string
		clusters []string
	}{{"pause", o.Pause}, {"resume", o.Resume}} {
		for _, c := range t.clusters {
			prs, err := o.Forge.ListPullRequests(ctx, forge.ListOptions{Head: o.Fleet.Config.Layout().PromoteHead(c), Base: o.Fleet.Config.LiveBranch(c)})
			if err != nil {
				return err
			}
			if len(prs) == 0 {
				return &NoPullRequestError{Verb: t.verb, Cluster: c}
			}
			if t.verb == "pause" {
				err = o.Forge.AddLabels(ctx, prs[0].Number, []string{layout.PausedLabel})
			} else {
				err = rm.RemoveLabel(ctx, prs[0].Number, layout.PausedLabel)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.verb, c, err)
			}
		}
	}
	return nil
}

// nothingRendered is the warning of a pass that found no staging branch:
// where it looked and the branch pattern.
func nothingRendered(o Options) Warning {
	where := o.Where
	if where == "" {
		where = "the repository"
		if o.Remote != "" {
			where = "the remote " + redact.URL(o.Remote)
		}
	}
	n := 0
	for _, c := range o.Fleet.Clusters {
		if !c.Local {
			n++
		}
	}
	return Warning{Kind: NothingRendered, Message: fmt.Sprintf("nothing to promote: none of the %d clusters has a branch %s in %s; run render first",
		n, o.Fleet.Config.StagingBranch("<cluster>"), where)}
}
