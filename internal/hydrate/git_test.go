package hydrate

import (
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// when is the render time of every test publish.
var when = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// openFleet opens a fleet checkout and names its head as the dry commit.
func openFleet(t *testing.T, checkout string) (*git.Repository, DryCommit) {
	t.Helper()
	repo, err := git.PlainOpen(checkout)
	if err != nil {
		t.Fatal(err)
	}
	return repo, DryCommit{SHA: gittest.Git(t, checkout, "rev-parse", "HEAD"), Subject: "fleet"}
}

// publish publishes trees with p, failing the test on error.
func publish(t *testing.T, p *Publisher, dry DryCommit, trees ...*Tree) []Result {
	t.Helper()
	results, err := p.Publish(t.Context(), trees, dry, when)
	if err != nil {
		t.Fatal(err)
	}
	return results
}

func tree(cluster, replicas string) *Tree {
	return &Tree{
		Cluster: fleet.Cluster{Name: cluster, Server: "https://" + cluster},
		Branch:  "hydrated/" + cluster + "-next",
		Apps: []App{{Name: "web", Manifest: []byte("kind: Deployment\nspec:\n  replicas: " + replicas + "\n"),
			Info: AppInfo{ApplicationSet: "web", Objects: 1}}},
	}
}

// TestPublishRetriesALostRace: between building its commits and pushing
// them, another render pushes to one of the branches. The atomic push is
// refused, nothing is half-pushed, and the retry builds on the other
// render's commit.
func TestPublishRetriesALostRace(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	pub := &Publisher{Repo: repo, Remote: origin}
	publish(t, pub, dry, tree("a", "1"), tree("b", "1"))

	// The competitor: another clone that commits to hydrated/b-next.
	other := filepath.Join(t.TempDir(), "other")
	gittest.Clone(t, other, "-b", "hydrated/b-next", origin)
	var attempts []int
	var racer string
	pub.BeforePush = func(attempt int) {
		attempts = append(attempts, attempt)
		if attempt == 1 {
			gittest.Git(t, other, "commit", "-q", "--allow-empty", "-m", "someone else")
			gittest.Git(t, other, "push", "-q", "origin", "hydrated/b-next")
			racer = gittest.Git(t, other, "rev-parse", "HEAD")
		}
	}
	results := publish(t, pub, dry, tree("a", "2"), tree("b", "2"))
	if len(attempts) != 2 {
		t.Fatalf("attempts %v, want a retry after the lost race", attempts)
	}
	for _, r := range results {
		if !r.Updated {
			t.Errorf("%s not updated after the retry", r.Branch)
		}
	}
	parent := gittest.Git(t, origin, "rev-parse", "hydrated/b-next^")
	if parent != racer {
		t.Errorf("hydrated/b-next's parent is %s, want the competing commit %s", parent, racer)
	}
	if got := gittest.Show(t, origin, "hydrated/a-next", "web/manifest.yaml"); !strings.Contains(got, "replicas: 2") {
		t.Errorf("hydrated/a-next not updated:\n%s", got)
	}
}

// TestPublishLostRaceLeavesTrackingRefsAtTheRemote: another render
// pushes between this one's read and its push. The atomic push is
// refused and the run gives up (one attempt): the remote has none of the
// run's branches, and the tracking refs equal what the remote really
// holds — the competitor's commit, fetched — never the refused values.
func TestPublishLostRaceLeavesTrackingRefsAtTheRemote(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	pub := &Publisher{Repo: repo, Remote: origin, Attempts: 1}
	publish(t, pub, dry, tree("a", "1"), tree("b", "1"))
	remote := gittest.Refs(t, origin, "refs/heads/hydrated/")

	other := filepath.Join(t.TempDir(), "other")
	gittest.Clone(t, other, "-b", "hydrated/b-next", origin)
	pub.BeforePush = func(int) {
		gittest.Git(t, other, "commit", "-q", "--allow-empty", "-m", "someone else")
		gittest.Git(t, other, "push", "-q", "origin", "hydrated/b-next")
	}
	_, err := pub.Publish(t.Context(), []*Tree{tree("a", "2"), tree("b", "2"), tree("c", "2")}, dry, when)
	if !errors.Is(err, ErrRace) {
		t.Fatalf("err = %v, want a lost race", err)
	}
	if c := failure.ClassOf(err); c != failure.Conflict {
		t.Errorf("a lost race is a %v failure, want conflict (exit 3: run again)", c)
	}
	racer := gittest.Git(t, other, "rev-parse", "HEAD")
	want := strings.Replace(remote, gittest.Git(t, origin, "rev-parse", "hydrated/b-next^"), racer, 1)
	if got := gittest.Refs(t, origin, "refs/heads/hydrated/"); got != want {
		t.Errorf("remote branches after the refused push:\n%s\nwant only the competitor's commit:\n%s", got, want)
	}
	assertTracking(t, checkout, origin)
}

// assertTracking checks that the checkout's tracking refs are exactly the
// remote's hydrated branches, and that both repositories pass git fsck.
func assertTracking(t *testing.T, checkout, origin string) {
	t.Helper()
	want := strings.ReplaceAll(gittest.Refs(t, origin, "refs/heads/hydrated/"), "refs/heads/", trackingPrefix)
	if got := gittest.Refs(t, checkout, trackingPrefix); got != want {
		t.Errorf("tracking refs:\n%s\nwant the remote's branches:\n%s", got, want)
	}
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")
	gittest.Git(t, checkout, "fsck", "--strict", "--no-dangling")
}

// TestPublishSendsMetadataAsDeltas: the metadata files of a run differ
// only in a few lines, so all but the first go into the pack as deltas,
// which git reads back.
func TestPublishSendsMetadataAsDeltas(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	var trees []*Tree
	for _, c := range []string{"a", "b", "c"} {
		tr := tree(c, "1")
		tr.Apps[0].Info.Destination = fleet.ApplicationDestination{Server: tr.Cluster.Server, Namespace: "web"}
		trees = append(trees, tr)
	}
	publish(t, &Publisher{Repo: repo, Remote: origin}, dry, trees...)
	idx, err := filepath.Glob(filepath.Join(checkout, ".git/objects/pack/*.idx"))
	if err != nil || len(idx) != 1 {
		t.Fatalf("packs %v, %v; want the one this run stored", idx, err)
	}
	deltas := 0
	for _, line := range strings.Split(gittest.Git(t, checkout, "verify-pack", "-v", idx[0]), "\n") {
		// sha type size size-in-pack offset [depth base]
		if f := strings.Fields(line); len(f) == 7 && f[1] == "blob" {
			if got := gittest.Git(t, checkout, "cat-file", "-p", f[0]); !strings.Contains(got, `"drySha"`) {
				t.Errorf("delta %s is not a metadata file:\n%s", f[0], got)
			}
			deltas++
		}
	}
	if deltas != 2 {
		t.Errorf("%d metadata files sent as deltas, want 2 of 3", deltas)
	}
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")
	gittest.Git(t, checkout, "fsck", "--strict", "--no-dangling")
}

// TestPublishLocalBranches updates the checkout's own branches with
// compare-and-set, and refuses when a branch moved underneath.
func TestPublishLocalBranches(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	pub := &Publisher{Repo: repo, Attempts: 1}
	publish(t, pub, dry, tree("a", "1"))
	if got := gittest.Show(t, checkout, "hydrated/a-next", "web/manifest.yaml"); !strings.Contains(got, "replicas: 1") {
		t.Fatalf("branch content:\n%s", got)
	}
	pub.BeforePush = func(int) {
		gittest.Git(t, checkout, "branch", "-f", "hydrated/a-next", "main")
	}
	_, err := pub.Publish(t.Context(), []*Tree{tree("a", "2")}, dry, when)
	if err == nil || !strings.Contains(err.Error(), "moved while rendering") {
		t.Fatalf("err = %v, want a lost race", err)
	}
}

func TestFilesKeepMetadataOfUnchangedApps(t *testing.T) {
	t.Parallel()
	tr := tree("a", "1")
	first, ch, err := tr.Files(MapFiles(nil), DryCommit{SHA: "1111"})
	if err != nil || len(ch.Added) != 1 {
		t.Fatalf("%v %+v", err, ch)
	}
	second, ch, err := tr.Files(MapFiles(first), DryCommit{SHA: "2222"})
	if err != nil {
		t.Fatal(err)
	}
	if !Unchanged(second, MapFiles(first)) || len(ch.Changed)+len(ch.Added)+len(ch.Removed) != 0 {
		t.Errorf("a new dry commit that changes no manifest changed the tree: %+v", ch)
	}
	third, ch, _ := tree("a", "2").Files(MapFiles(first), DryCommit{SHA: "3333"})
	if Unchanged(third, MapFiles(first)) || len(ch.Changed) != 1 || !strings.Contains(string(third["web/hydrator.metadata"]), `"drySha": "3333"`) {
		t.Errorf("a changed manifest must be recorded with its dry commit: %+v\n%s", ch, third["web/hydrator.metadata"])
	}
}

// TestPublishToANewEmptyRemote: after publishing to one remote, the same
// checkout publishes to another, empty one (hydrated.repo moved, or its
// branches were deleted). What the first remote had must not count as the
// second's branches: every branch is pushed.
func TestPublishToANewEmptyRemote(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	trees := []*Tree{tree("a", "1"), tree("b", "1")}
	// Twice: the second run's fetch records origin's branches.
	for range 2 {
		publish(t, &Publisher{Repo: repo, Remote: origin}, dry, trees...)
	}
	empty := filepath.Join(t.TempDir(), "new.git")
	gittest.Bare(t, empty)
	results := publish(t, &Publisher{Repo: repo, Remote: empty}, dry, trees...)
	for _, r := range results {
		if !r.Updated || r.Old != "" {
			t.Errorf("%s: updated %v, old %q; want a new branch", r.Branch, r.Updated, r.Old)
		}
		if got := gittest.Show(t, empty, r.Branch, "web/manifest.yaml"); !strings.Contains(got, "replicas: 1") {
			t.Errorf("%s in the new remote:\n%s", r.Branch, got)
		}
	}
	// And when the remote has other branches but none of ours.
	gittest.Git(t, empty, "update-ref", "-d", "refs/heads/hydrated/a-next")
	gittest.Git(t, empty, "update-ref", "-d", "refs/heads/hydrated/b-next")
	gittest.Git(t, empty, "update-ref", "refs/heads/main", results[0].New)
	results = publish(t, &Publisher{Repo: repo, Remote: empty}, dry, trees...)
	for _, r := range results {
		if !r.Updated || r.Old != "" {
			t.Errorf("after deletion, %s: updated %v, old %q; want a new branch", r.Branch, r.Updated, r.Old)
		}
	}
}

// TestPublishRecreatesADeletedBranch: someone deletes one hydrated branch on
// the remote. The next run must see it gone — not trust what this checkout
// fetched before — and push it again, though its content did not change.
func TestPublishRecreatesADeletedBranch(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	trees := []*Tree{tree("a", "1"), tree("b", "1")}
	for range 2 {
		publish(t, &Publisher{Repo: repo, Remote: origin}, dry, trees...)
	}
	gittest.Git(t, origin, "update-ref", "-d", "refs/heads/hydrated/b-next")
	results := publish(t, &Publisher{Repo: repo, Remote: origin}, dry, trees...)
	for _, r := range results {
		switch r.Branch {
		case "hydrated/a-next":
			if r.Updated {
				t.Errorf("%s changed nothing but was updated", r.Branch)
			}
		case "hydrated/b-next":
			if !r.Updated || r.Old != "" {
				t.Errorf("%s: updated %v, old %q; want it pushed again as a new branch", r.Branch, r.Updated, r.Old)
			}
		}
	}
	if got := gittest.Show(t, origin, "hydrated/b-next", "web/manifest.yaml"); !strings.Contains(got, "replicas: 1") {
		t.Errorf("hydrated/b-next on the remote:\n%s", got)
	}
}

// TestPublishSendsEveryObjectTheRemoteLacks: the pushed pack holds what the
// new trees have and their parents do not — including a blob this checkout
// already had for another reason (here, the same bytes committed in the
// fleet), which the hydrated remote has never seen. The remote must be
// complete after each of several publishes.
func TestPublishSendsEveryObjectTheRemoteLacks(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, gittest.Files(t, map[string]string{"copy.yaml": "kind: Deployment\nspec:\n  replicas: 7\n"}))
	remote := filepath.Join(t.TempDir(), "hydrated.git")
	gittest.Bare(t, remote)
	repo, dry := openFleet(t, checkout)
	for _, step := range [][]*Tree{
		{tree("a", "1")},
		{tree("a", "2"), tree("b", "1")},
		{tree("a", "7"), tree("b", "1"), tree("c", "7")},
	} {
		publish(t, &Publisher{Repo: repo, Remote: remote}, dry, step...)
		gittest.Git(t, remote, "fsck", "--strict", "--no-dangling")
	}
	if got := gittest.Show(t, remote, "hydrated/c-next", "web/manifest.yaml"); !strings.Contains(got, "replicas: 7") {
		t.Errorf("hydrated/c-next on the remote:\n%s", got)
	}
	gittest.Git(t, checkout, "fsck", "--strict", "--no-dangling")
}

