package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

// budgetFleet has one app, "shop" on cluster "budget", a plain directory
// of ConfigMaps whose syncPolicy prunes.
var budgetFleet = map[string]string{
	"flotilla.yaml":   "repos:\n  https://example.com/fleet.git: .\n",
	"clusters/c.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: budget}\nspec: {server: https://budget.example.com}\n",
	"applicationsets/shop.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: shop}
spec:
  generators:
  - list: {elements: [{app: shop}]}
  template:
    metadata: {name: "{{app}}"}
    spec:
      project: default
      source: {repoURL: https://example.com/fleet.git, path: "apps/{{app}}"}
      destination: {server: https://budget.example.com, namespace: shop}
      syncPolicy:
        automated: {prune: true}
        syncOptions: [CreateNamespace=true]
`,
}

// TestApplyRefusedPruneStaysRefused drives apply and verify --heal through
// a prune over the deletion budget, on a real cluster, from a checkout that
// only fetches (its hydrated/budget stays where it was cloned, behind
// origin's, which apply and verify must read instead).
//
// v1 has 10 ConfigMaps; v2 keeps 2 and renames 8. Apply refuses v2's
// prune, and must keep refusing though the inventory now holds old ∪ new
// (18, of which 8 is under half): on a second apply, and when verify
// --heal re-applies the app (after origin went back to v1, whose prune of
// the 8 new objects is as large). --confirm-prune deletes the 8; then a
// small prune (v3 drops 2 of 10) needs no confirmation. A local commit that diverges
// from origin's is refused by both commands.
func TestApplyRefusedPruneStaysRefused(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t, kubetest.Options{Name: "budget"})
	writer, origin := gittest.Fleet(t, gittest.Files(t, budgetFleet))
	release := func(names ...string) string {
		t.Helper()
		dir := filepath.Join(writer, "apps/shop")
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			cm := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {k: v}\n", n)
			if err := os.WriteFile(filepath.Join(dir, n+".yaml"), []byte(cm), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		gittest.Commit(t, writer, "2026-01-02T00:00:00Z", fmt.Sprintf("shop: %d objects", len(names)))
		if code, _, stderr := renderCmd(t, "--fleet", writer); code != ExitOK {
			t.Fatal(stderr)
		}
		gittest.Git(t, origin, "branch", "-f", "hydrated/budget", "hydrated/budget-next")
		return gittest.Git(t, origin, "rev-parse", "hydrated/budget")
	}
	names := func(prefix string, from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprint(prefix, i))
		}
		return out
	}
	// The applying checkout: a clone with a local hydrated/budget, which
	// only ever fetches.
	v1 := release(names("a", 0, 10)...)
	clone := filepath.Join(t.TempDir(), "clone")
	gittest.Clone(t, clone, origin)
	gittest.Git(t, clone, "branch", "hydrated/budget", "origin/hydrated/budget")
	fetch := func() { t.Helper(); gittest.Git(t, clone, "fetch", "-q", "origin") }

	target := []string{"--repo", clone, "--cluster", "budget", "--kubeconfig", cluster.Kubeconfig}
	apply := func(step, commit string, wantCode int, args ...string) *kube.Result {
		t.Helper()
		code, stdout, stderr := applyCmd(t, append(append(target, "-o", "json"), args...)...)
		var res []clusterApply
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("%s: exit %d: %v\n%s%s", step, code, err, stdout, stderr)
		}
		if code != wantCode || res[0].Commit != commit || len(res[0].Apps) != 1 {
			t.Fatalf("%s: exit %d at %s, want exit %d at origin's %s:\n%s%s", step, code, res[0].Commit, wantCode, commit, stdout, stderr)
		}
		return res[0].Apps[0]
	}
	present := func(step string, want int) {
		t.Helper()
		client, err := kube.NewClient(cluster.Config)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := client.ReadInventory(t.Context(), kube.DefaultInventoryNamespace, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Entries) != want {
			t.Errorf("%s: the inventory holds %d objects, want %d", step, len(inv.Entries), want)
		}
	}

	if r := apply("v1", v1, ExitOK); r.Counts()[kube.Created] != 10 {
		t.Fatalf("v1: %+v", r)
	}
	v2 := release(append(names("a", 0, 2), names("b", 0, 8)...)...)
	fetch()
	const refusal = "prune refused: it would delete 8 objects (80% of the app's 10, more than the 50% budget): ConfigMap/shop/a2,"
	for _, step := range []string{"v2", "v2 again"} {
		r := apply(step, v2, ExitFailed)
		if !strings.HasPrefix(r.Error, refusal) || r.Counts()[kube.Deleted] != 0 {
			t.Errorf("%s: %d deleted, error %q; want the prune refused", step, r.Counts()[kube.Deleted], r.Error)
		}
		present(step, 18)
	}

	// verify: v2 is pending (apply has not caught up), so --heal leaves it
	// alone.
	code, apps, commit := verifyJSON(t, append(target, "--heal")...)
	if st := apps["shop"]; code != ExitFailed || commit != v2 || st == nil || st.Sync != kube.Pending || !strings.HasSuffix(st.Message, "(8 extraneous)") {
		t.Errorf("verify --heal: exit %d at %s (want origin's %s): %+v", code, commit, v2, st)
	}
	present("verify --heal at v2", 18)
	// Origin goes back to v1: v1 was applied, so the b objects the refused
	// run created are drift, and --heal re-applies v1, whose prune of 8 is
	// over the budget of v1's 10 (not of the 18 the inventory holds).
	gittest.Git(t, origin, "branch", "-f", "hydrated/budget", v1)
	fetch()
	code, apps, commit = verifyJSON(t, append(target, "--heal")...)
	if st := apps["shop"]; code != ExitFailed || commit != v1 || st == nil || st.Sync != kube.OutOfSync ||
		!strings.Contains(st.Message, "heal failed: prune refused: it would delete 8 objects (80% of the app's 10, more than the 50% budget): ConfigMap/shop/b0,") {
		t.Errorf("verify --heal at v1: exit %d at %s (want %s): %+v", code, commit, v1, st)
	}
	present("verify --heal at v1", 18)
	gittest.Git(t, origin, "branch", "-f", "hydrated/budget", v2)
	fetch()

	if r := apply("v2 --confirm-prune", v2, ExitOK, "--confirm-prune"); r.Counts()[kube.Deleted] != 8 {
		t.Errorf("--confirm-prune: %d deleted, want 8: %+v", r.Counts()[kube.Deleted], r.Objects)
	}
	present("v2 --confirm-prune", 10)
	v3 := release(append(names("a", 0, 2), names("b", 0, 6)...)...)
	fetch()
	if r := apply("v3", v3, ExitOK); r.Counts()[kube.Deleted] != 2 {
		t.Errorf("v3: %d deleted, want 2: %+v", r.Counts()[kube.Deleted], r.Objects)
	}
	present("v3", 8)
	if code, apps, commit := verifyJSON(t, target...); code != ExitOK || commit != v3 || apps["shop"].Sync != kube.Synced {
		t.Errorf("verify after v3: exit %d at %s (want origin's %s): %+v", code, commit, v3, apps["shop"])
	}

	// A local commit on the stale branch: it and origin's have diverged.
	gittest.Git(t, clone, "checkout", "-q", "hydrated/budget")
	gittest.Commit(t, clone, "2027-01-01T00:00:00Z", "local change")
	want := "hydrated/budget in " + clone + " has diverged from origin/hydrated/budget"
	if code, _, stderr := applyCmd(t, target...); code != ExitUsage || !strings.Contains(stderr, want) {
		t.Errorf("apply of a diverged branch: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := verifyCmd(t, target...); code != ExitUsage || !strings.Contains(stderr, want) {
		t.Errorf("verify of a diverged branch: exit %d\n%s", code, stderr)
	}
}
