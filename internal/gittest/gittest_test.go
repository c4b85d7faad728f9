package gittest

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Cleanup and Errorf are recorded, so a
// test can run Fsck's check and see whether it reported.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// finish runs the recorded cleanups as the testing package does, last
// first.
func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// hashObject writes content as a loose object of type typ without git's
// checks and returns its name.
func hashObject(t *testing.T, repo, typ, content string) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "--literally", "-w", "-t", typ, "--stdin")
	cmd.Dir = repo
	cmd.Stdin = strings.NewReader(content)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git hash-object: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestFsckFindsCorruptObjects: the check Fleet and Bare register passes
// on a repository git wrote, and fails — naming the repository and
// quoting git — for each way an object or ref can be wrong that a
// hand-written Git writer could get wrong, so it cannot pass silently.
func TestFsckFindsCorruptObjects(t *testing.T) {
	blob := "100644 a\x00" // a tree entry's head, its hash appended
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, repo string) // nil: leave as git wrote it
		want    string                          // in git's output; "main:a" is that object's name
	}{
		{name: "as git wrote it"},
		{"commit without author", func(t *testing.T, repo string) {
			tree := Git(t, repo, "rev-parse", "main^{tree}")
			c := hashObject(t, repo, "commit", "tree "+tree+"\ncommitter A <a@example.com> 1700000000 +0000\n\nno author\n")
			Git(t, repo, "update-ref", "refs/heads/broken", c)
		}, "missingAuthor"},
		{"tree entries out of order", func(t *testing.T, repo string) {
			h := Git(t, repo, "rev-parse", "main:a")
			bin := hexBytes(t, h)
			tree := hashObject(t, repo, "tree", "100644 b\x00"+bin+blob+bin)
			sig := "A <a@example.com> 1700000000 +0000"
			c := hashObject(t, repo, "commit", "tree "+tree+"\nauthor "+sig+"\ncommitter "+sig+"\n\nunsorted\n")
			Git(t, repo, "update-ref", "refs/heads/broken", c)
		}, "treeNotSorted"},
		{"zero-padded file mode", func(t *testing.T, repo string) {
			h := Git(t, repo, "rev-parse", "main:a")
			tree := hashObject(t, repo, "tree", "0100644 a\x00"+hexBytes(t, h))
			sig := "A <a@example.com> 1700000000 +0000"
			c := hashObject(t, repo, "commit", "tree "+tree+"\nauthor "+sig+"\ncommitter "+sig+"\n\npadded\n")
			Git(t, repo, "update-ref", "refs/heads/broken", c)
		}, "zeroPaddedFilemode"},
		{"a file mode git only warns about", func(t *testing.T, repo string) {
			h := Git(t, repo, "rev-parse", "main:a")
			tree := hashObject(t, repo, "tree", "100664 a\x00"+hexBytes(t, h))
			sig := "A <a@example.com> 1700000000 +0000"
			c := hashObject(t, repo, "commit", "tree "+tree+"\nauthor "+sig+"\ncommitter "+sig+"\n\ngroup-writable\n")
			Git(t, repo, "update-ref", "refs/heads/broken", c)
		}, "badFilemode"},
		{"ref to a missing object", func(t *testing.T, repo string) {
			if err := os.WriteFile(filepath.Join(repo, "refs/heads/gone"), []byte(strings.Repeat("ab", 20)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "invalid sha1 pointer"},
		{"a loose object's bytes damaged", func(t *testing.T, repo string) {
			h := Git(t, repo, "rev-parse", "main:a")
			p := filepath.Join(repo, "objects", h[:2], h[2:])
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("not zlib"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "main:a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := filepath.Join(t.TempDir(), "repo.git")
			rec := &recorder{TB: t}
			Bare(rec, repo)
			work := Files(t, map[string]string{"a": "a\n"})
			Git(t, work, "init", "-q", "-b", "main")
			Commit(t, work, "2026-01-01T00:00:00Z", "one")
			Git(t, work, "push", "-q", repo, "main")
			if tc.corrupt != nil {
				tc.corrupt(t, repo)
			}
			rec.finish()
			switch {
			case tc.corrupt == nil && len(rec.errs) > 0:
				t.Fatalf("fsck reported a repository git wrote:\n%s", strings.Join(rec.errs, "\n"))
			case tc.corrupt != nil && len(rec.errs) == 0:
				t.Fatal("fsck passed a corrupt repository")
			case tc.corrupt != nil:
				got := strings.Join(rec.errs, "\n")
				want := tc.want
				if strings.HasPrefix(want, "main:") {
					want = Git(t, repo, "rev-parse", want)
				}
				if !strings.Contains(got, repo) || !strings.Contains(got, want) {
					t.Fatalf("fsck's report does not name the repository and %q:\n%s", want, got)
				}
			}
		})
	}
}

// hexBytes is the binary form of an object name, as trees hold it.
func hexBytes(t *testing.T, name string) string {
	t.Helper()
	b, err := hex.DecodeString(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFsckOncePerRepository: a repository registered twice by one test
// (Fleet's origin, then the fake GitHub serving it) is checked once, at
// the first registration's turn; after it ran, it can be registered again.
func TestFsckOncePerRepository(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo.git")
	rec := &recorder{TB: t}
	Bare(rec, repo)
	Fsck(rec, repo+"/")
	Fsck(rec, repo)
	if len(rec.cleanups) != 1 {
		t.Fatalf("%d checks registered, want 1", len(rec.cleanups))
	}
	rec.finish()
	Fsck(rec, repo)
	if len(rec.cleanups) != 2 {
		t.Fatalf("after the check ran, registering again made %d checks in all, want 2", len(rec.cleanups))
	}
}
