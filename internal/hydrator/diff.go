package hydrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	rpt "github.com/flotilla-dev/flotilla/internal/report"
)

// runDiff renders the fleet at o.DiffBase and as checked out, without any
// cluster, and compares them. Any error is the input's fault unless
// classified (a remote's failure).
func runDiff(ctx context.Context, o Options) (*rpt.FleetDiff, error) {
	head, err := renderedFleet(ctx, o, o.Fleet)
	if err != nil {
		return nil, orInput(err)
	}
	baseDir, err := checkoutRef(o.Fleet, o.DiffBase)
	if err != nil {
		return nil, orInput(err)
	}
	defer os.RemoveAll(baseDir)
	base, err := renderedFleet(ctx, o, baseDir)
	if err != nil {
		return nil, orInput(fmt.Errorf("the base %s does not render: %w", o.DiffBase, err))
	}
	d, err := rpt.CompareFleets(base, head)
	if err != nil {
		return nil, orInput(err)
	}
	return d, nil
}

// renderedFleet renders every cluster of the fleet in dir, in memory.
func renderedFleet(ctx context.Context, o Options, dir string) (rpt.Fleet, error) {
	o.Fleet, o.ShardIndex, o.ShardCount, o.KeepGoing = dir, 0, 1, false // a diff is all or nothing
	p, err := load(ctx, o)
	if err != nil {
		return nil, err
	}
	defer p.close()
	if err := p.build(ctx, o); err != nil {
		return nil, err
	}
	out := rpt.Fleet{}
	for _, t := range p.trees {
		apps := map[string][]byte{}
		for _, a := range t.Apps {
			apps[a.Name] = a.Manifest
		}
		out[t.Cluster.Name] = apps
	}
	return out, nil
}

// checkoutRef writes the fleet folder as it is at ref into a new temporary
// directory.
func checkoutRef(fleetDir, ref string) (string, error) {
	abs, err := filepath.Abs(fleetDir)
	if err != nil {
		return "", err
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return "", fmt.Errorf("%w: --diff-base needs the fleet in a Git repository: %v", errUsage, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(wt.Filesystem.Root(), abs)
	if err != nil {
		return "", err
	}
	h, err := repo.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return "", fmt.Errorf("%w: --diff-base %s: no such revision (fetch it first, e.g. git fetch origin main)", errUsage, ref)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return "", err
	}
	tree, err := c.Tree()
	if err != nil {
		return "", err
	}
	if rel != "." {
		if tree, err = tree.Tree(filepath.ToSlash(rel)); err != nil {
			return "", fmt.Errorf("--diff-base %s: the fleet folder %s does not exist there", ref, rel)
		}
	}
	dir, err := os.MkdirTemp("", "flotilla-base-")
	if err != nil {
		return "", err
	}
	err = tree.Files().ForEach(func(f *object.File) error {
		if !f.Mode.IsFile() {
			return nil // symbolic links and submodules are not followed
		}
		content, err := f.Contents()
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(content), 0o644)
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", errors.Join(fmt.Errorf("check out %s", ref), err)
	}
	return dir, nil
}
