package cli

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/actions/actionstest"
)

func TestTuneGCLeavesAnExplicitGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct {
		gogc string
		want int
	}{{"", gcPercent}, {"50", 100}, {"off", 100}} {
		debug.SetGCPercent(100)
		tuneGC(func(k string) string {
			if k == "GOGC" {
				return c.gogc
			}
			return ""
		})
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("GOGC=%q: GC percent %d, want %d", c.gogc, got, c.want)
		}
	}
}

// TestProcessEnvFencesStderrInActions runs a plain command in GitHub
// Actions whose error quotes workflow commands (field names of an
// ApplicationSet): the runner, reading stderr, processes none of them and
// shows the error as written; stdout, the result, carries no marker.
// Outside Actions stderr is written as it is.
func TestProcessEnvFencesStderrInActions(t *testing.T) {
	t.Parallel()
	appset := strings.Replace(testAppSet, "  generators:", "  \"::add-mask::apiVersion\": 1\n  \"##[set-output name=x;]y\": 2\n  generators:", 1)
	dir := writeFleet(t, map[string]string{"applicationsets/web.yaml": appset})
	for _, gha := range []string{"true", ""} {
		var stdout, stderr bytes.Buffer
		env, closeEnv := processEnv(&stdout, &stderr, func(k string) string {
			return map[string]string{"GITHUB_ACTIONS": gha}[k]
		})
		code := Render(t.Context(), []string{"--fleet", dir, "--no-push"}, env)
		closeEnv()
		if code != ExitUsage {
			t.Fatalf("GITHUB_ACTIONS=%q: exit %d:\n%s%s", gha, code, stdout.String(), stderr.String())
		}
		cmds, shown := actionstest.Run(stderr.String())
		if gha == "true" && len(cmds) > 0 {
			t.Errorf("the runner would process %v:\n%s", cmds, stderr.String())
		}
		if gha == "" && strings.Contains(stderr.String(), "stop-commands") {
			t.Errorf("outside Actions stderr is changed:\n%s", stderr.String())
		}
		if !strings.Contains(strings.Join(shown, "\n"), `unknown field "spec.::add-mask::apiVersion"`) {
			t.Errorf("GITHUB_ACTIONS=%q: the error is not shown as written:\n%s", gha, stderr.String())
		}
		if strings.Contains(stdout.String(), "stop-commands") {
			t.Errorf("stdout carries a marker:\n%s", stdout.String())
		}
	}
}
