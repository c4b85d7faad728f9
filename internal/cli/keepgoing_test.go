package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
)

// brokenAppSet puts two Applications on prod-eu only, both built from a
// kustomization whose resource is missing.
const brokenAppSet = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: broken
  namespace: argocd
spec:
  generators:
  - list:
      elements:
      - {app: broken-a}
      - {app: broken-b}
  template:
    metadata:
      name: "{{app}}"
    spec:
      project: microservices
      source:
        repoURL: https://github.com/example/fleet.git
        targetRevision: main
        path: apps/broken
      destination:
        name: prod-eu
        namespace: broken
`

// breakOneCluster changes an app of every cluster (so every branch would
// move) and adds two apps that fail to build on prod-eu, and commits.
func breakOneCluster(t *testing.T, checkout string) {
	t.Helper()
	replaceIn(t, filepath.Join(checkout, "platform/monitoring/config.yaml"), "scrape_interval: 30s", "scrape_interval: 15s")
	if err := os.MkdirAll(filepath.Join(checkout, "apps/broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(checkout, "apps/broken/kustomization.yaml"), "resources:\n- missing.yaml\n")
	writeFile(t, filepath.Join(checkout, "applicationsets/broken.yaml"), brokenAppSet)
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "scrape faster; add a broken app on prod-eu")
}

// refsByBranch reads the remote's hydrated branches as branch -> commit.
func refsByBranch(t *testing.T, repo string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(gittest.Git(t, repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/hydrated"), "\n") {
		if branch, sha, ok := strings.Cut(line, " "); ok {
			out[branch] = sha
		}
	}
	return out
}

// TestRenderKeepGoing: with an app that fails on one cluster, plain render
// writes nothing (exit 2); --keep-going pushes every other cluster, keeps
// the failed cluster's branch at the very same commit, lists each failed
// app (two sharing one build are two entries) in the JSON and the text
// summary and on stderr, and exits 1.
func TestRenderKeepGoing(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, exampleFleet)
	if _, code, stderr := renderJSON(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("first render: exit %d: %s", code, stderr)
	}
	before := refsByBranch(t, origin)
	if len(before) != 8 {
		t.Fatalf("%d branches after the first render, want 8: %v", len(before), before)
	}
	breakOneCluster(t, checkout)

	// All or nothing without --keep-going.
	code, stdout, stderr := renderCmd(t, "--fleet", checkout)
	if code != ExitUsage || stdout != "" || !strings.Contains(stderr, "applicationsets/broken.yaml") {
		t.Errorf("plain render: exit %d, want %d; stdout %q; stderr:\n%s", code, ExitUsage, stdout, stderr)
	}
	if after := refsByBranch(t, origin); !cmp.Equal(after, before) {
		t.Fatalf("plain render moved branches:\n%s", cmp.Diff(before, after))
	}

	code, stdout, stderr = renderCmd(t, "--fleet", checkout, "--keep-going", "-o", "json")
	if code != ExitFailed {
		t.Fatalf("--keep-going: exit %d, want %d; stderr:\n%s", code, ExitFailed, stderr)
	}
	var res hydrator.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	after := refsByBranch(t, origin)
	for branch, old := range before {
		moved := after[branch] != old
		if want := branch != "hydrated/prod-eu-next"; moved != want {
			t.Errorf("%s moved = %v, want %v (%s -> %s)", branch, moved, want, old, after[branch])
		}
	}
	for _, c := range res.Clusters {
		if want := c.Cluster == "prod-eu"; c.Failed != want || c.Updated == want {
			t.Errorf("cluster %s: failed %v, updated %v", c.Cluster, c.Failed, c.Updated)
		}
		if c.Updated && c.New != after[c.Branch] {
			t.Errorf("cluster %s: newCommit %s, the remote has %s", c.Cluster, c.New, after[c.Branch])
		}
	}
	if len(res.Failures) != 2 {
		t.Fatalf("failures = %+v, want broken-a and broken-b on prod-eu", res.Failures)
	}
	for i, app := range []string{"broken-a", "broken-b"} {
		f := res.Failures[i]
		if f.Cluster != "prod-eu" || f.App != app ||
			!strings.HasPrefix(f.Error, "applicationsets/broken.yaml: application "+app+" for cluster prod-eu: ") ||
			!strings.Contains(f.Error, "missing.yaml") {
			t.Errorf("failure %d = %+v", i, f)
		}
	}
	// camelCase keys, and failed on the cluster entry.
	var raw map[string]any
	_ = json.Unmarshal([]byte(stdout), &raw)
	first := raw["failures"].([]any)[0].(map[string]any)
	if _, ok := first["cluster"]; !ok || first["app"] != "broken-a" || first["error"] == nil {
		t.Errorf("failures[0] = %v", first)
	}
	if !strings.Contains(stdout, `"failed": true`) {
		t.Errorf("no cluster entry says failed:\n%s", stdout)
	}
	for _, app := range []string{"broken-a", "broken-b"} {
		if !strings.Contains(stderr, "render: applicationsets/broken.yaml: application "+app+" for cluster prod-eu: ") {
			t.Errorf("stderr does not name %s:\n%s", app, stderr)
		}
	}

	// Again, as text: the other branches are up to date, prod-eu still
	// kept, and the summary lists each failed app.
	code, stdout, _ = renderCmd(t, "--fleet", checkout, "--keep-going")
	if code != ExitFailed {
		t.Errorf("second --keep-going: exit %d, want %d", code, ExitFailed)
	}
	for _, want := range []string{
		"Rendered 46 of 48 applications for 8 clusters from ",
		"  BRANCH                      STATE      APPS ADDED  CHANGED  REMOVED  OBJECTS\n",
		"  hydrated/prod-eu-next       failed     -           -        -        -  kept as it was: an application failed\n",
		"2 applications failed; the branches of their 1 clusters were kept as they were:\n",
		"  prod-eu/broken-a: applicationsets/broken.yaml: application broken-a for cluster prod-eu: ",
		"  prod-eu/broken-b: applicationsets/broken.yaml: application broken-b for cluster prod-eu: ",
		"0 of 8 branches pushed to ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if again := refsByBranch(t, origin); !cmp.Equal(again, after) {
		t.Errorf("a run with nothing new moved branches:\n%s", cmp.Diff(after, again))
	}
	if sha := after["hydrated/prod-eu-next"]; sha != before["hydrated/prod-eu-next"] {
		t.Errorf("prod-eu's branch moved from %s to %s", before["hydrated/prod-eu-next"], sha)
	}
}

// TestRenderKeepGoingOut: with --out, the folder of the failed cluster is
// left byte for byte as it was and the others are written; a fleet with
// no failure renders as without the flag (exit 0, no failures key).
func TestRenderKeepGoingOut(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	out := t.TempDir()
	code, stdout, stderr := renderCmd(t, "--fleet", checkout, "--out", out, "--keep-going", "-o", "json")
	if code != ExitOK || strings.Contains(stdout, `"failures"`) || strings.Contains(stdout, `"failed"`) {
		t.Fatalf("clean fleet with --keep-going: exit %d: %s\n%s", code, stderr, stdout)
	}
	prodEU, prodUS := readTree(t, filepath.Join(out, "prod-eu")), readTree(t, filepath.Join(out, "prod-us-east"))
	breakOneCluster(t, checkout)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--out", out, "--keep-going"); code != ExitFailed {
		t.Fatalf("exit %d, want %d: %s", code, ExitFailed, stderr)
	}
	if diff := cmp.Diff(prodEU, readTree(t, filepath.Join(out, "prod-eu"))); diff != "" {
		t.Errorf("the failed cluster's folder changed:\n%s", diff)
	}
	if cmp.Equal(prodUS, readTree(t, filepath.Join(out, "prod-us-east"))) {
		t.Error("prod-us-east was not written")
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 8 {
		t.Errorf("%d entries in --out, want the 8 cluster folders", len(entries))
	}
}

// TestRenderKeepGoingStrictCases: an ApplicationSet that does not generate
// still stops the run with exit 2 and writes nothing (it cannot say which
// clusters it would have reached, and leaving its apps out would delete
// them downstream); a fleet diff and the lists refuse the flag.
func TestRenderKeepGoingStrictCases(t *testing.T) {
	t.Parallel()
	dir := writeFleet(t, map[string]string{"applicationsets/web.yaml": strings.Replace(testAppSet, "- clusters: {}", "- cluster: {}", 1)})
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := renderCmd(t, "--fleet", dir, "--out", out, "--keep-going")
	if code != ExitUsage || stdout != "" || !strings.Contains(stderr, `unknown generator "cluster"`) {
		t.Errorf("generation error: exit %d; stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out was created: %v", err)
	}
	for _, args := range [][]string{{"--diff-base", "HEAD"}, {"--list-apps"}, {"--list-clusters"}} {
		code, _, stderr := renderCmd(t, append([]string{"--fleet", dir, "--keep-going"}, args...)...)
		if code != ExitUsage || !strings.Contains(stderr, "--keep-going only applies to writing the branches") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
}
