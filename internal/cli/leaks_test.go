package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
// itself must still be shown, with the URL redacted.
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
		{"apply", Apply, []string{"--cluster", "prod-eu", "--repo", leakRemote}},
		{"apply json", Apply, []string{"--cluster", "prod-eu", "--repo", leakRemote, "-o", "json"}},
		{"verify", Verify, []string{"--cluster", "prod-eu", "--repo", leakRemote}},
		{"promote github", Promote, []string{"--fleet", checkout, "--forge", "github", "--remote", leakRemote, "--github-url", "http://127.0.0.1:1/"}},
		{"promote github json", Promote, []string{"--fleet", checkout, "--forge", "github", "--remote", leakRemote, "--github-url", "http://127.0.0.1:1/", "-o", "json"}},
		{"promote github origin", Promote, []string{"--fleet", withOrigin, "--forge", "github", "--github-url", "http://127.0.0.1:1/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := tc.cmd(t.Context(), tc.args, Env{Stdout: &out, Stderr: &errb, Getenv: getenv})
			all := out.String() + errb.String()
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
		fleet.ConfigFile: "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nrepos:\n  https://example.com/fleet.git: src\n",
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
