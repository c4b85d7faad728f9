package promote

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/report"
)

// execute carries out one action. OpenMerge and UpdateMerge open or
// update the pull request and then merge it with the head just written, in
// the same pass; a forge that is not ready (GitHub computing mergeability,
// a required check missing, a moved base) leaves it open for the next
// pass, which finds it current and merges it (Merge).
func (r *runner) execute(ctx context.Context, ar *ActionResult, d *clusterData, s Snapshot, p Plan) error {
	cl := s.Clusters[ar.Cluster]
	switch ar.Kind {
	case Open, Update, OpenMerge, UpdateMerge:
		head, err := r.writeBranch(ctx, d, ar.Apps)
		if err != nil {
			return err
		}
		title, body := r.describe(d, ar.Action, p, s)
		if ar.Kind == Open || ar.Kind == OpenMerge {
			pr, err := r.Forge.OpenPullRequest(ctx, forge.OpenOptions{Head: r.Fleet.Config.Layout().PromoteHead(ar.Cluster), Base: r.Fleet.Config.LiveBranch(ar.Cluster),
				Title: title, Body: body, Labels: labels(ar.Steps)})
			if err != nil {
				return err
			}
			ar.PR, ar.URL = pr.Number, pr.URL
			ar.Done, ar.Result = true, "opened #"+fmt.Sprint(pr.Number)
		} else {
			if _, err := r.Forge.UpdatePullRequest(ctx, cl.PR.Number, forge.UpdateOptions{Title: &title, Body: &body}); err != nil {
				return err
			}
			if err := r.Forge.AddLabels(ctx, cl.PR.Number, labels(ar.Steps)); err != nil {
				return err
			}
			ar.Done, ar.Result = true, fmt.Sprintf("updated #%d to %s", cl.PR.Number, layout.Short(head.String()))
		}
		if ar.Kind.Merges() {
			return r.merge(ctx, ar, ar.PR, head.String(), mergeTitle(ar), ar.Result+"; ")
		}
	case Merge:
		return r.merge(ctx, ar, cl.PR.Number, cl.PR.HeadSHA, mergeTitle(ar), "")
	case Close:
		if err := r.Forge.ClosePullRequest(ctx, cl.PR.Number); err != nil {
			return err
		}
		ar.Done, ar.Result = true, fmt.Sprintf("closed #%d", cl.PR.Number)
	case Wait:
		ar.Result = "waiting for " + ar.Reason
		if len(ar.NotCounted) > 0 {
			// Say on the pull request why an approval did not count: the
			// reviewer sees it where they approved.
			body := fmt.Sprintf("**Waiting for approvals.** %s.\n\nOnly approvals of the current head by users with write access to the repository count", ar.Reason)
			if names := approversOf(s, p, ar.Cluster); len(names) > 0 {
				body += " (and, for this step, only from " + mentions(names) + ")"
			}
			if err := r.Forge.UpsertComment(ctx, cl.PR.Number, "approvals", body+".\n"); err != nil {
				return err
			}
		}
	}
	return nil
}

