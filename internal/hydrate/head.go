package hydrate

import (
	"context"
	"errors"
	"fmt"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// DivergedError means a checkout's branch and its remote's tracking branch
// have diverged: neither commit descends from the other, so which one a
// cluster should run is not for Flotilla to guess.
type DivergedError struct {
	Repo, Branch string
	// Remote is the remote's tracking branch, "origin/<branch>".
	Remote        string
	Local, Theirs string
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("%s in %s has diverged from %s (local %s, remote %s): neither descends from the other, so which one the cluster should run is unclear; "+
		"reset the local branch to the remote's (git branch -f %s %s), or merge and push it",
		e.Branch, e.Repo, e.Remote, layout.Short(e.Local), layout.Short(e.Theirs), e.Branch, e.Remote)
}

// ErrUndecided means the history at hand (a shallow clone's, deepened as far
// as the remote allows) cannot tell whether a branch or its remote's
// tracking branch is newer.
var ErrUndecided = errors.New("cannot tell which is newer")

// branchHead picks the commit of branch in a repository on disk. When the
// checkout holds both the branch and its remote's tracking branch and they
// differ, ancestry decides, never commit dates: the remote's commit when it
// descends from the local one (the local branch is stale), the local one
// when it descends from the remote's (commits not pushed yet, as render
// --no-push and the local forge make them), and a DivergedError otherwise.
// A shallow history that stops before the answer is deepened from the
// remote (auth gives the credentials for its URL).
func branchHead(ctx context.Context, r *git.Repository, repo, branch string, auth func(url string) transport.AuthMethod) (plumbing.Hash, error) {
	repo = redact.URL(repo) // only ever shown
	remote := trackingRemote(r, branch)
	tracking := plumbing.NewRemoteReferenceName(remote, branch)
	for step := 0; ; step++ {
		// Read as git does: lock files skipped, an empty ref file (a killed
		// writer) reported rather than taken as missing.
		local, err := gitobj.ReadRef(r.Storer, plumbing.NewBranchReferenceName(branch))
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read %s in %s: %w", branch, repo, err)
		}
		theirs, err := gitobj.ReadRef(r.Storer, tracking)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read %s in %s: %w", tracking, repo, err)
		}
		switch {
		case local.IsZero() && theirs.IsZero():
			return plumbing.ZeroHash, fmt.Errorf("%w: %s in %s", ErrNoBranch, branch, repo)
		case theirs.IsZero():
			return local, nil
		case local.IsZero(), local == theirs:
			return theirs, nil
		}
		newer, err := newerOf(r.Storer, local, theirs)
		if err == nil {
			return newer, nil
		}
		var d *DivergedError
		if errors.As(err, &d) {
			d.Repo, d.Branch, d.Remote = repo, branch, remote+"/"+branch
			return plumbing.ZeroHash, d
		}
		if !errors.Is(err, ErrUndecided) {
			return plumbing.ZeroHash, fmt.Errorf("compare %s with %s/%s in %s: %w", branch, remote, branch, repo, err)
		}
		if step == len(deepenSteps) {
			return plumbing.ZeroHash, fmt.Errorf("compare %s (%s) with %s/%s (%s) in %s: %w: their history is cut even after fetching all of it from %s; run git fetch --unshallow %s and try again",
				branch, layout.Short(local.String()), remote, branch, layout.Short(theirs.String()), repo, err, remote, remote)
		}
		full, err := deepenTracking(ctx, r, remote, branch, tracking, theirs, deepenSteps[step], auth)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("compare %s with %s/%s in %s: the clone is shallow, and deepening it failed: %w", branch, remote, branch, repo, err)
		}
		if full {
			step = len(deepenSteps) - 1
		}
	}
}

// trackingRemote is the remote branch's upstream is configured on, else
// origin.
func trackingRemote(r *git.Repository, branch string) string {
	if cfg, err := r.Config(); err == nil {
		if b := cfg.Branches[branch]; b != nil && b.Remote != "" && b.Remote != "." {
			return b.Remote
		}
	}
	return "origin"
}

// deepenTracking deepens r's history of branch from remote depth commits,
// as git fetch --deepen does, and moves the tracking branch (at theirs)
// to the remote's head, written as git writes refs. full is true when the
// history is whole now.
func deepenTracking(ctx context.Context, r *git.Repository, remote, branch string, tracking plumbing.ReferenceName, theirs plumbing.Hash, depth int, auth func(url string) transport.AuthMethod) (full bool, err error) {
	rem, err := r.Remote(remote)
	if err != nil {
		return false, fmt.Errorf("remote %s: %w", remote, err)
	}
	url := ""
	if urls := rem.Config().URLs; len(urls) > 0 {
		url = urls[0]
	}
	var a transport.AuthMethod
	if auth != nil {
		a = auth(url)
	}
	head, full, err := deepen(ctx, r, url, a, depth, nil, branch)
	if err != nil {
		return false, err
	}
	if head != theirs {
		err := gitobj.UpdateRefs(r.Storer, []gitobj.RefUpdate{{Name: tracking, New: head, Old: theirs, Check: true}})
		if err != nil && !errors.Is(err, gitobj.ErrRefMoved) { // moved: read again
			return false, fmt.Errorf("record %s: %w", tracking, err)
		}
	}
	return full, nil
}
