package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/actions/actionstest"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// Secrets the leak tests put into remote URLs and the environment. Each
// holds "SECRET", which no output may then hold.
const (
	leakPassword = "SECRETpassw0rd"
	leakQuery    = "SECRETquery"
	leakToken    = "ghs_SECRETtoken"
	// leakRemote is unreachable (port 1 refuses at once) and carries a
	// password and a query token.
	leakRemote = "https://x-access-token:" + leakPassword + "@127.0.0.1:1/fleet.git?private_token=" + leakQuery
)

// TestNoSecretInOutput runs every command against a remote whose URL
// carries credentials, with a token in the environment, and fails if any
// byte of output (stdout, stderr, text or JSON) shows a secret; the error
// itself must still be shown, with the URL redacted, and no error value
// passed to Env.Annotate may show one either.
func TestNoSecretInOutput(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	// A checkout whose origin carries the credentials, for the commands
	// that default to origin.
	withOrigin, _ := gittest.Fleet(t, exampleFleet)
	gittest.Git(t, withOrigin, "remote", "set-url", "origin", leakRemote)
	env := map[string]string{"GITHUB_TOKEN": leakToken, "GITHUB_REPOSITORY": "example/fleet"}
	getenv := func(k string) string { return env[k] }
	type command func(context.Context, []string, Env) int
	for _, tc := range []struct {
		name string
		cmd  command
		args []string
	}{
		{"render push", Render, []string{"--fleet", checkout, "--remote", leakRemote}},
		{"render push json", Render, []string{"--fleet", checkout, "--remote=" + leakRemote, "-o", "json"}},
		{"render push to origin", Render, []string{"--fleet", withOrigin}},
		{"apply", Apply, []string{"--cluster", "prod-eu", "--remote", leakRemote}},
		{"apply json", Apply, []string{"--cluster", "prod-eu", "--remote", leakRemote, "-o", "json"}},
		{"apply --repo URL", Apply, []string{"--cluster", "prod-eu", "--repo", leakRemote}},
		{"verify", Verify, []string{"--cluster", "prod-eu", "--remote", leakRemote}},
		{"verify --forge local", Verify, []string{"--cluster", "prod-eu", "--remote", leakRemote, "--forge", "local"}},
		{"promote github", Promote, []string{"--fleet", checkout, "--forge", "github", "--remote", leakRemote, "--github-url", "http://127.0.0.1:1/"}},
		{"promote github json", Promote, []string{"--fleet", checkout, "--forge", "github", "--remote", leakRemote, "--github-url", "http://127.0.0.1:1/", "-o", "json"}},
		{"promote github origin", Promote, []string{"--fleet", withOrigin, "--forge", "github", "--github-url", "http://127.0.0.1:1/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			// The errors as values (what the Action annotates, what a
			// caller carries on) are checked too, not only the output
			// that redact.Writer cleans.
			var annotated []string
			annotate := func(err error) { annotated = append(annotated, err.Error()) }
			code := tc.cmd(t.Context(), tc.args, Env{Stdout: &out, Stderr: &errb, Getenv: getenv, Annotate: annotate})
			all := out.String() + errb.String()
			if v := strings.Join(annotated, "\n"); strings.Contains(v, "SECRET") {
				t.Errorf("a secret is in an error value:\n%s", v)
			}
			if code == ExitOK {
				t.Fatalf("exit 0 against an unreachable remote:\n%s", all)
			}
			if strings.Contains(all, "SECRET") {
				t.Errorf("a secret is in the output:\n%s", all)
			}
			if !strings.Contains(all, "127.0.0.1:1") {
				t.Errorf("the error does not say which remote failed:\n%s", all)
			}
		})
	}
}

// TestHydratedMetadataHasNoCredentials renders a checkout whose origin
// carries credentials: the repoURL written into every hydrated branch
// (and pushed with it) must not hold them.
func TestHydratedMetadataHasNoCredentials(t *testing.T) {
	t.Parallel()
	// The app's source is mapped to a folder, so the fleet repository's
	// own URL comes from origin.
	checkout, _ := gittest.Fleet(t, writeFleet(t, map[string]string{
		fleet.ConfigFile:  "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nrepos:\n  https://example.com/fleet.git: src\n",
		"src/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: b\n",
	}))
	gittest.Git(t, checkout, "remote", "set-url", "origin", leakRemote)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	content := gittest.Git(t, checkout, "log", "-p", "--format=%B", "hydrated/prod-eu-next")
	if !strings.Contains(content, `"repoURL": "https://***@127.0.0.1:1/fleet.git?private_token=***"`) {
		t.Errorf("hydrated metadata lacks the redacted repoURL:\n%.2000s", content)
	}
	if strings.Contains(content, "SECRET") {
		t.Error("a secret is in the hydrated branch")
	}
}

