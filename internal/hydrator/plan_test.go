package hydrator

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// TestBuildOrder starts the first Application of each set of sources
// before the ones that would wait on a build already running.
func TestBuildOrder(t *testing.T) {
	t.Parallel()
	job := func(paths ...string) renderJob {
		var j renderJob
		for _, p := range paths {
			j.gen.App.Spec.Sources = append(j.gen.App.Spec.Sources, fleet.ApplicationSource{RepoURL: "https://git.example.com/fleet.git", Path: p})
		}
		return j
	}
	jobs := []renderJob{job("a"), job("a"), job("a", "b"), job("b"), job("a"), job("b"), job("c")}
	if got, want := buildOrder(jobs), []int{0, 2, 3, 6, 1, 4, 5}; !cmp.Equal(got, want) {
		t.Errorf("buildOrder = %v, want %v", got, want)
	}
}
