package cli

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/render/helm/helmtest"
)

// TestRenderHelmFleet renders testdata/helm-fleet: a chart in Git with a
// vendored dependency and per-environment value files, and a multi-source
// chart with $values; each cluster's capabilities come from its inventory
// entry or the fleet default, and clusters with equal inputs share builds.
func TestRenderHelmFleet(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, "../../testdata/helm-fleet")
	out := t.TempDir()
	res, code, stderr := renderJSON(t, "--fleet", checkout, "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if res.Apps != 6 || len(res.Clusters) != 3 {
		t.Errorf("rendered %d apps for %d clusters, want 6 for 3", res.Apps, len(res.Clusters))
	}
	// web: one build for prod, one shared by stage-a and stage-b; api: one
	// per cluster (its release name is the Application's name).
	if res.Builds != 5 {
		t.Errorf("%d builds, want 5", res.Builds)
	}
	tree := readTree(t, out)
	cluster := func(name string) string {
		var b strings.Builder
		for p, c := range tree {
			if strings.HasPrefix(p, name+"/") {
				b.WriteString(c)
			}
		}
		return b.String()
	}
	prod, stageA, stageB := cluster("prod"), cluster("stage-a"), cluster("stage-b")
	for _, tt := range []struct {
		name, text string
		want       []string
		not        []string
	}{
		{"prod", prod, []string{"replicas: 3", "name: web-cache", "kind: ServiceMonitor", "fleet.example.com/kube: v1.34.2",
			"logLevel: warn", "image: example/api:1.4.2", "helm.sh/hook: pre-upgrade,pre-install", "name: api-prod-migrate"}, nil},
		{"stage-a", stageA, []string{"replicas: 1", "fleet.example.com/kube: v1.31.0", "logLevel: debug"}, []string{"ServiceMonitor", "web-cache"}},
		{"stage-b", stageB, []string{"logLevel: info", "name: api-stage-b-config"}, []string{"ServiceMonitor"}},
	} {
		for _, w := range tt.want {
			if !strings.Contains(tt.text, w) {
				t.Errorf("%s: no %q in\n%s", tt.name, w, tt.text)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(tt.text, n) {
				t.Errorf("%s: unexpected %q", tt.name, n)
			}
		}
	}
}

// TestRenderChartRepositoryConfig renders a chart from a private chart
// repository with a self-signed certificate, trusted through
// helm.caFile, with credentials from helm.credentialsFile (outside the
// fleet): a second run with the warm cache makes no request, the
// password appears nowhere, and a repository missing from
// helm.repositories is refused.
func TestRenderChartRepositoryConfig(t *testing.T) {
	t.Parallel()
	tmpl := map[string]string{"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata: {version: {{ .Chart.Version | quote }}}\n"}
	srv, hits := helmtest.Repo(t, "u", "pw-secret-1", func(dir string) {
		helmtest.Chart(t, dir, "web", "1.0.0", tmpl, nil)
	})
	private := t.TempDir()
	ca := filepath.Join(private, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(private, "creds.yaml")
	if err := os.WriteFile(creds, []byte("- url: "+srv.URL+"\n  username: u\n  password: pw-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleetFiles := func(allow string) map[string]string {
		return map[string]string{
			"flotilla.yaml": "clusters: [clusters.yaml]\napplicationSets: [appsets.yaml]\nhelm:\n  caFile: " + ca + "\n  credentialsFile: " + creds + "\n  repositories: [" + allow + "]\n",
			"clusters.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {server: https://c1}\n",
			"appsets.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: web, namespace: argocd}
spec:
  generators: [{clusters: {}}]
  template:
    metadata: {name: "web-{{name}}"}
    spec:
      project: default
      source: {repoURL: "` + srv.URL + `", chart: web, targetRevision: 1.0.0}
      destination: {server: "{{server}}", namespace: web}
`,
		}
	}
	checkout, _ := gittest.Fleet(t, gittest.Files(t, fleetFiles(srv.URL)))
	for run := range 2 {
		out := t.TempDir()
		code, stdout, stderr := renderCmd(t, "--fleet", checkout, "--out", out)
		if code != ExitOK {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr)
		}
		tree := readTree(t, out)
		all := stdout + stderr
		for _, c := range tree {
			all += c
		}
		if !strings.Contains(all, `version: 1.0.0`) || strings.Contains(all, "pw-secret-1") {
			t.Errorf("run %d: chart not rendered, or the password shows:\n%s", run, all)
		}
		if run == 0 && hits.Load() != 2 {
			t.Errorf("first run: %d requests, want 2 (index, archive)", hits.Load())
		}
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("the warm run made %d requests", n-2)
	}

	denied, _ := gittest.Fleet(t, gittest.Files(t, fleetFiles("https://charts.example.com")))
	code, _, stderr := renderCmd(t, "--fleet", denied, "--out", t.TempDir())
	if code == ExitOK || !strings.Contains(stderr, "chart repository not allowed") {
		t.Errorf("repository outside the allowlist: exit %d: %s", code, stderr)
	}
}
