package forgetest_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

func commitOn(t *testing.T, checkout, branch, base, file, content string) {
	t.Helper()
	gittest.Git(t, checkout, "checkout", "-q", "-B", branch, base)
	if err := os.WriteFile(filepath.Join(checkout, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "change "+file)
}

func TestSuiteGitHub(t *testing.T) {
	t.Parallel()
	checkout, bare := gittest.Fleet(t, t.TempDir())
	fake := forgetest.New(t, bare, "example", "fleet")
	f, err := github.New(github.Options{Owner: "example", Repo: "fleet", Token: "t", BaseURL: fake.URL(), MaxWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	forgetest.Suite(t, forgetest.Harness{
		Forge: f,
		Branch: func(t *testing.T, branch, base, file, content string) string {
			gittest.Git(t, checkout, "fetch", "-q", "origin")
			from := "origin/" + base
			commitOn(t, checkout, branch, from, file, content)
			gittest.Git(t, checkout, "push", "-q", "-f", "origin", branch)
			return gittest.Git(t, checkout, "rev-parse", "HEAD")
		},
		Approve:  func(t *testing.T, number int, user, sha string) { fake.Review(number, user, "APPROVED", sha) },
		Comments: func(t *testing.T, number int) []string { return fake.Comments(number) },
		Parents: func(t *testing.T, branch string) []string {
			return strings.Fields(gittest.Git(t, bare, "rev-parse", branch+"^1", branch+"^2"))
		},
		Clock:         func(t *testing.T, now time.Time) { fake.SetClock(func() time.Time { return now }) },
		SetPermission: func(t *testing.T, user string, p forge.Permission) { fake.SetPermission(user, string(p)) },
		Permission:    forge.PermissionNone,
		SetTeam:       func(t *testing.T, org, team string, users ...string) { fake.SetTeam(org, team, users...) },
	})
	reqs, _ := fake.Requests()
	t.Logf("requests by operation: %v", reqs)
}

func TestSuiteLocal(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, t.TempDir())
	f, err := local.Open(checkout)
	if err != nil {
		t.Fatal(err)
	}
	forgetest.Suite(t, forgetest.Harness{
		Forge: f,
		Branch: func(t *testing.T, branch, base, file, content string) string {
			commitOn(t, checkout, branch, base, file, content)
			return gittest.Git(t, checkout, "rev-parse", "HEAD")
		},
		Approve:  localApprove(f),
		Comments: localComments(f),
		Parents: func(t *testing.T, branch string) []string {
			return strings.Fields(gittest.Git(t, checkout, "rev-parse", branch+"^1", branch+"^2"))
		},
		Clock:      func(t *testing.T, now time.Time) { f.Now = func() time.Time { return now } },
		Permission: forge.PermissionWrite,
	})
}

func localApprove(f *local.Forge) func(t *testing.T, number int, user, sha string) {
	return func(t *testing.T, number int, user, sha string) {
		if err := f.Approve(t.Context(), number, user, sha); err != nil {
			t.Fatal(err)
		}
	}
}

func localComments(f *local.Forge) func(t *testing.T, number int) []string {
	return func(t *testing.T, number int) []string {
		cs, err := f.Comments(t.Context(), number)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Collect(maps.Values(cs))
	}
}

// TestSuiteLocalRemote runs the suite with the local forge against a plain
// remote: the forge works in a mirror of its own, branches come from
// another clone, and a second forge on another mirror sees the same state.
func TestSuiteLocalRemote(t *testing.T) {
	t.Parallel()
	checkout, bare := gittest.Fleet(t, t.TempDir())
	mirrors := t.TempDir()
	gittest.Bare(t, filepath.Join(mirrors, "a.git"), bare)
	gittest.Bare(t, filepath.Join(mirrors, "b.git"), bare)
	a, err := local.OpenRemote(filepath.Join(mirrors, "a.git"), bare)
	if err != nil {
		t.Fatal(err)
	}
	forgetest.Suite(t, forgetest.Harness{
		Forge: a,
		Branch: func(t *testing.T, branch, base, file, content string) string {
			gittest.Git(t, checkout, "fetch", "-q", "origin")
			commitOn(t, checkout, branch, "origin/"+base, file, content)
			gittest.Git(t, checkout, "push", "-q", "-f", "origin", branch)
			return gittest.Git(t, checkout, "rev-parse", "HEAD")
		},
		Approve:  localApprove(a),
		Comments: localComments(a),
		Parents: func(t *testing.T, branch string) []string {
			return strings.Fields(gittest.Git(t, bare, "rev-parse", branch+"^1", branch+"^2"))
		},
		Clock:      func(t *testing.T, now time.Time) { a.Now = func() time.Time { return now } },
		Permission: forge.PermissionWrite,
	})
	b, err := local.OpenRemote(filepath.Join(mirrors, "b.git"), bare)
	if err != nil {
		t.Fatal(err)
	}
	all, err := b.ListPullRequests(t.Context(), forge.ListOptions{All: true})
	if err != nil || len(all) != 2 || !all[1].Merged {
		t.Fatalf("the second clone sees %+v, %v", all, err)
	}
	main, _ := b.GetBranch(t.Context(), "main")
	if main != all[1].MergeCommitSHA {
		t.Errorf("main on the remote is %s, want the merge %s", main, all[1].MergeCommitSHA)
	}
	sts, err := b.Statuses(t.Context(), gittest.Git(t, bare, "rev-parse", "main^2^"))
	if err != nil || len(sts) != 3 { // web, db and bake
		t.Errorf("statuses seen by the second clone: %+v %v", sts, err)
	}
}
