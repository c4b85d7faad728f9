package hydrate

import (
	"errors"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestReadBranchMissing: a branch that does not exist is ErrNoBranch, by
// type, from a path and from a URL (cloned in memory).
func TestReadBranchMissing(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	publish(t, &Publisher{Repo: repo, Remote: origin}, dry, tree("a", "1"))
	for _, where := range []string{origin, "file://" + origin} {
		if _, err := ReadBranch(t.Context(), where, "hydrated/a-next", nil); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if _, err := ReadBranch(t.Context(), where, "hydrated/nope-next", nil); !errors.Is(err, ErrNoBranch) {
			t.Errorf("%s: err = %v (%T), want ErrNoBranch", where, err, errors.Unwrap(err))
		}
	}
}
