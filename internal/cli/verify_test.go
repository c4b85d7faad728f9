package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

// verifyFleet has three apps on cluster "verify": web (a Deployment, a
// ConfigMap and a Secret), stuck (a Deployment that can never schedule and
// gives up after one second) and batch (a ConfigMap). Prune is off so that
// a removed object becomes extraneous.
var verifyFleet = map[string]string{
	"flotilla.yaml":   "repos:\n  https://example.com/fleet.git: .\npolicy:\n  allowSecrets: true\n",
	"clusters/c.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: verify}\nspec: {server: https://verify.example.com}\n",
	"applicationsets/apps.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: apps}
spec:
  generators:
  - list:
      elements: [{app: web}, {app: stuck}, {app: batch}]
  template:
    metadata: {name: "{{app}}"}
    spec:
      project: default
      source: {repoURL: https://example.com/fleet.git, path: "apps/{{app}}"}
      destination: {server: https://verify.example.com, namespace: "{{app}}"}
      syncPolicy:
        syncOptions: [CreateNamespace=true]
`,
	"apps/web/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
`,
	"apps/web/config.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: original}\n",
	"apps/web/secret.yaml":   "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata: {password: c2VjcmV0LXZhbHVl}\n", // secret-value
	"apps/batch/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: v}\n",
	"apps/stuck/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 1
  progressDeadlineSeconds: 1
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      nodeSelector: {no-such-node: "true"}
      containers: [{name: stuck, image: nginx:1.27}]
`,
}

func verifyCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Verify(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func verifyJSON(t *testing.T, args ...string) (int, map[string]*kube.AppStatus, string) {
	t.Helper()
	code, stdout, stderr := verifyCmd(t, append(args, "-o", "json")...)
	var res []clusterVerify
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("verify -o json (exit %d): %v\n%s\n%s", code, err, stdout, stderr)
	}
	apps := map[string]*kube.AppStatus{}
	for _, a := range res[0].Apps {
		apps[a.App] = a
	}
	return code, apps, res[0].Commit
}

// publish renders the fleet and makes the proposal the live branch.
func publish(t *testing.T, checkout string) {
	t.Helper()
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	gittest.Git(t, checkout, "branch", "-f", "hydrated/verify", "hydrated/verify-next")
}

func TestVerify(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t, kubetest.Options{Name: "verify", Workloads: true})
	src := t.TempDir()
	for name, content := range verifyFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, origin := gittest.Fleet(t, src)
	publish(t, checkout)
	kc := []string{"--repo", checkout, "--cluster", "verify", "--kubeconfig", cluster.Kubeconfig}

	// Before any apply: pending, nothing applied yet.
	_, apps, head := verifyJSON(t, kc...)
	if apps["web"].Sync != kube.Pending || apps["web"].Message != "not applied yet (3 missing)" {
		t.Errorf("before apply: %+v", apps["web"])
	}
	if code, out, stderr := applyCmd(t, kc...); code != ExitOK {
		t.Fatalf("apply: %s%s", out, stderr)
	}

	t.Run("healthy and unhealthy apps, statuses through the local forge", func(t *testing.T) {
		code, apps, _ := verifyJSON(t, append(kc, "--wait", "--timeout", "60s")...)
		if code != ExitFailed {
			t.Errorf("exit %d, want 1: stuck is unhealthy", code)
		}
		if a := apps["web"]; a.Sync != kube.Synced || a.Health != kube.Healthy {
			t.Errorf("web: %+v", a)
		}
		if a := apps["stuck"]; a.Health != kube.Degraded || !strings.Contains(a.Message, "Deployment/stuck/stuck degraded") || !strings.Contains(a.Message, "Progress deadline exceeded") {
			t.Errorf("stuck: %s %s: %s", a.Sync, a.Health, a.Message)
		}
		f, err := local.Open(checkout)
		if err != nil {
			t.Fatal(err)
		}
		statuses, err := f.Statuses(t.Context(), head)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range statuses {
			got = append(got, s.Context+"="+string(s.State))
		}
		want := []string{"flotilla/verify/batch=success", "flotilla/verify/stuck=failure", "flotilla/verify/web=success"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("statuses on %s (-want +got):\n%s", head, diff)
		}
		// The same statuses through the GitHub forge, on the fake GitHub.
		fake := forgetest.New(t, origin, "example", "fleet")
		const token = "ghs_never-print-me"
		code, stdout, stderr := verifyCmd(t, append(kc, "--forge", "github", "--github-repo", "example/fleet", "--github-url", fake.URL(), "--github-token", token)...)
		if code != ExitFailed || strings.Contains(stdout+stderr, token) {
			t.Errorf("verify --forge github (exit %d) printed the token or failed:\n%s%s", code, stdout, stderr)
		}
		gh, err := github.New(github.Options{Owner: "example", Repo: "fleet", BaseURL: fake.URL()})
		if err != nil {
			t.Fatal(err)
		}
		ghStatuses, err := gh.Statuses(t.Context(), head)
		if err != nil || len(ghStatuses) != 3 {
			t.Errorf("statuses on GitHub: %+v %v", ghStatuses, err)
		}
		// The notes are plain git notes.
		note := gittest.Git(t, checkout, "notes", "--ref=flotilla", "show", head)
		if !strings.Contains(note, `"state": "failure"`) || !strings.Contains(note, "flotilla/verify/stuck") {
			t.Errorf("git notes show:\n%s", note)
		}
	})

	t.Run("drift is reported with a diff and healed", func(t *testing.T) {
		kubectlRun(t, cluster, "patch", "configmap", "settings", "-n", "web", "--type=merge", "-p", `{"data":{"mode":"edited"}}`)
		summary := filepath.Join(t.TempDir(), "drift.md")
		code, stdout, _ := verifyCmd(t, append(kc, "--app", "web", "--summary", summary)...)
		md, _ := os.ReadFile(summary)
		if !strings.Contains(string(md), "| web | OutOfSync | Healthy | 1 | 1 drifted |") || !strings.Contains(string(md), "```diff\n--- live") {
			t.Errorf("markdown summary:\n%s", md)
		}
		if code != ExitFailed || !strings.Contains(stdout, "web ConfigMap/web/settings: drifted") ||
			!strings.Contains(stdout, "-  mode: edited") || !strings.Contains(stdout, "+  mode: original") {
			t.Errorf("drift report (exit %d):\n%s", code, stdout)
		}
		code, stdout, _ = verifyCmd(t, append(kc, "--app", "web", "--heal")...)
		if code != ExitOK || !strings.Contains(stdout, "healed: web") {
			t.Errorf("heal (exit %d):\n%s", code, stdout)
		}
	})

	t.Run("a label kubectl added is drift, the dry-run shows it, heal removes it", func(t *testing.T) {
		kubectlRun(t, cluster, "label", "configmap", "settings", "-n", "web", "extra=yes")
		code, stdout, _ := verifyCmd(t, append(kc, "--app", "web")...)
		if code != ExitFailed || !strings.Contains(stdout, "web ConfigMap/web/settings: drifted") || !strings.Contains(stdout, `-    extra: "yes"`) {
			t.Errorf("verify (exit %d):\n%s", code, stdout)
		}
		code, stdout, stderr := applyCmd(t, append(kc, "--app", "web", "--dry-run")...)
		if code != ExitOK || !strings.Contains(stdout, "configured ConfigMap/web/settings") || !strings.Contains(stdout, `-    extra: "yes"`) {
			t.Errorf("apply --dry-run (exit %d):\n%s%s", code, stdout, stderr)
		}
		if code, stdout, _ := verifyCmd(t, append(kc, "--app", "web", "--heal")...); code != ExitOK || !strings.Contains(stdout, "healed: web") {
			t.Errorf("heal (exit %d):\n%s", code, stdout)
		}
		if code, stdout, _ := verifyCmd(t, append(kc, "--app", "web")...); code != ExitOK {
			t.Errorf("after heal (exit %d):\n%s", code, stdout)
		}
	})

	t.Run("secret drift shows no values", func(t *testing.T) {
		kubectlRun(t, cluster, "patch", "secret", "creds", "-n", "web", "--type=merge", "-p", `{"data":{"password":"aHVudGVyMg=="}}`) // hunter2
		code, stdout, _ := verifyCmd(t, append(kc, "--app", "web")...)
		if code != ExitFailed || !strings.Contains(stdout, "Secret/web/creds: drifted") || !strings.Contains(stdout, "*** (live)") {
			t.Errorf("secret drift (exit %d):\n%s", code, stdout)
		}
		for _, leak := range []string{"hunter2", "aHVudGVyMg==", "secret-value", "c2VjcmV0LXZhbHVl"} {
			if strings.Contains(stdout, leak) {
				t.Errorf("output shows a secret value %q:\n%s", leak, stdout)
			}
		}
		if code, _, _ := verifyCmd(t, append(kc, "--app", "web", "--heal")...); code != ExitOK {
			t.Error("heal of the secret failed")
		}
	})

	t.Run("extraneous object and an applied commit that lags the branch", func(t *testing.T) {
		writeFileAll(t, filepath.Join(checkout, "apps/batch/config.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n")
		gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "drop batch/b")
		publish(t, checkout)
		_, apps, head := verifyJSON(t, append(kc, "--app", "batch")...)
		if a := apps["batch"]; a.Sync != kube.Pending || !strings.HasPrefix(a.Message, "applied ") {
			t.Errorf("batch before apply: %s: %s", a.Sync, a.Message)
		}
		f, _ := local.Open(checkout)
		statuses, _ := f.Statuses(t.Context(), head)
		if len(statuses) != 1 || statuses[0].State != forge.StatePending {
			t.Errorf("status of a lagging app: %+v", statuses)
		}
		if code, out, stderr := applyCmd(t, append(kc, "--app", "batch")...); code != ExitOK {
			t.Fatalf("apply: %s%s", out, stderr)
		}
		code, apps, _ := verifyJSON(t, append(kc, "--app", "batch")...)
		a := apps["batch"]
		if code != ExitFailed || a.Sync != kube.OutOfSync || a.Message != "1 extraneous" {
			t.Errorf("batch after apply without prune (exit %d): %s: %s", code, a.Sync, a.Message)
		}
	})
}

func kubectlRun(t *testing.T, c *kubetest.Cluster, args ...string) {
	t.Helper()
	bin := kubetest.Tool(t, "kubectl")
	if out, err := exec.Command(bin, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
}

func writeFileAll(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, content)
}
