package local

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

func TestStatusesAsGitNotes(t *testing.T) {
	t.Parallel()
	repo, _ := gittest.Fleet(t, t.TempDir())
	sha := gittest.Git(t, repo, "rev-parse", "HEAD")
	f, err := Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	f.Now = func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	ctx := t.Context()
	for _, s := range []forge.Status{
		{Context: "flotilla/verify/web", State: forge.StatePending, Description: "not applied yet"},
		{Context: "flotilla/verify/db", State: forge.StateFailure, Description: strings.Repeat("x", 200)},
		{Context: "flotilla/verify/web", State: forge.StateSuccess, Description: "in sync"},
	} {
		if err := f.SetStatus(ctx, sha, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.Statuses(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Context != "flotilla/verify/db" || got[1].State != forge.StateSuccess || len([]rune(got[0].Description)) != forge.MaxDescription {
		t.Errorf("statuses: %+v", got)
	}
	if note := gittest.Git(t, repo, "notes", "--ref=flotilla", "show", sha); !strings.Contains(note, `"description": "in sync"`) {
		t.Errorf("git notes show: %s", note)
	}
	if err := f.SetStatus(ctx, strings.Repeat("0", 40), forge.Status{Context: "x", State: forge.StateSuccess}); err == nil {
		t.Error("a status on a commit that does not exist was accepted")
	}
	// Another commit has no statuses.
	other := gittest.Commit(t, repo, "2026-01-02T00:00:00Z", "next")
	if s, err := f.Statuses(ctx, other); err != nil || len(s) != 0 {
		t.Errorf("statuses of another commit: %v %v", s, err)
	}
}

// TestMergeKilledBeforeItsRecord: a merge is two steps — the merge commit
// on the base, then the record in the forge's state. A run killed between
// them leaves the base merged and the pull request open. The next run
// must find it merged (as GitHub does when a head reaches its base), and
// merging it again must not make a second merge commit.
func TestMergeKilledBeforeItsRecord(t *testing.T) {
	t.Parallel()
	repo, _ := gittest.Fleet(t, t.TempDir())
	gittest.Git(t, repo, "branch", "live")
	gittest.Git(t, repo, "checkout", "-q", "-b", "promote")
	head := gittest.Commit(t, repo, "2026-01-02T00:00:00Z", "promote")
	gittest.Git(t, repo, "checkout", "-q", "main")
	f, err := Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pr, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: "promote", Base: "live", Title: "promote"})
	if err != nil {
		t.Fatal(err)
	}
	// The merge step as MergePullRequest makes it, then the kill.
	base := gittest.Git(t, repo, "rev-parse", "live")
	tree := gittest.Git(t, repo, "merge-tree", "--write-tree", base, head)
	merge := gittest.Git(t, repo, "commit-tree", tree, "-p", base, "-p", head, "-m", "Merge pull request #1 from promote")
	gittest.Git(t, repo, "update-ref", "refs/heads/live", merge, base)
	gittest.Git(t, repo, "checkout", "-q", "-b", "after")
	gittest.Commit(t, repo, "2026-01-03T00:00:00Z", "a later change")
	gittest.Git(t, repo, "checkout", "-q", "main")
	gittest.Git(t, repo, "merge", "-q", "--no-edit", "after")

	// The next run.
	f, err = Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.GetPullRequest(ctx, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	if got.Open || !got.Merged || got.MergeCommitSHA != merge || got.HeadSHA != head {
		t.Errorf("after the kill: open %v, merged %v, merge %s, head %s; want merged by %s at %s", got.Open, got.Merged, got.MergeCommitSHA, got.HeadSHA, merge, head)
	}
	res, err := f.MergePullRequest(ctx, pr.Number, forge.MergeOptions{SHA: head})
	if err != nil || !res.Merged || res.SHA != merge {
		t.Errorf("merge again = %+v, %v; want merged by %s", res, err, merge)
	}
	if live := gittest.Git(t, repo, "rev-parse", "live"); live != merge {
		t.Errorf("live is at %s, want the one merge commit %s", live, merge)
	}
	if open, err := f.ListPullRequests(ctx, forge.ListOptions{}); err != nil || len(open) != 0 {
		t.Errorf("open pull requests: %+v, %v", open, err)
	}

	// A pull request whose head is not in its base stays open.
	gittest.Git(t, repo, "branch", "-f", "promote", "after")
	pr2, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: "promote", Base: "live", Title: "next"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.GetPullRequest(ctx, pr2.Number); err != nil || !got.Open {
		t.Errorf("an unmerged pull request: %+v, %v", got, err)
	}
	gittest.Git(t, repo, "fsck", "--strict", "--no-dangling")
}

// TestRemoteForgeAfterAKill: a forge that shares a plain remote keeps its
// refs in a mirror. A writer killed mid-write there (an empty ref file,
// as go-git's truncate-then-write leaves) must not stop the next run: the
// remote is the truth, and the fetch rewrites the ref from it.
func TestRemoteForgeAfterAKill(t *testing.T) {
	t.Parallel()
	_, bare := gittest.Fleet(t, t.TempDir())
	sha := gittest.Git(t, bare, "rev-parse", "main")
	mirror := filepath.Join(t.TempDir(), "mirror.git")
	gittest.Bare(t, mirror, bare)
	f, err := OpenRemote(mirror, bare)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := f.SetStatus(ctx, sha, forge.Status{Context: "flotilla/verify/web", State: forge.StateSuccess}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(mirror, "refs/notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mirror, string(NotesRef)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err = OpenRemote(mirror, bare)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Statuses(ctx, sha)
	if err != nil || len(got) != 1 || got[0].State != forge.StateSuccess {
		t.Fatalf("statuses after the kill: %+v, %v", got, err)
	}
	if err := f.SetStatus(ctx, sha, forge.Status{Context: "flotilla/verify/db", State: forge.StatePending}); err != nil {
		t.Fatal(err)
	}
	if note := gittest.Git(t, bare, "notes", "--ref=flotilla", "show", sha); !strings.Contains(note, "flotilla/verify/db") || !strings.Contains(note, "flotilla/verify/web") {
		t.Errorf("the remote's note:\n%s", note)
	}
	gittest.Git(t, mirror, "fsck", "--strict", "--no-dangling")
	gittest.Git(t, bare, "fsck", "--strict", "--no-dangling")
}

// TestRemoteForgePushThatLanded: the remote's pre-receive hook lands the
// push (objects out of quarantine, refs set) and then fails it, as a push
// whose connection drops after the update. The remote holding exactly
// the forge's new value is success, not a moved ref to retry.
func TestRemoteForgePushThatLanded(t *testing.T) {
	t.Parallel()
	_, bare := gittest.Fleet(t, t.TempDir())
	sha := gittest.Git(t, bare, "rev-parse", "main")
	mirror := filepath.Join(t.TempDir(), "mirror.git")
	gittest.Bare(t, mirror, bare)
	hook := `#!/bin/sh
q="$GIT_QUARANTINE_PATH"
cat > landed
cp -R "$q"/. objects/
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
while read old new ref; do git update-ref "$ref" "$new" || exit 2; done < landed
rm -f landed
echo 'connection lost' >&2
exit 1
`
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := OpenRemote(mirror, bare)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetStatus(t.Context(), sha, forge.Status{Context: "flotilla/verify/web", State: forge.StateSuccess}); err != nil {
		t.Fatalf("a push that landed: %v", err)
	}
	if got, want := gittest.Git(t, bare, "rev-parse", string(NotesRef)), gittest.Git(t, mirror, "rev-parse", string(NotesRef)); got != want {
		t.Errorf("the remote's notes are at %s, the forge's at %s", got, want)
	}
	if n := gittest.Git(t, bare, "rev-list", "--count", string(NotesRef)); n != "1" {
		t.Errorf("the remote's notes have %s commits; want 1 (no retry)", n)
	}
	gittest.Git(t, bare, "fsck", "--strict", "--no-dangling")
}

// TestRemoteForgePushRefused: the remote's pre-receive hook refuses a
// branch (a protected-branch rule). SetBranch fails with a
// *gitobj.PushError that names the branch and quotes the remote's
// message, not a moved ref to retry; neither the remote nor the forge
// keeps the branch.
func TestRemoteForgePushRefused(t *testing.T) {
	t.Parallel()
	_, bare := gittest.Fleet(t, t.TempDir())
	sha := gittest.Git(t, bare, "rev-parse", "main")
	mirror := filepath.Join(t.TempDir(), "mirror.git")
	gittest.Bare(t, mirror, bare)
	gh006 := "GH006: Protected branch update failed for refs/heads/hydrated/x."
	hook := "#!/bin/sh\nwhile read old new ref; do [ \"$ref\" = refs/heads/hydrated/x ] && { echo '" + gh006 + "' >&2; exit 1; }; done\nexit 0\n"
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := OpenRemote(mirror, bare)
	if err != nil {
		t.Fatal(err)
	}
	err = f.SetBranch(t.Context(), "hydrated/x", sha, "")
	var pe *gitobj.PushError
	if !errors.As(err, &pe) || errors.Is(err, errMoved) {
		t.Fatalf("err = %v, want a *gitobj.PushError, not a moved ref", err)
	}
	for _, want := range []string{"remote: " + gh006, "hydrated/x", "the remote said:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	if refs := gittest.Refs(t, bare, "refs/heads/hydrated/"); refs != "" {
		t.Errorf("the remote has %s", refs)
	}
	if refs := gittest.Refs(t, mirror, "refs/heads/hydrated/") + gittest.Refs(t, mirror, RemoteRefs+"hydrated/"); refs != "" {
		t.Errorf("the forge kept %s", refs)
	}
}

// TestRemoteForgeLeavesTheCheckoutsBranches: a forge that shares a remote
// may work in a user's checkout. Reading the remote's branches (every
// list of pull requests does) must not move the checkout's own branches:
// its main holds a commit not pushed yet, and the remote's main is older.
// Merges and moves are made on the remote, not on the checkout's refs.
func TestRemoteForgeLeavesTheCheckoutsBranches(t *testing.T) {
	t.Parallel()
	checkout, bare := gittest.Fleet(t, t.TempDir())
	pushed := gittest.Git(t, bare, "rev-parse", "main")
	mine := gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "not pushed yet")
	gittest.Git(t, checkout, "push", "-q", "origin", pushed+":refs/heads/live")
	f, err := OpenRemote(checkout, bare)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := f.ListPullRequests(ctx, forge.ListOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Git(t, checkout, "rev-parse", "main"); got != mine {
		t.Fatalf("the checkout's main moved to %s (the remote's is %s), want %s", got, pushed, mine)
	}
	if got, err := f.GetBranch(ctx, "main"); err != nil || got != pushed {
		t.Errorf("the forge reads main at %s (%v), want the remote's %s", got, err, pushed)
	}
	if err := f.SetBranch(ctx, "live", mine, pushed); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Git(t, bare, "rev-parse", "live"); got != mine {
		t.Errorf("the remote's live is %s, want %s", got, mine)
	}
	if refs := gittest.Refs(t, checkout, "refs/heads/live"); refs != "" {
		t.Errorf("the checkout got a branch of the remote: %s", refs)
	}
	gittest.Git(t, bare, "fsck", "--strict", "--no-dangling")
}

// TestRemoteForgeConcurrentStatuses: two users share a bare remote, each
// with a clone of their own, and post statuses at the same time. Every
// status must be on the remote afterwards: a writer that another beat is
// refused by the fast-forward push and retries on the new notes, never
// overwrites them.
func TestRemoteForgeConcurrentStatuses(t *testing.T) {
	t.Parallel()
	_, bare := gittest.Fleet(t, t.TempDir())
	sha := gittest.Git(t, bare, "rev-parse", "main")
	mirrors := t.TempDir()
	const perWriter = 4
	errs := make(chan error, 2*perWriter)
	done := make(chan struct{})
	for _, who := range []string{"a", "b"} {
		gittest.Bare(t, filepath.Join(mirrors, who+".git"), bare)
		f, err := OpenRemote(filepath.Join(mirrors, who+".git"), bare)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range perWriter {
				errs <- f.SetStatus(t.Context(), sha, forge.Status{Context: "flotilla/verify/" + who + string(rune('0'+i)), State: forge.StateSuccess})
			}
		}()
	}
	<-done
	<-done
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	note := gittest.Git(t, bare, "notes", "--ref=flotilla", "show", sha)
	for _, who := range []string{"a", "b"} {
		for i := range perWriter {
			if c := "flotilla/verify/" + who + string(rune('0'+i)); !strings.Contains(note, c) {
				t.Errorf("the remote lost %s:\n%s", c, note)
			}
		}
	}
	gittest.Git(t, bare, "fsck", "--strict", "--no-dangling")
}

// TestLostRacesAreConflicts: a writer that loses every race for the
// forge's state ref (another writer moves it each time, as a busy team's
// runs would), and a second pull request for the same head and base, are
// failure.Conflict: exit 3, run again.
func TestLostRacesAreConflicts(t *testing.T) {
	t.Parallel()
	_, bare := gittest.Fleet(t, t.TempDir())
	mirrors := t.TempDir()
	open := func(who string) *Forge {
		gittest.Bare(t, filepath.Join(mirrors, who+".git"), bare)
		f, err := OpenRemote(filepath.Join(mirrors, who+".git"), bare)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	loser, winner := open("loser"), open("winner")
	races := 0
	err := loser.update(func(st *state) error {
		races++
		return winner.update(func(st *state) error {
			st.Pulls = append(st.Pulls, &localPull{Number: len(st.Pulls) + 1, Head: "h", Base: "b"})
			return nil
		})
	})
	if !failure.Is(err, failure.Conflict) || races != 5 || !strings.Contains(err.Error(), "kept moving") {
		t.Errorf("a writer that lost %d races: %v (class %s)", races, err, failure.ClassOf(err))
	}

	repo, _ := gittest.Fleet(t, t.TempDir())
	gittest.Git(t, repo, "branch", "feature")
	f, err := Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	o := forge.OpenOptions{Head: "feature", Base: "main", Title: "t"}
	if _, err := f.OpenPullRequest(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := f.OpenPullRequest(t.Context(), o); !failure.Is(err, failure.Conflict) || !strings.Contains(err.Error(), "#1 is already open") {
		t.Errorf("a second pull request: %v (class %s)", err, failure.ClassOf(err))
	}
}

// TestNoTeams: the local forge has no teams; asking is a usage error
// that names the team and says what to do.
func TestNoTeams(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, t.TempDir())
	f, err := Open(checkout)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := f.TeamMember(t.Context(), "example", "ops", "ada")
	if ok || !errors.Is(err, ErrNoTeams) || !failure.Is(err, failure.Usage) ||
		err.Error() != "approvers name the team example/ops: the local forge has no teams; name user logins instead" {
		t.Errorf("TeamMember: %v, %v", ok, err)
	}
	if p, err := f.Permission(t.Context(), "anyone"); err != nil || p != forge.PermissionWrite {
		t.Errorf("Permission: %q %v, want write: whoever records an approval can push", p, err)
	}
}

// TestRemoteForgeMirrorClonedDuringAPush: a mirror cloned (git clone
// --bare, a local clone: it copies the objects folder) while another
// writer's push was landing on the remote holds that push's receive-pack
// quarantine, objects/tmp_objdir-incoming-*, with the other writer's
// commit in it. Git does not count those objects as the mirror's; the
// forge must not either: it fetches the commit before building on it,
// so the mirror passes git fsck (the cause of the flaky fsck failures of
// TestRemoteForgeConcurrentStatuses: "missing commit", the parent of a
// notes commit). Both of the forge's refs, the notes and the state ref.
func TestRemoteForgeMirrorClonedDuringAPush(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ref   plumbing.ReferenceName
		write func(f *Forge, sha, who string) error
	}{
		{NotesRef, func(f *Forge, sha, who string) error {
			return f.SetStatus(t.Context(), sha, forge.Status{Context: "flotilla/verify/" + who, State: forge.StateSuccess})
		}},
		{StateRef, func(f *Forge, sha, who string) error {
			return f.update(func(st *state) error {
				st.Pulls = append(st.Pulls, &localPull{Number: len(st.Pulls) + 1, Head: who, Base: "main"})
				return nil
			})
		}},
	} {
		t.Run(string(tc.ref), func(t *testing.T) {
			t.Parallel()
			_, bare := gittest.Fleet(t, t.TempDir())
			sha := gittest.Git(t, bare, "rev-parse", "main")
			mirrors := t.TempDir()
			b := filepath.Join(mirrors, "b.git")
			// The remote's pre-receive hook runs while the pushed objects
			// are in quarantine: b is cloned then, as a user's clone
			// racing a's push would be.
			hook := "#!/bin/sh\n[ -e " + b + " ] || env -u GIT_DIR -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git clone -q --bare \"$(pwd)\" " + b + " >&2\n"
			if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
				t.Fatal(err)
			}
			gittest.Bare(t, filepath.Join(mirrors, "a.git"), bare)
			a, err := OpenRemote(filepath.Join(mirrors, "a.git"), bare)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.write(a, sha, "a"); err != nil {
				t.Fatal(err)
			}
			gittest.Fsck(t, b)
			theirs := gittest.Git(t, bare, "rev-parse", string(tc.ref))
			quarantined, _ := filepath.Glob(filepath.Join(b, "objects", "tmp_objdir-incoming-*", theirs[:2], theirs[2:]))
			if len(quarantined) != 1 {
				t.Fatalf("the clone has no quarantined %s (git changed how it clones?)", theirs)
			}
			fb, err := OpenRemote(b, bare)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.write(fb, sha, "b"); err != nil {
				t.Fatal(err)
			}
			ours := gittest.Git(t, b, "rev-parse", string(tc.ref))
			if parent := gittest.Git(t, b, "rev-parse", ours+"^"); parent != theirs {
				t.Errorf("b built %s on %s, want on a's %s", ours, parent, theirs)
			}
			// The ref b moved reaches only objects git sees in b.
			gittest.Git(t, b, "cat-file", "-e", theirs+"^{commit}")
			gittest.Git(t, b, "fsck", "--strict", "--no-dangling", "--no-progress")
		})
	}
}
