package gitobj

import (
	"fmt"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// BenchmarkUpdateRefs moves a full run's tracking refs (200 branches and
// the notes) into a new checkout, then all of them again (the next run),
// with UpdateRefs and with go-git's own reference storage (what
// FLOTILLA_GIT_SLOWPATH=refs uses): the refs piece's own cost, which make
// bench's full run measures only within its noise.
func BenchmarkUpdateRefs(b *testing.B) {
	for _, tc := range []struct {
		name   string
		update func(*git.Repository, []RefUpdate) error
	}{
		{"UpdateRefs", func(r *git.Repository, u []RefUpdate) error { return UpdateRefs(r.Storer, u) }},
		{"go-git", func(r *git.Repository, u []RefUpdate) error { return updateStorer(r.Storer, u) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := gittest.Files(b, map[string]string{"a": "a\n"})
			gittest.Git(b, dir, "init", "-q", "-b", "main")
			one := plumbing.NewHash(gittest.Commit(b, dir, "2026-01-01T00:00:00Z", "one"))
			two := plumbing.NewHash(gittest.Commit(b, dir, "2026-01-02T00:00:00Z", "two"))
			repo, err := git.PlainOpen(dir)
			if err != nil {
				b.Fatal(err)
			}
			updates := func(h plumbing.Hash) []RefUpdate {
				var u []RefUpdate
				for i := range 200 {
					u = append(u, RefUpdate{Name: plumbing.ReferenceName(fmt.Sprintf("%shydrated/cluster-%03d-next", track, i)), New: h})
				}
				return append(u, RefUpdate{Name: "refs/flotilla/remote-notes/hydrator.metadata", New: h})
			}
			first, second := updates(one), updates(two)
			b.ResetTimer()
			for i := range b.N {
				// Alternate the values so every call moves every ref.
				u := first
				if i%2 == 1 {
					u = second
				}
				if err := tc.update(repo, u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
