package github

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// setup makes a bare repository with main and feature branches, a fake
// GitHub over it and a client.
func setup(t *testing.T, branches ...string) (*Forge, *forgetest.GitHub, string) {
	t.Helper()
	checkout, bare := gittest.Fleet(t, t.TempDir())
	for _, b := range branches {
		gittest.Git(t, checkout, "checkout", "-q", "-b", b, "main")
		gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "change on "+b)
		gittest.Git(t, checkout, "push", "-q", "origin", b)
	}
	fake := forgetest.New(t, bare, "example", "fleet")
	f, err := New(Options{Owner: "example", Repo: "fleet", Token: "ghs_secret-token-value", BaseURL: fake.URL(), MaxWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return f, fake, checkout
}

func TestPaginationOver250PullRequests(t *testing.T) {
	t.Parallel()
	f, _, checkout := setup(t)
	_ = checkout
	ctx := t.Context()
	// Base and head may repeat on GitHub only once open; use distinct heads.
	bare := filepath.Join(filepath.Dir(checkout), "origin.git")
	main := gittest.Git(t, bare, "rev-parse", "main")
	for i := range 250 {
		b := fmt.Sprintf("flotilla/promote/c%03d", i)
		gittest.Git(t, bare, "update-ref", "refs/heads/"+b, main)
		if _, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: b, Base: "main", Title: b}); err != nil {
			t.Fatal(err)
		}
	}
	before := f.Usage().Requests
	prs, err := f.ListPullRequests(ctx, forge.ListOptions{Base: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs) != 250 {
		t.Fatalf("%d pull requests, want 250", len(prs))
	}
	if n := f.Usage().Requests - before; n != 3 {
		t.Errorf("%d requests for 250 pull requests, want 3 pages of 100", n)
	}
}

func TestNotModifiedIsFree(t *testing.T) {
	t.Parallel()
	f, fake, _ := setup(t, "feature")
	ctx := t.Context()
	pr, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: "feature", Base: "main", Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetPullRequest(ctx, pr.Number); err != nil {
		t.Fatal(err)
	}
	remaining := fake.Remaining()
	again, err := f.GetPullRequest(ctx, pr.Number)
	if err != nil || again.Title != "t" {
		t.Fatalf("%+v %v", again, err)
	}
	_, notModified := fake.Requests()
	if notModified != 1 || f.Usage().NotModified != 1 {
		t.Errorf("304s: fake %d, client %d, want 1", notModified, f.Usage().NotModified)
	}
	if fake.Remaining() != remaining {
		t.Errorf("a 304 spent rate limit: %d -> %d", remaining, fake.Remaining())
	}
}

func TestSecondaryRateLimitIsWaitedOut(t *testing.T) {
	t.Parallel()
	f, fake, _ := setup(t, "feature")
	fake.InjectSecondaryRateLimit(1, 1)
	start := time.Now()
	pr, err := f.OpenPullRequest(t.Context(), forge.OpenOptions{Head: "feature", Base: "main", Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("did not wait for Retry-After (%s)", waited)
	}
	if pr.Number != 1 {
		t.Errorf("pull request %+v", pr)
	}
	reqs, _ := fake.Requests()
	if reqs["pulls/create"] != 2 {
		t.Errorf("pulls/create requests: %d, want the refused one and its retry", reqs["pulls/create"])
	}
}

func TestExhaustedBudgetIsAClearError(t *testing.T) {
	t.Parallel()
	f, fake, _ := setup(t)
	fake.ExhaustRateLimit(time.Now().Add(30 * time.Minute))
	_, err := f.ListPullRequests(t.Context(), forge.ListOptions{})
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "resets at") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "ghs_secret-token-value") {
		t.Error("the token is in the error")
	}
}

