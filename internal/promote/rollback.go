package promote

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// RollbackAll in Options.Rollback rolls back every cluster that has a
// live branch.
const RollbackAll = "all"

// Rollback is the action of a rollback pass: a pull request that moves a
// cluster's live branch back to its newest earlier verified commit.
const Rollback ActionKind = "rollback"

// MaxRollbackDepth bounds how many earlier commits of a live branch a
// rollback reads (each costs a status request on GitHub).
const MaxRollbackDepth = 100

// NoVerifiedCommitError is a rollback of a cluster whose live branch has
// no earlier commit verify passed on (within MaxRollbackDepth): input —
// there is nothing safe to go back to. Nothing is pushed.
type NoVerifiedCommitError struct {
	Cluster, Branch string
	// Looked counts the earlier commits read.
	Looked int
}

func (e *NoVerifiedCommitError) Error() string {
	return fmt.Sprintf("roll back %s: none of the %d earlier commits of %s has verify's success for every app (and content other than the live head's); nothing was pushed: fix forward by rendering a fix, or pause the cluster",
		e.Cluster, e.Looked, e.Branch)
}

// FailureClass is failure.Input.
func (e *NoVerifiedCommitError) FailureClass() failure.Class { return failure.Input }

// rollbackPlan is one cluster's rollback: from the live head back to
// target, and why each newer commit was passed over.
type rollbackPlan struct {
	cluster, live string
	head, target  *object.Commit
	skipped       []string
	// headState says what verify said of the live head ("" for success).
	headState string
}

