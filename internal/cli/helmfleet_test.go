package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// TestHelmAppsMatchHelmTemplate checks every Helm app of the example fleet
// (a chart in Git with a file:// and a vendored dependency, a multi-source
// chart with $values) against the real `helm template` given the command
// line Argo CD's repo server builds — after `helm dependency build` when a
// dependency is missing from charts/, as Argo CD does — plus the
// documented changes: destination namespace on namespaced objects without
// one, the managed-by label and the flotilla.dev/app annotation.
func TestHelmAppsMatchHelmTemplate(t *testing.T) {
	t.Parallel()
	helmBin := kubetest.Tool(t, "helm")
	checkout, _ := gittest.Fleet(t, exampleFleet)
	out := t.TempDir()
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--out", out); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	f, err := fleet.Load(checkout)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := generate(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	clusterOf := map[string]fleet.Cluster{}
	for _, c := range f.Clusters {
		clusterOf[c.Server] = c
	}
	// The CLI may write charts/ (helm dependency build): a copy of the
	// checkout, never the checkout itself.
	charts := filepath.Join(t.TempDir(), "repo")
	if err := os.CopyFS(charts, os.DirFS(checkout)); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	helm := func(dir string, args ...string) ([]byte, error) {
		cmd := exec.Command(helmBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data", "HELM_NAMESPACE=")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, errors.New(stderr.String())
		}
		return b, nil
	}
	kinds := map[string]bool{}
	checked := 0
	for _, g := range apps {
		var chart *fleet.ApplicationSource
		for _, s := range g.App.Spec.AllSources() {
			if s.Path == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(checkout, s.Path, "Chart.yaml")); err == nil {
				chart = &s
			}
		}
		if chart == nil {
			continue
		}
		cluster := clusterOf[g.App.Spec.Destination.Server]
		caps := cluster.Capabilities.Or(f.Config.Helm.Capabilities())
		args := argoHelmArgs(t, g.App.Metadata.Name, g.App.Spec.Destination.Namespace, caps, *chart, charts)
		dir := filepath.Join(charts, chart.Path)
		ref, err := helm(dir, args...)
		if err != nil && strings.Contains(err.Error(), "missing in charts/ directory") {
			if _, err := helm(dir, "dependency", "build", "."); err != nil {
				t.Fatalf("helm dependency build %s: %v", chart.Path, err)
			}
			ref, err = helm(dir, args...)
		}
		if err != nil {
			t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
		}
		want, err := render.Decode("helm", ref)
		if err != nil {
			t.Fatal(err)
		}
		scope := render.Scopes(want)
		for _, o := range want {
			if ns, known := scope(o.GroupVersionKind().GroupKind()); ns && known && o.GetNamespace() == "" {
				o.SetNamespace(g.App.Spec.Destination.Namespace)
			}
			o.SetLabels(mergeStrings(o.GetLabels(), map[string]string{"app.kubernetes.io/managed-by": "flotilla"}))
			o.SetAnnotations(mergeStrings(o.GetAnnotations(), map[string]string{"flotilla.dev/app": g.App.Metadata.Name}))
			kinds[o.GetKind()] = true
		}
		manifest, err := os.ReadFile(filepath.Join(out, cluster.Name, g.App.Metadata.Name, "manifest.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := render.Decode("manifest.yaml", manifest)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(byID(want), byID(got)); diff != "" {
			t.Errorf("%s differs from helm %s (-want +got):\n%s", g.App.Metadata.Name, strings.Join(args, " "), diff)
		}
		checked++
	}
	// orders and billing on the 5 staging and production clusters; the
	// chart branches that clusters take differently all taken.
	if checked != 10 || !kinds["HorizontalPodAutoscaler"] || !kinds["ServiceMonitor"] {
		t.Errorf("checked %d Helm apps (want 10), kinds %v (want an HPA and a ServiceMonitor among them)", checked, kinds)
	}
}

// argoHelmArgs is the `helm template` command line Argo CD's repo server
// builds for a chart in Git (reposerver/repository.helmTemplate), for the
// fields the example fleet uses; root is the repository checkout that
// "$ref/" points to (all sources of the example fleet are one repository).
func argoHelmArgs(t *testing.T, app, namespace string, caps fleet.Capabilities, s fleet.ApplicationSource, root string) []string {
	t.Helper()
	h := s.Helm
	if h == nil {
		h = &fleet.ApplicationSourceHelm{}
	}
	if h.Values != "" || h.ValuesObject != nil || len(h.FileParameters) > 0 || h.Namespace != "" || h.KubeVersion != "" || len(h.APIVersions) > 0 || h.SkipCrds || h.SkipTests || h.SkipSchemaValidation {
		t.Fatalf("%s: source.helm uses a field this test does not pass to helm yet: %+v", app, h)
	}
	release := app
	if h.ReleaseName != "" {
		release = h.ReleaseName
	}
	args := []string{"template", ".", "--name-template", release, "--namespace", namespace, "--kube-version", caps.KubeVersion}
	for _, p := range h.Parameters {
		flag := "--set"
		if p.ForceString {
			flag = "--set-string"
		}
		args = append(args, flag, p.Name+"="+p.Value)
	}
	for _, v := range h.ValueFiles {
		p := filepath.Join(root, s.Path, v)
		if ref, rest, ok := strings.Cut(v, "/"); ok && strings.HasPrefix(ref, "$") {
			p = filepath.Join(root, rest)
		}
		if _, err := os.Stat(p); err != nil && h.IgnoreMissingValueFiles {
			continue
		}
		args = append(args, "--values", p)
	}
	for _, v := range caps.APIVersions {
		args = append(args, "--api-versions", v)
	}
	return append(args, "--include-crds")
}
