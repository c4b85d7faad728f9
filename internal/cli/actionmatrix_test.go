package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// TestClusterMatrix: any number of clusters fits in at most max-jobs
// jobs (never over GitHub's 256), each cluster in exactly one job, shards
// differing by at most one cluster.
func TestClusterMatrix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ clusters, maxJobs, jobs int }{{0, 32, 0}, {1, 32, 1}, {31, 32, 31}, {200, 32, 32}, {1000, 256, 256}, {5000, 256, 256}} {
		var names []string
		for i := range tc.clusters {
			names = append(names, fmt.Sprintf("c%04d", i))
		}
		m := clusterMatrix(names, tc.maxJobs)["include"]
		if len(m) != tc.jobs {
			t.Errorf("%d clusters, max %d: %d jobs, want %d", tc.clusters, tc.maxJobs, len(m), tc.jobs)
		}
		seen := map[string]bool{}
		lo, hi := tc.clusters, 0
		for i, e := range m {
			if e.Shard != fmt.Sprintf("%d/%d", i, len(m)) {
				t.Errorf("job %d shard %s", i, e.Shard)
			}
			cs := strings.Split(e.Clusters, ",")
			lo, hi = min(lo, len(cs)), max(hi, len(cs))
			for _, c := range cs {
				if seen[c] {
					t.Errorf("%s in two jobs", c)
				}
				seen[c] = true
			}
		}
		if len(seen) != tc.clusters || (tc.clusters > 0 && hi-lo > 1) {
			t.Errorf("%d clusters: %d placed, jobs of %d..%d", tc.clusters, len(seen), lo, hi)
		}
	}
	for _, bad := range []string{"0", "257", "x", "-1"} {
		if _, err := parseMaxJobs(bad); err == nil {
			t.Errorf("max-jobs %q accepted", bad)
		}
	}
}

// TestPromotedClusters: apply-clusters are the merged clusters and those
// live but not verified yet, each once, sorted; an open or failed merge is
// not one.
func TestPromotedClusters(t *testing.T) {
	t.Parallel()
	res := promote.Result{
		Actions: []promote.ActionResult{
			{Action: promote.Action{Kind: promote.Merge, Cluster: "b"}, Done: true},
			{Action: promote.Action{Kind: promote.Merge, Cluster: "x"}, Done: false},
			{Action: promote.Action{Kind: promote.Open, Cluster: "y"}, Done: true},
		},
		Apps: []promote.AppDecision{{App: "web", Cluster: "a", State: promote.Verifying}, {App: "api", Cluster: "a", State: promote.Verifying},
			{App: "web", Cluster: "b", State: promote.InPR}, {App: "web", Cluster: "z", State: promote.Failed}},
	}
	merged, apply := promotedClusters(res)
	if got, _ := json.Marshal([][]string{merged, apply}); string(got) != `[["b"],["a","b"]]` {
		t.Errorf("merged, apply = %s", got)
	}
	if merged, apply := promotedClusters(promote.Result{}); merged == nil || apply == nil {
		t.Error("no clusters must be [], not null (the workflows compare with '[]')")
	}
}

// TestActionListClustersMatrix: render's list-clusters sets the clusters
// and matrix outputs, keeps the clusters input's clusters and refuses an
// unknown one.
func TestActionListClustersMatrix(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	r := runAction(t, map[string]string{"command": "render", "fleet": checkout, "list-clusters": "true", "max-jobs": "3"}, nil)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if got := output(t, r, "clusters"); got != `["dev-us","edge-01","edge-02","prod-eu","prod-us-east","prod-us-west","staging-eu","staging-us"]` {
		t.Errorf("clusters = %s", got)
	}
	if got := output(t, r, "matrix"); got != `{"include":[{"shard":"0/3","clusters":"dev-us,prod-eu,staging-eu"},{"shard":"1/3","clusters":"edge-01,prod-us-east,staging-us"},{"shard":"2/3","clusters":"edge-02,prod-us-west"}]}` {
		t.Errorf("matrix = %s", got)
	}
	r = runAction(t, map[string]string{"command": "render", "fleet": checkout, "list-clusters": "true", "clusters": "prod-eu, dev-us"}, nil)
	if r.code != ExitOK || output(t, r, "matrix") != `{"include":[{"shard":"0/2","clusters":"prod-eu"},{"shard":"1/2","clusters":"dev-us"}]}` {
		t.Errorf("exit %d, outputs %s", r.code, r.outputs)
	}
	r = runAction(t, map[string]string{"command": "render", "fleet": checkout, "list-clusters": "true", "clusters": "prod-eu,nope"}, nil)
	if r.code != ExitUsage || !strings.Contains(r.stdout, `the fleet has no cluster \"nope\"`) && !strings.Contains(r.stdout, `the fleet has no cluster "nope"`) {
		t.Errorf("unknown cluster: exit %d\n%s", r.code, r.stdout)
	}
}

// TestActionRefusesLocalForgeWithoutGit: the published image has no git;
// forge: local says so instead of failing at the first merge.
func TestActionRefusesLocalForgeWithoutGit(t *testing.T) {
	t.Parallel()
	r := runAction(t, map[string]string{"command": "promote", "forge": "local", "dry-run": "true"}, map[string]string{"PATH": t.TempDir()})
	if r.code != ExitUsage || !strings.Contains(r.stdout, "forge local needs git (2.38 or later) on PATH") {
		t.Errorf("exit %d\n%s", r.code, r.stdout)
	}
	r = runAction(t, map[string]string{"command": "apply", "clusters": "ok,Not_A_Name", "repo": t.TempDir()}, nil)
	if r.code != ExitUsage || !strings.Contains(r.stdout, "is not a valid cluster name") {
		t.Errorf("bad clusters input: exit %d\n%s", r.code, r.stdout)
	}
}
