package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/report"
)

// runner gathers a snapshot, decides and executes: one pass of Run.
type runner struct {
	Options
}

// Result is a run's outcome.
type Result struct {
	Plan    Plan              `json:"-"`
	Apps    []AppDecision     `json:"apps"`
	Actions []ActionResult    `json:"actions"`
	Halted  map[string]string `json:"halted,omitempty"`
	// Paused is what is paused, ApplicationSets (flotilla.yaml) first,
	// then clusters, each by name.
	Paused []Pause `json:"paused,omitempty"`
	// Proposals counts the clusters with a staging branch: 0 means render
	// has not written to where this pass looked.
	Proposals int `json:"proposals"`
	// Snapshot is what the decision read, and Heads each rendered
	// cluster's branch heads (for status, which shows them).
	Snapshot Snapshot         `json:"-"`
	Heads    map[string]Heads `json:"-"`
	// Warnings are what the pass noticed that is no error, in the order
	// found (not in JSON: a command writes them to stderr).
	Warnings []Warning `json:"-"`
	// Wave is what moves with every approval given, with its hash (with
	// Options.Plan or ExecutePlan only).
	Wave *Wave `json:"wave,omitempty"`
}

// Heads are a cluster's branch heads as a pass read them ("" when
// absent): live and staging (the layout's branches, hydrated/<cluster>
// and hydrated/<cluster>-next by default) and the open promotion pull
// request's head branch.
type Heads struct {
	Live, Staging, PR string
}

