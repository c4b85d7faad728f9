package cli

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
)

// fleetDiff commits change on top of the example fleet and diffs it against
// the previous commit.
func fleetDiff(t *testing.T, change func(dir string)) *rpt.FleetDiff {
	t.Helper()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	change(checkout)
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "change")
	o, err := parseRenderFlags([]string{"--fleet", checkout, "--diff-base", "HEAD~1"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := hydrator.Run(t.Context(), o.hydratorOptions(Env{}))
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	return res.Diff
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("../../testdata/golden/diff", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); refresh with -update:\n%s", path, diff)
	}
}

func TestFleetDiffOverlayChange(t *testing.T) {
	t.Parallel()
	d := fleetDiff(t, func(dir string) {
		replaceIn(t, filepath.Join(dir, "services/api-gateway/overlays/production/kustomization.yaml"), "count: 3", "count: 5")
	})
	if got := d.Summary(); got != "3/46 apps change on 3/8 clusters" {
		t.Errorf("summary %q", got)
	}
	comment, full := d.Markdown(rpt.CommentLimit)
	if comment != full {
		t.Error("a small diff was shortened")
	}
	golden(t, "overlay-change.md", comment)
}

func TestFleetDiffAppRemoval(t *testing.T) {
	t.Parallel()
	d := fleetDiff(t, func(dir string) {
		os.RemoveAll(filepath.Join(dir, "services/payment-service"))
	})
	if got := d.Summary(); got != "5/41 apps change on 5/8 clusters" {
		t.Errorf("summary %q", got)
	}
	comment, _ := d.Markdown(rpt.CommentLimit)
	if !strings.Contains(comment, "**15 objects will be deleted:**") || !strings.Contains(comment, "- `prod-eu` / `payment-service-prod-eu`: `Deployment/payment-service/payment-service`") {
		t.Errorf("deletions are not called out:\n%s", comment)
	}
	golden(t, "app-removal.md", comment)
}

func TestFleetDiffOverTheCommentLimit(t *testing.T) {
	t.Parallel()
	d := fleetDiff(t, func(dir string) {
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dashboards}\ndata:\n")
		for i := range 400 {
			fmt.Fprintf(&b, "  panel-%03d: %q\n", i, strings.Repeat("x", 30))
		}
		writeFile(t, filepath.Join(dir, "platform/monitoring/dashboards.yaml"), b.String())
		replaceIn(t, filepath.Join(dir, "platform/monitoring/kustomization.yaml"), "- config.yaml", "- config.yaml\n- dashboards.yaml")
	})
	comment, full := d.Markdown(rpt.CommentLimit)
	if len(comment) > rpt.CommentLimit || len(full) <= rpt.CommentLimit {
		t.Fatalf("comment %d, full %d characters", len(comment), len(full))
	}
	if !strings.Contains(comment, "the full diff is in the job summary") || strings.Contains(comment, "```diff") {
		t.Errorf("the concise form:\n%s", comment)
	}
	if !strings.Contains(full, "+  panel-399:") {
		t.Error("the full form lacks the diffs")
	}
	golden(t, "over-limit-comment.md", comment)
}

func TestFleetDiffMasksSecrets(t *testing.T) {
	t.Parallel()
	secret := func(v string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: " + base64.StdEncoding.EncodeToString([]byte(v)) + ", user: YWRtaW4=}\n"
	}
	base := rpt.Fleet{"c": {"app": []byte(secret("hunter2"))}}
	head := rpt.Fleet{"c": {"app": []byte(secret("correct-horse"))}}
	d, err := rpt.CompareFleets(base, head)
	if err != nil {
		t.Fatal(err)
	}
	comment, _ := d.Markdown(rpt.CommentLimit)
	for _, leak := range []string{"hunter2", "correct-horse", "aHVudGVyMg", "admin", "YWRtaW4="} {
		if strings.Contains(comment, leak) {
			t.Errorf("the diff shows a secret value %q:\n%s", leak, comment)
		}
	}
	if !strings.Contains(comment, "-  password: '***'\n+  password: '*** (changed)'") {
		t.Errorf("the changed key is not shown:\n%s", comment)
	}
}

// TestFleetDiffPolicyLine: a change that the example fleet's own
// deployment-guardrails policy denies on the three production clusters
// (api-gateway at 30 replicas) puts the policy line under the diff's
// headline, with each denial in the collapsed part; the same diff of an
// allowed change has no such line (TestFleetDiffOverlayChange's golden).
func TestFleetDiffPolicyLine(t *testing.T) {
	t.Parallel()
	d := fleetDiff(t, func(dir string) {
		replaceIn(t, filepath.Join(dir, "services/api-gateway/overlays/production/kustomization.yaml"), "count: 3", "count: 30")
	})
	if d.Policy == nil || d.Policy.Denied != 3 || d.Policy.DeniedClusters != 3 {
		t.Fatalf("policy: %+v", d.Policy)
	}
	comment, _ := d.Markdown(rpt.CommentLimit)
	for _, want := range []string{
		"### Fleet diff: 3/46 apps change on 3/8 clusters\n\n**Policy gate: 3 objects would be denied on 3 clusters**",
		"| prod-eu | api-gateway-prod-eu | Deployment api-gateway/api-gateway | deployment-guardrails | replicas must be at most 10, not 30 |\n",
		"| prod-us-west | api-gateway-prod-us-west |",
	} {
		if !strings.Contains(comment, want) {
			t.Errorf("the comment lacks %q:\n%s", want, comment[:min(len(comment), 3000)])
		}
	}
}
