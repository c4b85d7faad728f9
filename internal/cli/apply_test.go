package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

func applyCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Apply(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// TestApplyHydratedBranch renders the example fleet, makes prod-us-east's
// proposal its live branch, and applies it to a real cluster whose
// kubeconfig context is named prod-us-east: everything is created, a second
// apply changes nothing, and a dry run after a change lists exactly what
// would change and changes nothing.
func TestApplyHydratedBranch(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t, kubetest.Options{Name: "prod-us-east", Workloads: true})
	checkout, _ := gittest.Fleet(t, exampleFleet)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	gittest.Git(t, checkout, "branch", "hydrated/prod-us-east", "hydrated/prod-us-east-next")

	code, stdout, stderr := applyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig, "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	var res []clusterApply
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, a := range res[0].Apps {
		created += a.Counts()[kube.Created]
		if a.Error != "" {
			t.Errorf("%s: %s", a.App, a.Error)
		}
	}
	if len(res[0].Apps) != 8 || created != 29 {
		t.Errorf("%d apps, %d objects created; want 8 apps and the branch's 29 objects", len(res[0].Apps), created)
	}

	code, stdout, _ = applyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig)
	if code != ExitOK || strings.Count(stdout, "unchanged") != 8 || strings.Contains(stdout, "configured") {
		t.Errorf("second apply (exit %d):\n%s", code, stdout)
	}

	// A change in Git: storefront scales, payment-service goes away.
	overlay := filepath.Join(checkout, "apps/storefront/overlays/production/kustomization.yaml")
	replaceIn(t, overlay, "count: 4", "count: 6")
	retirePaymentService(t, checkout, "scale storefront, retire payment-service")
	code, stdout, stderr = applyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig, "--dry-run", "--app", "storefront-prod-us-east")
	if code != ExitOK {
		t.Fatalf("dry run exit %d: %s", code, stderr)
	}
	want := "  configured Deployment/storefront/storefront\n"
	if !strings.HasPrefix(stdout, "(dry run) storefront-prod-us-east @ ") || !strings.Contains(stdout, want) {
		t.Errorf("dry run output:\n%s", stdout)
	}
	code, stdout, _ = applyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig, "--dry-run", "-o", "json")
	if code != ExitOK {
		t.Fatal(stdout)
	}
	res = nil
	_ = json.Unmarshal([]byte(stdout), &res)
	var names []string
	for _, a := range res[0].Apps {
		names = append(names, a.App)
	}
	if diff := cmp.Diff([]string{"api-gateway-prod-us-east", "auth-service-prod-us-east", "billing-prod-us-east", "monitoring-prod-us-east", "orders-prod-us-east", "policies-prod-us-east", "storefront-prod-us-east"}, names); diff != "" {
		t.Errorf("apps on the branch (-want +got):\n%s", diff)
	}
	// The dry run changed nothing: a real apply still has the change to make.
	code, stdout, _ = applyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig, "--app", "storefront-prod-us-east")
	if code != ExitOK || !strings.Contains(stdout, "1 configured") {
		t.Errorf("after the dry run, the real apply (exit %d):\n%s", code, stdout)
	}
}

// retirePaymentService removes the payment-service from the fleet (with
// whatever else the worktree holds), renders and makes the proposal
// prod-us-east's live branch.
func retirePaymentService(t *testing.T, checkout, message string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(checkout, "services/payment-service")); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", message)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	gittest.Git(t, checkout, "branch", "-f", "hydrated/prod-us-east", "hydrated/prod-us-east-next")
}

