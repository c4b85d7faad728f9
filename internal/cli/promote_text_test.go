package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/promote"
)

// TestPromoteOutputPlainAndStable: promote's terminal output is plain text
// with labelled columns (no Markdown), the job summary is Markdown, and
// both list halted rollouts in one order whatever the map's iteration.
func TestPromoteOutputPlainAndStable(t *testing.T) {
	t.Parallel()
	res := &promote.Result{
		Apps:    []promote.AppDecision{{App: "web-canary", Cluster: "canary", Set: "web", Step: "canary", State: promote.Halted, WaitingFor: "web's rollout is halted"}},
		Actions: []promote.ActionResult{{Action: promote.Action{Kind: promote.OpenMerge, Cluster: "canary", Apps: []string{"api-canary"}}, Done: true, Result: "opened #1, merged"}},
		Halted:  map[string]string{},
	}
	for _, set := range []string{"web", "api", "db", "cache", "auth", "jobs", "edge", "mail"} {
		res.Halted[set] = set + " failed verify on canary"
	}
	var firstText, firstMD string
	for i := range 20 {
		var text, md bytes.Buffer
		writePromoteText(&text, res, false)
		writePromoteSummary(&md, res, false)
		if i == 0 {
			firstText, firstMD = text.String(), md.String()
			continue
		}
		if text.String() != firstText || md.String() != firstMD {
			t.Fatalf("output changed between two writes of the same result:\n%s\n---\n%s", firstText, text.String())
		}
	}
	for _, md := range []string{"|", "###", "**", "<details>"} {
		if strings.Contains(firstText, md) {
			t.Errorf("terminal output holds Markdown %q:\n%s", md, firstText)
		}
	}
	for _, want := range []string{"STEP", "WAITING FOR", "CLUSTER", "ACTION", "RESULT", "open+merge", "opened #1, merged", "\n  api: api failed verify on canary\n  auth: auth failed"} {
		if !strings.Contains(firstText, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, firstText)
		}
	}
	if !strings.Contains(firstMD, "| step | app | cluster | state | waiting for |") || !strings.Contains(firstMD, "- api: api failed verify on canary\n- auth:") {
		t.Errorf("summary:\n%s", firstMD)
	}
}
