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

// deepenSteps are the depths a shallow history is fetched to, one after the
// other, until ancestry is decided; the last is git's --unshallow.
var deepenSteps = []int{64, 1024, 1<<31 - 1}

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
		local, lerr := r.Reference(plumbing.NewBranchReferenceName(branch), true)
		theirs, rerr := r.Reference(tracking, true)
		switch {
		case lerr != nil && rerr != nil:
			return plumbing.ZeroHash, fmt.Errorf("%w: %s in %s", ErrNoBranch, branch, repo)
		case rerr != nil:
			return local.Hash(), nil
		case lerr != nil, local.Hash() == theirs.Hash():
			return theirs.Hash(), nil
		}
		newer, err := newerOf(r.Storer, local.Hash(), theirs.Hash())
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
				branch, short(local.Hash().String()), remote, branch, short(theirs.Hash().String()), repo, err, remote, remote)
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
func newerOf(s storer.EncodedObjectStorer, local, theirs plumbing.Hash) (plumbing.Hash, error) {
	found, completeTheirs, err := reaches(s, theirs, local)
	if err != nil || found {
		return theirs, err
	}
	found, completeLocal, err := reaches(s, local, theirs)
	if err != nil || found {
		return local, err
	}
	if completeTheirs && completeLocal {
		return plumbing.ZeroHash, &DivergedError{Local: local.String(), Theirs: theirs.String()}
	}
	return plumbing.ZeroHash, ErrUndecided
}

// reaches reports whether target is in the history of from (from included).
// complete is false when the walk met a commit whose parents are missing,
// the boundary of a shallow clone: then a false found is not final.
func reaches(s storer.EncodedObjectStorer, from, target plumbing.Hash) (found, complete bool, err error) {
	seen := map[plumbing.Hash]bool{from: true}
	queue := []plumbing.Hash{from}
	complete = true
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == target {
			return true, true, nil
		}
		c, err := object.GetCommit(s, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			complete = false
			continue
		}
		if err != nil {
			return false, false, fmt.Errorf("read commit %s: %w", short(h.String()), err)
		}
		for _, p := range c.ParentHashes {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, complete, nil
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
		return fmt.Errorf("fetch %s from %s: %w", branch, RedactURL(url), err)
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
