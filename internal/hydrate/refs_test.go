package hydrate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestSetRefs moves refs through packed-refs and checks the result with
// git itself: other entries (an annotated tag and its peeled line, a
// remote branch) stay as they were, a loose file that would shadow a new
// value goes, a zero hash deletes; a locked packed-refs falls back to
// loose files with the same result.
func TestSetRefs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		before func(t *testing.T, dir string)
		loose  bool // the refs end up as loose files
	}{
		{name: "packed"},
		{name: "locked", loose: true, before: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ".git/packed-refs.lock"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := gittest.Files(t, map[string]string{"a": "a\n"})
			gittest.Git(t, dir, "init", "-q", "-b", "main")
			one := gittest.Commit(t, dir, "2026-01-01T00:00:00Z", "one")
			gittest.Git(t, dir, "tag", "-a", "-m", "v1", "v1")
			gittest.Git(t, dir, "update-ref", "refs/remotes/origin/main", one)
			gittest.Git(t, dir, "update-ref", trackingPrefix+"hydrated/gone-next", one)
			gittest.Git(t, dir, "pack-refs", "--all")
			if err := os.WriteFile(filepath.Join(dir, "a"), []byte("b\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			two := gittest.Commit(t, dir, "2026-01-02T00:00:00Z", "two")
			// A loose file that shadows the packed value.
			gittest.Git(t, dir, "update-ref", trackingPrefix+"hydrated/a-next", one)
			if c.before != nil {
				c.before(t, dir)
			}
			keep := gittest.Git(t, dir, "show-ref", "-d", "v1", "refs/remotes/origin/main")

			repo, err := git.PlainOpen(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = setRefs(repo.Storer, map[plumbing.ReferenceName]plumbing.Hash{
				trackingPrefix + "hydrated/a-next":    plumbing.NewHash(two),
				trackingPrefix + "hydrated/b-next":    plumbing.NewHash(one),
				trackingPrefix + "hydrated/gone-next": plumbing.ZeroHash,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := gittest.Refs(t, dir, trackingPrefix), trackingPrefix+"hydrated/a-next "+two+"\n"+trackingPrefix+"hydrated/b-next "+one; got != want {
				t.Errorf("tracking refs:\n%s\nwant:\n%s", got, want)
			}
			if got := gittest.Git(t, dir, "show-ref", "-d", "v1", "refs/remotes/origin/main"); got != keep {
				t.Errorf("other refs:\n%s\nwant as before:\n%s", got, keep)
			}
			_, err = os.Stat(filepath.Join(dir, ".git", trackingPrefix+"hydrated/b-next"))
			if loose := err == nil; loose != c.loose {
				t.Errorf("b-next is a loose file: %v, want %v", loose, c.loose)
			}
			if !c.loose {
				packed, err := os.ReadFile(filepath.Join(dir, ".git/packed-refs"))
				if err != nil || !strings.HasPrefix(string(packed), packedHeader) {
					t.Errorf("packed-refs:\n%s (%v)", packed, err)
				}
			}
			gittest.Git(t, dir, "fsck", "--strict", "--no-dangling")
		})
	}
}

// TestReadPackedRefsRefusesWhatItDoesNotKnow: a line that is neither a
// ref nor a peeled value stops the rewrite (setRefs then sets loose refs).
func TestReadPackedRefsRefusesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, content := range []string{
		"not a ref line\n",
		packedHeader + "0123 refs/heads/short-hash\n",
		packedHeader + strings.Repeat("a", 40) + " HEAD\n",
		packedHeader + strings.Repeat("a", 40) + " refs/heads/../escape\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, "packed-refs"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readPackedRefs(osfs.New(dir)); !errors.Is(err, errPackedRefs) {
			t.Errorf("readPackedRefs(%q) = %v, want errPackedRefs", content, err)
		}
	}
}
