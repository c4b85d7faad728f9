package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// directFleet rolls web out to c1 (canary), then c2 and c3 (general), with
// no pull requests; the general step's extras (requireApproval…) are
// given.
func directFleet(t *testing.T, generalExtra string) (checkout, origin string) {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{
		"flotilla.yaml": "repos:\n  https://example.com/fleet.git: .\n",
		"clusters/clusters.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1, labels: {rollout-tier: canary}}\nspec: {server: https://c1.example.com}\n" +
			"---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c2, labels: {rollout-tier: general}}\nspec: {server: https://c2.example.com}\n" +
			"---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c3, labels: {rollout-tier: general}}\nspec: {server: https://c3.example.com}\n",
		"applicationsets/web.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: web}
spec:
  generators:
  - clusters: {}
  strategy:
    type: RollingSync
    rollingSync:
      steps:
      - matchExpressions: [{key: rollout-tier, operator: In, values: [canary]}]
        pullRequest: false
      - matchExpressions: [{key: rollout-tier, operator: In, values: [general]}]
        pullRequest: false
` + generalExtra + `  template:
    metadata: {name: "web-{{name}}"}
    spec:
      project: default
      source: {repoURL: https://example.com/fleet.git, path: apps/web}
      destination: {server: "{{server}}", namespace: web}
`,
		"apps/web/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {version: v1}\n",
		"apps/web/old.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\ndata: {version: v1}\n",
	}
	for name, content := range files {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, origin = gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	return checkout, origin
}

// verified posts verify's success for every app on cluster's live head in
// origin, an hour ago.
func verified(t *testing.T, checkout, origin string, clusters ...string) {
	t.Helper()
	lf, err := local.OpenRemote(checkout, origin)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters {
		sha := gittest.Git(t, origin, "rev-parse", "hydrated/"+c)
		st := forge.Status{Context: layout.VerifyContext("web-" + c), State: forge.StateSuccess, Description: "in sync", UpdatedAt: time.Now().Add(-time.Hour)}
		if err := lf.SetStatus(t.Context(), sha, st); err != nil {
			t.Fatal(err)
		}
	}
}

func kindsOf(res *promote.Result) string {
	var out []string
	for _, a := range res.Actions {
		out = append(out, a.Cluster+":"+string(a.Kind))
	}
	return strings.Join(out, " ")
}

// TestPromoteDirectPush: a pullRequest: false step fast-forwards each live
// branch to exactly the staging content, with the Flotilla-Promoted-By and
// Flotilla-Gate trailers, opening no pull request; the next step waits
// for verify like any other (the gates hold). When the remote refuses one
// of the step's two branches (an update hook, run per ref), neither moves
// and promote exits 3 quoting the remote; when another writer moves one of
// them first, promote says so (a conflict, exit 3) and neither moves.
func TestPromoteDirectPush(t *testing.T) {
	t.Parallel()
	checkout, origin := directFleet(t, "")
	args := []string{"--fleet", checkout, "--forge", "local", "--remote", origin, "--actor", "alice"}
	res := promoteJSON(t, args...)
	if got := kindsOf(res); got != "c1:push" || !res.Actions[0].Done {
		t.Fatalf("first pass: %q %+v", got, res.Actions)
	}
	msg := gittest.Git(t, origin, "log", "-1", "--format=%B", "hydrated/c1")
	for _, want := range []string{"promote c1: web-c1", "Flotilla-Promoted-By: alice", "Flotilla-Gate: pause, halt, policy, prior-steps, max-update"} {
		if !strings.Contains(msg, want) {
			t.Errorf("hydrated/c1's commit lacks %q:\n%s", want, msg)
		}
	}
	if trailers := gittest.Git(t, origin, "log", "-1", "--format=%(trailers:key=Flotilla-Promoted-By,valueonly)", "hydrated/c1"); trailers != "alice" {
		t.Errorf("git reads the Flotilla-Promoted-By trailer as %q", trailers)
	}
	if got, want := gittest.Git(t, origin, "rev-parse", "hydrated/c1:web-c1"), gittest.Git(t, origin, "rev-parse", "hydrated/c1-next:web-c1"); got != want {
		t.Errorf("hydrated/c1's app tree %s is not the staging one %s", got, want)
	}
	if parents := gittest.Git(t, origin, "rev-list", "--parents", "-1", "hydrated/c1"); len(strings.Fields(parents)) != 2 {
		t.Errorf("the promotion is not one fast-forward commit: %s", parents)
	}
	if refs := gittest.Refs(t, origin, "refs/heads/flotilla/"); refs != "" {
		t.Errorf("a direct step pushed promotion branches: %s", refs)
	}
	if refs := gittest.Refs(t, origin, "refs/flotilla/forge"); refs != "" {
		t.Errorf("a direct step recorded pull requests: %s", refs)
	}
	// The general step waits for verify on c1.
	c2, c3 := gittest.Git(t, origin, "rev-parse", "hydrated/c2"), gittest.Git(t, origin, "rev-parse", "hydrated/c3")
	if res := promoteJSON(t, args...); kindsOf(res) != "" {
		t.Fatalf("general moved before canary was verified: %q", kindsOf(res))
	}

	verified(t, checkout, origin, "c1")
	hook := "#!/bin/sh\nif [ \"$1\" = refs/heads/hydrated/c3 ] && [ \"$2\" != 0000000000000000000000000000000000000000 ]; then echo 'GH006: Protected branch update failed for refs/heads/hydrated/c3.' >&2; exit 1; fi\nexit 0\n"
	hookPath := filepath.Join(origin, "hooks", "update")
	if err := os.WriteFile(hookPath, []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := promoteCmd(t, nil, args...)
	if code != ExitRemote || !strings.Contains(stderr, "remote: GH006: Protected branch update failed for refs/heads/hydrated/c3.") {
		t.Fatalf("a refused branch: exit %d, want %d:\n%s%s", code, ExitRemote, out, stderr)
	}
	if got2, got3 := gittest.Git(t, origin, "rev-parse", "hydrated/c2"), gittest.Git(t, origin, "rev-parse", "hydrated/c3"); got2 != c2 || got3 != c3 {
		t.Fatalf("the push was not atomic: c2 %s→%s, c3 %s→%s", c2, got2, c3, got3)
	}

	// Another writer moves c2 while the push is under way.
	race := "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/hydrated/c2 ]; then\n" +
		"    env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/hydrated/c2 \"$(git rev-parse refs/heads/main)\"\n" +
		"  fi\ndone\nexit 0\n"
	if err := os.Remove(hookPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(origin, "hooks", "pre-receive"), []byte(race), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = promoteCmd(t, nil, args...)
	if code != ExitRemote || !strings.Contains(stderr, "another run moved hydrated/c2 since this pass read it, so no live branch was moved; run promote again") {
		t.Fatalf("a lost race: exit %d, want %d:\n%s%s", code, ExitRemote, out, stderr)
	}
	if got := gittest.Git(t, origin, "rev-parse", "hydrated/c3"); got != c3 {
		t.Fatalf("c3 moved in a push that lost its race on c2")
	}
	if err := os.Remove(filepath.Join(origin, "hooks", "pre-receive")); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, origin, "update-ref", "refs/heads/hydrated/c2", c2)
	res = promoteJSON(t, args...)
	if got := kindsOf(res); got != "c2:push c3:push" || !res.Actions[0].Done || !res.Actions[1].Done {
		t.Fatalf("general: %q %+v", got, res.Actions)
	}
	gittest.Fsck(t, origin)
}

// TestPromoteDirectPushGitHub: with the GitHub forge a direct step is a
// Git push to the repository: the pass spends no pull-request, label or
// ref request (only the one list of open pull requests every pass reads).
func TestPromoteDirectPushGitHub(t *testing.T) {
	t.Parallel()
	checkout, origin := directFleet(t, "")
	fake := forgetest.New(t, origin, "example", "fleet")
	env := map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet", "GITHUB_ACTOR": "octocat"}
	code, out, stderr := promoteCmd(t, env, "--fleet", checkout, "--forge", "github", "--github-url", fake.URL(), "-o", "json")
	if code != ExitOK {
		t.Fatalf("promote: exit %d: %s", code, stderr)
	}
	var res promote.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if got := kindsOf(&res); got != "c1:push" || !res.Actions[0].Done {
		t.Fatalf("pass: %q %+v", got, res.Actions)
	}
	if by := gittest.Git(t, origin, "log", "-1", "--format=%(trailers:key=Flotilla-Promoted-By,valueonly)", "hydrated/c1"); by != "octocat" {
		t.Errorf("Flotilla-Promoted-By %q, want $GITHUB_ACTOR", by)
	}
	reqs, _ := fake.Requests()
	for op, n := range reqs {
		if op != "pulls/list" && (strings.HasPrefix(op, "pulls/") || strings.HasPrefix(op, "git/") || strings.HasPrefix(op, "issues/")) {
			t.Errorf("a direct step made %d %s requests", n, op)
		}
	}
}

func planOf(t *testing.T, args ...string) *promote.Wave {
	t.Helper()
	res := promoteJSON(t, append(args, "--plan")...)
	if res.Wave == nil || len(res.Wave.Hash) != 64 {
		t.Fatalf("promote --plan: no wave: %+v", res)
	}
	return res.Wave
}

func waveClusters(w *promote.Wave) string {
	var out []string
	for _, c := range w.Clusters {
		out = append(out, c.Cluster+":"+c.Mode)
	}
	return strings.Join(out, " ")
}

// TestPromoteWaveApproval: a direct step with requireApproval waits for a
// wave approval. promote --plan changes nothing and hashes the wave the
// same way every time; the hash changes when a staging branch moves; an
// --execute-plan whose wave changed does nothing and exits 3 saying what
// the wave is now; one that matches moves exactly its wave, the approval
// recorded in the trailer.
func TestPromoteWaveApproval(t *testing.T) {
	t.Parallel()
	checkout, origin := directFleet(t, "        requireApproval: true\n")
	args := []string{"--fleet", checkout, "--forge", "local", "--remote", origin}
	if res := promoteJSON(t, args...); kindsOf(res) != "c1:push" {
		t.Fatalf("canary: %q", kindsOf(res))
	}
	verified(t, checkout, origin, "c1")
	res := promoteJSON(t, args...)
	if got := kindsOf(res); got != "c2:wait c3:wait" || res.Actions[0].Reason != promote.WaveApproval {
		t.Fatalf("general without a wave approval: %q %+v", got, res.Actions)
	}

	before := gittest.Refs(t, origin, "")
	w1 := planOf(t, args...)
	if again := planOf(t, args...); again.Hash != w1.Hash || again.Encode() != w1.Encode() {
		t.Errorf("two plans of one state differ:\n%s\n%s", w1.Encode(), again.Encode())
	}
	if after := gittest.Refs(t, origin, ""); after != before {
		t.Errorf("--plan changed refs:\n%s\nwere:\n%s", after, before)
	}
	if got := waveClusters(w1); got != "c2:push c3:push" {
		t.Fatalf("wave %q", got)
	}
	if c := w1.Clusters[0]; c.To != gittest.Git(t, origin, "rev-parse", "hydrated/c2-next") || c.Apps[0].App != "web-c2" || c.Apps[0].Added != 2 {
		t.Errorf("wave cluster %+v", c)
	}

	// The fleet changes: old is deleted, the staging branches move.
	if err := os.Remove(filepath.Join(checkout, "apps/web/old.yaml")); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-06-02T10:00:00Z", "drop old")
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	w2 := planOf(t, args...)
	if w2.Hash == w1.Hash || waveClusters(w2) != "c1:push" {
		t.Fatalf("after staging moved: wave %q, hash %s (was %s)", waveClusters(w2), w2.Hash, w1.Hash)
	}
	if a := w2.Clusters[0].Apps[0]; a.Removed != 1 || len(a.Deleted) != 1 || !strings.Contains(a.Deleted[0], "old") {
		t.Errorf("the wave's deletions: %+v", a)
	}
	before = gittest.Refs(t, origin, "refs/heads/")
	for _, stale := range []string{w1.Hash, strings.Repeat("0", 64)} {
		code, out, stderr := promoteCmd(t, nil, append(args, "--execute-plan", stale)...)
		if code != ExitRemote || !strings.Contains(stderr, "the wave changed since it was planned") || !strings.Contains(stderr, "The wave now is "+layout.Short(w2.Hash)+": c1 ") {
			t.Errorf("--execute-plan of a stale plan: exit %d, want %d:\n%s%s", code, ExitRemote, out, stderr)
		}
	}
	if after := gittest.Refs(t, origin, "refs/heads/"); after != before {
		t.Errorf("a refused --execute-plan moved branches:\n%s\nwere:\n%s", after, before)
	}
	if code, _, stderr := promoteCmd(t, nil, append(args, "--execute-plan", "nothex")...); code != ExitUsage {
		t.Errorf("--execute-plan nothex: exit %d: %s", code, stderr)
	}
	// Given the planned wave, the refusal says what changed.
	planned, err := json.Marshal(w1)
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(planFile, planned, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, given := range []string{planFile, string(planned)} {
		code, out, stderr := promoteCmd(t, nil, append(args, "--execute-plan", w1.Hash, "--plan-wave", given)...)
		if want := "the wave changed since it was planned (c1 joined the wave (web-c1); c2 left the wave; c3 left the wave)"; code != ExitRemote || !strings.Contains(stderr, want) {
			t.Errorf("--execute-plan with --plan-wave: exit %d, want %d and %q:\n%s%s", code, ExitRemote, want, out, stderr)
		}
	}
	if code, _, stderr := promoteCmd(t, nil, append(args, "--execute-plan", w2.Hash, "--plan-wave", planFile)...); code != ExitUsage || !strings.Contains(stderr, "the planned wave given is not the wave of that hash") {
		t.Errorf("--plan-wave of another hash: exit %d: %s", code, stderr)
	}

	res = promoteJSON(t, append(args, "--execute-plan", "sha256:"+w2.Hash)...)
	if got := kindsOf(res); got != "c1:push" || !res.Actions[0].Done || res.Wave.Hash != w2.Hash {
		t.Fatalf("--execute-plan: %q %+v", got, res.Actions)
	}
	verified(t, checkout, origin, "c1")
	w3 := planOf(t, args...)
	res = promoteJSON(t, append(args, "--execute-plan", w3.Hash)...)
	if got := kindsOf(res); got != "c2:push c3:push" {
		t.Fatalf("--execute-plan of general: %q", got)
	}
	gate := gittest.Git(t, origin, "log", "-1", "--format=%(trailers:key=Flotilla-Gate,valueonly)", "hydrated/c3")
	if want := "pause, halt, policy, prior-steps, max-update, approval (wave); wave " + w3.Hash; gate != want {
		t.Errorf("Flotilla-Gate %q, want %q", gate, want)
	}
	if got, want := gittest.Git(t, origin, "rev-parse", "hydrated/c3:web-c3"), gittest.Git(t, origin, "rev-parse", "hydrated/c3-next:web-c3"); got != want {
		t.Errorf("c3 is not at its staging content")
	}
}

// TestPromoteRefusesDirectMaxUpdateZero: maxUpdate 0 (a review of each
// pull request) with pullRequest: false is refused before anything moves,
// naming the ApplicationSet's file and what to write instead (exit 2).
func TestPromoteRefusesDirectMaxUpdateZero(t *testing.T) {
	t.Parallel()
	checkout, origin := directFleet(t, "        maxUpdate: 0\n")
	before := gittest.Refs(t, origin, "")
	code, out, stderr := promoteCmd(t, nil, "--fleet", checkout, "--forge", "local", "--remote", origin)
	if code != ExitUsage || !strings.Contains(stderr, "applicationsets/web.yaml: ApplicationSet web: rollout step 2: maxUpdate 0 needs an approving review of each pull request, and pullRequest: false opens none: set requireApproval: true instead") {
		t.Fatalf("exit %d, want %d:\n%s%s", code, ExitUsage, out, stderr)
	}
	if after := gittest.Refs(t, origin, ""); after != before {
		t.Errorf("a refused fleet moved refs")
	}
}

// TestPromoteWaveApprovalGitHub: on GitHub a wave approval stands in for
// the reviews a pull-request step requires: --execute-plan merges the
// pull request a plain pass left waiting for a review, and only with the
// hash of the wave as it is.
func TestPromoteWaveApprovalGitHub(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		if name == "applicationsets/web.yaml" {
			content = strings.Replace(content, "values: [canary]}]\n        maxUpdate: 1\n", "values: [canary]}]\n        requireApproval: true\n", 1)
		}
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, origin := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	fake := forgetest.New(t, origin, "example", "fleet")
	env := map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet"}
	pass := func(args ...string) *promote.Result {
		t.Helper()
		code, out, stderr := promoteCmd(t, env, append([]string{"--fleet", checkout, "--forge", "github", "--github-url", fake.URL(), "-o", "json"}, args...)...)
		if code != ExitOK {
			t.Fatalf("promote %v: exit %d: %s", args, code, stderr)
		}
		var res promote.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		return &res
	}
	if got := kindsOf(pass()); got != "canary:open" {
		t.Fatalf("plain pass: %q", got)
	}
	if got := kindsOf(pass()); got != "canary:wait" {
		t.Fatalf("plain pass without a review: %q", got)
	}
	w := pass("--plan").Wave
	if waveClusters(w) != "canary:pull-request" {
		t.Fatalf("wave %q", waveClusters(w))
	}
	res := pass("--execute-plan", w.Hash)
	if got := kindsOf(res); got != "canary:merge" || !res.Actions[0].Done {
		t.Fatalf("--execute-plan: %q %+v", got, res.Actions)
	}
	if got := gittest.Git(t, origin, "rev-parse", "hydrated/canary^2"); got != gittest.Git(t, origin, "rev-parse", "flotilla/promote/canary") {
		t.Errorf("hydrated/canary does not merge the promotion branch")
	}
}

// TestPromoteDirectPushInTheRepository: with the local forge working in a
// repository (no --remote) a direct step moves the repository's own live
// branches in one compare-and-set transaction, with the trailers.
func TestPromoteDirectPushInTheRepository(t *testing.T) {
	t.Parallel()
	checkout, origin := directFleet(t, "")
	res := promoteJSON(t, "--fleet", checkout, "--repo", origin, "--forge", "local")
	if got := kindsOf(res); got != "c1:push" || !res.Actions[0].Done {
		t.Fatalf("pass: %q %+v", got, res.Actions)
	}
	if by := gittest.Git(t, origin, "log", "-1", "--format=%(trailers:key=Flotilla-Promoted-By,valueonly)", "hydrated/c1"); by != promote.DefaultActor {
		t.Errorf("Flotilla-Promoted-By %q, want %q", by, promote.DefaultActor)
	}
	if got, want := gittest.Git(t, origin, "rev-parse", "hydrated/c1:web-c1"), gittest.Git(t, origin, "rev-parse", "hydrated/c1-next:web-c1"); got != want {
		t.Errorf("hydrated/c1 is not at its staging content")
	}
	gittest.Fsck(t, origin)
}

// TestPromoteDirectAfterRollback: a rollback of a direct-push cluster
// pauses it with a promotion pull request opened for the purpose. Once a
// fix is rendered and the cluster resumed, the step goes by push again —
// under its gates, with its trailers — and the push closes that pull
// request instead of merging through it.
func TestPromoteDirectAfterRollback(t *testing.T) {
	t.Parallel()
	checkout, origin := directFleet(t, "")
	args := []string{"--fleet", checkout, "--forge", "local", "--remote", origin}
	version := func(v string) {
		t.Helper()
		writeFile(t, filepath.Join(checkout, "apps/web/config.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {version: "+v+"}\n")
		gittest.Commit(t, checkout, "2026-06-0"+v[1:]+"T10:00:00Z", "web "+v)
		if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
			t.Fatalf("render %s: %s", v, stderr)
		}
	}
	if got := kindsOf(promoteJSON(t, args...)); got != "c1:push" {
		t.Fatalf("v1: %q", got)
	}
	verified(t, checkout, origin, "c1")
	version("v2")
	if got := kindsOf(promoteJSON(t, args...)); got != "c1:push" {
		t.Fatalf("v2: %q", got)
	}
	lf, err := local.OpenRemote(checkout, origin)
	if err != nil {
		t.Fatal(err)
	}
	bad := gittest.Git(t, origin, "rev-parse", "hydrated/c1")
	if err := lf.SetStatus(t.Context(), bad, forge.Status{Context: layout.VerifyContext("web-c1"), State: forge.StateFailure, Description: "crash"}); err != nil {
		t.Fatal(err)
	}

	res := promoteJSON(t, append(args, "--rollback", "c1")...)
	if len(res.Actions) != 1 || res.Actions[0].Kind != promote.Rollback || !strings.Contains(res.Actions[0].Result, "merged as") {
		t.Fatalf("rollback: %+v", res.Actions)
	}
	open := func() []forge.PullRequest {
		t.Helper()
		prs, err := lf.ListPullRequests(t.Context(), forge.ListOptions{Head: "flotilla/promote/c1", Base: "hydrated/c1"})
		if err != nil {
			t.Fatal(err)
		}
		return prs
	}
	prs := open()
	if len(prs) != 1 || !slices.Contains(prs[0].Labels, layout.PausedLabel) {
		t.Fatalf("the rollback left no paused promotion pull request: %+v", prs)
	}
	number := prs[0].Number

	version("v3")
	res = promoteJSON(t, append(args, "--resume", "c1")...)
	if got := kindsOf(res); got != "c1:push" {
		t.Fatalf("after the resume: %q, want c1:push", got)
	}
	a := res.Actions[0]
	if !a.Done || !strings.Contains(a.Reason, fmt.Sprintf("closes #%d", number)) || !strings.HasSuffix(a.Result, fmt.Sprintf("; closed #%d", number)) {
		t.Errorf("push after the resume: %+v", a)
	}
	if prs := open(); len(prs) != 0 {
		t.Errorf("still open: %+v", prs)
	}
	if by := gittest.Git(t, origin, "log", "-1", "--format=%(trailers:key=Flotilla-Promoted-By,valueonly)", "hydrated/c1"); by != promote.DefaultActor {
		t.Errorf("the live head is no direct push (Flotilla-Promoted-By %q)", by)
	}
	if got, want := gittest.Git(t, origin, "rev-parse", "hydrated/c1:web-c1"), gittest.Git(t, origin, "rev-parse", "hydrated/c1-next:web-c1"); got != want {
		t.Errorf("hydrated/c1 is not at v3's staging content")
	}
	gittest.Fsck(t, origin)
}