func headOf(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

// ActionResult is an action and what came of it.
type ActionResult struct {
	Action
	PR     int    `json:"pr,omitempty"`
	URL    string `json:"url,omitempty"`
	Done   bool   `json:"done"`
	Result string `json:"result,omitempty"`
}

type clusterData struct {
	name                  string
	labels                map[string]string
	liveHead, stagingHead plumbing.Hash
	live, staging, pr     map[string]appFiles // app -> files
	liveFiles             map[string]plumbing.Hash
	prHead                plumbing.Hash
	stagingCommit         *object.Commit
}

type appFiles struct {
	manifest plumbing.Hash
	metadata plumbing.Hash
}

// run makes one promotion pass.
func (r *runner) run(ctx context.Context) (*Result, error) {
	if r.Remote != "" {
		if err := r.fetch(ctx); err != nil {
			return nil, err
		}
	}
	if !r.DryRun {
		if err := r.startLiveBranches(ctx); err != nil {
			return nil, err
		}
	}
	cfg := r.Fleet.Config
	sets := map[string][]Step{}
	for _, ls := range r.Fleet.ApplicationSets {
		steps, err := Steps(&ls.Set, cfg.Rollout.Steps)
		if err != nil {
			where := ls.File
			if s := ls.Set.Spec.Strategy; s == nil || s.Type != "RollingSync" || s.RollingSync == nil {
				where += " (its rollout is rollout.steps of flotilla.yaml)"
			}
			return nil, failure.Mark(failure.Input, fmt.Errorf("%s: %w", where, err))
		}
		sets[ls.Set.Metadata.Name] = steps
	}
	prs, err := r.Forge.ListPullRequests(ctx, forge.ListOptions{})
	if err != nil {
		return nil, err
	}
	open := map[string]*forge.PullRequest{}
	rollbacks := map[string]*forge.PullRequest{}
	for i := range prs {
		if c, ok := cfg.Layout().PromoteCluster(prs[i].Head); ok && prs[i].Base == cfg.LiveBranch(c) {
			open[c] = &prs[i]
		}
		if c, ok := cfg.Layout().RollbackCluster(prs[i].Head); ok && prs[i].Base == cfg.LiveBranch(c) {
			rollbacks[c] = &prs[i]
		}
	}

	snap := Snapshot{Now: r.Now(), Sets: sets, Clusters: map[string]*Cluster{}, WaveApproved: r.Plan || r.ExecutePlan != "", Paused: map[string]string{}}
	for set := range sets {
		if why := cfg.Rollout.PausedBy(set); why != "" {
			snap.Paused[set] = why
		}
	}
	data := map[string]*clusterData{}
	for _, c := range r.Fleet.Clusters {
		if c.Local {
			continue
		}
		d, err := r.read(c, open[c.Name])
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue // not rendered yet
		}
		data[c.Name] = d
		cl := &Cluster{Name: c.Name, PR: open[c.Name], Paused: pausedBy(open[c.Name], rollbacks[c.Name])}
		if cl.PR != nil {
			cl.PRCurrent = true
			for app := range union(d.live, d.pr) {
				if d.live[app] != d.pr[app] {
					cl.PRApps = append(cl.PRApps, app)
					if d.pr[app] != d.staging[app] {
						cl.PRCurrent = false
					}
				}
			}
			slices.Sort(cl.PRApps)
		}
		snap.Clusters[c.Name] = cl
		for app := range union(d.live, d.staging) {
			set, labels := r.appInfo(d, app)
			a := App{Name: app, Cluster: c.Name, Set: set, Live: hashOf(d.live, app), Staging: hashOf(d.staging, app)}
			if steps, ok := sets[set]; ok {
				a.Step = StepOf(steps, labels, c.Labels)
			} else {
				sets[set] = []Step{{Name: "all"}}
				snap.Sets[set] = sets[set]
				if why := cfg.Rollout.PausedBy(set); why != "" {
					snap.Paused[set] = why
				}
			}
			snap.Apps = append(snap.Apps, a)
		}
	}
	sort.Slice(snap.Apps, func(i, j int) bool {
		a, b := snap.Apps[i], snap.Apps[j]
		if a.Set != b.Set {
			return a.Set < b.Set
		}
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		return a.Cluster+"/"+a.Name < b.Cluster+"/"+b.Name
	})
	if err := r.readStatuses(ctx, &snap, data); err != nil {
		return nil, err
	}
	if err := r.readDenials(ctx, &snap, data); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Clusters)) { // requests, and the error, in one order
		cl := snap.Clusters[name]
		if cl.PR == nil || snap.WaveApproved || !r.needsApproval(snap, name) { // an approved wave stands in for reviews
			continue
		}
		if err := r.readApprovals(ctx, cl, cl.PR.Number, cl.PR.HeadSHA, r.approverTeams(snap, name)); err != nil {
			return nil, err
		}
	}
	plan, err := Decide(snap)
	if err != nil {
		return nil, err
	}
	res := &Result{Plan: plan, Apps: plan.Apps, Halted: plan.Halted, Paused: paused(snap), Proposals: len(data), Snapshot: snap, Heads: map[string]Heads{}}
	for c, d := range data {
		res.Heads[c] = Heads{Live: headOf(d.liveHead), Staging: headOf(d.stagingHead), PR: headOf(d.prHead)}
	}
	actions := plan.Actions
	if r.Plan || r.ExecutePlan != "" {
		res.Wave = r.wave(plan, data)
		if r.ExecutePlan != "" && res.Wave.Hash != r.ExecutePlan {
			e := &PlanChangedError{Planned: r.ExecutePlan, Now: res.Wave}
			if r.PlannedWave != nil {
				e.Changes = Changes(r.PlannedWave, res.Wave)
			}
			return res, e
		}
		if r.ExecutePlan != "" { // exactly the wave, nothing else
			actions = slices.DeleteFunc(slices.Clone(actions), func(a Action) bool { return !a.Kind.Merges() })
		}
	}
	if !r.DryRun {
		if err := r.reportHalts(ctx, snap, plan, data); err != nil {
			return res, err
		}
	}
	if len(actions) > 0 {
		res.Actions = make([]ActionResult, len(actions))
	}
	var pushes []*ActionResult
	for i, a := range actions {
		ar := &res.Actions[i]
		*ar = ActionResult{Action: a}
		if pr := snap.Clusters[a.Cluster].PR; pr != nil {
			ar.PR, ar.URL = pr.Number, pr.URL
		}
		if a.Kind == Push {
			pushes = append(pushes, ar) // all at once, below
			continue
		}
		if !r.DryRun {
			if err := r.execute(ctx, ar, data[a.Cluster], snap, plan); err != nil {
				res.Actions = res.Actions[:i+1]
				return res, fmt.Errorf("cluster %s: %s: %w", a.Cluster, a.Kind, err)
			}
		}
	}
	if !r.DryRun {
		if err := r.pushDirect(ctx, pushes, data); err != nil {
			return res, err
		}
		// A pull request a direct step found open is closed once the push
		// holds its content (left as it was should the close fail: the
		// next pass closes it, having nothing left to promote).
		for _, ar := range pushes {
			if ar.PR == 0 {
				continue
			}
			if err := r.Forge.ClosePullRequest(ctx, ar.PR); err != nil {
				return res, fmt.Errorf("cluster %s: close #%d after the push: %w", ar.Cluster, ar.PR, err)
			}
			ar.Result += fmt.Sprintf("; closed #%d", ar.PR)
		}
	}
	return res, nil
}

