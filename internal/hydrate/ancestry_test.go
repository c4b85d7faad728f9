package hydrate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// sameSecond is the date of both dry commits: dates cannot order them.
const sameSecond = "2026-01-02T00:00:00Z"

// shallowClone clones branch of origin one commit deep, as CI checkouts
// do, and opens it.
func shallowClone(t *testing.T, origin, branch string) (string, *git.Repository, DryCommit) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shallow")
	gittest.Clone(t, dir, "--depth=1", "-b", branch, "file://"+origin)
	if _, err := os.Stat(filepath.Join(dir, ".git/shallow")); err != nil {
		t.Fatalf("the clone is not shallow: %v", err)
	}
	repo, dry := openFleet(t, dir)
	return dir, repo, dry
}

// TestPublishNeverGoesBackInTime: two dry commits made in the same second,
// the older (B) a parent of the newer (C). A render of C published; then a
// slow CI run of B, in a shallow clone that has neither C nor any history,
// must keep the branch — ancestry decides, fetched as needed, never the
// dates. The other way round, a shallow run of C replaces a proposal from
// B. And a proposal from a dry commit the fleet's history does not hold
// is kept with the reason, since nothing can say it is older.
func TestPublishNeverGoesBackInTime(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	fleetRepo, _ := openFleet(t, checkout)
	b := gittest.Commit(t, checkout, sameSecond, "B")
	c := gittest.Commit(t, checkout, sameSecond, "C")
	gittest.Git(t, checkout, "push", "-q", "origin", "main")
	gittest.Git(t, origin, "branch", "old", b)
	// More history after C, so a shallow fetch of the branches alone
	// would not reach B.
	for range 3 {
		gittest.Commit(t, checkout, sameSecond, "later")
	}
	gittest.Git(t, checkout, "push", "-q", "origin", "main")
	gittest.Git(t, origin, "branch", "c", c)

	// The newer render publishes first.
	publish(t, &Publisher{Repo: fleetRepo, Remote: origin}, DryCommit{SHA: c, Subject: "C"}, tree("a", "2"))
	before := gittest.Refs(t, origin, "refs/heads/hydrated/")

	older, olderRepo, dry := shallowClone(t, origin, "old")
	if dry.SHA != b {
		t.Fatalf("the shallow clone is at %s, want B %s", dry.SHA, b)
	}
	results := publish(t, &Publisher{Repo: olderRepo, Remote: origin}, dry, tree("a", "1"))
	if results[0].Updated || !strings.Contains(results[0].Kept, "which is newer than") {
		t.Errorf("the older render: updated %v, kept %q; want the newer proposal kept", results[0].Updated, results[0].Kept)
	}
	if after := gittest.Refs(t, origin, "refs/heads/hydrated/"); after != before {
		t.Errorf("the older render moved the remote:\n%s\n->\n%s", before, after)
	}
	gittest.Git(t, older, "fsck", "--strict", "--no-dangling")
	gittest.Git(t, older, "log", "--format=%H", dry.SHA) // the history git sees is whole

	// A whole clone of B that never fetched C: C is fetched with its
	// history, and the clone stays whole (not made shallow).
	stale := filepath.Join(t.TempDir(), "stale")
	gittest.Clone(t, stale, "--single-branch", "-b", "old", "file://"+origin)
	if exec.Command("git", "-C", stale, "cat-file", "-e", c).Run() == nil {
		t.Fatal("the stale clone has C already")
	}
	staleRepo, staleDry := openFleet(t, stale)
	results = publish(t, &Publisher{Repo: staleRepo, Remote: origin}, staleDry, tree("a", "1"))
	if results[0].Updated || !strings.Contains(results[0].Kept, "which is newer than") {
		t.Errorf("the older whole clone: updated %v, kept %q; want the newer proposal kept", results[0].Updated, results[0].Kept)
	}
	if _, err := os.Stat(filepath.Join(stale, ".git/shallow")); err == nil {
		t.Error("the whole clone was made shallow")
	}
	gittest.Git(t, stale, "fsck", "--strict", "--no-dangling")

	// A proposal from B replaced by a shallow render of C.
	publish(t, &Publisher{Repo: fleetRepo, Remote: origin}, DryCommit{SHA: b, Subject: "B"}, tree("b", "1"))
	newer, newerRepo, dry := shallowClone(t, origin, "c")
	results = publish(t, &Publisher{Repo: newerRepo, Remote: origin}, dry, tree("b", "2"))
	if !results[0].Updated {
		t.Errorf("the newer render did not replace the older proposal: kept %q", results[0].Kept)
	}
	gittest.Git(t, newer, "fsck", "--strict", "--no-dangling")

	// A proposal from a dry commit nobody has.
	gone := strings.Repeat("1", 40)
	publish(t, &Publisher{Repo: fleetRepo, Remote: origin}, DryCommit{SHA: gone, Subject: "gone"}, tree("c", "1"))
	before = gittest.Refs(t, origin, "refs/heads/hydrated/")
	for _, repo := range []*git.Repository{fleetRepo, newerRepo} {
		results = publish(t, &Publisher{Repo: repo, Remote: origin}, dry, tree("c", "2"))
		if results[0].Updated || !strings.Contains(results[0].Kept, "cannot tell") || !strings.Contains(results[0].Kept, layout.Short(gone)) {
			t.Errorf("updated %v, kept %q; want the branch kept, saying why", results[0].Updated, results[0].Kept)
		}
	}
	if after := gittest.Refs(t, origin, "refs/heads/hydrated/"); after != before {
		t.Errorf("an undecided render moved the remote:\n%s\n->\n%s", before, after)
	}
}

