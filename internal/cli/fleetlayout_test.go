package cli

import (
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestTargetFleetLayout: with --fleet, apply and verify read the live
// branch flotilla.yaml's hydrated.branch names (live/c1 here), not
// hydrated/c1; without it they look for hydrated/c1; a fleet that does not
// load is input.
func TestTargetFleetLayout(t *testing.T) {
	t.Parallel()
	repo := gittest.Files(t, map[string]string{"web/manifest.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: web}\n"})
	gittest.Git(t, repo, "init", "-q", "-b", "live/c1")
	gittest.Git(t, repo, "add", "-A")
	gittest.Commit(t, repo, "2026-01-01T00:00:00Z", "hydrate")
	fleetDir := writeFleet(t, map[string]string{"flotilla.yaml": "repos: {\"https://example.com/fleet.git\": .}\nhydrated: {branch: \"live/{{cluster}}\", staging: \"next/{{cluster}}\"}\n"})
	kc := unreachableKubeconfig(t)
	for name, cmd := range targetCommands {
		// The branch is read; the cluster, unreachable, is what fails.
		code, stdout, stderr := cmd(t, "--repo", repo, "--cluster", "c1", "--kubeconfig", kc, "--fleet", fleetDir)
		if code != ExitRemote || strings.Contains(stderr, "branch not found") {
			t.Errorf("%s --fleet: exit %d, want 3 after reading live/c1:\n%s%s", name, code, stdout, stderr)
		}
		if name == "apply" && !strings.Contains(stdout, "web @ ") {
			t.Errorf("apply --fleet did not reach the app:\n%s", stdout)
		}
		code, stdout, stderr = cmd(t, "--repo", repo, "--cluster", "c1", "--kubeconfig", kc)
		if code != ExitUsage || !strings.Contains(stderr, "branch not found: hydrated/c1") {
			t.Errorf("%s without --fleet: exit %d, want 2 looking for hydrated/c1:\n%s%s", name, code, stdout, stderr)
		}
		code, _, stderr = cmd(t, "--repo", repo, "--cluster", "c1", "--kubeconfig", kc, "--fleet", repo+"/nope")
		if code != ExitUsage || !strings.Contains(stderr, "--fleet "+repo+"/nope") {
			t.Errorf("%s --fleet missing: exit %d, want 2:\n%s", name, code, stderr)
		}
	}
}