// Pause is one paused rollout: of an ApplicationSet (by flotilla.yaml)
// or of a cluster (by a person's label, or an open rollback).
type Pause struct {
	// Kind is "applicationSet" or "cluster".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// By says why and where it is set.
	By string `json:"by"`
}

// paused is Result.Paused: what the snapshot holds paused.
func paused(s Snapshot) []Pause {
	var out []Pause
	for _, set := range slices.Sorted(maps.Keys(s.Paused)) {
		out = append(out, Pause{Kind: "applicationSet", Name: set, By: s.Paused[set]})
	}
	for _, name := range slices.Sorted(maps.Keys(s.Clusters)) {
		if c := s.Clusters[name]; c.Paused != "" {
			out = append(out, Pause{Kind: "cluster", Name: name, By: c.Paused})
		}
	}
	return out
}

// pausedBy says why a person paused a cluster's promotion ("" when not):
// the paused label on its open promotion pull request, or its open
// rollback pull request (a rollback pauses until it is merged or closed).
func pausedBy(pr, rollback *forge.PullRequest) string {
	switch {
	case pr != nil && slices.Contains(pr.Labels, layout.PausedLabel):
		return fmt.Sprintf("the label %s on #%d", layout.PausedLabel, pr.Number)
	case rollback != nil:
		return fmt.Sprintf("the open rollback #%d", rollback.Number)
	}
	return ""
}

// readStatuses reads verify's statuses only where a gate needs them: the
// clusters of every set that has something to promote. A fleet with
// nothing to do reads none.
func (r *runner) readStatuses(ctx context.Context, snap *Snapshot, data map[string]*clusterData) error {
	active := map[string]bool{}
	for _, a := range snap.Apps {
		if a.Differs() || snap.Clusters[a.Cluster].PR != nil {
			active[a.Set] = true
		}
	}
	clusters := map[string]bool{}
	for _, a := range snap.Apps {
		if active[a.Set] {
			clusters[a.Cluster] = true
		}
	}
	statuses := map[string]map[string]forge.Status{}
	for _, c := range slices.Sorted(maps.Keys(clusters)) {
		d := data[c]
		if d.liveHead.IsZero() {
			continue
		}
		list, err := r.Forge.Statuses(ctx, d.liveHead.String())
		if err != nil {
			return err
		}
		statuses[c] = map[string]forge.Status{}
		for _, s := range list {
			statuses[c][s.Context] = s
		}
	}
	baking := map[string][]string{} // cluster -> contexts whose bake is pending
	for i := range snap.Apps {
		a := &snap.Apps[i]
		if !active[a.Set] {
			// Nothing to gate: shown as live without spending requests.
			a.Status = &forge.Status{State: forge.StateSuccess, Description: "not checked (nothing to promote)"}
			continue
		}
		if s, ok := statuses[a.Cluster][layout.VerifyContext(a.Name)]; ok {
			a.Status = &s
			if bakePending(snap, *a) {
				baking[a.Cluster] = append(baking[a.Cluster], layout.VerifyContext(a.Name))
			}
		}
	}
	// Where a bake is pending by the newest success, when the run of
	// success began: its history, read for those clusters only.
	since := map[string]map[string]time.Time{}
	for _, c := range slices.Sorted(maps.Keys(baking)) {
		s, err := r.Forge.SuccessSince(ctx, data[c].liveHead.String(), baking[c])
		if err != nil {
			return err
		}
		since[c] = s
	}
	for i := range snap.Apps {
		a := &snap.Apps[i]
		if s, ok := since[a.Cluster][layout.VerifyContext(a.Name)]; ok {
			a.SuccessSince = s
		}
	}
	return nil
}

