package cli

import (
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
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
