package promote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// runFleet is a fleet of one ApplicationSet on two clusters with
// the given flotilla.yaml, in a Git checkout nothing was rendered into.
func runFleet(t *testing.T, config string) (string, *git.Repository) {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{
		"flotilla.yaml": config,
		"clusters/clusters.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: canary}\nspec: {server: https://canary.example.com}\n" +
			"---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: prod}\nspec: {server: https://prod.example.com}\n",
		"applicationsets/web.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: web}\nspec:\n  generators: [{clusters: {}}]\n" +
			"  template:\n    metadata: {name: 'web-{{name}}'}\n    spec:\n      project: default\n      source: {repoURL: https://example.com/fleet.git, path: web}\n      destination: {server: '{{server}}', namespace: web}\n",
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkout, _ := gittest.Fleet(t, src)
	repo, err := git.PlainOpen(checkout)
	if err != nil {
		t.Fatal(err)
	}
	return checkout, repo
}

// TestRunWarnsAsData: a pass that finds no proposal returns the warning
// in its Result, naming the cluster count, the layout's proposal branch
// and where it looked; it prints nothing and changes no ref.
func TestRunWarnsAsData(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, config, where, want string
	}{
		{"default layout", "repos:\n  https://example.com/fleet.git: .\n", "",
			"nothing to promote: none of the 2 clusters has a branch hydrated/<cluster>-next in the repository; run render first"},
		{"custom layout, named place", "repos:\n  https://example.com/fleet.git: .\nhydrated:\n  branch: env/{{cluster}}/live\n  staging: proposed/{{cluster}}\n", "the repository /srv/fleet",
			"nothing to promote: none of the 2 clusters has a branch proposed/<cluster> in the repository /srv/fleet; run render first"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, repo := runFleet(t, tt.config)
			lf, err := local.Open(checkout)
			if err != nil {
				t.Fatal(err)
			}
			before := gittest.Refs(t, checkout, "")
			res, err := Run(t.Context(), Options{FleetDir: checkout, Repo: repo, Forge: lf, Where: tt.where})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) != 1 || res.Warnings[0].Kind != NothingRendered || res.Warnings[0].Message != tt.want {
				t.Errorf("warnings %+v, want %q", res.Warnings, tt.want)
			}
			if res.Proposals != 0 || len(res.Actions) != 0 {
				t.Errorf("result %+v", res)
			}
			if after := gittest.Refs(t, checkout, ""); after != before {
				t.Errorf("refs changed:\n%s\nwere:\n%s", after, before)
			}
		})
	}
}

// notApprover is a forge that takes no approvals from promote (as GitHub).
type notApprover struct{ forge.Forge }

// TestRunApprovals: an approval of a cluster without an open promotion
// pull request is a *NoPullRequestError (usage, exit 2), and approvals on
// a forge that does not take them are a usage error; neither pass acts.
func TestRunApprovals(t *testing.T) {
	t.Parallel()
	checkout, repo := runFleet(t, "repos:\n  https://example.com/fleet.git: .\n")
	lf, err := local.Open(checkout)
	if err != nil {
		t.Fatal(err)
	}
	approvals := []Approval{{Cluster: "prod", Approver: "alice"}}
	_, err = Run(t.Context(), Options{FleetDir: checkout, Repo: repo, Forge: lf, Approvals: approvals})
	var noPR *NoPullRequestError
	if !errors.As(err, &noPR) || noPR.Cluster != "prod" || failure.ExitCode(err) != failure.ExitUsage {
		t.Errorf("approval without a pull request: %v (exit %d)", err, failure.ExitCode(err))
	}
	// A cluster the fleet does not hold is named as such, before anything
	// is read or written.
	for _, o := range []Options{
		{Approvals: []Approval{{Cluster: "nosuch", Approver: "alice"}}},
		{Pause: []string{"../../etc"}},
		{Resume: []string{"prod", "nosuch"}},
	} {
		o.FleetDir, o.Repo, o.Forge = checkout, repo, lf
		before := gittest.Refs(t, checkout, "")
		if _, err := Run(t.Context(), o); !failure.Is(err, failure.Usage) || !strings.HasSuffix(err.Error(), ": no such cluster in the fleet") {
			t.Errorf("approve %v, pause %v, resume %v: %v", o.Approvals, o.Pause, o.Resume, err)
		}
		if after := gittest.Refs(t, checkout, ""); after != before {
			t.Errorf("refs changed:\n%s\nwere:\n%s", after, before)
		}
	}
	// A pause without a pull request points at flotilla.yaml's switch,
	// the pause that works before one opens and for direct pushes.
	_, err = Run(t.Context(), Options{FleetDir: checkout, Repo: repo, Forge: lf, Pause: []string{"prod"}})
	if !errors.As(err, &noPR) || noPR.Verb != "pause" || failure.ExitCode(err) != failure.ExitUsage || !strings.Contains(err.Error(), "rollout.paused") || !strings.Contains(err.Error(), "pullRequest: false") {
		t.Errorf("pause without a pull request: %v (exit %d)", err, failure.ExitCode(err))
	}
	_, err = Run(context.Background(), Options{FleetDir: checkout, Repo: repo, Forge: notApprover{lf}, Approvals: approvals})
	if !failure.Is(err, failure.Usage) || errors.As(err, &noPR) {
		t.Errorf("approval on a forge without approvals: %v", err)
	}
	// A plan moves only its wave: pausing, resuming or rolling back in
	// the same pass is refused before anything is read or written.
	hash := strings.Repeat("a", 64)
	for _, o := range []Options{
		{Plan: true, Rollback: []string{"prod"}},
		{ExecutePlan: hash, Rollback: []string{"prod"}},
		{ExecutePlan: hash, Pause: []string{"prod"}},
		{Plan: true, Resume: []string{"prod"}},
	} {
		o.FleetDir, o.Repo, o.Forge = checkout, repo, lf
		before := gittest.Refs(t, checkout, "")
		if _, err := Run(t.Context(), o); !failure.Is(err, failure.Usage) || !strings.Contains(err.Error(), "a plan moves only its wave") {
			t.Errorf("plan %v / execute %q with pause %v, resume %v, rollback %v: %v", o.Plan, o.ExecutePlan, o.Pause, o.Resume, o.Rollback, err)
		}
		if after := gittest.Refs(t, checkout, ""); after != before {
			t.Errorf("refs changed:\n%s\nwere:\n%s", after, before)
		}
	}
	// A fleet that does not load is input.
	_, err = Run(t.Context(), Options{FleetDir: filepath.Join(checkout, "absent"), Repo: repo, Forge: lf})
	if !failure.Is(err, failure.Input) {
		t.Errorf("a missing fleet: %v (class %s)", err, failure.ClassOf(err))
	}
}

