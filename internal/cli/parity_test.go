package cli

import (
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// paritySet is an ApplicationSet over the test inventory whose Applications
// build the fleet's own web/ directory.
const paritySet = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: web
spec:
  generators:
  - clusters: {}
  template:
    metadata:
      name: "web-{{name}}"
    spec:
      project: default
      source:
        repoURL: https://example.com/fleet.git
        path: web
      destination:
        server: "{{server}}"
        namespace: web
`

const parityConfigMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {k: v}\n"

// parityFleet makes a fleet checkout (with an origin) from the base files
// and overrides; an override with content "" removes the file.
func parityFleet(t *testing.T, overrides map[string]string) (checkout, origin string) {
	t.Helper()
	files := map[string]string{
		"flotilla.yaml":            "repos:\n  https://example.com/fleet.git: .\n",
		"clusters/clusters.yaml":   testClusters,
		"applicationsets/web.yaml": paritySet,
		"web/configmap.yaml":       parityConfigMap,
	}
	for k, v := range overrides {
		if v == "" {
			delete(files, k)
			continue
		}
		files[k] = v
	}
	return gittest.Fleet(t, gittest.Files(t, files))
}

// renderRefused runs render on the fleet and checks it exits 2 with a
// message holding every want, and that no branch was made or pushed.
func renderRefused(t *testing.T, checkout, origin string, want ...string) string {
	t.Helper()
	code, stdout, stderr := renderCmd(t, "--fleet", checkout)
	if code != ExitUsage {
		t.Errorf("exit %d, want %d; stdout:\n%s", code, ExitUsage, stdout)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, stderr)
		}
	}
	if refs := gittest.Refs(t, origin, "refs/heads/hydrated"); refs != "" {
		t.Errorf("branches were pushed:\n%s", refs)
	}
	if refs := gittest.Refs(t, checkout, "refs/heads/hydrated"); refs != "" {
		t.Errorf("local branches were made:\n%s", refs)
	}
	return stderr
}

// TestRenderInvalidSpec: an Application Argo CD would mark InvalidSpecError
// (no source, an empty source, neither path nor chart) is refused with
// Argo CD's message, not rendered as an empty app.
func TestRenderInvalidSpec(t *testing.T) {
	t.Parallel()
	const msg = "InvalidSpecError: spec.source.repoURL and either spec.source.path or spec.source.chart are required"
	tests := []struct{ name, from, to string }{
		{"no source", "      source:\n        repoURL: https://example.com/fleet.git\n        path: web\n", ""},
		{"neither path nor chart", "        path: web\n", "        targetRevision: HEAD\n"},
		{"empty path", "        path: web\n", "        path: \"\"\n"},
		{"empty source", "      source:\n        repoURL: https://example.com/fleet.git\n        path: web\n", "      source: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, origin := parityFleet(t, map[string]string{
				"applicationsets/web.yaml": strings.Replace(paritySet, tt.from, tt.to, 1),
			})
			renderRefused(t, checkout, origin, "render: applicationsets/web.yaml: ", "web-dev", msg)
		})
	}
}