// bakePending reports whether a's bake would still be running counted
// from its newest status: a live app's success younger than its step's
// bakeTime (an older one is baked whenever its run began).
func bakePending(s *Snapshot, a App) bool {
	if a.Step == Unmatched || a.Differs() || a.Status == nil || a.Status.State != forge.StateSuccess {
		return false
	}
	bake := s.Sets[a.Set][a.Step].BakeTime
	return bake > 0 && s.Now.Sub(a.Status.UpdatedAt) < bake
}

// accessOf says why an approval by a holder of p does not count.
func accessOf(p forge.Permission) string {
	if p == "" || p == forge.PermissionNone {
		return "no access to the repository"
	}
	return string(p) + " access"
}

// approverTeams are the teams the approvers of cluster's steps that
// require approval name, sorted.
func (r *runner) approverTeams(s Snapshot, cluster string) []string {
	var out []string
	for _, a := range s.Apps {
		if a.Cluster == cluster && a.Step != Unmatched {
			out = append(out, s.Sets[a.Set][a.Step].Teams()...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (r *runner) needsApproval(s Snapshot, cluster string) bool {
	for _, a := range s.Apps {
		if a.Cluster != cluster || a.Step == Unmatched {
			continue
		}
		// The approval gate's rule (a bad maxUpdate, which Decide
		// refuses, reads as 0: the reviews are read).
		st := s.Sets[a.Set][a.Step]
		lim, _ := MaxUpdate(st.MaxUpdate, 1)
		if (ApprovalGate{}).Check(&StepContext{Step: st, Limit: lim}, a).Approval {
			return true
		}
	}
	return false
}

func union(a, b map[string]appFiles) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func hashOf(m map[string]appFiles, app string) string {
	f, ok := m[app]
	if !ok {
		return ""
	}
	return f.manifest.String()
}

// appInfo reads an app's ApplicationSet and labels from its metadata
// (staging first, else live).
func (r *runner) appInfo(d *clusterData, app string) (string, map[string]string) {
	for _, side := range []map[string]appFiles{d.staging, d.live} {
		f, ok := side[app]
		if !ok {
			continue
		}
		b, err := r.blob(f.metadata)
		if err != nil {
			continue
		}
		var md hydrate.Metadata
		if json.Unmarshal(b, &md) == nil {
			return md.Flotilla.ApplicationSet, md.Flotilla.Labels
		}
	}
	return "", nil
}

func (r *runner) blob(h plumbing.Hash) ([]byte, error) {
	b, err := r.Repo.BlobObject(h)
	if err != nil {
		return nil, err
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

func (r *runner) refName(branch string) plumbing.ReferenceName {
	if r.Remote != "" {
		return plumbing.ReferenceName("refs/flotilla/remote/" + branch)
	}
	return plumbing.NewBranchReferenceName(branch)
}

// read loads one cluster's staging, live and promotion trees.
func (r *runner) read(c fleet.Cluster, pr *forge.PullRequest) (*clusterData, error) {
	cfg := r.Fleet.Config
	d := &clusterData{name: c.Name, labels: c.Labels}
	var err error
	if d.stagingHead, d.staging, _, err = r.tree(cfg.StagingBranch(c.Name)); err != nil || d.stagingHead.IsZero() {
		return nil, err
	}
	if d.stagingCommit, err = r.Repo.CommitObject(d.stagingHead); err != nil {
		return nil, err
	}
	if d.liveHead, d.live, d.liveFiles, err = r.tree(cfg.LiveBranch(c.Name)); err != nil {
		return nil, err
	}
	if pr != nil {
		if d.prHead, d.pr, _, err = r.tree(cfg.Layout().PromoteHead(c.Name)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// tree reads a branch's apps (zero hash when the branch is absent).
func (r *runner) tree(branch string) (plumbing.Hash, map[string]appFiles, map[string]plumbing.Hash, error) {
	ref, err := r.Repo.Reference(r.refName(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, map[string]appFiles{}, map[string]plumbing.Hash{}, nil
	}
	if err != nil {
		return plumbing.ZeroHash, nil, nil, err
	}
	c, err := r.Repo.CommitObject(ref.Hash())
	if err != nil {
		return plumbing.ZeroHash, nil, nil, fmt.Errorf("read %s: %w", branch, err)
	}
	apps, files, err := commitApps(c)
	if err != nil {
		return plumbing.ZeroHash, nil, nil, err
	}
	return ref.Hash(), apps, files, nil
}

// commitApps reads a hydrated commit's apps and files.
func commitApps(c *object.Commit) (map[string]appFiles, map[string]plumbing.Hash, error) {
	t, err := c.Tree()
	if err != nil {
		return nil, nil, err
	}
	apps, files := map[string]appFiles{}, map[string]plumbing.Hash{}
	walker := object.NewTreeWalker(t, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if !entry.Mode.IsFile() {
			continue
		}
		files[name] = entry.Hash
		if app, file, ok := strings.Cut(name, "/"); ok {
			f := apps[app]
			switch file {
			case layout.ManifestFile:
				f.manifest = entry.Hash
			case layout.MetadataFile:
				f.metadata = entry.Hash
			}
			apps[app] = f
		}
	}
	return apps, files, nil
}

// fetch makes the tracking refs of the hydrated and promotion branches
// equal the remote's, as render does (crash-safe, deleted branches
// dropped): the branch folders of the fleet's layout, whatever
// flotilla.yaml names its branches.
func (r *runner) fetch(ctx context.Context) error {
	return hydrate.Track(ctx, r.Repo, r.Remote, r.Auth, r.Fleet.Config.Layout().TrackPrefixes()...)
}

// startLiveBranches creates each missing live branch (of a cluster that has
// a proposal) as an empty commit, so the first rollout is gated like any
// other. It reads refs, not the API.
func (r *runner) startLiveBranches(ctx context.Context) error {
	cfg := r.Fleet.Config
	for _, c := range r.Fleet.Clusters {
		if c.Local {
			continue
		}
		if _, err := r.Repo.Reference(r.refName(cfg.StagingBranch(c.Name)), true); err != nil {
			continue // nothing rendered for this cluster yet
		}
		live := cfg.LiveBranch(c.Name)
		if _, err := r.Repo.Reference(r.refName(live), true); err == nil {
			continue
		}
		th, err := gitobj.Tree(r.Repo.Storer, nil)
		if err != nil {
			return err
		}
		commit := &object.Commit{Author: hydrate.Bot, Committer: hydrate.Bot, TreeHash: th, Message: "start the live branch of " + c.Name + "\n"}
		h, err := gitobj.Write(r.Repo.Storer, commit)
		if err != nil {
			return err
		}
		if r.Remote == "" {
			if err := r.Forge.SetBranch(ctx, live, h.String(), ""); err != nil {
				return err
			}
			continue
		}
		out := plumbing.ReferenceName("refs/flotilla/out/" + live)
		if err := gitobj.UpdateRefs(r.Repo.Storer, []gitobj.RefUpdate{{Name: out, New: h}}); err != nil {
			return err
		}
		err = gitobj.Push(ctx, r.Repo.Storer, r.Remote, r.Auth, false,
			gitobj.PushRef{Src: out, Dst: plumbing.NewBranchReferenceName(live)})
		if err != nil {
			if r.remoteHas(ctx, live) {
				// Another pass started it between our fetch and push.
				return failure.Mark(failure.Conflict, fmt.Errorf("start the live branch of %s: another run started %s first, run again: %w", c.Name, live, err))
			}
			return fmt.Errorf("start the live branch of %s: %w", c.Name, err)
		}
		if err := gitobj.UpdateRefs(r.Repo.Storer, []gitobj.RefUpdate{{Name: r.refName(live), New: h}}); err != nil {
			return err
		}
	}
	return nil
}

// remoteHas reports whether the remote holds branch now (false when it
// cannot be read).
func (r *runner) remoteHas(ctx context.Context, branch string) bool {
	rem := git.NewRemote(r.Repo.Storer, &config.RemoteConfig{Name: "flotilla-check", URLs: []string{r.Remote}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.Auth})
	if err != nil {
		return false
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.NewBranchReferenceName(branch) {
			return true
		}
	}
	return false
}

// reportHalts says on the pull request that brought the failing version to
// its cluster why the rollout stopped (one sticky comment per set).
func (r *runner) reportHalts(ctx context.Context, s Snapshot, p Plan, data map[string]*clusterData) error {
	sets := make([]string, 0, len(p.Halted))
	for set := range p.Halted {
		sets = append(sets, set)
	}
	slices.Sort(sets)
	for _, set := range sets {
		for _, a := range s.Apps {
			if a.Set != set || a.Differs() || a.Status == nil || (a.Status.State != forge.StateFailure && a.Status.State != forge.StateError) {
				continue
			}
			prs, err := r.Forge.ListPullRequests(ctx, forge.ListOptions{Head: r.Fleet.Config.Layout().PromoteHead(a.Cluster), Base: r.Fleet.Config.LiveBranch(a.Cluster), All: true})
			if err != nil {
				return err
			}
			for _, pr := range prs { // newest first
				if !pr.Merged {
					continue
				}
				if live := data[a.Cluster].liveHead.String(); pr.MergeCommitSHA != live && pr.HeadSHA != live {
					break // a direct push or a rollback brought the live head, not this pull request
				}
				body := fmt.Sprintf("**Rollout of %s halted.** After this promotion, verify reported %s for %s on %s: %s\n\nNo other cluster receives this version; promote a fix to %s to go on.",
					set, a.Status.State, a.Name, a.Cluster, a.Status.Description, a.Cluster)
				body = report.Fit(body, forge.CommentRoom(report.CommentLimit, "halt-"+set), "**Cut at GitHub's limit for a comment.** `flotilla status` shows the whole verification.")
				if err := r.Forge.UpsertComment(ctx, pr.Number, "halt-"+set, body); err != nil {
					return err
				}
				break
			}
			break
		}
	}
	return nil
}

// readApprovals fills cl's Approvers of head sha of pull request number,
// and for each the Refused (no write access) and Teams (of teams).
func (r *runner) readApprovals(ctx context.Context, cl *Cluster, number int, sha string, teams []string) error {
	reviews, err := r.Forge.Reviews(ctx, number)
	if err != nil {
		return err
	}
	cl.Approvers = forge.Approvers(reviews, sha)
	for _, user := range cl.Approvers {
		p, err := r.Forge.Permission(ctx, user)
		if err != nil {
			return err
		}
		if !p.CanWrite() {
			if cl.Refused == nil {
				cl.Refused = map[string]string{}
			}
			cl.Refused[user] = accessOf(p)
			continue
		}
		for _, team := range teams {
			org, slug, _ := strings.Cut(team, "/")
			ok, err := r.Forge.TeamMember(ctx, org, slug, user)
			if err != nil {
				return err
			}
			if ok {
				if cl.Teams == nil {
					cl.Teams = map[string][]string{}
				}
				cl.Teams[user] = append(cl.Teams[user], team)
			}
		}
	}
	return nil
}