func TestApplyUsageErrors(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	const dnsLabel = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	clustersFrom := filepath.Join(t.TempDir(), "clusters.json")
	if err := os.WriteFile(clustersFrom, []byte(`[{"name": "dev-us"}, {"name": "../x"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "apply: usage: --cluster is required (or --clusters-from with --shard)\n"},
		{[]string{"--cluster", "x", "--clusters-from", "f"}, "apply: usage: --cluster and --clusters-from exclude each other\n"},
		{[]string{"--cluster", "x", "--app", "a", "--prune-removed"}, "apply: usage: --prune-removed works on the whole branch; it cannot be combined with --app\n"},
		{[]string{"--cluster", "x", "--timeout", "0s"}, "apply: usage: --timeout must be positive\n"},
		{[]string{"--cluster", "nowhere", "--repo", checkout}, "apply: cluster nowhere: branch not found: hydrated/nowhere in " + checkout + "\n"},
		{[]string{"--cluster", "..", "--repo", checkout}, "apply: usage: --cluster \"..\" is not a valid cluster name: " + dnsLabel + "\n"},
		{[]string{"--cluster", "a/b", "--repo", checkout}, "apply: usage: --cluster \"a/b\" is not a valid cluster name: " + dnsLabel + "\n"},
		{[]string{"--clusters-from", clustersFrom, "--repo", checkout}, "apply: usage: --clusters-from " + clustersFrom + ": \"../x\" is not a valid cluster name: " + dnsLabel + "\n"},
	} {
		code, stdout, stderr := applyCmd(t, tt.args...)
		if code != ExitUsage || stdout != "" || stderr != tt.want {
			t.Errorf("apply %v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestApplyRemovedApp retires a service: its app leaves the branch. apply
// reports what it left in the cluster and deletes nothing; --prune-removed
// needs --confirm-prune (it deletes the whole app), shows the deletions in
// a dry run, then deletes them and the app's inventory, and nothing else.
func TestApplyRemovedApp(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t, kubetest.Options{Name: "prod-us-east"})
	checkout, _ := gittest.Fleet(t, exampleFleet)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	gittest.Git(t, checkout, "branch", "hydrated/prod-us-east", "hydrated/prod-us-east-next")
	apply := func(args ...string) (int, string, string) {
		return applyCmd(t, append([]string{"--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig}, args...)...)
	}
	code, stdout, stderr := apply("-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res []clusterApply
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	const gone = "payment-service-prod-us-east"
	var goneObjects []string
	for _, a := range res[0].Apps {
		if a.App == gone {
			for _, o := range a.Objects {
				goneObjects = append(goneObjects, o.Object)
			}
		}
	}
	if len(goneObjects) == 0 {
		t.Fatalf("no objects applied for %s:\n%s", gone, stdout)
	}
	client, err := kube.NewClient(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	live := func() map[string]int {
		apps, err := client.InventoryApps(t.Context(), kube.DefaultInventoryNamespace, "hydrated/prod-us-east")
		if err != nil {
			t.Fatal(err)
		}
		return apps
	}
	if n := len(live()); n != 8 {
		t.Fatalf("%d inventories, want 8", n)
	}

	retirePaymentService(t, checkout, "retire payment-service")

	// Reported, not deleted.
	code, stdout, _ = apply()
	want := fmt.Sprintf("%s: left the branch; its %d objects remain in the cluster (apply --prune-removed deletes them)\n", gone, len(goneObjects))
	if code != ExitOK || !strings.Contains(stdout, want) {
		t.Errorf("apply (exit %d) does not report the removed app:\n%s", code, stdout)
	}
	if live()[gone] != len(goneObjects) {
		t.Errorf("the removed app's inventory changed: %v", live())
	}
	// verify sees the leftovers as drift.
	verified := func() (int, []clusterVerify) {
		code, stdout, stderr := verifyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig, "-o", "json")
		var res []clusterVerify
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("verify (exit %d): %v\n%s", code, stderr, err)
		}
		return code, res
	}
	if code, vres := verified(); code != ExitFailed || vres[0].Removed[gone] != len(goneObjects) || len(vres[0].Removed) != 1 {
		t.Errorf("verify (exit %d) reports removed apps %v, want %s with %d objects", code, vres[0].Removed, gone, len(goneObjects))
	}
	if _, stdout, _ := verifyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig); !strings.Contains(stdout, "\n"+want) {
		t.Errorf("verify's text does not report the removed app:\n%s", stdout)
	}
	// The whole app is over the deletion budget.
	code, stdout, _ = apply("--prune-removed")
	if code != ExitFailed || !strings.Contains(stdout, "--confirm-prune") {
		t.Errorf("--prune-removed without --confirm-prune (exit %d):\n%s", code, stdout)
	}
	// A dry run lists each deletion and deletes nothing.
	code, stdout, _ = apply("--prune-removed", "--confirm-prune", "--dry-run")
	for _, o := range goneObjects {
		if !strings.Contains(stdout, "  deleted    "+o) {
			t.Errorf("dry run does not list %s:\n%s", o, stdout)
		}
	}
	if code != ExitOK || live()[gone] != len(goneObjects) {
		t.Errorf("dry run (exit %d) changed the cluster: %v", code, live())
	}
	code, stdout, stderr = apply("--prune-removed", "--confirm-prune", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	apps := live()
	if _, ok := apps[gone]; ok || len(apps) != 7 {
		t.Errorf("inventories after removal: %v; want the 7 apps still on the branch", apps)
	}
	deleted := 0
	res = nil
	_ = json.Unmarshal([]byte(stdout), &res)
	for _, a := range res[0].Apps {
		if a.App == gone {
			deleted = a.Counts()[kube.Deleted]
		} else if n := a.Counts()[kube.Deleted]; n != 0 {
			t.Errorf("%s: %d objects deleted", a.App, n)
		}
	}
	if deleted != len(goneObjects) {
		t.Errorf("%d objects deleted, want %d", deleted, len(goneObjects))
	}
	for _, o := range goneObjects {
		parts := strings.Split(o, "/")
		if len(parts) == 3 && parts[0] == "Deployment" {
			if _, err := client.Dynamic.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace(parts[1]).Get(t.Context(), parts[2], metav1.GetOptions{}); err == nil {
				t.Errorf("%s still exists", o)
			}
		}
	}
	// Nothing left to report.
	if code, stdout, _ = apply(); code != ExitOK || strings.Contains(stdout, "left the branch") {
		t.Errorf("after removal (exit %d):\n%s", code, stdout)
	}
	if _, vres := verified(); vres[0].Removed != nil {
		t.Errorf("verify after removal reports %v", vres[0].Removed)
	}
}