func TestMergeRefusalsAreNotReady(t *testing.T) {
	t.Parallel()
	f, fake, _ := setup(t, "feature")
	ctx := t.Context()
	pr, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: "feature", Base: "main", Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	fake.SetMergeableState(pr.Number, "blocked")
	got, err := f.GetPullRequest(ctx, pr.Number)
	if err != nil || got.MergeableState != forge.MergeableBlocked || got.MergeableState.Ready() {
		t.Fatalf("%+v %v", got, err)
	}
	res, err := f.MergePullRequest(ctx, pr.Number, forge.MergeOptions{SHA: pr.HeadSHA})
	if err != nil || res.Merged || !strings.Contains(res.NotReady, "405") {
		t.Errorf("405: %+v %v", res, err)
	}
	fake.SetMergeableState(pr.Number, "")
	res, err = f.MergePullRequest(ctx, pr.Number, forge.MergeOptions{SHA: strings.Repeat("0", 40)})
	if err != nil || res.Merged || !strings.Contains(res.NotReady, "409") {
		t.Errorf("409: %+v %v", res, err)
	}
}

func TestServerErrorIsAnError(t *testing.T) {
	t.Parallel()
	f, fake, _ := setup(t)
	fake.InjectServerErrors(1)
	if _, err := f.ListPullRequests(t.Context(), forge.ListOptions{}); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v", err)
	}
}

// TestErrorClasses: every error of GitHub's API is classified by type
// (failure.ClassOf), never by its text: a server error, a 404 and an
// exhausted budget are Remote (exit 3: running again may help), a branch
// someone moved first is a Conflict, a bad base URL is Usage.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	f, fake, _ := setup(t, "feature")
	ctx := t.Context()
	fake.InjectServerErrors(1)
	_, err := f.ListPullRequests(ctx, forge.ListOptions{})
	if c := failure.ClassOf(err); c != failure.Remote || failure.ExitCode(err) != failure.ExitRemote {
		t.Errorf("server error: class %s, exit %d: %v", c, failure.ExitCode(err), err)
	}
	_, err = f.GetBranch(ctx, "absent")
	if !errors.Is(err, forge.ErrNotFound) || failure.ClassOf(err) != failure.Remote {
		t.Errorf("not found: class %s: %v", failure.ClassOf(err), err)
	}
	head, err := f.GetBranch(ctx, "feature")
	if err != nil {
		t.Fatal(err)
	}
	err = f.SetBranch(ctx, "feature", head, strings.Repeat("1", 40))
	if failure.ClassOf(err) != failure.Conflict || failure.ExitCode(err) != failure.ExitRemote {
		t.Errorf("moved branch: class %s: %v", failure.ClassOf(err), err)
	}
	fake.ExhaustRateLimit(time.Now().Add(time.Hour))
	if _, err := f.ListPullRequests(ctx, forge.ListOptions{}); !errors.Is(err, ErrBudget) || failure.ClassOf(err) != failure.Remote {
		t.Errorf("budget: class %s: %v", failure.ClassOf(err), err)
	}
	if _, err := New(Options{Owner: "o", Repo: "r", BaseURL: "://bad"}); failure.ClassOf(err) != failure.Usage {
		t.Errorf("bad base URL: class %s: %v", failure.ClassOf(err), err)
	}
}

