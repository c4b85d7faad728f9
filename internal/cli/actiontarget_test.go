package cli

import (
	"os"
	"strings"
	"testing"
)

// TestActionClustersInputShard: the Action's clusters input, with shard,
// picks the clusters apply and verify work on (the k-th name in shard k
// mod n) without a --clusters-from file; the outputs and the exit code
// come from the result: the cluster read (c1, its API server unreachable)
// is in apply's result, the one whose branch is missing (c2) is reported
// by name.
func TestActionClustersInputShard(t *testing.T) {
	t.Parallel()
	repo := hydratedRepo(t)
	kc, err := os.ReadFile(unreachableKubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, command := range []string{"apply", "verify"} {
		in := map[string]string{"command": command, "repo": repo, "clusters": "c2, c1", "kubeconfig-data": string(kc)}
		in["shard"] = "1/2"
		r := runAction(t, in, nil)
		if r.code != ExitRemote || strings.Contains(r.stdout, "cluster c2") || !strings.Contains(r.stdout, "cluster c1: ") {
			t.Errorf("%s shard 1/2: exit %d, want 3 from c1 only:\n%s", command, r.code, r.stdout)
		}
		if command == "apply" {
			if got := output(t, r, "failed-apps"); got != `["c1/web"]` {
				t.Errorf("apply failed-apps = %s", got)
			}
			if !strings.Contains(output(t, r, "result"), `"cluster":"c1"`) {
				t.Errorf("apply result: %s", output(t, r, "result"))
			}
		}
		in["shard"] = "0/2"
		r = runAction(t, in, nil)
		if r.code != ExitUsage || !strings.Contains(r.stdout, "::error::") || !strings.Contains(r.stdout, "cluster c2: branch not found: hydrated/c2") || strings.Contains(r.stdout, "cluster c1") {
			t.Errorf("%s shard 0/2: exit %d, want 2 from c2 only:\n%s", command, r.code, r.stdout)
		}
	}
}
