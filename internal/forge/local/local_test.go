package local

import (
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

func TestStatusesAsGitNotes(t *testing.T) {
	t.Parallel()
	repo, _ := gittest.Fleet(t, t.TempDir())
	sha := gittest.Git(t, repo, "rev-parse", "HEAD")
	f, err := Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	f.Now = func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	ctx := t.Context()
	for _, s := range []forge.Status{
		{Context: "flotilla/verify/web", State: forge.StatePending, Description: "not applied yet"},
		{Context: "flotilla/verify/db", State: forge.StateFailure, Description: strings.Repeat("x", 200)},
		{Context: "flotilla/verify/web", State: forge.StateSuccess, Description: "in sync"},
	} {
		if err := f.SetStatus(ctx, sha, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.Statuses(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Context != "flotilla/verify/db" || got[1].State != forge.StateSuccess || len([]rune(got[0].Description)) != forge.MaxDescription {
		t.Errorf("statuses: %+v", got)
	}
	if note := gittest.Git(t, repo, "notes", "--ref=flotilla", "show", sha); !strings.Contains(note, `"description": "in sync"`) {
		t.Errorf("git notes show: %s", note)
	}
	if err := f.SetStatus(ctx, strings.Repeat("0", 40), forge.Status{Context: "x", State: forge.StateSuccess}); err == nil {
		t.Error("a status on a commit that does not exist was accepted")
	}
	// Another commit has no statuses.
	other := gittest.Commit(t, repo, "2026-01-02T00:00:00Z", "next")
	if s, err := f.Statuses(ctx, other); err != nil || len(s) != 0 {
		t.Errorf("statuses of another commit: %v %v", s, err)
	}
}