// TestSuccessSinceReadsOnlyWhatItNeeds: the run's start is found on the
// third page of 250 statuses, newest first; a context bounded by a
// failure on the first page costs one page; the times are GitHub's.
func TestSuccessSinceReadsOnlyWhatItNeeds(t *testing.T) {
	t.Parallel()
	f, fake, checkout := setup(t)
	ctx := t.Context()
	sha := gittest.Git(t, checkout, "rev-parse", "main")
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	post := func(i int, ctxName string, st forge.State) {
		t.Helper()
		fake.SetClock(func() time.Time { return t0.Add(time.Duration(i) * time.Minute) })
		if err := f.SetStatus(ctx, sha, forge.Status{Context: ctxName, State: st, Description: fmt.Sprintf("run %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	post(0, "flotilla/verify/web", forge.StateFailure)
	for i := 1; i <= 250; i++ {
		post(i, "flotilla/verify/web", forge.StateSuccess)
	}
	lists := func() int { reqs, _ := fake.Requests(); return reqs["repos/list-commit-statuses-for-ref"] }
	since, err := f.SuccessSince(ctx, sha, []string{"flotilla/verify/web"})
	if err != nil || !since["flotilla/verify/web"].Equal(t0.Add(time.Minute)) {
		t.Fatalf("since %v %v, want t0+1m", since, err)
	}
	if n := lists(); n != 3 {
		t.Errorf("%d pages read for 251 statuses, want 3", n)
	}
	post(251, "flotilla/verify/web", forge.StateFailure)
	post(252, "flotilla/verify/web", forge.StateSuccess)
	since, err = f.SuccessSince(ctx, sha, []string{"flotilla/verify/web"})
	if err != nil || !since["flotilla/verify/web"].Equal(t0.Add(252*time.Minute)) {
		t.Fatalf("since %v %v, want t0+252m", since, err)
	}
	if n := lists(); n != 4 {
		t.Errorf("a run bounded on the first page read %d pages", n-3)
	}
	if since, err := f.SuccessSince(ctx, sha, nil); err != nil || len(since) != 0 || lists() != 4 {
		t.Errorf("no context asked: %v %v, %d pages", since, err, lists()-4)
	}
}

// TestSetStatusSkipsTheSame: verify re-posting an unchanged status every
// run posts nothing (one read of the commit's combined status per
// Forge), so GitHub's cap of statuses per commit and context is not spent
// and the status keeps its first time; a change is posted.
func TestSetStatusSkipsTheSame(t *testing.T) {
	t.Parallel()
	f, fake, checkout := setup(t)
	ctx := t.Context()
	sha := gittest.Git(t, checkout, "rev-parse", "main")
	ok := forge.Status{Context: "flotilla/verify/web", State: forge.StateSuccess, Description: "Synced, Healthy"}
	for range 3 {
		if err := f.SetStatus(ctx, sha, ok); err != nil {
			t.Fatal(err)
		}
	}
	// Another run: a new Forge reads what is there first.
	g, err := New(Options{Owner: "example", Repo: "fleet", Token: "t", BaseURL: fake.URL(), MaxWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetStatus(ctx, sha, ok); err != nil {
		t.Fatal(err)
	}
	reqs, _ := fake.Requests()
	if reqs["repos/create-commit-status"] != 1 || reqs["repos/get-combined-status-for-ref"] != 2 {
		t.Errorf("requests %v, want 1 post and 2 reads", reqs)
	}
	bad := ok
	bad.State, bad.Description = forge.StateFailure, "Synced, Degraded"
	for _, s := range []forge.Status{bad, ok} {
		if err := g.SetStatus(ctx, sha, s); err != nil {
			t.Fatal(err)
		}
	}
	if reqs, _ := fake.Requests(); reqs["repos/create-commit-status"] != 3 {
		t.Errorf("a changed status was not posted: %v", reqs)
	}
}

// TestFakeRefusesBodiesOverGitHubsLimit: the fake holds bodies to GitHub's
// 65,536 characters, so a test through it proves a body fits: the limit
// itself passes (in multi-byte characters too), one more is refused on
// pull requests and comments, as GitHub's 422, and nothing is written.
func TestFakeRefusesBodiesOverGitHubsLimit(t *testing.T) {
	t.Parallel()
	f, fake, _ := setup(t, "feature")
	ctx := t.Context()
	tag := forge.CommentMarker("m") + "\n"
	atLimit := strings.Repeat("ü", forgetest.BodyLimit-len(tag))
	pr, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: "feature", Base: "main", Title: "t", Body: strings.Repeat("ä", forgetest.BodyLimit)})
	if err != nil {
		t.Fatalf("a body of 65,536 two-byte characters: %v", err)
	}
	if err := f.UpsertComment(ctx, pr.Number, "m", atLimit); err != nil {
		t.Fatalf("a comment at the limit: %v", err)
	}
	over := strings.Repeat("x", forgetest.BodyLimit+1)
	if _, err := f.UpdatePullRequest(ctx, pr.Number, forge.UpdateOptions{Body: &over}); err == nil || !strings.Contains(err.Error(), "body is too long") {
		t.Errorf("a pull request body over the limit: %v", err)
	}
	if err := f.UpsertComment(ctx, pr.Number, "m", atLimit+"🚢"); err == nil || !strings.Contains(err.Error(), "body is too long") {
		t.Errorf("a comment over the limit: %v", err)
	}
	if got := fake.Comments(pr.Number); len(got) != 1 || got[0] != tag+atLimit {
		t.Errorf("the comment changed on a refused edit")
	}
}