// TestPublishSkipsBranchesWithTheSameContent: a branch whose head Flotilla
// wrote from the same content (its Flotilla-Content trailer) is not read
// at all; any other head is read and compared file by file.
func TestPublishSkipsBranchesWithTheSameContent(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	pub := &Publisher{Repo: repo, Remote: origin}
	publish(t, pub, dry, tree("a", "1"), tree("b", "1"))
	msg := gittest.Git(t, origin, "log", "-1", "--format=%B", "hydrated/a-next")
	if ContentOf(msg) != tree("a", "1").Digest() {
		t.Fatalf("commit message lacks the content trailer:\n%s", msg)
	}

	// Two heads that carry the right trailer over a different tree: one
	// committed as Flotilla (trusted, so left alone — the proof that its
	// tree is not read), one amended by a person (read and corrected).
	work := filepath.Join(t.TempDir(), "work")
	gittest.Clone(t, work, origin)
	for _, c := range []struct{ branch, name, email string }{
		{"hydrated/a-next", Bot.Name, Bot.Email},
		{"hydrated/b-next", "Some One", "someone@example.com"},
	} {
		gittest.Git(t, work, "checkout", "-q", c.branch)
		gittest.Git(t, work, "rm", "-q", "README.md")
		amend := exec.Command("git", "commit", "-q", "--amend", "--no-edit")
		amend.Dir = work
		amend.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_COMMITTER_NAME="+c.name, "GIT_COMMITTER_EMAIL="+c.email)
		if out, err := amend.CombinedOutput(); err != nil {
			t.Fatalf("amend: %v\n%s", err, out)
		}
		gittest.Git(t, work, "push", "-q", "-f", "origin", c.branch)
	}
	results := publish(t, pub, dry, tree("a", "1"), tree("b", "1"))
	if results[0].Updated {
		t.Error("hydrated/a-next has Flotilla's commit of the same content, yet was read and rewritten")
	}
	if !results[1].Updated {
		t.Error("hydrated/b-next was edited by a person under Flotilla's trailer and not corrected")
	}
	gittest.Show(t, origin, "hydrated/b-next", "README.md")

	// Info alone (not the manifest) changing is a change.
	changed := tree("a", "1")
	changed.Apps[0].Info.ApplicationSet = "renamed"
	if changed.Digest() == tree("a", "1").Digest() {
		t.Fatal("the digest ignores the app's info")
	}
	results = publish(t, pub, dry, changed)
	if !results[0].Updated || !strings.Contains(gittest.Show(t, origin, "hydrated/a-next", "web/hydrator.metadata"), `"applicationSet": "renamed"`) {
		t.Errorf("a changed applicationSet was not written: %+v", results[0])
	}
}

