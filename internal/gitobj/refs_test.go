package gitobj

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

const track = "refs/flotilla/remote/"

// repoWithRefs makes a repository with two commits, an annotated tag, a
// remote branch and a tracking ref packed, and a loose tracking ref that
// shadows nothing packed, checked with git fsck when the test ends. It
// returns the directory and the two commits.
func repoWithRefs(t *testing.T) (dir, one, two string) {
	t.Helper()
	dir = gittest.Files(t, map[string]string{"a": "a\n"})
	gittest.Git(t, dir, "init", "-q", "-b", "main")
	gittest.Fsck(t, dir)
	one = gittest.Commit(t, dir, "2026-01-01T00:00:00Z", "one")
	gittest.Git(t, dir, "tag", "-a", "-m", "v1", "v1")
	gittest.Git(t, dir, "update-ref", "refs/remotes/origin/main", one)
	gittest.Git(t, dir, "update-ref", track+"hydrated/gone-next", one)
	gittest.Git(t, dir, "pack-refs", "--all")
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	two = gittest.Commit(t, dir, "2026-01-02T00:00:00Z", "two")
	gittest.Git(t, dir, "update-ref", track+"hydrated/a-next", one) // loose
	return dir, one, two
}

func open(t *testing.T, dir string) *git.Repository {
	t.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestUpdateRefs moves refs through packed-refs and checks the result with
// git itself: other entries (an annotated tag and its peeled line, a
// remote branch) stay as they were, a loose file that would shadow a new
// value goes, a zero hash deletes, and no lock file stays behind.
func TestUpdateRefs(t *testing.T) {
	t.Parallel()
	dir, one, two := repoWithRefs(t)
	keep := gittest.Git(t, dir, "show-ref", "-d", "v1", "refs/remotes/origin/main")
	err := UpdateRefs(open(t, dir).Storer, []RefUpdate{
		{Name: track + "hydrated/a-next", New: plumbing.NewHash(two)},
		{Name: track + "hydrated/b-next", New: plumbing.NewHash(one)},
		{Name: track + "hydrated/gone-next"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := gittest.Refs(t, dir, track), track+"hydrated/a-next "+two+"\n"+track+"hydrated/b-next "+one; got != want {
		t.Errorf("tracking refs:\n%s\nwant:\n%s", got, want)
	}
	if got := gittest.Git(t, dir, "show-ref", "-d", "v1", "refs/remotes/origin/main"); got != keep {
		t.Errorf("other refs:\n%s\nwant as before:\n%s", got, keep)
	}
	for _, f := range []string{track + "hydrated/a-next", track + "hydrated/a-next.lock", "packed-refs.lock"} {
		if _, err := os.Stat(filepath.Join(dir, ".git", f)); err == nil {
			t.Errorf("%s is left", f)
		}
	}
	packed, err := os.ReadFile(filepath.Join(dir, ".git/packed-refs"))
	if err != nil || !strings.HasPrefix(string(packed), packedHeader) {
		t.Errorf("packed-refs:\n%s (%v)", packed, err)
	}
	gittest.Git(t, dir, "fsck", "--strict", "--no-dangling")
	gittest.Git(t, dir, "gc", "-q")
}

// TestUpdateRefsCheck: a compare-and-set that finds another value (loose
// or packed) or a ref that exists where none should, moves no ref at all.
func TestUpdateRefsCheck(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		old  func(one, two string) RefUpdate
	}{
		{"loose", func(one, two string) RefUpdate {
			return RefUpdate{Name: track + "hydrated/a-next", New: plumbing.NewHash(two), Old: plumbing.NewHash(two), Check: true}
		}},
		{"packed", func(one, two string) RefUpdate {
			return RefUpdate{Name: "refs/remotes/origin/main", New: plumbing.NewHash(two), Old: plumbing.NewHash(two), Check: true}
		}},
		{"exists", func(one, two string) RefUpdate {
			return RefUpdate{Name: "refs/remotes/origin/main", New: plumbing.NewHash(two), Check: true}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, one, two := repoWithRefs(t)
			before := gittest.Refs(t, dir, "refs/")
			err := UpdateRefs(open(t, dir).Storer, []RefUpdate{
				{Name: "refs/heads/new", New: plumbing.NewHash(two), Check: true},
				c.old(one, two),
			})
			if !errors.Is(err, ErrRefMoved) {
				t.Fatalf("err = %v, want ErrRefMoved", err)
			}
			if after := gittest.Refs(t, dir, "refs/"); after != before {
				t.Errorf("refs after a refused update:\n%s\nwant:\n%s", after, before)
			}
			gittest.Git(t, dir, "fsck", "--strict", "--no-dangling")
		})
	}
}

// TestUpdateRefsAfterAKill simulates a process killed at each step of a
// ref update — its lock files left, or a loose ref file left empty by a
// writer that truncates before writing (go-git, older Flotilla) — and
// checks what the next update does: a lock is reported with its path and
// what to do, never broken and never worked around; an empty ref file is
// replaced when the update does not need its value and reported when it
// does. git fsck passes at the end of each.
func TestUpdateRefsAfterAKill(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		leave  string // file left under .git
		check  bool   // the update is a compare-and-set
		locked bool   // want a LockedError for the left file
		broken bool   // want a BrokenRefError
	}{
		{name: "packed-refs.lock", leave: "packed-refs.lock", locked: true},
		{name: "loose lock", leave: track + "hydrated/a-next.lock", locked: true},
		{name: "empty ref", leave: track + "hydrated/a-next"},
		{name: "empty ref, compare-and-set", leave: track + "hydrated/a-next", check: true, broken: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, one, two := repoWithRefs(t)
			left := filepath.Join(dir, ".git", filepath.FromSlash(c.leave))
			if err := os.WriteFile(left, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			s := open(t, dir).Storer
			u := RefUpdate{Name: track + "hydrated/a-next", New: plumbing.NewHash(two), Old: plumbing.NewHash(one), Check: c.check}
			err := UpdateRefs(s, []RefUpdate{u, {Name: track + "hydrated/b-next", New: plumbing.NewHash(two)}})
			var le *LockedError
			var be *BrokenRefError
			switch {
			case c.locked:
				if !errors.As(err, &le) || le.Path != left || !strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), "rm "+left) {
					t.Fatalf("err = %v, want the lock %s named, why and what to do", err, left)
				}
				if _, serr := os.Stat(left); serr != nil {
					t.Errorf("the lock was removed: %v", serr)
				}
				if got := gittest.Git(t, dir, "rev-parse", track+"hydrated/a-next"); got != one {
					t.Errorf("a-next moved to %s under a held lock", got)
				}
				// What the message says to do, then the same update.
				if err := os.Remove(left); err != nil {
					t.Fatal(err)
				}
			case c.broken:
				if !errors.As(err, &be) || be.Path != left || !strings.Contains(err.Error(), "rm "+left) {
					t.Fatalf("err = %v, want the broken file %s named and what to do", err, left)
				}
				if _, _, err := ReadRefs(s, track); err != nil {
					t.Errorf("ReadRefs with a broken ref: %v", err)
				}
				if _, err := ReadRef(s, u.Name); !errors.As(err, &be) {
					t.Errorf("ReadRef of a broken ref: %v, want a BrokenRefError", err)
				}
				if err := os.Remove(left); err != nil {
					t.Fatal(err)
				}
				u.Old = plumbing.ZeroHash
			case err != nil:
				t.Fatal(err)
			}
			if c.locked || c.broken {
				if err := UpdateRefs(s, []RefUpdate{u, {Name: track + "hydrated/b-next", New: plumbing.NewHash(two)}}); err != nil {
					t.Fatalf("after following the message: %v", err)
				}
			}
			if got, want := gittest.Refs(t, dir, track), track+"hydrated/a-next "+two+"\n"+track+"hydrated/b-next "+two+"\n"+track+"hydrated/gone-next "+one; got != want {
				t.Errorf("tracking refs:\n%s\nwant:\n%s", got, want)
			}
			refs, broken, err := ReadRefs(s, track)
			if err != nil || len(broken) != 0 || len(refs) != 3 {
				t.Errorf("ReadRefs = %v, %v, %v", refs, broken, err)
			}
			gittest.Git(t, dir, "fsck", "--strict", "--no-dangling")
		})
	}
}

