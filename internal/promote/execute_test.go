package promote

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/report"
)

// TestPullRequestBodyIsStable: the pull request's body lists the halted
// rollouts (a map) in one order, so a pass that changes nothing writes
// the same body byte for byte (and does not update the pull request).
func TestPullRequestBodyIsStable(t *testing.T) {
	t.Parallel()
	r := &runner{Options: Options{Fleet: &fleet.Fleet{}}}
	d := &clusterData{name: "prod", stagingCommit: &object.Commit{Message: "render\n\nFlotilla-Dry-Sha: 0123456789abcdef\n"}}
	p := Plan{Halted: map[string]string{}}
	for _, set := range []string{"web", "api", "db", "cache", "queue", "search", "auth", "mail"} {
		p.Halted[set] = set + "-canary failed verification"
	}
	a := Action{Kind: Open, Cluster: "prod", Steps: []string{"general"}, Reason: "promote"}
	_, first := r.describe(d, a, p, Snapshot{})
	for range 20 {
		if _, body := r.describe(d, a, p, Snapshot{}); body != first {
			t.Fatalf("the body changed between two passes:\n%s\n---\n%s", first, body)
		}
	}
	if i, j := strings.Index(first, "- api:"), strings.Index(first, "- web:"); i < 0 || j < i {
		t.Errorf("halted rollouts not sorted:\n%s", first)
	}
}

// TestPullRequestBodyAtFleetScale: a promotion of 50 apps on one cluster
// of a 200-cluster fleet where every other cluster verified the same 50
// ApplicationSets has 9,950 lines of gate evidence. Its body stays within
// GitHub's limit (the fake, which refuses longer bodies, takes it), keeps
// what the pull request waits for, the halted rollouts and every app's
// row, closes what it opens, points to the rest, and is the same bytes on
// every pass.
func TestPullRequestBodyAtFleetScale(t *testing.T) {
	t.Parallel()
	r := &runner{Options: Options{Fleet: &fleet.Fleet{}}}
	d := &clusterData{name: "c000", stagingCommit: &object.Commit{Message: "render\n\nFlotilla-Dry-Sha: 0123456789abcdef\n"}}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var s Snapshot
	var p Plan
	a := Action{Kind: Open, Cluster: "c000", Steps: []string{"general"}, Reason: "approval of 2 reviewers with write access (général ✓)"}
	for c := range 200 {
		cluster := fmt.Sprintf("c%03d", c)
		for i := range 50 {
			app := App{Name: fmt.Sprintf("app-%02d-%s", i, cluster), Cluster: cluster, Set: fmt.Sprintf("app-%02d", i), Live: "v2", Staging: "v2",
				Status: &forge.Status{State: forge.StateSuccess, Description: "verified", UpdatedAt: at}}
			if c == 0 {
				app.Live = "v1"
				p.Apps = append(p.Apps, AppDecision{App: app.Name, Cluster: cluster, Set: app.Set, Step: "general", Promote: true})
				a.Apps = append(a.Apps, app.Name)
			}
			s.Apps = append(s.Apps, app)
		}
	}
	p.Halted = map[string]string{"app-99": "app-99-c001 on c001 failed verification"}
	_, body := r.describe(d, a, p, s)
	if _, again := r.describe(d, a, p, s); again != body {
		t.Fatal("the body changed between two passes")
	}
	if len(body) > report.CommentLimit || !utf8.ValidString(body) {
		t.Fatalf("body of %d bytes (valid UTF-8 %v)", len(body), utf8.ValidString(body))
	}
	if u := report.Unclosed(body); u != "" {
		t.Errorf("the body leaves %.200q open", u)
	}
	for _, want := range []string{"**Waiting for:** " + a.Reason + "\n", "- app-99: app-99-c001 on c001 failed verification\n",
		"| app-00-c000 | general | 0 | 0 | 0 |\n", "| app-49-c000 | general | 0 | 0 | 0 |\n",
		"- app-00-c001 on c001 verified success at 2026-11-30 12:00 UTC\n", bodyCut + "\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("the body lacks %q", want)
		}
	}
	if n := strings.Count(body, "- app-00-c001 on c001 verified"); n != 1 {
		t.Errorf("app-00-c001's evidence is listed %d times", n)
	}

	checkout, bare := gittest.Fleet(t, t.TempDir())
	gittest.Git(t, checkout, "push", "-q", "origin", "main:flotilla/promote/c000")
	fake := forgetest.New(t, bare, "example", "fleet")
	f, err := github.New(github.Options{Owner: "example", Repo: "fleet", Token: "t", BaseURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.OpenPullRequest(t.Context(), forge.OpenOptions{Head: "flotilla/promote/c000", Base: "main", Title: "promote c000", Body: body}); err != nil {
		t.Fatalf("GitHub refused the body: %v", err)
	}
}
