package hydrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

const liveBranch = "hydrated/c"

// hydratedOrigin makes a bare origin whose hydrated/c holds one app, and
// a writer checkout of it that moves the branch (commit and push).
// A date of "" commits without pushing.
func hydratedOrigin(t *testing.T) (origin string, commit func(date, replicas string) string) {
	t.Helper()
	writer, origin := gittest.Fleet(t, t.TempDir())
	gittest.Git(t, writer, "checkout", "-q", "-b", liveBranch)
	commit = func(date, replicas string) string {
		t.Helper()
		writeApp(t, writer, replicas)
		push := date != ""
		if !push {
			date = "2026-02-01T00:00:00Z"
		}
		sha := gittest.Commit(t, writer, date, "hydrate c: replicas "+replicas)
		if push {
			gittest.Git(t, writer, "push", "-q", "origin", liveBranch)
		}
		return sha
	}
	return origin, commit
}

func writeApp(t *testing.T, dir, replicas string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web", ManifestFile), []byte("kind: ConfigMap\ndata: {replicas: \""+replicas+"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readHead(t *testing.T, repo string) (string, error) {
	t.Helper()
	snap, err := ReadBranch(t.Context(), repo, liveBranch, nil)
	if err != nil {
		return "", err
	}
	return snap.Commit, nil
}

// TestReadBranchNeverGoesBackInTime: a checkout whose hydrated branch is
// behind origin's (fetched, not merged) is read at origin's commit; one
// with commits not pushed yet at its own; one that has diverged is
// refused with a DivergedError. Commit dates are set to mislead: the
// stale and the diverged local commits are the most recent.
func TestReadBranchNeverGoesBackInTime(t *testing.T) {
	t.Parallel()
	origin, push := hydratedOrigin(t)
	first := push("2027-01-01T00:00:00Z", "1") // the newest by date

	clone := filepath.Join(t.TempDir(), "clone")
	gittest.Clone(t, clone, "-b", liveBranch, origin)
	if got, err := readHead(t, clone); err != nil || got != first {
		t.Fatalf("in step: %s, %v; want %s", got, err, first)
	}
	// Stale: origin moved on, the checkout fetched but kept its branch.
	second := push("2026-01-02T00:00:00Z", "2")
	gittest.Git(t, clone, "fetch", "-q", "origin")
	if got, err := readHead(t, clone); err != nil || got != second {
		t.Errorf("behind origin: read %s, %v; want origin's %s", got, err, second)
	}
	// Ahead: a local commit on top of origin's, not pushed yet.
	gittest.Git(t, clone, "reset", "-q", "--hard", second)
	writeApp(t, clone, "3")
	ahead := gittest.Commit(t, clone, "2025-01-01T00:00:00Z", "local")
	if got, err := readHead(t, clone); err != nil || got != ahead {
		t.Errorf("ahead of origin: read %s, %v; want the local %s", got, err, ahead)
	}
	// Diverged: origin moved on from second too.
	theirs := push("2026-01-03T00:00:00Z", "4")
	gittest.Git(t, clone, "fetch", "-q", "origin")
	_, err := readHead(t, clone)
	var d *DivergedError
	if !errors.As(err, &d) || d.Local != ahead || d.Theirs != theirs {
		t.Fatalf("diverged: %v; want a DivergedError between %s and %s", err, ahead, theirs)
	}
	want := fmt.Sprintf("hydrated/c in %s has diverged from origin/hydrated/c (local %s, remote %s): neither descends from the other, so which one the cluster should run is unclear; reset the local branch to the remote's (git branch -f hydrated/c origin/hydrated/c), or merge and push it",
		clone, ahead[:12], theirs[:12])
	if err.Error() != want {
		t.Errorf("diverged:\n got %s\nwant %s", err, want)
	}
	// Only a remote-tracking branch, or only a local one: that one.
	gittest.Git(t, clone, "checkout", "-q", "--detach")
	gittest.Git(t, clone, "branch", "-q", "-D", liveBranch)
	if got, err := readHead(t, clone); err != nil || got != theirs {
		t.Errorf("tracking branch only: read %s, %v; want %s", got, err, theirs)
	}
	gittest.Git(t, clone, "branch", "-q", liveBranch, ahead)
	gittest.Git(t, clone, "update-ref", "-d", "refs/remotes/origin/"+liveBranch)
	if got, err := readHead(t, clone); err != nil || got != ahead {
		t.Errorf("local branch only: read %s, %v; want %s", got, err, ahead)
	}
}

// TestReadBranchDeepensAShallowClone: a depth-1 clone fetched origin's
// newer head with depth 1 as well, so neither history reaches the other.
// The clone is deepened from origin (twice: the first step is too short)
// until ancestry decides, dates notwithstanding, and its shallow list
// leaves git the whole history. A diverged shallow clone is refused once
// its history is complete.
func TestReadBranchDeepensAShallowClone(t *testing.T) {
	t.Parallel()
	origin, push := hydratedOrigin(t)
	push("2026-01-01T00:00:00Z", "0")
	local := push("2027-06-01T00:00:00Z", "1") // newer by date than all that follows

	clone := filepath.Join(t.TempDir(), "clone")
	gittest.Clone(t, clone, "--depth", "1", "-b", liveBranch, "file://"+origin)
	diverged := filepath.Join(t.TempDir(), "diverged")
	gittest.Clone(t, diverged, "--depth", "1", "-b", liveBranch, "file://"+origin)
	writeApp(t, diverged, "local")
	gittest.Commit(t, diverged, "2028-01-01T00:00:00Z", "not pushed")
	var head string
	for i := range 69 {
		push("", fmt.Sprint(i+2))
	}
	head = push("2026-02-02T00:00:00Z", "71")
	for _, c := range []string{clone, diverged} {
		gittest.Git(t, c, "fetch", "-q", "--depth", "1", "origin", "+"+liveBranch+":refs/remotes/origin/"+liveBranch)
		if n := gittest.Git(t, c, "rev-list", "--count", "origin/"+liveBranch); n != "1" {
			t.Fatalf("origin/%s has %s commits in %s; want a shallow 1", liveBranch, n, c)
		}
	}
	if got, err := readHead(t, clone); err != nil || got != head {
		t.Fatalf("shallow clone behind origin: read %s, %v; want origin's %s", got, err, head)
	}
	if got := gittest.Git(t, clone, "rev-list", "--count", "origin/"+liveBranch); got != "73" {
		t.Errorf("after deepening git sees %s commits on origin/%s; want all 73", got, liveBranch)
	}
	if got := gittest.Git(t, clone, "merge-base", "--is-ancestor", local, "origin/"+liveBranch); got != "" {
		t.Error(got)
	}
	gittest.Git(t, clone, "fsck", "--no-dangling", "--no-progress")

	_, err := readHead(t, diverged)
	var d *DivergedError
	if !errors.As(err, &d) || d.Theirs != head {
		t.Errorf("diverged shallow clone: %v; want a DivergedError with origin's %s", err, head)
	}
}

// TestReadBranchDeepensToTheRemotesHead: the remote moved on after the
// shallow clone's last fetch. Deepening (the same crash-safe fetch render
// uses) moves the tracking branch to the remote's head, as git fetch
// --deepen does, and that head is read; git agrees with the refs and the
// shallow list left behind.
func TestReadBranchDeepensToTheRemotesHead(t *testing.T) {
	t.Parallel()
	origin, push := hydratedOrigin(t)
	push("2026-01-01T00:00:00Z", "0")
	clone := filepath.Join(t.TempDir(), "clone")
	gittest.Clone(t, clone, "--depth", "1", "-b", liveBranch, "file://"+origin)
	push("2026-01-02T00:00:00Z", "1")
	push("2026-01-03T00:00:00Z", "2")
	gittest.Git(t, clone, "fetch", "-q", "--depth", "1", "origin", "+"+liveBranch+":refs/remotes/origin/"+liveBranch)
	head := push("2025-01-04T00:00:00Z", "3")
	if got, err := readHead(t, clone); err != nil || got != head {
		t.Fatalf("read %s, %v; want the remote's head %s", got, err, head)
	}
	if got := gittest.Git(t, clone, "rev-parse", "origin/"+liveBranch); got != head {
		t.Errorf("origin/%s is at %s; want the remote's head %s", liveBranch, got, head)
	}
	gittest.Git(t, clone, "fsck", "--strict", "--no-dangling", "--no-progress")
}

// TestReadBranchShallowWithoutItsRemote: a shallow history that cannot be
// deepened (its remote is gone) is an error that says what to do, not a
// guess.
func TestReadBranchShallowWithoutItsRemote(t *testing.T) {
	t.Parallel()
	origin, push := hydratedOrigin(t)
	push("2026-01-01T00:00:00Z", "0")
	push("2026-01-02T00:00:00Z", "1")
	clone := filepath.Join(t.TempDir(), "clone")
	gittest.Clone(t, clone, "--depth", "1", "-b", liveBranch, "file://"+origin)
	push("2026-01-03T00:00:00Z", "2")
	push("2026-01-04T00:00:00Z", "3")
	gittest.Git(t, clone, "fetch", "-q", "--depth", "1", "origin", "+"+liveBranch+":refs/remotes/origin/"+liveBranch)
	if err := os.RemoveAll(origin); err != nil {
		t.Fatal(err)
	}
	_, err := readHead(t, clone)
	if err == nil || !strings.Contains(err.Error(), "the clone is shallow, and deepening it failed") {
		t.Errorf("got %v; want an error about deepening the shallow clone", err)
	}
}

// FuzzNewerOf builds a commit graph from the input — each commit with up to
// two parents among the earlier ones, some of them missing from storage as
// beyond a shallow clone's boundary — and checks newerOf against the whole
// graph: an answer is always true (the commit returned descends from the
// other, a DivergedError means neither does), and it is undecided only when
// a missing commit is in one of the two histories. Render's question
// (lineage.order: is theirs newer?) is checked the same way.
func FuzzNewerOf(f *testing.F) {
	f.Add([]byte{5, 1, 0, 1, 1, 2, 2, 0, 1, 0, 0, 0, 0, 3, 4})
	f.Add([]byte{8, 0, 1, 0, 1, 1, 2, 2, 1, 3, 1, 4, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 6, 7})
	f.Add([]byte{3, 0, 0, 1, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		n := 2 + next()%40
		parents := make([][]int, n)
		for i := 1; i < n; i++ {
			for range next() % 3 {
				parents[i] = append(parents[i], next()%i)
			}
		}
		missing := make([]bool, n)
		for i := range missing {
			missing[i] = next()%4 == 0
		}
		local, theirs := next()%n, next()%n
		missing[local], missing[theirs] = false, false

		s := memory.NewStorage()
		hashes := make([]plumbing.Hash, n)
		sig := object.Signature{Name: "f", Email: "f@example.com", When: when}
		for i := range n {
			c := &object.Commit{Author: sig, Committer: sig, Message: fmt.Sprint("c", i), TreeHash: plumbing.ZeroHash}
			for _, p := range parents[i] {
				c.ParentHashes = append(c.ParentHashes, hashes[p])
			}
			o := s.NewEncodedObject()
			if err := c.Encode(o); err != nil {
				t.Fatal(err)
			}
			hashes[i] = o.Hash()
			if !missing[i] {
				if _, err := s.SetEncodedObject(o); err != nil {
					t.Fatal(err)
				}
			}
		}
		// history returns what from reaches in the whole graph.
		history := func(from int) map[int]bool {
			seen := map[int]bool{from: true}
			for queue := []int{from}; len(queue) > 0; queue = queue[1:] {
				for _, p := range parents[queue[0]] {
					if !seen[p] {
						seen[p] = true
						queue = append(queue, p)
					}
				}
			}
			return seen
		}
		hl, ht := history(local), history(theirs)
		cut := false
		for i := range n {
			cut = cut || missing[i] && (hl[i] || ht[i])
		}
		// Render's question (is theirs newer?) from the same decision:
		// never a wrong "newer", and "not newer" only when true.
		l, err := newLineage(s, hashes[local])
		if err != nil {
			t.Fatal(err)
		}
		switch o := l.order(hashes[theirs]); o {
		case orderAfter:
			if !ht[local] || local == theirs {
				t.Errorf("order says %d is newer than %d: %v", theirs, local, parents)
			}
		case orderBefore, orderNotAfter, orderDiverged:
			if ht[local] && local != theirs {
				t.Errorf("order %d says %d is not newer than %d: %v", o, theirs, local, parents)
			}
		case orderUnknown:
			if !cut {
				t.Errorf("order unknown between %d and %d with no commit missing: %v", local, theirs, parents)
			}
		}
		got, err := newerOf(s, hashes[local], hashes[theirs])
		var d *DivergedError
		switch {
		case errors.As(err, &d):
			if ht[local] || hl[theirs] {
				t.Errorf("diverged, but %d and %d are related: %v", local, theirs, parents)
			}
		case errors.Is(err, ErrUndecided):
			if !cut {
				t.Errorf("undecided between %d and %d with no commit missing from their histories: %v", local, theirs, parents)
			}
		case err != nil:
			t.Fatal(err)
		case got == hashes[theirs]:
			if !ht[local] {
				t.Errorf("picked theirs (%d), which does not descend from local (%d): %v", theirs, local, parents)
			}
		case got == hashes[local]:
			if !hl[theirs] {
				t.Errorf("picked local (%d), which does not descend from theirs (%d): %v", local, theirs, parents)
			}
		default:
			t.Errorf("picked %s, neither", got)
		}
	})
}

// TestReadBranchMissing: a branch that does not exist is ErrNoBranch, by
// type, from a path and from a URL (cloned in memory).
func TestReadBranchMissing(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	publish(t, &Publisher{Repo: repo, Remote: origin}, dry, tree("a", "1"))
	for _, where := range []string{origin, "file://" + origin} {
		if _, err := ReadBranch(t.Context(), where, "hydrated/a-next", nil); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if _, err := ReadBranch(t.Context(), where, "hydrated/nope-next", nil); !errors.Is(err, ErrNoBranch) {
			t.Errorf("%s: err = %v (%T), want ErrNoBranch", where, err, errors.Unwrap(err))
		}
	}
}