// TestUpdateRefsKilledBetweenSteps stops UpdateRefs, as a kill would,
// after each step that changes files: two refs with loose files (one
// shadowing an older packed value) and one packed only, moved together.
// At every stop each ref reads its old value or every ref its new one
// (never a mix, never the older packed value), for this code and for
// git, and the next update, once the left locks are removed, completes.
func TestUpdateRefsKilledBetweenSteps(t *testing.T) {
	// Not parallel: it sets the package's test hook (the parallel tests
	// run after it, and the hook only stops in this test's repositories).
	a, b, c := plumbing.ReferenceName(track+"hydrated/a-next"), plumbing.ReferenceName(track+"hydrated/b-next"), plumbing.ReferenceName(track+"hydrated/gone-next")
	steps := []string{"folded", "removed " + a.String(), "removed " + b.String(), "moved"}
	dirs := map[string]string{} // repository → the step to stop at
	updateRefsHook = func(dir, step string) bool {
		return dirs[dir] == step
	}
	defer func() { updateRefsHook = nil }()
	for _, step := range steps {
		dir, one, two := repoWithRefs(t)
		if err := os.WriteFile(filepath.Join(dir, "a"), []byte("c\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		three := gittest.Commit(t, dir, "2026-01-03T00:00:00Z", "three")
		// a-next and b-next: loose two over one packed (git update-ref
		// after pack-refs); gone-next: packed.
		gittest.Git(t, dir, "update-ref", b.String(), one)
		gittest.Git(t, dir, "pack-refs", "--all")
		gittest.Git(t, dir, "update-ref", a.String(), two)
		gittest.Git(t, dir, "update-ref", b.String(), two)
		s := open(t, dir).Storer
		gitDir := filepath.Join(dir, ".git")
		dirs[gitDir] = step
		old := map[plumbing.ReferenceName]string{a: two, b: two, c: one}
		updates := []RefUpdate{{Name: a, New: plumbing.NewHash(three)}, {Name: b, New: plumbing.NewHash(three), Old: plumbing.NewHash(two), Check: true}, {Name: c}}
		want := map[plumbing.ReferenceName]string{a: three, b: three, c: ""}
		if err := UpdateRefs(s, updates); !errors.Is(err, errKilled) {
			t.Fatalf("%s: UpdateRefs = %v, want it stopped", step, err)
		}
		read := func() map[plumbing.ReferenceName]string {
			got := map[plumbing.ReferenceName]string{}
			for name := range old {
				h, err := ReadRef(s, name)
				if err != nil {
					t.Fatalf("%s: read %s: %v", step, name, err)
				}
				if !h.IsZero() {
					got[name] = h.String()
				}
				if g := gittest.Git(t, dir, "for-each-ref", "--format=%(objectname)", name.String()); g != got[name] {
					t.Errorf("%s: git reads %s at %q, this code at %q", step, name, g, got[name])
				}
			}
			return got
		}
		got := read()
		if step == "moved" {
			old = map[plumbing.ReferenceName]string{a: three, b: three}
		}
		if !maps.Equal(got, old) {
			t.Errorf("killed after %q: refs %v, want all old or all new %v", step, got, old)
		}
		// What LockedError says to do, then the update again.
		dirs[gitDir] = ""
		locks, _ := filepath.Glob(filepath.Join(gitDir, track, "hydrated", "*.lock"))
		locks = append(locks, filepath.Join(gitDir, "packed-refs.lock"))
		for _, l := range locks {
			_ = os.Remove(l)
		}
		if step != "moved" {
			if err := UpdateRefs(s, updates); err != nil {
				t.Fatalf("%s: the update again: %v", step, err)
			}
		}
		delete(want, c)
		if got := read(); !maps.Equal(got, want) {
			t.Errorf("%s: after the update again: %v, want %v", step, got, want)
		}
		gittest.Git(t, dir, "fsck", "--strict", "--no-dangling")
	}
}

// TestReadRefsSkipsLocksAndReportsBrokenFiles: go-git's own listing reads
// a lock file as a ref and fails on an empty one; ReadRefs skips the
// first and returns the second apart.
func TestReadRefsSkipsLocksAndReportsBrokenFiles(t *testing.T) {
	t.Parallel()
	dir, one, _ := repoWithRefs(t)
	for f, content := range map[string]string{
		track + "hydrated/x-next.lock": one + "\n",
		track + "hydrated/y-next":      "",
	} {
		if err := os.WriteFile(filepath.Join(dir, ".git", f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The broken file is this test's input, not something ReadRefs
	// wrote: it goes before git fsck checks the repository.
	t.Cleanup(func() { _ = os.Remove(filepath.Join(dir, ".git", track+"hydrated/y-next")) })
	refs, broken, err := ReadRefs(open(t, dir).Storer, track+"hydrated/")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[track+"hydrated/a-next"].String() != one || refs[track+"hydrated/gone-next"].String() != one {
		t.Errorf("refs = %v", refs)
	}
	if len(broken) != 1 || broken[0].Name != track+"hydrated/y-next" {
		t.Errorf("broken = %v", broken)
	}
}

// TestReadRefsSkipsSymbolicRefs: every git clone makes
// refs/remotes/origin/HEAD, a symbolic ref; listing refs/ must skip it
// (the ref it names is listed itself), not fail.
func TestReadRefsSkipsSymbolicRefs(t *testing.T) {
	t.Parallel()
	dir, one, _ := repoWithRefs(t)
	gittest.Git(t, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	refs, broken, err := ReadRefs(open(t, dir).Storer, "refs/")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := refs["refs/remotes/origin/HEAD"]; ok || refs["refs/remotes/origin/main"].String() != one || len(broken) != 0 {
		t.Errorf("refs = %v, broken = %v", refs, broken)
	}
}

// TestReadPackedRefsRefusesWhatItDoesNotKnow: a line that is neither a
// ref nor a peeled value stops the rewrite.
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
		if _, _, err := readPackedRefs(dir); !errors.Is(err, ErrPackedRefs) {
			t.Errorf("readPackedRefs(%q) = %v, want ErrPackedRefs", content, err)
		}
	}
}

// FuzzReadPackedRefs: whatever packed-refs holds, readPackedRefs either
// refuses it with ErrPackedRefs (or an I/O error) or reads entries that,
// written back as UpdateRefs writes them, read again the same.
func FuzzReadPackedRefs(f *testing.F) {
	one, two := strings.Repeat("a", 40), strings.Repeat("b", 40)
	for _, seed := range []string{
		"",
		packedHeader + one + " refs/heads/main\n",
		packedHeader + one + " refs/tags/v1\n^" + two + "\n" + two + " refs/remotes/origin/main\n",
		one + " refs/heads/no-header",
		"# pack-refs with: peeled \n" + one + " refs/heads/x\n^" + two + "\n^" + one + "\n",
		"not a ref line\n",
		packedHeader + one + " refs/heads/../escape\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "packed-refs")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		header, entries, err := readPackedRefs(dir)
		if err != nil {
			if !errors.Is(err, ErrPackedRefs) {
				t.Fatalf("error %v is not ErrPackedRefs", err)
			}
			return
		}
		var b strings.Builder
		b.WriteString(header)
		names := make([]string, 0, len(entries))
		for name, e := range entries {
			if !strings.HasPrefix(e.lines, e.hash.String()+" "+name.String()+"\n") {
				t.Fatalf("entry %s: lines %q do not start with its hash and name", name, e.lines)
			}
			names = append(names, name.String())
		}
		slices.Sort(names)
		for _, n := range names {
			b.WriteString(entries[plumbing.ReferenceName(n)].lines)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		header2, entries2, err := readPackedRefs(dir)
		if err != nil || header2 != header || len(entries2) != len(entries) {
			t.Fatalf("written back:\n%s\nread again: %q, %d entries, %v; want %q, %d", b.String(), header2, len(entries2), err, header, len(entries))
		}
		for name, e := range entries {
			if entries2[name] != e {
				t.Fatalf("entry %s: %+v, then %+v", name, e, entries2[name])
			}
		}
	})
}
