package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestPromotePushRefusedByTheRemote: the remote's pre-receive hook
// refuses a branch promote pushes (a protected-branch rule) — the live
// branch promote starts, then the promotion branch. promote fails, and
// its error names the branch and the remote and quotes what the remote
// said; the remote does not get the branch.
func TestPromotePushRefusedByTheRemote(t *testing.T) {
	t.Parallel()
	for _, branch := range []string{"hydrated/canary", "flotilla/promote/canary"} {
		t.Run(strings.ReplaceAll(branch, "/", "_"), func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			for name, content := range loopFleet {
				writeFileAll(t, filepath.Join(src, name), content)
			}
			checkout, origin := gittest.Fleet(t, src)
			if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
				t.Fatalf("render: %s", stderr)
			}
			gh006 := "GH006: Protected branch update failed for refs/heads/" + branch + "."
			hook := "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/" + branch + " ]; then echo '" + gh006 + "' >&2; exit 1; fi\ndone\nexit 0\n"
			if err := os.WriteFile(filepath.Join(origin, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
				t.Fatal(err)
			}
			fake := forgetest.New(t, origin, "example", "fleet")
			env := map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet"}
			var out, errb bytes.Buffer
			code := Promote(t.Context(), []string{"--fleet", checkout, "--forge", "github", "--github-url", fake.URL()},
				Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
			if code != ExitRemote {
				t.Fatalf("promote exit %d with %s refused, want %d (the remote refused: as render's refused push):\n%s%s", code, branch, ExitRemote, out.String(), errb.String())
			}
			if testing.Verbose() {
				t.Log(errb.String())
			}
			for _, want := range []string{"remote: " + gh006, "push " + branch + " to ", "the remote said:"} {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("the error lacks %q:\n%s", want, errb.String())
				}
			}
			if refs := gittest.Refs(t, origin, "refs/heads/"+branch); refs != "" {
				t.Errorf("the remote has the refused branch: %s", refs)
			}
		})
	}
}

// TestPromoteLostRaceIsAConflict: another run starts a cluster's live
// branch between this pass's fetch and its push (the remote's hook
// creates it just before taking the push). promote says another run was
// first and exits 3 (run again), not 1.
func TestPromoteLostRaceIsAConflict(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, origin := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	hook := "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/hydrated/canary ]; then\n" +
		"    env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/hydrated/canary \"$(git rev-parse refs/heads/main)\" \"\"\n" +
		"  fi\ndone\nexit 0\n"
	if err := os.WriteFile(filepath.Join(origin, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := promoteCmd(t, nil, "--fleet", checkout, "--forge", "local", "--remote", origin)
	if code != ExitRemote || !strings.Contains(stderr, "start the live branch of canary: another run started hydrated/canary first, run again") {
		t.Fatalf("exit %d, want %d:\n%s%s", code, ExitRemote, out, stderr)
	}
	if got, want := gittest.Git(t, origin, "rev-parse", "hydrated/canary"), gittest.Git(t, origin, "rev-parse", "main"); got != want {
		t.Errorf("the other run's hydrated/canary %s was replaced by %s", want, got)
	}
}
