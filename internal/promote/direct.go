package promote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// DefaultActor is the Flotilla-Promoted-By of a pass that names nobody.
const DefaultActor = "flotilla"

// LostRaceError is a direct push that found a live branch moved by
// someone else since the pass read it: nothing was pushed.
type LostRaceError struct {
	// Branches are the live branches that moved, sorted.
	Branches []string
	Err      error
}

func (e *LostRaceError) Error() string {
	return fmt.Sprintf("push the promotions: another run moved %s since this pass read it, so no live branch was moved; run promote again: %v",
		strings.Join(e.Branches, ", "), e.Err)
}

func (e *LostRaceError) Unwrap() error { return e.Err }

// FailureClass is failure.Conflict: another writer was first.
func (e *LostRaceError) FailureClass() failure.Class { return failure.Conflict }

// pushDirect carries out the pass's push actions (pullRequest: false) as
// one atomic update of the live branches: each moves by fast-forward to
// its promotion commit — the tree its pull request would have merged —
// from the head the pass read, or none moves. Without a remote the
// branches are the repository's own (one compare-and-set transaction);
// with one, a single atomic push whose every ref must still be at the
// value read. A refusal is a *gitobj.PushError (failure.Remote); a
// branch someone else moved is a *LostRaceError (failure.Conflict).
func (r *runner) pushDirect(ctx context.Context, acts []*ActionResult, data map[string]*clusterData) error {
	if len(acts) == 0 {
		return nil
	}
	actor := r.Actor
	if actor == "" {
		actor = DefaultActor
	}
	moves := make([]liveMove, len(acts))
	for i, ar := range acts {
		d := data[ar.Cluster]
		gates := strings.Join(ar.Gates, ", ")
		if r.ExecutePlan != "" {
			gates += "; wave " + r.ExecutePlan
		}
		trailers := fmt.Sprintf("Flotilla-Promoted-By: %s\nFlotilla-Gate: %s\n", oneLine(actor), gates)
		h, err := r.promotionCommit(d, ar.Apps, trailers)
		if err != nil {
			return fmt.Errorf("cluster %s: write the promotion commit: %w", ar.Cluster, err)
		}
		moves[i] = liveMove{branch: r.Fleet.Config.LiveBranch(ar.Cluster), old: d.liveHead, new: h}
	}
	if r.Remote == "" {
		ups := make([]gitobj.RefUpdate, len(moves))
		for i, m := range moves {
			ups[i] = gitobj.RefUpdate{Name: plumbing.NewBranchReferenceName(m.branch), New: m.new, Old: m.old, Check: true}
		}
		if err := gitobj.UpdateRefs(r.Repo.Storer, ups); err != nil {
			if errors.Is(err, gitobj.ErrRefMoved) {
				var moved []string
				for _, m := range moves {
					if cur, rerr := gitobj.ReadRef(r.Repo.Storer, plumbing.NewBranchReferenceName(m.branch)); rerr != nil || cur != m.old {
						moved = append(moved, m.branch)
					}
				}
				return &LostRaceError{Branches: moved, Err: err}
			}
			return fmt.Errorf("move the live branches: %w", err)
		}
	} else {
		outs := make([]gitobj.RefUpdate, len(moves))
		refs := make([]gitobj.PushRef, len(moves))
		for i, m := range moves {
			out := plumbing.ReferenceName("refs/flotilla/out/" + m.branch)
			outs[i] = gitobj.RefUpdate{Name: out, New: m.new}
			// Not forced: the remote takes each only as a fast-forward of
			// what it holds, and receive-pack checks the old value we send.
			refs[i] = gitobj.PushRef{Src: out, Dst: plumbing.NewBranchReferenceName(m.branch)}
		}
		if err := gitobj.UpdateRefs(r.Repo.Storer, outs); err != nil {
			return err
		}
		if err := gitobj.Push(ctx, r.Repo.Storer, r.Remote, r.Auth, true, refs...); err != nil {
			if moved := r.movedOnRemote(ctx, moves); len(moved) > 0 {
				return &LostRaceError{Branches: moved, Err: err}
			}
			return err
		}
		tracking := make([]gitobj.RefUpdate, len(moves))
		for i, m := range moves {
			tracking[i] = gitobj.RefUpdate{Name: r.refName(m.branch), New: m.new}
		}
		if err := gitobj.UpdateRefs(r.Repo.Storer, tracking); err != nil {
			return err
		}
	}
	for i, ar := range acts {
		ar.Done, ar.Result = true, "pushed "+layout.Short(moves[i].new.String())+" to "+moves[i].branch
	}
	return nil
}

// movedOnRemote names the branches the remote holds at neither the
// value the pass read nor the one it pushed (nil when the remote cannot
// be read: the push error stands).
func (r *runner) movedOnRemote(ctx context.Context, moves []liveMove) []string {
	rem := git.NewRemote(r.Repo.Storer, &config.RemoteConfig{Name: "flotilla-check", URLs: []string{r.Remote}})
	list, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.Auth})
	if err != nil {
		return nil
	}
	held := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, ref := range list {
		held[ref.Name()] = ref.Hash()
	}
	var out []string
	for _, m := range moves {
		if cur := held[plumbing.NewBranchReferenceName(m.branch)]; cur != m.old && cur != m.new {
			out = append(out, m.branch)
		}
	}
	slices.Sort(out)
	return out
}

// liveMove is one live branch a direct push moves, from old to new.
type liveMove struct {
	branch   string
	old, new plumbing.Hash
}

// oneLine keeps a trailer value on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(redact.Text(s)), " ")
}