// gitHTTPServer serves the bare repositories under root over Git's smart
// HTTP protocol with git http-backend — the protocol GitHub speaks — and
// accepts only Basic auth with token.
func gitHTTPServer(t *testing.T, root, token string) string {
	t.Helper()
	backend := &cgi.Handler{
		Path:       "git",
		Args:       []string{"http-backend"},
		Env:        []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=flotilla", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
		InheritEnv: []string{"PATH", "HOME"},
	}
	if p, err := exec.LookPath("git"); err == nil {
		backend.Path = p
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPublishOverSmartHTTP publishes through git http-backend: fetch and
// the atomic push speak the same smart HTTP protocol as GitHub, with the
// token as Basic auth. A wrong token fails clearly and pushes nothing.
func TestPublishOverSmartHTTP(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	url := gitHTTPServer(t, filepath.Dir(origin), "s3cret") + "/" + filepath.Base(origin)
	pub := &Publisher{Repo: repo, Remote: url, Auth: &githttp.BasicAuth{Username: "x-access-token", Password: "s3cret"}}

	publish(t, pub, dry, tree("a", "1"), tree("b", "1"))
	results := publish(t, pub, dry, tree("a", "2"), tree("b", "1"))
	if !results[0].Updated || results[1].Updated {
		t.Errorf("updated a %v, b %v; want only a", results[0].Updated, results[1].Updated)
	}
	if got := gittest.Show(t, origin, "hydrated/a-next", "web/manifest.yaml"); !strings.Contains(got, "replicas: 2") {
		t.Errorf("hydrated/a-next over HTTP:\n%s", got)
	}
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")

	before := gittest.Refs(t, origin, "refs/heads/hydrated")
	for _, bad := range []*Publisher{
		{Repo: repo, Remote: url, Auth: &githttp.BasicAuth{Username: "x-access-token", Password: "wrong"}, Attempts: 1},
		{Repo: repo, Remote: strings.Replace(url, "http://", "http://x-access-token:wrong@", 1), Attempts: 1},
		{Repo: repo, Remote: url, Attempts: 1},
	} {
		_, err := bad.Publish(t.Context(), []*Tree{tree("a", "3")}, dry, when)
		if err == nil || !strings.Contains(err.Error(), "authentication required") || !strings.Contains(err.Error(), "GITHUB_TOKEN") {
			t.Errorf("err = %v, want the remote's refusal and what to do", err)
		} else if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the error shows the credentials: %v", err)
		}
	}
	if after := gittest.Refs(t, origin, "refs/heads/hydrated"); after != before {
		t.Errorf("a refused run moved the remote:\n%s\n->\n%s", before, after)
	}
}

// TestPublishAfterPrefetch: the heads are read early, while rendering
// would run; then another render pushes. Publish starts from the stale
// head, loses the push's old-value check, reads again and builds on the
// other render's commit. A prefetch nobody used is waited for by Close.
func TestPublishAfterPrefetch(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	publish(t, &Publisher{Repo: repo, Remote: origin}, dry, tree("a", "1"))

	pub := &Publisher{Repo: repo, Remote: origin}
	trees := []*Tree{tree("a", "2")}
	pub.Prefetch(t.Context(), trees)
	f := <-pub.prefetched // the prefetch is done: put it back for Publish
	pub.prefetched <- f

	other := filepath.Join(t.TempDir(), "other")
	gittest.Clone(t, other, "-b", "hydrated/a-next", origin)
	gittest.Git(t, other, "commit", "-q", "--allow-empty", "-m", "someone else")
	gittest.Git(t, other, "push", "-q", "origin", "hydrated/a-next")
	racer := gittest.Git(t, other, "rev-parse", "HEAD")

	var attempts []int
	pub.BeforePush = func(attempt int) { attempts = append(attempts, attempt) }
	results := publish(t, pub, dry, trees...)
	if len(attempts) != 2 || !results[0].Updated {
		t.Fatalf("attempts %v, updated %v; want the stale first attempt refused and a retry that lands", attempts, results[0].Updated)
	}
	if parent := gittest.Git(t, origin, "rev-parse", "hydrated/a-next^"); parent != racer {
		t.Errorf("parent %s, want the other render's %s", parent, racer)
	}

	unused := &Publisher{Repo: repo, Remote: origin}
	unused.Prefetch(t.Context(), trees)
	unused.Close()
	if unused.prefetched != nil {
		t.Error("Close left the prefetch")
	}
}
