package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// loopFleet rolls one app out to three clusters, canary → early → general.
var loopFleet = map[string]string{
	"flotilla.yaml": "repos:\n  https://example.com/fleet.git: .\n",
	"clusters/clusters.yaml": `apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: canary, labels: {rollout-tier: canary}}
spec: {server: https://canary.example.com}
---
apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: early, labels: {rollout-tier: early}}
spec: {server: https://early.example.com}
---
apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: general, labels: {rollout-tier: general}}
spec: {server: https://general.example.com}
`,
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
        maxUpdate: 1
      - matchExpressions: [{key: rollout-tier, operator: In, values: [early]}]
        maxUpdate: 1
      - matchExpressions: [{key: rollout-tier, operator: In, values: [general]}]
  template:
    metadata:
      name: "web-{{name}}"
      labels: {rollout-tier: "{{metadata.labels.rollout-tier}}"}
    spec:
      project: default
      source: {repoURL: https://example.com/fleet.git, path: apps/web}
      destination: {server: "{{server}}", namespace: web}
      syncPolicy:
        automated: {prune: true}
        syncOptions: [CreateNamespace=true]
`,
	"apps/web/config.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {version: v1}\n",
	"apps/web/deployment.yaml": deploymentYAML(""),
}

func deploymentYAML(extra string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:` + extra + `
      containers: [{name: web, image: nginx:1.27}]
`
}

type loop struct {
	t          *testing.T
	checkout   string
	kubeconfig string
	// repo holds the hydrated branches apply and verify read; forgeArgs
	// and env select the forge.
	repo        string
	promoteArgs []string
	verifyArgs  []string
	env         map[string]string
	// renderArgs: --no-push for the local forge, nothing (push to origin)
	// for GitHub.
	renderArgs []string
	// comments returns every promotion pull request's comments.
	comments func() string
}

func (l *loop) promote(args ...string) *promote.Result {
	l.t.Helper()
	var out, errb bytes.Buffer
	code := Promote(l.t.Context(), append(append([]string{"--fleet", l.checkout, "-o", "json"}, l.promoteArgs...), args...),
		Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return l.env[k] }})
	if code != ExitOK {
		l.t.Fatalf("promote exit %d: %s", code, errb.String())
	}
	var res promote.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		l.t.Fatalf("promote -o json: %v\n%s", err, out.String())
	}
	return &res
}

func (l *loop) render() {
	l.t.Helper()
	if code, _, stderr := renderCmd(l.t, append([]string{"--fleet", l.checkout}, l.renderArgs...)...); code != ExitOK {
		l.t.Fatalf("render: %s", stderr)
	}
}

func (l *loop) applyAndVerify(cluster string, wantCode int) {
	l.t.Helper()
	kc := []string{"--repo", l.repo, "--cluster", cluster, "--kubeconfig", l.kubeconfig}
	if code, out, stderr := applyCmd(l.t, kc...); code != ExitOK {
		l.t.Fatalf("apply %s: %s%s", cluster, out, stderr)
	}
	if code, out, stderr := verifyCmd(l.t, append(append(kc, l.verifyArgs...), "--wait", "--timeout", "60s")...); code != wantCode {
		l.t.Fatalf("verify %s: exit %d, want %d\n%s%s", cluster, code, wantCode, out, stderr)
	}
}

func (l *loop) live(cluster string) string {
	return gittest.Git(l.t, l.repo, "rev-parse", "hydrated/"+cluster)
}

func kinds(res *promote.Result) string {
	var out []string
	for _, a := range res.Actions {
		out = append(out, a.Cluster+":"+string(a.Kind))
	}
	return strings.Join(out, " ")
}

// TestPromoteLoopLocalForge is the mission end to end with no GitHub: three
// real clusters, render → promote → apply → verify, one tier at a time; an
// unhealthy canary halts the rollout with early and general untouched; a
// fix then rolls through every tier.
func TestPromoteLoopLocalForge(t *testing.T) {
	t.Parallel()
	runLoop(t, false)
}

// TestPromoteLoopGitHub is the same loop with GitHub: render pushes to the
// remote, promote opens and merges pull requests on the GitHub fake (every
// request validated against GitHub's description), verify posts commit
// statuses there, and apply reads the remote.
func TestPromoteLoopGitHub(t *testing.T) {
	t.Parallel()
	runLoop(t, true)
}