// TestActionLogCarriesNoCommands feeds the Action data that holds workflow
// commands (field names of an ApplicationSet, which its errors quote) and
// reads the log, stdout and stderr, as the runner does: only Flotilla's
// own commands are processed.
func TestActionLogCarriesNoCommands(t *testing.T) {
	t.Parallel()
	appset := strings.Replace(testAppSet, "  generators:", "  \"##[set-output name=x;]y\": 1\n  \"##[add-mask]apiVersion\": 2\n  generators:", 1)
	dir := writeFleet(t, map[string]string{"applicationsets/web.yaml": appset})
	r := runAction(t, map[string]string{"command": "render", "fleet": dir, "no-push": "true"}, nil)
	if r.code != ExitUsage {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for where, log := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		cmds, _ := actionstest.Run(log)
		for _, c := range cmds {
			if c.Name != "group" && c.Name != "endgroup" && c.Name != "error" {
				t.Errorf("%s: the runner would process %s %q:\n%s", where, c.Name, c.Data, log)
			}
		}
	}
	if !strings.Contains(r.stdout, `render: applicationsets/web.yaml:6: unknown field "spec.##[set-output name=x;]y"`) {
		t.Errorf("the error is not in the log as written:\n%s", r.stdout)
	}
}

// TestActionMasksExactlyKubeconfigSecrets gives kubeconfig-data in block
// YAML, JSON and flow-style YAML: the Action masks exactly its secret
// values, not the lines every kubeconfig has, and shows none of them.
func TestActionMasksExactlyKubeconfigSecrets(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	for name, config := range map[string]string{
		"yaml": "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: prod-eu\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user:\n    username: admin\n    password: SECRET-password\n    token: SECRET-token\n",
		"json": `{"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}], "contexts": [{"name": "prod-eu", "context": {"cluster": "c", "user": "u"}}], "users": [{"name": "u", "user": {"username": "admin", "password": "SECRET-password", "token": "SECRET-token"}}]}`,
		"flow": `{apiVersion: v1, kind: Config, clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}], contexts: [{name: prod-eu, context: {cluster: c, user: u}}], users: [{name: u, user: {username: admin, password: SECRET-password, token: SECRET-token}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := runAction(t, map[string]string{"command": "apply", "repo": checkout, "cluster": "prod-eu", "kubeconfig-data": config}, nil)
			cmds, shown := actionstest.Run(r.stdout)
			var masks []string
			for _, c := range cmds {
				if c.Name == "add-mask" {
					masks = append(masks, c.Data)
				}
			}
			if diff := cmp.Diff([]string{"SECRET-password", "SECRET-token"}, masks); diff != "" {
				t.Errorf("masks (-want +got)\n%s\nlog:\n%s", diff, r.stdout)
			}
			if log := strings.Join(shown, "\n") + r.stderr + r.summary + r.outputs; strings.Contains(log, "SECRET") {
				t.Errorf("a secret is shown:\n%s", log)
			}
		})
	}
}

// TestActionHidesRemoteCredentials runs the Action with a remote whose URL
// carries credentials: they are masked, and shown nowhere. The remote
// cannot be reached: exit 3 (run again).
func TestActionHidesRemoteCredentials(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	r := runAction(t, map[string]string{"command": "render", "fleet": checkout, "remote": leakRemote, "token": leakToken}, nil)
	if r.code != ExitRemote {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	cmds, shown := actionstest.Run(r.stdout)
	masked := map[string]bool{}
	for _, c := range cmds {
		if c.Name == "add-mask" {
			masked[c.Data] = true
		}
	}
	for _, s := range []string{leakToken, leakPassword, leakQuery} {
		if !masked[s] {
			t.Errorf("%s is not masked", s)
		}
	}
	if log := strings.Join(shown, "\n") + r.stderr + r.summary + r.outputs; strings.Contains(log, "SECRET") {
		t.Errorf("a secret is shown:\n%s", log)
	}
	for _, c := range cmds {
		if c.Name != "add-mask" && strings.Contains(c.Data, "SECRET") {
			t.Errorf("a secret is in ::%s::%s", c.Name, c.Data)
		}
	}
	if !strings.Contains(r.stdout, "https://***@127.0.0.1:1/fleet.git") {
		t.Errorf("the error does not name the remote:\n%s", r.stdout)
	}
}