// approversOf is the union of the named approvers of the steps of the
// apps cluster's pull request promotes.
func approversOf(s Snapshot, p Plan, cluster string) []string {
	var out []string
	for i, d := range p.Apps {
		if a := s.Apps[i]; d.Cluster == cluster && d.Promote && a.Step != Unmatched {
			out = append(out, s.Sets[a.Set][a.Step].Approvers...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// merge merges pull request number at head sha with the merge commit's
// title; prefix says what the pass did before. Done stays false when the
// forge is not ready.
func (r *runner) merge(ctx context.Context, ar *ActionResult, number int, sha, title, prefix string) error {
	res, err := r.Forge.MergePullRequest(ctx, number, forge.MergeOptions{SHA: sha, Title: title})
	if err != nil {
		return err
	}
	if !res.Merged {
		ar.Done, ar.Result = false, prefix+"not merged yet: "+res.NotReady
		return nil
	}
	ar.Done, ar.Result = true, prefix+"merged as "+layout.Short(res.SHA)
	return nil
}

// mergeTitle is the title of a promotion's merge commit.
func mergeTitle(ar *ActionResult) string {
	return fmt.Sprintf("promote %s: %s", ar.Cluster, strings.Join(ar.Apps, ", "))
}

func labels(steps []string) []string {
	out := []string{layout.Label}
	for _, s := range steps {
		out = append(out, layout.StepLabel(s))
	}
	return out
}

// writeBranch builds the promotion tree — the live tree with each
// promoted app replaced by its staging version (or removed) — commits it
// on the live head and moves flotilla/promote/<cluster> there.
func (r *runner) writeBranch(ctx context.Context, d *clusterData, apps []string) (plumbing.Hash, error) {
	h, err := r.promotionCommit(d, apps, "")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	branch := r.Fleet.Config.Layout().PromoteHead(d.name)
	if h == d.prHead {
		return h, nil
	}
	if r.Remote == "" {
		// The branch of an earlier, merged or closed, pull request is reused.
		old := zeroToEmpty(d.prHead)
		if ref, err := r.Repo.Reference(plumbing.NewBranchReferenceName(branch), true); err == nil && old == "" {
			old = ref.Hash().String()
		}
		return h, r.Forge.SetBranch(ctx, branch, h.String(), old)
	}
	local := plumbing.ReferenceName("refs/flotilla/out/" + branch)
	if err := gitobj.UpdateRefs(r.Repo.Storer, []gitobj.RefUpdate{{Name: local, New: h}}); err != nil {
		return plumbing.ZeroHash, err
	}
	// The promotion branch is promote's own and rebuilt on every run; a
	// merge happens only with the head SHA promote checked, so a concurrent
	// run's force push is caught there.
	err = gitobj.Push(ctx, r.Repo.Storer, r.Remote, r.Auth, false,
		gitobj.PushRef{Src: local, Dst: plumbing.NewBranchReferenceName(branch), Force: true})
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return h, nil
}

func zeroToEmpty(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

func (r *runner) stagingFiles(d *clusterData) (plumbing.Hash, map[string]plumbing.Hash, error) {
	h, _, files, err := r.tree(r.Fleet.Config.StagingBranch(d.name))
	return h, files, err
}

// describe is the pull request's title and body: the dry commit, what it
// waits for and the halted rollouts first, then each app with its object
// changes, the deletions and the gate evidence. The body stays within
// GitHub's limit (report.Fit cuts the long lists, pointing to the rest):
// at 200 clusters of 50 apps the evidence alone runs to 10,000 lines.
func (r *runner) describe(d *clusterData, a Action, p Plan, s Snapshot) (string, string) {
	dry := hydrate.DrySHAOf(d.stagingCommit.Message)
	title := fmt.Sprintf("promote %s: %s (%s) from %s", d.name, plural(len(a.Apps), "app"), strings.Join(a.Steps, ", "), layout.Short(dry))
	var b strings.Builder
	fmt.Fprintf(&b, "Promotes to `%s` what render proposed on `%s`, from dry commit `%s`.\n\n", r.Fleet.Config.LiveBranch(d.name), r.Fleet.Config.StagingBranch(d.name), dry)
	fmt.Fprintf(&b, "**Waiting for:** %s\n", a.Reason)
	if h := p.Halted; len(h) > 0 {
		fmt.Fprintf(&b, "\n**Halted rollouts:**\n\n")
		for _, set := range slices.Sorted(maps.Keys(h)) {
			fmt.Fprintf(&b, "- %s: %s\n", set, h[set])
		}
	}
	// The step and set of each promoted app on this cluster.
	promoted := map[string]bool{}
	for _, app := range a.Apps {
		promoted[app] = true
	}
	steps, sets := map[string]string{}, map[string]bool{}
	for _, dec := range p.Apps {
		if dec.Cluster == d.name && promoted[dec.App] {
			steps[dec.App] = dec.Step
			sets[dec.Set] = true
		}
	}
	fmt.Fprintf(&b, "\n| app | step | added | changed | removed |\n|---|---|---|---|---|\n")
	var deletions []string
	for _, app := range a.Apps {
		add, chg, del := r.objectChanges(d, app)
		step := steps[app]
		if step == "" {
			step = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d |\n", app, step, len(add), len(chg), len(del))
		for _, x := range del {
			deletions = append(deletions, app+": "+x)
		}
	}
	if len(deletions) > 0 {
		fmt.Fprintf(&b, "\n**Objects that will be deleted:**\n\n")
		for _, x := range deletions {
			fmt.Fprintf(&b, "- `%s`\n", x)
		}
	}
	fmt.Fprintf(&b, "\n**Gate evidence:**\n\n")
	evidence := 0
	for _, app := range s.Apps {
		if app.Cluster == d.name || !sets[app.Set] || app.Status == nil || app.Status.State != forge.StateSuccess || app.Differs() || strings.HasPrefix(app.Status.Description, "not checked") {
			continue
		}
		fmt.Fprintf(&b, "- %s on %s verified %s at %s\n", app.Name, app.Cluster, app.Status.State, app.Status.UpdatedAt.UTC().Format("2006-01-02 15:04 MST"))
		evidence++
	}
	if evidence == 0 {
		fmt.Fprintf(&b, "- first step: no earlier step to wait for\n")
	}
	return title, report.Fit(b.String(), report.CommentLimit, bodyCut)
}

// bodyCut points from a pull request body cut at GitHub's limit to the rest.
const bodyCut = "**Cut at GitHub's limit for a pull request body.** The pull request's changed files hold every object; `flotilla status` shows every app's step, gates and verification."

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// objectChanges compares an app's live and staging manifests by object.
func (r *runner) objectChanges(d *clusterData, app string) (added, changed, removed []string) {
	read := func(f appFiles, ok bool) map[string]string {
		out := map[string]string{}
		if !ok {
			return out
		}
		b, err := r.blob(f.manifest)
		if err != nil {
			return out
		}
		objs, err := render.Decode(app, b)
		if err != nil {
			return out
		}
		for _, o := range objs {
			y, _ := render.Encode([]*unstructured.Unstructured{o})
			out[order.ID(o)] = string(y)
		}
		return out
	}
	lf, lok := d.live[app]
	sf, sok := d.staging[app]
	live, staging := read(lf, lok), read(sf, sok)
	for id, y := range staging {
		if old, ok := live[id]; !ok {
			added = append(added, id)
		} else if old != y {
			changed = append(changed, id)
		}
	}
	for id := range live {
		if _, ok := staging[id]; !ok {
			removed = append(removed, id)
		}
	}
	slices.Sort(added)
	slices.Sort(changed)
	slices.Sort(removed)
	return added, changed, removed
}

// promotionCommit writes the promotion commit of apps on d's live head:
// the live tree with each app replaced by its staging version (or
// removed), the message naming the apps, then trailers (each line ending
// in a newline).
func (r *runner) promotionCommit(d *clusterData, apps []string, trailers string) (plumbing.Hash, error) {
	files := map[string]plumbing.Hash{}
	for p, h := range d.liveFiles {
		files[p] = h
	}
	promoted := map[string]bool{}
	for _, a := range apps {
		promoted[a] = true
		delete(files, layout.AppFile(a, layout.ManifestFile))
		delete(files, layout.AppFile(a, layout.MetadataFile))
		if f, ok := d.staging[a]; ok {
			files[layout.AppFile(a, layout.ManifestFile)] = f.manifest
			files[layout.AppFile(a, layout.MetadataFile)] = f.metadata
		}
	}
	// README and attributes as on staging when every app is promoted.
	_, stagingFiles, _ := r.stagingFiles(d)
	for _, name := range []string{layout.ReadmeFile, layout.AttributesFile} {
		if h, ok := stagingFiles[name]; ok {
			files[name] = h
		}
	}
	tree, err := gitobj.Files(r.Repo.Storer, files)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sig := hydrate.Bot
	sig.When = d.stagingCommit.Committer.When
	msg := fmt.Sprintf("promote %s: %s\n\nFlotilla-Dry-Sha: %s\nFlotilla-Promoted: %s\n%s", d.name, strings.Join(apps, ", "),
		hydrate.DrySHAOf(d.stagingCommit.Message), strings.Join(apps, ","), trailers)
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree}
	if !d.liveHead.IsZero() {
		c.ParentHashes = []plumbing.Hash{d.liveHead}
	}
	return gitobj.Write(r.Repo.Storer, c)
}