func runLoop(t *testing.T, withGitHub bool) {
	names := []string{"canary", "early", "general"}
	opts := make([]kubetest.Options, len(names))
	for i, n := range names {
		opts[i] = kubetest.Options{Name: n, Workloads: true}
	}
	clusters := kubetest.StartAll(t, opts...)
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, origin := gittest.Fleet(t, src)
	kubeconfig := filepath.Join(t.TempDir(), "fleet.kubeconfig")
	if err := kubetest.WriteKubeconfig(kubeconfig, clusters...); err != nil {
		t.Fatal(err)
	}
	l := &loop{t: t, checkout: checkout, kubeconfig: kubeconfig, repo: checkout,
		promoteArgs: []string{"--forge", "local"}, renderArgs: []string{"--no-push"}}
	l.comments = func() string {
		lf, err := local.Open(checkout)
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for n := 1; n <= 10; n++ {
			cs, err := lf.Comments(t.Context(), n)
			if err != nil {
				break
			}
			for _, c := range cs {
				all = append(all, c)
			}
		}
		return strings.Join(all, "\n")
	}
	if withGitHub {
		fake := forgetest.New(t, origin, "example", "fleet")
		l.repo, l.renderArgs = origin, nil
		l.env = map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet"}
		l.promoteArgs = []string{"--forge", "github", "--github-url", fake.URL()}
		l.verifyArgs = []string{"--forge", "github", "--github-repo", "example/fleet", "--github-url", fake.URL(), "--github-token", "ghs_test"}
		l.comments = func() string {
			var all []string
			for n := 1; n <= 10; n++ {
				all = append(all, fake.Comments(n)...)
			}
			return strings.Join(all, "\n")
		}
		t.Cleanup(func() {
			reqs, notModified := fake.Requests()
			t.Logf("GitHub requests by operation: %v (%d answered 304)", reqs, notModified)
		})
	}
	l.render()

	rollOut := func(step string) {
		t.Helper()
		// One pass per tier: opened and merged together.
		if got := kinds(l.promote()); got != step+":open+merge" {
			t.Fatalf("promote %s: %q, want %s:open+merge", step, got, step)
		}
		l.applyAndVerify(step, ExitOK)
	}
	for _, step := range names {
		rollOut(step)
	}
	if got := kinds(l.promote()); got != "" {
		t.Fatalf("everything is live and verified, yet promote did %q", got)
	}

	// A change that can never become available: nodes it cannot schedule on.
	writeFile(t, filepath.Join(checkout, "apps/web/deployment.yaml"), deploymentYAML("\n      nodeSelector: {no-such-node: \"true\"}"))
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "break web")
	l.render()
	earlyBefore, generalBefore := l.live("early"), l.live("general")
	if got := kinds(l.promote()); got != "canary:open+merge" {
		t.Fatalf("bad change: %q", got)
	}
	l.applyAndVerify("canary", ExitFailed)
	res := l.promote()
	if why := res.Halted["web"]; !strings.Contains(why, "web-canary on canary failed verification") {
		t.Errorf("halt not reported: %v", res.Halted)
	}
	if kinds(res) != "" {
		t.Errorf("the halted rollout still acted: %q", kinds(res))
	}
	var out bytes.Buffer
	writePromoteSummary(&out, res, false)
	if !strings.Contains(out.String(), "**Halted:**\n- web: web-canary on canary failed verification") {
		t.Errorf("summary does not say why:\n%s", out.String())
	}
	if l.live("early") != earlyBefore || l.live("general") != generalBefore {
		t.Fatal("early or general changed during a halted rollout")
	}
	// The pull request that brought the bad version says why.
	if comments := l.comments(); !strings.Contains(comments, "**Rollout of web halted.** After this promotion, verify reported failure for web-canary on canary") {
		t.Errorf("no halt comment on the canary pull request:\n%s", comments)
	}

	// The fix rolls through every tier.
	writeFile(t, filepath.Join(checkout, "apps/web/deployment.yaml"), deploymentYAML(""))
	writeFile(t, filepath.Join(checkout, "apps/web/config.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {version: v3}\n")
	gittest.Commit(t, checkout, "2026-01-03T00:00:00Z", "fix web")
	l.render()
	for _, step := range names {
		rollOut(step)
	}
	for _, c := range names {
		manifest := gittest.Show(t, l.repo, "hydrated/"+c, "web-"+c+"/manifest.yaml")
		if !strings.Contains(manifest, "version: v3") || strings.Contains(manifest, "no-such-node") {
			t.Errorf("%s did not get the fix:\n%s", c, manifest)
		}
	}
}

// TestPromoteAPIBudget: GitHub API spend grows with what changes, not with
// fleet size. On a 200-cluster fleet where everything is already live, one
// promote pass is measured on the fake.
func TestPromoteAPIBudget(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	var inv strings.Builder
	for i := range 200 {
		fmt.Fprintf(&inv, "---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c%03d, labels: {rollout-tier: %s}}\nspec: {server: https://c%03d.example.com}\n", i, []string{"canary", "early", "general"}[min(i, 2)], i)
	}
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	writeFileAll(t, filepath.Join(src, "clusters/clusters.yaml"), inv.String())
	checkout, origin := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatal(stderr)
	}
	// Everything was promoted earlier: live equals staging everywhere.
	var updates strings.Builder
	for i := range 200 {
		fmt.Fprintf(&updates, "update refs/heads/hydrated/c%03d refs/heads/hydrated/c%03d-next\n", i, i)
	}
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Dir, cmd.Stdin = origin, strings.NewReader(updates.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	fake := forgetest.New(t, origin, "example", "fleet")
	var out, errb bytes.Buffer
	code := Promote(t.Context(), []string{"--fleet", checkout, "--forge", "github", "--github-url", fake.URL()},
		Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			return map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet"}[k]
		}})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	reqs, _ := fake.Requests()
	total := 0
	for _, n := range reqs {
		total += n
	}
	t.Logf("a promote pass with nothing to do on 200 clusters made %d GitHub requests: %v", total, reqs)
	if total > 20 {
		t.Errorf("%d requests, want at most 20", total)
	}
	if !strings.Contains(out.String(), "Nothing to do.") || !strings.Contains(out.String(), fmt.Sprintf("GitHub API: %d requests", total)) {
		t.Errorf("summary:\n%s", out.String())
	}
}
