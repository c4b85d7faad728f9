package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestActionPromoteOutputs: the Action runs promote through promote.Run
// and maps its Result to the outputs and the job summary: the canary's
// pull request is opened and merged in one pass, so it is the merged
// cluster, the cluster to apply and the one job of the apply matrix; the
// log shows promote's table, not a JSON document parsed back.
func TestActionPromoteOutputs(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, _ := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	r := runAction(t, map[string]string{"command": "promote", "fleet": checkout, "forge": "local"}, nil)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	for name, want := range map[string]string{
		"pr-numbers":      "[1]",
		"merged-clusters": `["canary"]`,
		"apply-clusters":  `["canary"]`,
		"apply-matrix":    `{"include":[{"shard":"0/1","clusters":"canary"}]}`,
	} {
		if got := output(t, r, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if got := output(t, r, "actions"); !strings.Contains(got, `"kind":"open+merge","cluster":"canary","apps":["web-canary"]`) || !strings.Contains(got, `"done":true`) {
		t.Errorf("actions = %s", got)
	}
	if !strings.Contains(r.summary, "### Promotion\n") || !strings.Contains(r.summary, "| canary | open+merge | web-canary | opened #1; merged as ") {
		t.Errorf("summary:\n%s", r.summary)
	}
	if !strings.Contains(r.stdout, "CLUSTER  ACTION      APPS        RESULT") || strings.Contains(r.stdout, `"actions":`) {
		t.Errorf("log:\n%s", r.stdout)
	}
	if live := gittest.Git(t, checkout, "rev-parse", "hydrated/canary^2"); live != gittest.Git(t, checkout, "rev-parse", "flotilla/promote/canary") {
		t.Errorf("hydrated/canary does not merge the promotion branch")
	}
}
