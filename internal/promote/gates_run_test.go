package promote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// gateRun is a fleet of one ApplicationSet on canary and prod, rollout
// steps from flotilla.yaml, rendered by hand: canary's proposal (v2) is
// live, prod's is not (v1 live). Its forge is the local forge or the
// GitHub fake over the fleet's origin.
type gateRun struct {
	t        *testing.T
	checkout string
	repo     *git.Repository
	forge    forge.Forge
	fake     *forgetest.GitHub // nil for the local forge
	remote   string
	clock    func(time.Time) // the forge's clock for statuses
}

func newGateRun(t *testing.T, withGitHub bool, steps string) *gateRun {
	t.Helper()
	src := gittest.Files(t, map[string]string{
		"flotilla.yaml": "repos:\n  https://example.com/fleet.git: .\nrollout:\n  steps:\n" + steps,
		"clusters/clusters.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: canary, labels: {rollout-tier: canary}}\nspec: {server: https://canary.example.com}\n" +
			"---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: prod, labels: {rollout-tier: prod}}\nspec: {server: https://prod.example.com}\n",
		"applicationsets/web.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: web}\nspec:\n  generators: [{clusters: {}}]\n" +
			"  template:\n    metadata: {name: 'web-{{name}}'}\n    spec:\n      project: default\n      source: {repoURL: https://example.com/fleet.git, path: web}\n      destination: {server: '{{server}}', namespace: web}\n",
	})
	checkout, origin := gittest.Fleet(t, src)
	app := func(cluster, version string) map[string]string {
		return map[string]string{
			"web-" + cluster + "/manifest.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: web}\ndata: {version: " + version + "}\n",
			"web-" + cluster + "/hydrator.metadata": `{"drySha":"d","flotilla":{"applicationSet":"web","labels":{"rollout-tier":"` + cluster + `"}}}`,
		}
	}
	for branch, files := range map[string]map[string]string{
		"hydrated/canary-next": app("canary", "v2"), "hydrated/canary": app("canary", "v2"),
		"hydrated/prod-next": app("prod", "v2"), "hydrated/prod": app("prod", "v1"),
	} {
		gittest.Git(t, checkout, "checkout", "-q", "--orphan", branch)
		gittest.Git(t, checkout, "rm", "-rqf", "--ignore-unmatch", ".")
		for name, content := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(checkout, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(checkout, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "render "+branch)
		gittest.Git(t, checkout, "push", "-q", "origin", branch)
	}
	gittest.Git(t, checkout, "checkout", "-q", "-f", "main")
	repo, err := git.PlainOpen(checkout)
	if err != nil {
		t.Fatal(err)
	}
	r := &gateRun{t: t, checkout: checkout, repo: repo}
	if withGitHub {
		r.fake = forgetest.New(t, origin, "example", "fleet")
		f, err := github.New(github.Options{Owner: "example", Repo: "fleet", Token: "t", BaseURL: r.fake.URL(), MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r.forge, r.remote = f, origin
		r.clock = func(now time.Time) { r.fake.SetClock(func() time.Time { return now }) }
		return r
	}
	lf, err := local.Open(checkout)
	if err != nil {
		t.Fatal(err)
	}
	r.forge = lf
	r.clock = func(now time.Time) { lf.Now = func() time.Time { return now } }
	return r
}

// live is a cluster's live head, where the remote (or the checkout) has it.
func (r *gateRun) live(cluster string) string {
	dir := r.checkout
	if r.remote != "" {
		dir = r.remote
	}
	return gittest.Git(r.t, dir, "rev-parse", "hydrated/"+cluster)
}

// verify posts verify's status of web-canary on canary's live head at.
func (r *gateRun) verify(at time.Time, st forge.State, desc string) {
	r.t.Helper()
	r.clock(at)
	if err := r.forge.SetStatus(r.t.Context(), r.live("canary"), forge.Status{Context: "flotilla/verify/web-canary", State: st, Description: desc}); err != nil {
		r.t.Fatal(err)
	}
}

// pass makes a promotion pass at now.
func (r *gateRun) pass(now time.Time) *Result {
	r.t.Helper()
	res, err := Run(r.t.Context(), Options{FleetDir: r.checkout, Repo: r.repo, Remote: r.remote, Forge: r.forge, Now: func() time.Time { return now }})
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

func (r *gateRun) requests(op string) int {
	if r.fake == nil {
		return 0
	}
	reqs, _ := r.fake.Requests()
	return reqs[op]
}

func forges(t *testing.T, run func(t *testing.T, withGitHub bool)) {
	for _, gh := range []bool{false, true} {
		name := "local forge"
		if gh {
			name = "GitHub"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, gh)
		})
	}
}

func appState(res *Result, app string) AppDecision {
	for _, d := range res.Apps {
		if d.App == app {
			return d
		}
	}
	return AppDecision{}
}

func actionKinds(res *Result) string {
	var out []string
	for _, a := range res.Actions {
		out = append(out, a.Cluster+":"+string(a.Kind))
	}
	return strings.Join(out, " ")
}

const bakeSteps = `  - name: canary
    matchExpressions: [{key: rollout-tier, operator: In, values: [canary]}]
    bakeTime: 30m
  - name: prod
    matchExpressions: [{key: rollout-tier, operator: In, values: [prod]}]
`

// TestBakeCountsFromTheFirstSuccess: verify reports success on canary at
// t0 and again (re-checked) at t0+20m; with a 30m bake, prod is promoted
// at t0+31m, on both forges. Counted from the newest success, as before,
// canary would still be baking (and, with verify every 15 minutes, never
// stop).
func TestBakeCountsFromTheFirstSuccess(t *testing.T) {
	t.Parallel()
	forges(t, func(t *testing.T, withGitHub bool) {
		r := newGateRun(t, withGitHub, bakeSteps)
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		r.verify(t0, forge.StateSuccess, "Synced, Healthy")
		r.verify(t0.Add(20*time.Minute), forge.StateSuccess, "Synced, Healthy: re-checked")
		res := r.pass(t0.Add(25 * time.Minute))
		if d := appState(res, "web-canary"); d.State != Baking || d.WaitingFor != "bake time (5m0s left)" {
			t.Errorf("at t0+25m canary is %s (%s), want baking with 5m left", d.State, d.WaitingFor)
		}
		if got := actionKinds(res); got != "" {
			t.Errorf("at t0+25m: %q, want nothing", got)
		}
		lists := r.requests("repos/list-commit-statuses-for-ref")
		if withGitHub && lists != 1 {
			t.Errorf("a pass with one pending bake read the status history %d times, want 1", lists)
		}
		res = r.pass(t0.Add(31 * time.Minute))
		if got := actionKinds(res); got != "prod:open+merge" {
			t.Fatalf("at t0+31m: %q, want prod:open+merge (canary: %+v)", got, appState(res, "web-canary"))
		}
		if withGitHub && r.requests("repos/list-commit-statuses-for-ref") != lists+1 {
			t.Errorf("the second pass read the history %d times", r.requests("repos/list-commit-statuses-for-ref")-lists)
		}
		// Baked by the newest success already: the history is not read.
		lists = r.requests("repos/list-commit-statuses-for-ref")
		r.pass(t0.Add(2 * time.Hour))
		if r.requests("repos/list-commit-statuses-for-ref") != lists {
			t.Error("a pass with no pending bake read the status history")
		}
	})
}

// TestBakeRestartsAfterAFailure: success at t0, a failure at t0+25m and
// success again at t0+26m: the bake restarts at t0+26m.
func TestBakeRestartsAfterAFailure(t *testing.T) {
	t.Parallel()
	forges(t, func(t *testing.T, withGitHub bool) {
		r := newGateRun(t, withGitHub, bakeSteps)
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		r.verify(t0, forge.StateSuccess, "Synced, Healthy")
		r.verify(t0.Add(25*time.Minute), forge.StateFailure, "Synced, Degraded")
		r.verify(t0.Add(26*time.Minute), forge.StateSuccess, "Synced, Healthy")
		res := r.pass(t0.Add(31 * time.Minute))
		if d := appState(res, "web-canary"); d.State != Baking || d.WaitingFor != "bake time (25m0s left)" || actionKinds(res) != "" {
			t.Errorf("at t0+31m: canary %s (%s), actions %q; want baking with 25m left, nothing done", d.State, d.WaitingFor, actionKinds(res))
		}
		if got := actionKinds(r.pass(t0.Add(56 * time.Minute))); got != "prod:open+merge" {
			t.Errorf("at t0+56m: %q, want prod:open+merge", got)
		}
	})
}

// TestApprovalsFromWritersOnGitHub: prod needs two approvals from wes or
// the team example/ops (ada). A reader's approval, and a writer's who is
// neither named nor in the team, do not count: the pull request waits
// and says why, on GitHub too; the team member's approval merges it.
func TestApprovalsFromWritersOnGitHub(t *testing.T) {
	t.Parallel()
	r := newGateRun(t, true, `  - name: canary
    matchExpressions: [{key: rollout-tier, operator: In, values: [canary]}]
  - name: prod
    matchExpressions: [{key: rollout-tier, operator: In, values: [prod]}]
    approvals: 2
    approvers: [wes, "@example/ops"]
`)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r.verify(t0, forge.StateSuccess, "Synced, Healthy")
	res := r.pass(t0.Add(time.Hour))
	if got := actionKinds(res); got != "prod:open" || res.Actions[0].PR != 1 {
		t.Fatalf("first pass: %q %+v, want prod:open of #1", got, res.Actions)
	}
	if d := appState(res, "web-prod"); d.WaitingFor != "2 approving reviews from @wes, @example/ops" {
		t.Errorf("prod waits for %q", d.WaitingFor)
	}
	pr, err := r.forge.GetPullRequest(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	liveBefore := r.live("prod")
	r.fake.SetPermission("rita", "read")
	r.fake.SetPermission("bob", "write")
	r.fake.SetPermission("wes", "maintain")
	r.fake.SetPermission("ada", "admin")
	r.fake.SetTeam("example", "ops", "ada", "rita")
	for _, who := range []string{"rita", "bob", "wes"} {
		r.fake.Review(1, who, "APPROVED", pr.HeadSHA)
	}
	res = r.pass(t0.Add(2 * time.Hour))
	want := "1 of 2 approvals from writers among @wes, @example/ops; review by @bob does not count: not among the step's approvers; review by @rita does not count: read access"
	if len(res.Actions) != 1 || res.Actions[0].Kind != Wait || res.Actions[0].Reason != want || res.Actions[0].Result != "waiting for "+want {
		t.Fatalf("with a reader's and an unnamed writer's approval: %+v\nwant the wait: %s", res.Actions, want)
	}
	if r.live("prod") != liveBefore {
		t.Fatal("prod was promoted without its approvals")
	}
	comments := strings.Join(r.fake.Comments(1), "\n")
	if !strings.Contains(comments, "**Waiting for approvals.** "+want+".") || !strings.Contains(comments, "only from @example/ops, @wes") {
		t.Errorf("the pull request does not say why:\n%s", comments)
	}
	// One permission read per approver, one membership read per writer.
	if perms, teams := r.requests("repos/get-collaborator-permission-level"), r.requests("teams/get-membership-for-user-in-org"); perms != 3 || teams != 2 {
		t.Errorf("%d permission reads for 3 approvers, %d membership reads for 2 writers", perms, teams)
	}
	r.fake.Review(1, "ada", "APPROVED", pr.HeadSHA)
	res = r.pass(t0.Add(3 * time.Hour))
	if len(res.Actions) != 1 || res.Actions[0].Kind != Merge || !res.Actions[0].Done || res.Actions[0].Reason != "every app's gate is open; approved by ada, wes" {
		t.Fatalf("with two named writers: %+v", res.Actions)
	}
	if r.live("prod") == liveBefore {
		t.Error("merged, yet prod's live branch did not move")
	}
}