// TestPublishDeepensAPlainClone: a plain git clone --depth 1, as CI
// makes it, holds refs/remotes/origin/HEAD, a symbolic ref. Render must
// still deepen it and replace a proposal from an older dry commit.
func TestPublishDeepensAPlainClone(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	fleetRepo, _ := openFleet(t, checkout)
	b := gittest.Commit(t, checkout, sameSecond, "B")
	for range 3 {
		gittest.Commit(t, checkout, sameSecond, "later")
	}
	gittest.Git(t, checkout, "push", "-q", "origin", "main")
	publish(t, &Publisher{Repo: fleetRepo, Remote: origin}, DryCommit{SHA: b, Subject: "B"}, tree("a", "1"))

	dir := filepath.Join(t.TempDir(), "ci")
	gittest.Clone(t, dir, "--depth", "1", "file://"+origin)
	if got := gittest.Git(t, dir, "symbolic-ref", "refs/remotes/origin/HEAD"); got != "refs/remotes/origin/main" {
		t.Fatalf("the clone's origin/HEAD is %q", got)
	}
	repo, dry := openFleet(t, dir)
	results := publish(t, &Publisher{Repo: repo, Remote: origin}, dry, tree("a", "2"))
	if !results[0].Updated {
		t.Errorf("the newer render did not replace the older proposal: kept %q", results[0].Kept)
	}
	gittest.Git(t, dir, "fsck", "--strict", "--no-dangling")
}

// countingStorer counts the commits read from a real (in-memory) storage.
type countingStorer struct {
	*memory.Storage
	reads int
}

func (c *countingStorer) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	c.reads++
	return c.Storage.EncodedObject(t, h)
}

// TestAncestryWalksOursOnce: deciding many branches rendered from
// distinct dry commits — older ones, and newer ones a few commits ahead of
// ours — walks ours' history once; each newer one costs only the walk
// from it down to ours, not another walk of the whole history.
func TestAncestryWalksOursOnce(t *testing.T) {
	t.Parallel()
	const history, ahead = 2000, 40
	s := &countingStorer{Storage: memory.NewStorage()}
	sig := object.Signature{Name: "f", Email: "f@example.com", When: when}
	var chain []plumbing.Hash
	for i := range history + ahead {
		c := &object.Commit{Author: sig, Committer: sig, Message: fmt.Sprint("c", i), TreeHash: plumbing.ZeroHash}
		if i > 0 {
			c.ParentHashes = []plumbing.Hash{chain[i-1]}
		}
		o := s.NewEncodedObject()
		if err := c.Encode(o); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetEncodedObject(o); err != nil {
			t.Fatal(err)
		}
		chain = append(chain, o.Hash())
	}
	ours := chain[history-1]
	l, err := newLineage(s, ours)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ahead {
		if o := l.order(chain[history+i]); o != orderAfter {
			t.Errorf("commit %d ahead: order %d, want newer", i+1, o)
		}
		if o := l.order(chain[history-1-i*7]); o != orderBefore {
			t.Errorf("commit %d behind: order %d, want older", i*7, o)
		}
	}
	// ours' history once, then 1+2+...+ahead for the newer ones.
	if limit := history + ahead*(ahead+1)/2; s.reads > limit {
		t.Errorf("%d commit reads for %d decisions over a %d-commit history; want at most %d", s.reads, 2*ahead, history, limit)
	}
}

// TestGoGitFetchDoesNotDeepen is why deepen talks to upload-pack itself
// rather than using go-git's Fetch with a Depth: go-git fetches the older
// commits into a shallow clone but keeps the old boundary in the shallow
// file (it ignores the server's "unshallow" lines), so git and go-git
// still stop at the first commit and the ancestry stays unknown; deepen
// moves the boundary as git fetch --deepen does. When go-git's own does
// deepen, this test fails: use it then.
func TestGoGitFetchDoesNotDeepen(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	for i := range 3 {
		gittest.Commit(t, checkout, sameSecond, fmt.Sprint("later ", i))
	}
	gittest.Git(t, checkout, "push", "-q", "origin", "main")
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		deepen func(t *testing.T, repo *git.Repository, head plumbing.Hash)
		want   string // commits git log sees
	}{
		{"go-git's Fetch", func(t *testing.T, repo *git.Repository, head plumbing.Hash) {
			err := repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", Depth: 3,
				RefSpecs: []config.RefSpec{"+refs/heads/main:refs/remotes/origin/main"}})
			if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
				t.Fatal(err)
			}
		}, "1"},
		{"deepen", func(t *testing.T, repo *git.Repository, head plumbing.Hash) {
			if _, _, err := deepen(ctx, repo, "file://"+origin, nil, 3, []plumbing.Hash{head}, ""); err != nil {
				t.Fatal(err)
			}
		}, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := gittest.Clone(t, filepath.Join(t.TempDir(), "ci"), "--depth", "1", "file://"+origin)
			repo, dry := openFleet(t, dir)
			tc.deepen(t, repo, plumbing.NewHash(dry.SHA))
			shallow, _ := os.ReadFile(filepath.Join(dir, ".git/shallow"))
			if got := gittest.Git(t, dir, "rev-list", "--count", "HEAD"); got != tc.want {
				t.Errorf("after deepening to 3, git log sees %s commits, want %s; shallow file:\n%s", got, tc.want, shallow)
			}
			// Both fetched the older commits: only the boundary differs.
			if err := exec.Command("git", "-C", dir, "cat-file", "-e", gittest.Git(t, checkout, "rev-parse", "HEAD~2")).Run(); err != nil {
				t.Errorf("the commits below the boundary were not fetched: %v", err)
			}
		})
	}
}
