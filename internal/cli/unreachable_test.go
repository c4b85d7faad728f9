package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// unreachableKubeconfig is a kubeconfig whose context c1 points at a port
// nothing listens on.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kc, `apiVersion: v1
kind: Config
clusters: [{name: c1, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: c1, context: {cluster: c1, user: u}}]
current-context: c1
`)
	return kc
}

// hydratedRepo is a repository whose branch hydrated/c1 holds one app.
func hydratedRepo(t *testing.T) string {
	t.Helper()
	dir := gittest.Files(t, map[string]string{"web/manifest.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: web}\ndata: {k: v}\n"})
	gittest.Git(t, dir, "init", "-q", "-b", "hydrated/c1")
	gittest.Git(t, dir, "add", "-A")
	gittest.Commit(t, dir, "2026-01-01T00:00:00Z", "hydrate")
	return dir
}

var targetCommands = map[string]func(*testing.T, ...string) (int, string, string){"apply": applyCmd, "verify": verifyCmd}

// TestUnreachableAPIServerExits3: an API server nothing answers is a
// remote failure (exit 3: run again), not bad input, for apply and verify
// alike; the error names the cluster, and apply's app line says why.
func TestUnreachableAPIServerExits3(t *testing.T) {
	t.Parallel()
	repo, kc := hydratedRepo(t), unreachableKubeconfig(t)
	for name, cmd := range targetCommands {
		code, stdout, stderr := cmd(t, "--repo", repo, "--cluster", "c1", "--kubeconfig", kc)
		if code != ExitRemote || !strings.Contains(stderr, name+": cluster c1: ") || !strings.Contains(stderr, "connection refused") {
			t.Errorf("%s: exit %d, want 3 naming the cluster:\n%s%s", name, code, stdout, stderr)
		}
	}
	// With --app apply lists no inventories: the app's error decides.
	code, stdout, stderr := applyCmd(t, "--repo", repo, "--cluster", "c1", "--kubeconfig", kc, "--app", "web")
	if code != ExitRemote || !strings.Contains(stdout, "web @ ") || !strings.Contains(stdout, "error: ") || !strings.Contains(stdout, "connection refused") {
		t.Errorf("apply --app: exit %d, want 3:\n%s%s", code, stdout, stderr)
	}
}

// TestUnreachableGitRemoteExits3: a Git remote nothing answers is a
// remote failure (exit 3), while a branch the remote lacks, a context the
// kubeconfig lacks and an unknown --app are input (exit 2); every error
// names the cluster.
func TestUnreachableGitRemoteExits3(t *testing.T) {
	t.Parallel()
	repo, kc := hydratedRepo(t), unreachableKubeconfig(t)
	for name, cmd := range targetCommands {
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"--remote", "https://127.0.0.1:1/fleet.git", "--cluster", "c1", "--kubeconfig", kc}, ExitRemote, "127.0.0.1:1"},
			{[]string{"--remote", repo, "--cluster", "c1", "--branch", "hydrated/nope", "--kubeconfig", kc}, ExitUsage, "branch not found: hydrated/nope"},
			{[]string{"--repo", repo, "--cluster", "c1", "--branch", "hydrated/nope", "--kubeconfig", kc}, ExitUsage, "branch not found: hydrated/nope"},
			{[]string{"--repo", repo, "--cluster", "c1", "--context", "nope", "--kubeconfig", kc}, ExitUsage, `context "nope"`},
			{[]string{"--repo", repo, "--cluster", "c1", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, ExitUsage, "load kubeconfig"},
			{[]string{"--repo", repo, "--cluster", "c1", "--kubeconfig", kc, "--app", "nope"}, ExitUsage, "--app nope: no such app on hydrated/c1 (apps: web)"},
			// A mistyped local path is input, not a remote's failure.
			{[]string{"--remote", filepath.Join(t.TempDir(), "typo.git"), "--cluster", "c1", "--kubeconfig", kc}, ExitUsage, "typo.git"},
		} {
			code, stdout, stderr := cmd(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, name+": cluster c1: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s %v: exit %d, want %d and %q naming the cluster:\n%s%s", name, tc.args, code, tc.code, tc.want, stdout, stderr)
			}
		}
	}
	// A folder that is no repository is input for both; verify's local
	// forge says so first.
	notRepo := t.TempDir()
	if code, _, stderr := applyCmd(t, "--repo", notRepo, "--cluster", "c1", "--kubeconfig", kc); code != ExitUsage || !strings.Contains(stderr, "apply: cluster c1: open "+notRepo) {
		t.Errorf("apply in a folder that is no repository: exit %d:\n%s", code, stderr)
	}
	if code, _, stderr := verifyCmd(t, "--repo", notRepo, "--cluster", "c1", "--kubeconfig", kc); code != ExitUsage || !strings.Contains(stderr, "verify: --forge local: open "+notRepo) {
		t.Errorf("verify in a folder that is no repository: exit %d:\n%s", code, stderr)
	}
}
