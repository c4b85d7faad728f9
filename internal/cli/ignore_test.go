package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/applier"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kube/health"
)

// TestHealthChecksTravel: flotilla.yaml's healthCheckExprs reach each
// app's hydrator.metadata, only those for kinds the app holds, and
// compile again in verify and apply.
func TestHealthChecksTravel(t *testing.T) {
	t.Parallel()
	fleetDir := writeFleet(t, map[string]string{
		"flotilla.yaml": `repos: {"https://example.com/fleet.git": .}
healthCheckExprs:
- apiVersion: example.com/v1
  kind: Database
  current: status.phase == 'Ready'
- apiVersion: v1
  kind: ConfigMap
  current: has(data.ready)
`,
		"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}\n",
	})
	out := t.TempDir()
	if code, _, stderr := renderCmd(t, "--fleet", fleetDir, "--out", out); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "dev", "web-dev", hydrate.MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	var md hydrate.Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	want := []health.Check{{APIVersion: "v1", Kind: "ConfigMap", Current: "has(data.ready)"}}
	if d := cmp.Diff(want, md.Flotilla.HealthCheckExprs); d != "" {
		t.Fatalf("hydrator.metadata's healthCheckExprs (-want +got):\n%s", d)
	}
	app, err := applier.KubeApp(hydrate.BranchApp{Name: "web-dev", Metadata: md, Manifest: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n")}, &hydrate.Snapshot{})
	if err != nil {
		t.Fatal(err)
	}
	if h, msg := kube.HealthWith(app.Health, app.Objects[0]); h != kube.Progressing || !strings.Contains(msg, "has(data.ready)") {
		t.Errorf("the custom check did not decide: %s %s", h, msg)
	}
}