// TestRollbackRefuses: a rollback of a cluster the fleet does not hold is
// usage; of a cluster with no live branch, or whose live branch has no
// earlier verified commit (*NoVerifiedCommitError), input — each before
// anything is pushed, whichever cluster comes first.
func TestRollbackRefuses(t *testing.T) {
	t.Parallel()
	checkout, repo := runFleet(t, "repos:\n  https://example.com/fleet.git: .\n")
	// prod's live branch: one commit, verified, with nothing before it.
	gittest.Git(t, checkout, "checkout", "-q", "--orphan", "hydrated/prod")
	if err := os.MkdirAll(filepath.Join(checkout, "web-prod"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(checkout, "web-prod", "manifest.yaml"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, checkout, "add", "web-prod")
	head := gittest.Commit(t, checkout, "2026-01-01T00:00:00Z", "hydrate prod")
	gittest.Git(t, checkout, "checkout", "-q", "main")
	lf, err := local.Open(checkout)
	if err != nil {
		t.Fatal(err)
	}
	if err := lf.SetStatus(t.Context(), head, forge.Status{Context: "flotilla/verify/web-prod", State: forge.StateSuccess}); err != nil {
		t.Fatal(err)
	}
	before := gittest.Refs(t, checkout, "refs/heads/")
	for _, tt := range []struct {
		clusters []string
		class    failure.Class
		want     string
	}{
		{[]string{"nope"}, failure.Usage, "roll back nope: no such cluster in the fleet"},
		{[]string{"canary"}, failure.Input, "roll back canary: it has no live branch hydrated/canary"},
		{[]string{"prod"}, failure.Input, "roll back prod: none of the 0 earlier commits of hydrated/prod"},
	} {
		_, err := Run(t.Context(), Options{FleetDir: checkout, Repo: repo, Forge: lf, Rollback: tt.clusters})
		if !failure.Is(err, tt.class) || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v (class %s), want %s %q", tt.clusters, err, failure.ClassOf(err), tt.class, tt.want)
		}
	}
	_, err = Run(t.Context(), Options{FleetDir: checkout, Repo: repo, Forge: lf, Rollback: []string{RollbackAll}})
	var nv *NoVerifiedCommitError
	if !errors.As(err, &nv) || nv.Cluster != "prod" || failure.ExitCode(err) != failure.ExitUsage || !failure.Is(err, failure.Input) {
		t.Errorf("--rollback all: %v", err)
	}
	// Approving a rollback that has no pull request names the rollback's.
	_, err = Run(t.Context(), Options{FleetDir: checkout, Repo: repo, Forge: lf, Rollback: []string{"prod"}, Approvals: []Approval{{Cluster: "prod", Approver: "alice"}}})
	if !failure.Is(err, failure.Usage) || err == nil || err.Error() != "approve prod: no open rollback pull request for that cluster" {
		t.Errorf("approving a rollback without its pull request: %v", err)
	}
	if after := gittest.Refs(t, checkout, "refs/heads/"); after != before {
		t.Errorf("a refused rollback changed branches:\n%s\nwere:\n%s", after, before)
	}
}
