package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
	if len(res[0].Apps) != 6 || created != 19 {
		t.Errorf("%d apps, %d objects created; want 6 apps and the branch's 19 objects", len(res[0].Apps), created)
	}

	code, stdout, _ = applyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig)
	if code != ExitOK || strings.Count(stdout, "unchanged") != 6 || strings.Contains(stdout, "configured") {
		t.Errorf("second apply (exit %d):\n%s", code, stdout)
	}

	// A change in Git: storefront scales, payment-service goes away.
	overlay := filepath.Join(checkout, "apps/storefront/overlays/production/kustomization.yaml")
	replaceIn(t, overlay, "count: 4", "count: 6")
	if err := os.RemoveAll(filepath.Join(checkout, "services/payment-service")); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "scale storefront, retire payment-service")
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	gittest.Git(t, checkout, "branch", "-f", "hydrated/prod-us-east", "hydrated/prod-us-east-next")
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
	if diff := cmp.Diff([]string{"api-gateway-prod-us-east", "auth-service-prod-us-east", "monitoring-prod-us-east", "policies-prod-us-east", "storefront-prod-us-east"}, names); diff != "" {
		t.Errorf("apps on the branch (-want +got):\n%s", diff)
	}
	// The dry run changed nothing: a real apply still has the change to make.
	code, stdout, _ = applyCmd(t, "--repo", checkout, "--cluster", "prod-us-east", "--kubeconfig", cluster.Kubeconfig, "--app", "storefront-prod-us-east")
	if code != ExitOK || !strings.Contains(stdout, "1 configured") {
		t.Errorf("after the dry run, the real apply (exit %d):\n%s", code, stdout)
	}
}

func TestApplyUsageErrors(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "apply: usage: --cluster is required (or --clusters-from with --shard)\n"},
		{[]string{"--cluster", "x", "--clusters-from", "f"}, "apply: usage: --cluster and --clusters-from exclude each other\n"},
		{[]string{"--cluster", "nowhere", "--repo", checkout}, "apply: cluster nowhere: branch not found: hydrated/nowhere in " + checkout + "\n"},
	} {
		code, stdout, stderr := applyCmd(t, tt.args...)
		if code != ExitUsage || stdout != "" || stderr != tt.want {
			t.Errorf("apply %v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}