// rollback is a rollback pass (Options.Rollback): for each cluster it
// finds the newest earlier commit of the live branch verify passed on
// (every app's verify status success), and opens — or updates, when
// re-run — a pull request from flotilla/rollback/<cluster> whose head is
// one commit on the live head holding that commit's tree, so it merges
// without conflict. The rollback is an emergency path: it skips the bake
// and earlier-step gates, but waits for an approving review when a step
// of the cluster's apps requires one. It pauses the cluster's promotion
// (the paused label on its promotion pull request, opened for the purpose
// when there is none) so the next pass does not promote the content back.
// Every cluster is checked before anything is pushed.
func (r *runner) rollback(ctx context.Context) (*Result, error) {
	if r.Remote != "" {
		if err := r.fetch(ctx); err != nil {
			return nil, err
		}
	}
	clusters, err := r.rollbackClusters()
	if err != nil {
		return nil, err
	}
	var plans []rollbackPlan
	var errs []error
	for _, c := range clusters {
		p, err := r.planRollback(ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res := &Result{}
	for _, p := range plans {
		ar := ActionResult{Action: Action{Kind: Rollback, Cluster: p.cluster,
			Reason: fmt.Sprintf("back from %s to %s, the newest earlier commit verify passed", layout.Short(p.head.Hash.String()), layout.Short(p.target.Hash.String()))}}
		if !r.DryRun {
			if err := r.executeRollback(ctx, &ar, p); err != nil {
				return res, fmt.Errorf("roll back %s: %w", p.cluster, err)
			}
		}
		res.Actions = append(res.Actions, ar)
	}
	return res, nil
}

// rollbackClusters resolves Options.Rollback to cluster names, sorted.
func (r *runner) rollbackClusters() ([]string, error) {
	var out []string
	for _, name := range r.Rollback {
		if name == RollbackAll {
			for _, c := range r.Fleet.Clusters {
				if _, err := r.Repo.Reference(r.refName(r.Fleet.Config.LiveBranch(c.Name)), true); err == nil && !c.Local {
					out = append(out, c.Name)
				}
			}
			continue
		}
		if err := knownCluster(r.Fleet, "roll back", name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// planRollback finds a cluster's rollback target: walking the live
// branch's first parents (each a live head that verify checked), the
// newest commit whose every app has verify's success and whose content
// differs from the live head's.
func (r *runner) planRollback(ctx context.Context, cluster string) (rollbackPlan, error) {
	live := r.Fleet.Config.LiveBranch(cluster)
	p := rollbackPlan{cluster: cluster, live: live}
	ref, err := r.Repo.Reference(r.refName(live), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return p, failure.Inputf("roll back %s: it has no live branch %s: nothing was promoted to it", cluster, live)
	}
	if err != nil {
		return p, err
	}
	if p.head, err = r.Repo.CommitObject(ref.Hash()); err != nil {
		return p, fmt.Errorf("read %s: %w", live, err)
	}
	if p.headState, err = r.unverified(ctx, p.head); err != nil {
		return p, err
	}
	looked := 0
	for c := p.head; looked < MaxRollbackDepth && len(c.ParentHashes) > 0; looked++ {
		if c, err = r.Repo.CommitObject(c.ParentHashes[0]); err != nil {
			break // the history ends here (a shallow clone)
		}
		short := layout.Short(c.Hash.String())
		if c.TreeHash == p.head.TreeHash {
			p.skipped = append(p.skipped, short+": the live head's content")
			continue
		}
		why, err := r.unverified(ctx, c)
		if err != nil {
			return p, err
		}
		if why != "" {
			p.skipped = append(p.skipped, short+": "+why)
			continue
		}
		p.target = c
		return p, nil
	}
	return p, &NoVerifiedCommitError{Cluster: cluster, Branch: live, Looked: looked}
}

// unverified says why verify did not pass commit c ("" when every app of
// its tree has verify's success and no verify status is anything else).
func (r *runner) unverified(ctx context.Context, c *object.Commit) (string, error) {
	apps, _, err := commitApps(c)
	if err != nil {
		return "", err
	}
	if len(apps) == 0 {
		return "no apps", nil
	}
	list, err := r.Forge.Statuses(ctx, c.Hash.String())
	if err != nil {
		return "", err
	}
	got := map[string]forge.Status{}
	for _, s := range list {
		if app, ok := layout.VerifyApp(s.Context); ok {
			got[app] = s
			if s.State != forge.StateSuccess {
				return fmt.Sprintf("verify reported %s for %s", s.State, app), nil
			}
		}
	}
	for _, app := range slices.Sorted(maps.Keys(apps)) {
		if _, ok := got[app]; !ok {
			return "not verified (" + app + ")", nil
		}
	}
	return "", nil
}

// executeRollback pushes the rollback branch, opens or updates its pull
// request, pauses the cluster's promotion and merges when no approval is
// needed (or one approves the current head).
func (r *runner) executeRollback(ctx context.Context, ar *ActionResult, p rollbackPlan) error {
	lay := r.Fleet.Config.Layout()
	sig := hydrate.Bot
	sig.When = p.head.Committer.When // the same rollback is the same commit: re-runs change nothing
	from, to := p.head.Hash.String(), p.target.Hash.String()
	msg := fmt.Sprintf("rollback %s: back to %s\n\nFlotilla-Rollback-From: %s\nFlotilla-Rollback-To: %s\n", p.cluster, layout.Short(to), from, to)
	h, err := gitobj.Write(r.Repo.Storer, &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: p.target.TreeHash, ParentHashes: []plumbing.Hash{p.head.Hash}})
	if err != nil {
		return err
	}
	head := lay.RollbackHead(p.cluster)
	if err := r.pushOwn(ctx, head, h); err != nil {
		return err
	}

	// The pause first: once the rollback merges, the next pass must not
	// promote the content back.
	paused, err := r.pauseForRollback(ctx, p)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("rollback %s: back to %s", p.cluster, layout.Short(to))
	body := r.rollbackBody(p, paused)
	prs, err := r.Forge.ListPullRequests(ctx, forge.ListOptions{Head: head, Base: p.live})
	if err != nil {
		return err
	}
	var number int
	if len(prs) > 0 {
		number = prs[0].Number
		if _, err := r.Forge.UpdatePullRequest(ctx, number, forge.UpdateOptions{Title: &title, Body: &body}); err != nil {
			return err
		}
		ar.Result = fmt.Sprintf("updated #%d", number)
	} else {
		pr, err := r.Forge.OpenPullRequest(ctx, forge.OpenOptions{Head: head, Base: p.live, Title: title, Body: body,
			Labels: []string{layout.Label, layout.RollbackLabel}})
		if err != nil {
			return err
		}
		number = pr.Number
		ar.URL = pr.URL
		ar.Result = fmt.Sprintf("opened #%d", number)
	}
	ar.PR, ar.Done = number, true
	ar.Result += fmt.Sprintf(" (%s → %s); paused: %s", layout.Short(from), layout.Short(to), paused)

	if steps := r.rollbackApprovalSteps(p); len(steps) > 0 {
		var teams []string
		for _, st := range steps {
			teams = append(teams, st.Teams()...)
		}
		cl := &Cluster{Name: p.cluster}
		if err := r.readApprovals(ctx, cl, number, h.String(), teams); err != nil {
			return err
		}
		for _, st := range steps {
			if v := (ReviewGate{}).Check(st, cl); !v.Open {
				ar.Done, ar.Result = false, ar.Result+"; waiting for "+strings.Replace(v.WaitingFor, "of the current head", "of the rollback", 1)
				return nil
			}
		}
	}
	return r.merge(ctx, ar, number, h.String(), title, ar.Result+"; ")
}

// pauseForRollback puts the paused label on the cluster's promotion pull
// request, opening one for the purpose when there is none (its head: the
// rollback's content on the live head, so it promotes nothing the
// rollback undoes), and says where the pause is.
func (r *runner) pauseForRollback(ctx context.Context, p rollbackPlan) (string, error) {
	lay := r.Fleet.Config.Layout()
	prs, err := r.Forge.ListPullRequests(ctx, forge.ListOptions{Head: lay.PromoteHead(p.cluster), Base: p.live})
	if err != nil {
		return "", err
	}
	note := fmt.Sprintf("%s was rolled back to `%s`. Promote neither updates nor merges this pull request while it carries the label `%s`: remove the label (with the local forge: `promote --resume %s`) once a fix is rendered, and the next pass rebuilds it from the newest proposal under the usual gates.",
		p.cluster, p.target.Hash.String(), layout.PausedLabel, p.cluster)
	if len(prs) > 0 {
		n := prs[0].Number
		if err := r.Forge.AddLabels(ctx, n, []string{layout.PausedLabel}); err != nil {
			return "", err
		}
		if err := r.Forge.UpsertComment(ctx, n, "paused", "**Paused.** "+note); err != nil {
			return "", err
		}
		return fmt.Sprintf("the label %s on #%d", layout.PausedLabel, n), nil
	}
	sig := hydrate.Bot
	sig.When = p.head.Committer.When
	h, err := gitobj.Write(r.Repo.Storer, &object.Commit{Author: sig, Committer: sig, TreeHash: p.target.TreeHash, ParentHashes: []plumbing.Hash{p.head.Hash},
		Message: fmt.Sprintf("pause %s: rolled back to %s\n", p.cluster, layout.Short(p.target.Hash.String()))})
	if err != nil {
		return "", err
	}
	if err := r.pushOwn(ctx, lay.PromoteHead(p.cluster), h); err != nil {
		return "", err
	}
	pr, err := r.Forge.OpenPullRequest(ctx, forge.OpenOptions{Head: lay.PromoteHead(p.cluster), Base: p.live,
		Title: "promote " + p.cluster + ": paused after a rollback", Body: "**Paused.** " + note + "\n",
		Labels: []string{layout.Label, layout.PausedLabel}})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("the label %s on #%d", layout.PausedLabel, pr.Number), nil
}

// rollbackApprovalSteps are the steps of the cluster's apps (live now,
// or in the rollback's content) that require approval, as the approval
// gate decides for a promotion; unreadable content asks for one approval.
func (r *runner) rollbackApprovalSteps(p rollbackPlan) []Step {
	c, _ := r.Fleet.Cluster(p.cluster)
	var out []Step
	for _, commit := range []*object.Commit{p.head, p.target} {
		apps, _, err := commitApps(commit)
		if err != nil {
			return []Step{{Name: "unreadable", RequireApproval: true}}
		}
		d := &clusterData{live: apps}
		for app := range apps {
			set, labels := r.appInfo(d, app)
			steps, err := r.stepsOf(set)
			if err != nil {
				return []Step{{Name: "unreadable", RequireApproval: true}}
			}
			k := StepOf(steps, labels, c.Labels)
			if k == Unmatched {
				continue
			}
			lim, _ := MaxUpdate(steps[k].MaxUpdate, 1)
			if (ApprovalGate{}).Check(&StepContext{Step: steps[k], Limit: lim}, App{}).Approval {
				out = append(out, steps[k])
			}
		}
	}
	return out
}

// stepsOf is an ApplicationSet's rollout steps (one step for a set the
// fleet does not hold).
func (r *runner) stepsOf(set string) ([]Step, error) {
	for _, ls := range r.Fleet.ApplicationSets {
		if ls.Set.Metadata.Name == set {
			return Steps(&ls.Set, r.Fleet.Config.Rollout.Steps)
		}
	}
	return []Step{{Name: "all"}}, nil
}

// rollbackBody is the rollback pull request's body: from and to, why,
// the apps it changes, and how the cluster resumes.
func (r *runner) rollbackBody(p rollbackPlan, paused string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Rolls `%s` back from `%s` to `%s`, the newest earlier commit on which verify reported success for every app (`%s<app>`).\n\n",
		p.live, p.head.Hash.String(), p.target.Hash.String(), layout.VerifyContextPrefix)
	state := p.headState
	if state == "" {
		state = "verify reported success for every app"
	}
	fmt.Fprintf(&b, "Asked for with `promote --rollback`. The live head `%s`: %s. Newer commits passed over:\n\n", layout.Short(p.head.Hash.String()), state)
	for _, s := range p.skipped {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	from, _, _ := commitApps(p.head)
	to, _, _ := commitApps(p.target)
	fmt.Fprintf(&b, "\n| app | change |\n|---|---|\n")
	changed := 0
	for _, app := range slices.Sorted(maps.Keys(union(from, to))) {
		f, inFrom := from[app]
		t, inTo := to[app]
		switch {
		case !inTo:
			fmt.Fprintf(&b, "| %s | removed |\n", app)
		case !inFrom:
			fmt.Fprintf(&b, "| %s | restored |\n", app)
		case f.manifest != t.manifest:
			fmt.Fprintf(&b, "| %s | back to its earlier content |\n", app)
		default:
			continue
		}
		changed++
	}
	if changed == 0 {
		fmt.Fprintf(&b, "| - | only metadata |\n")
	}
	fmt.Fprintf(&b, "\nA rollback is an emergency path: it skips bake time and the earlier steps' gates, and waits only for an approving review when a step of the cluster's apps requires one.\n")
	fmt.Fprintf(&b, "\nThe cluster's promotion is paused (%s), so the next pass does not promote the rolled-back content again. To resume, remove the label `%s` (with the local forge: `promote --resume %s`).\n",
		paused, layout.PausedLabel, p.cluster)
	return b.String()
}

// pushOwn points one of promote's own branches (a promotion or rollback
// head) at h: in the repository through the forge, or by a force push to
// the remote (the branch is rebuilt on every run; merges happen only at
// the head SHA promote checked).
func (r *runner) pushOwn(ctx context.Context, branch string, h plumbing.Hash) error {
	if r.Remote == "" {
		old := ""
		if ref, err := r.Repo.Reference(plumbing.NewBranchReferenceName(branch), true); err == nil {
			old = ref.Hash().String()
		}
		if old == h.String() {
			return nil
		}
		return r.Forge.SetBranch(ctx, branch, h.String(), old)
	}
	local := plumbing.ReferenceName("refs/flotilla/out/" + branch)
	if err := gitobj.UpdateRefs(r.Repo.Storer, []gitobj.RefUpdate{{Name: local, New: h}}); err != nil {
		return err
	}
	return gitobj.Push(ctx, r.Repo.Storer, r.Remote, r.Auth, false,
		gitobj.PushRef{Src: local, Dst: plumbing.NewBranchReferenceName(branch), Force: true})
}
