package hydrator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/policy"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
	"github.com/flotilla-dev/flotilla/internal/source"
)

// runDiff renders the fleet at o.DiffBase and as checked out, without any
// cluster, and compares them. Any error is the input's fault unless
// classified (a remote's failure).
func runDiff(ctx context.Context, o Options) (*rpt.FleetDiff, error) {
	head, gate, err := renderedFleet(ctx, o, o.Fleet, true)
	if err != nil {
		return nil, orInput(err)
	}
	rev, rel, err := revisionOf(o.Fleet, o.DiffBase)
	if err != nil {
		return nil, orInput(err)
	}
	baseFS, err := fs.Sub(rev, rel)
	if err != nil {
		return nil, orInput(err)
	}
	if _, err := fleet.LoadFS(baseFS); err != nil {
		return nil, orInput(fmt.Errorf("the base %s does not render: %w", o.DiffBase, err))
	}
	// The builds read a directory (render.Checkouts), so the base they
	// build is still written out, from the same revision.
	baseDir, err := checkoutRef(rev, rel, o.DiffBase)
	if err != nil {
		return nil, orInput(err)
	}
	defer os.RemoveAll(baseDir)
	base, _, err := renderedFleet(ctx, o, baseDir, false)
	if err != nil {
		return nil, orInput(fmt.Errorf("the base %s does not render: %w", o.DiffBase, err))
	}
	d, err := rpt.CompareFleets(base, head)
	if err != nil {
		return nil, orInput(err)
	}
	if gate.Denied > 0 {
		d.Policy = gate // a fleet nothing denies keeps its diff as it was
	}
	return d, nil
}

// renderedFleet renders every cluster of the fleet in dir, in memory, and
// with policies evaluates each cluster's render as render's gate does.
func renderedFleet(ctx context.Context, o Options, dir string, policies bool) (rpt.Fleet, *PolicyReport, error) {
	o.Fleet, o.ShardIndex, o.ShardCount, o.KeepGoing = dir, 0, 1, false // a diff is all or nothing
	p, err := load(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	defer p.close()
	if err := p.build(ctx, o); err != nil {
		return nil, nil, err
	}
	gate := &PolicyReport{}
	if policies {
		reports, err := evaluateTrees(ctx, p.fleet, p.trees, o.Concurrency, false)
		if err != nil {
			return nil, nil, err
		}
		gate = policy.Summarize(reports)
	}
	out := rpt.Fleet{}
	for _, t := range p.trees {
		apps := map[string][]byte{}
		for _, a := range t.Apps {
			apps[a.Name] = a.Manifest
		}
		out[t.Cluster.Name] = apps
	}
	return out, gate, nil
}

// revisionOf returns the revision ref of the fleet's repository and the
// fleet folder in it ("." or slash-separated).
func revisionOf(fleetDir, ref string) (*source.Revision, string, error) {
	abs, err := filepath.Abs(fleetDir)
	if err != nil {
		return nil, "", err
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, "", fmt.Errorf("%w: --diff-base needs the fleet in a Git repository: %v", errUsage, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(wt.Filesystem.Root(), abs)
	if err != nil {
		return nil, "", err
	}
	rev, err := source.RevisionFS(repo, ref)
	if errors.Is(err, source.ErrNoRevision) {
		return nil, "", fmt.Errorf("%w: --diff-base %s: no such revision (fetch it first, e.g. git fetch origin main)", errUsage, ref)
	}
	if err != nil {
		return nil, "", err
	}
	rel = filepath.ToSlash(rel)
	if st, err := rev.Lstat(rel); err != nil || !st.IsDir() {
		return nil, "", fmt.Errorf("--diff-base %s: the fleet folder %s does not exist there", ref, rel)
	}
	return rev, rel, nil
}

// checkoutRef writes the fleet folder rel as it is at ref into a new
// temporary directory (see source.Revision.Checkout).
func checkoutRef(rev *source.Revision, rel, ref string) (string, error) {
	dir, err := os.MkdirTemp("", "flotilla-base-")
	if err != nil {
		return "", err
	}
	if err := rev.Checkout(rel, dir); err != nil {
		os.RemoveAll(dir)
		return "", errors.Join(fmt.Errorf("check out %s", ref), err)
	}
	return dir, nil
}
