package promote

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// TestPullRequestBodyIsStable: the pull request's body lists the halted
// rollouts (a map) in one order, so a pass that changes nothing writes
// the same body byte for byte (and does not update the pull request).
func TestPullRequestBodyIsStable(t *testing.T) {
	t.Parallel()
	r := &runner{Options: Options{Fleet: &fleet.Fleet{}}}
	d := &clusterData{name: "prod", stagingCommit: &object.Commit{Message: "render\n\nFlotilla-Dry-Sha: 0123456789abcdef\n"}}
	p := Plan{Halted: map[string]string{}}
	for _, set := range []string{"web", "api", "db", "cache", "queue", "search", "auth", "mail"} {
		p.Halted[set] = set + "-canary failed verification"
	}
	a := Action{Kind: Open, Cluster: "prod", Steps: []string{"general"}, Reason: "promote"}
	_, first := r.describe(d, a, p, Snapshot{})
	for range 20 {
		if _, body := r.describe(d, a, p, Snapshot{}); body != first {
			t.Fatalf("the body changed between two passes:\n%s\n---\n%s", first, body)
		}
	}
	if i, j := strings.Index(first, "- api:"), strings.Index(first, "- web:"); i < 0 || j < i {
		t.Errorf("halted rollouts not sorted:\n%s", first)
	}
}
