package hydrate

import (
	"context"
	"errors"
	"fmt"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
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
		e.Branch, e.Repo, e.Remote, short(e.Local), short(e.Theirs), e.Branch, e.Remote)
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
				branch, short(local.String()), remote, branch, short(theirs.String()), repo, err, remote, remote)
		}
		if err := deepen(ctx, r, remote, branch, deepenSteps[step], auth); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("compare %s with %s/%s in %s: the clone is shallow, and deepening it failed: %w", branch, remote, branch, repo, err)
		}
	}
}

// newerOf returns the commit that descends from the other. err is a
// DivergedError (without repository and names, filled in by the caller)
// when neither does, and wraps ErrUndecided when a history stops at a
// commit whose parents are missing before the answer.
func newerOf(s interface {
	storer.EncodedObjectStorer
	storer.ShallowStorer
}, local, theirs plumbing.Hash) (plumbing.Hash, error) {
	shallow, err := s.Shallow()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	found, completeTheirs := reaches(s, shallow, theirs, local)
	if found {
		return theirs, nil
	}
	found, completeLocal := reaches(s, shallow, local, theirs)
	if found {
		return local, nil
	}
	if completeTheirs && completeLocal {
		return plumbing.ZeroHash, &DivergedError{Local: local.String(), Theirs: theirs.String()}
	}
	return plumbing.ZeroHash, ErrUndecided
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

// deepen fetches branch from remote to depth commits, moving its tracking
// branch to the remote's head as git fetch --deepen does, and then drops
// from the shallow list the commits whose parents are now at hand (go-git
// only adds to it; git would go on hiding their history).
func deepen(ctx context.Context, r *git.Repository, remote, branch string, depth int, auth func(url string) transport.AuthMethod) error {
	rem, err := r.Remote(remote)
	if err != nil {
		return fmt.Errorf("remote %s: %w", remote, err)
	}
	url := ""
	if urls := rem.Config().URLs; len(urls) > 0 {
		url = urls[0]
	}
	var a transport.AuthMethod
	if auth != nil {
		a = auth(url)
	}
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), plumbing.NewRemoteReferenceName(remote, branch)))
	err = r.FetchContext(ctx, &git.FetchOptions{RemoteName: remote, RefSpecs: []config.RefSpec{spec}, Depth: depth, Auth: a, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s from %s: %w", branch, redact.URL(url), err)
	}
	shallow, err := r.Storer.Shallow()
	if err != nil {
		return err
	}
	var still []plumbing.Hash
	for _, h := range shallow {
		c, err := object.GetCommit(r.Storer, h)
		if err != nil {
			continue
		}
		for _, p := range c.ParentHashes {
			if _, err := r.Storer.EncodedObject(plumbing.CommitObject, p); err != nil {
				still = append(still, h)
				break
			}
		}
	}
	if len(still) != len(shallow) {
		return r.Storer.SetShallow(still)
	}
	return nil
}
