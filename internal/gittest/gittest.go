// Package gittest makes real Git repositories for tests with the git
// command: fleets with deterministic commits, bare remotes, and the file
// trees they start from.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Git runs git in dir with a fixed identity and date, failing the test on
// error, and returns its trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Fleet Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Fleet Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Fleet copies src into a new repository with one commit ("fleet") and a
// bare origin it was pushed to. It returns the checkout and the origin,
// both checked with Fsck when the test ends.
func Fleet(t testing.TB, src string) (checkout, origin string) {
	t.Helper()
	base := t.TempDir()
	checkout, origin = filepath.Join(base, "fleet"), filepath.Join(base, "origin.git")
	if err := os.CopyFS(checkout, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	Bare(t, origin)
	Git(t, checkout, "init", "-q", "-b", "main")
	Fsck(t, checkout)
	Git(t, checkout, "add", "-A")
	Git(t, checkout, "commit", "-q", "--allow-empty", "-m", "fleet")
	Git(t, checkout, "remote", "add", "origin", origin)
	Git(t, checkout, "push", "-q", "origin", "main")
	return checkout, origin
}

// Bare makes a new bare repository at dir (its default branch main), or,
// given a source, a bare clone of it there; either is checked with Fsck
// when the test ends. It returns dir.
func Bare(t testing.TB, dir string, source ...string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	switch len(source) {
	case 0:
		Git(t, filepath.Dir(dir), "init", "-q", "--bare", "-b", "main", dir)
	case 1:
		Git(t, filepath.Dir(dir), "clone", "-q", "--bare", source[0], dir)
	default:
		t.Fatalf("gittest.Bare: one source at most, got %q", source)
	}
	Fsck(t, dir)
	return dir
}

// Clone runs git clone -q with args (options, then the source) into dir
// and checks the clone with Fsck when the test ends. It returns dir.
func Clone(t testing.TB, dir string, args ...string) string {
	t.Helper()
	Git(t, filepath.Dir(dir), append(append([]string{"clone", "-q"}, args...), dir)...)
	Fsck(t, dir)
	return dir
}

// Fsck checks the repository at dir with real git when the test ends —
// git fsck --strict: every object well-formed as git writes it (strict:
// no zero-padded modes, trees sorted, no duplicate entries, well-formed
// signatures), every ref and reflog pointing at an object, everything
// they reach present — so every test whose code writes objects or refs
// into a repository has them checked by git, not only by go-git. An
// error or a warning fails the test with git's output. Dangling objects (a lost
// race's pack, an orphaned commit) are not findings, nor are notices
// (an unborn HEAD), nor is a
// repository the test removed.
func Fsck(t testing.TB, dir string) {
	t.Helper()
	key := fsckKey{t, filepath.Clean(dir)}
	if _, dup := fscked.LoadOrStore(key, true); dup {
		return // checked already, when the first registration's turn comes
	}
	t.Cleanup(func() {
		defer fscked.Delete(key)
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return // the test removed it (a remote that went away)
		}
		if out, err := fsck(dir); err != nil {
			t.Errorf("git fsck --strict %s: %v\n%s", dir, err, out)
		} else if findings(out) {
			t.Errorf("git fsck --strict %s warns:\n%s", dir, out)
		}
	})
}

// findings reports whether fsck's output says more than notices: git
// fsck exits 0 on a warning — a tree mode such as 100664, which git
// itself never writes — and a warning about an object we wrote is a
// finding too.
func findings(out []byte) bool {
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, "notice: ") {
			return true
		}
	}
	return false
}

// fscked holds the repositories whose check a test registered.
var fscked sync.Map // fsckKey → true

type fsckKey struct {
	t   testing.TB
	dir string
}

// fsck runs git fsck --strict in dir.
func fsck(dir string) ([]byte, error) {
	cmd := exec.Command("git", "fsck", "--strict", "--no-dangling", "--no-progress")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	return cmd.CombinedOutput()
}

// Commit stages everything in dir and commits it at date.
func Commit(t testing.TB, dir, date, message string) string {
	t.Helper()
	Git(t, dir, "add", "-A")
	cmd := exec.Command("git", "commit", "-q", "--allow-empty", "-m", message)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Fleet Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Fleet Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	return Git(t, dir, "rev-parse", "HEAD")
}

// Refs lists a repository's refs under prefix as "name sha" lines.
func Refs(t testing.TB, repo, prefix string) string {
	t.Helper()
	return Git(t, repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
}

// Show returns the content of rev:path.
func Show(t testing.TB, repo, rev, path string) string {
	t.Helper()
	return Git(t, repo, "show", rev+":"+path)
}

// Files writes files (slash-separated path -> content) under a new
// temporary directory and returns it.
func Files(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
