package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/hydrator"
)

// TestRenderDeprecationWarnings: Kustomize's deprecation notices are said
// once per file and message — not once per cluster or Application that
// shares the build — naming the file and the Applications, in the text
// output, in -o json (also when the builds are reused from the build
// cache) and as ::warning annotations on the file in the Action.
func TestRenderDeprecationWarnings(t *testing.T) {
	t.Parallel()
	checkout, _ := parityFleet(t, map[string]string{
		"web/kustomization.yaml":  "bases: [../base]\ncommonLabels: {tier: web}\n",
		"web/configmap.yaml":      "",
		"base/kustomization.yaml": "resources: [configmap.yaml]\n",
		"base/configmap.yaml":     parityConfigMap,
	})
	const fix = " Run 'kustomize edit fix' to update your Kustomization automatically."
	bases := "'bases' is deprecated. Please use 'resources' instead." + fix
	labels := "'commonLabels' is deprecated. Please use 'labels' instead." + fix

	code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "render: warning: web/kustomization.yaml: " + bases + " (applications web-dev, web-prod-eu)\n" +
		"render: warning: web/kustomization.yaml: " + labels + " (applications web-dev, web-prod-eu)\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}

	code, stdout, stderr := renderCmd(t, "--fleet", checkout, "--no-push", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res hydrator.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.CachedBuilds != 1 {
		t.Errorf("cachedBuilds %d: the second run should reuse the build", res.CachedBuilds)
	}
	apps := []string{"web-dev", "web-prod-eu"}
	wantJSON := []hydrator.Warning{
		{File: "web/kustomization.yaml", RepoURL: "https://example.com/fleet.git", Message: bases, Apps: apps},
		{File: "web/kustomization.yaml", RepoURL: "https://example.com/fleet.git", Message: labels, Apps: apps},
	}
	if diff := cmp.Diff(wantJSON, res.Warnings); diff != "" {
		t.Errorf("-o json warnings (-want +got):\n%s", diff)
	}

	r := runAction(t, map[string]string{"command": "render", "fleet": checkout, "no-push": "true"}, nil)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	for _, msg := range []string{bases, labels} {
		a := "::warning file=" + checkout + "/web/kustomization.yaml,title=flotilla::" + msg + " (applications web-dev, web-prod-eu)\n"
		if n := strings.Count(r.stdout, a); n != 1 {
			t.Errorf("annotation %q appears %d times in:\n%s", a, n, r.stdout)
		}
	}
}
