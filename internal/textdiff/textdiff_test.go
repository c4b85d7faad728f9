package textdiff

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUnifiedDiffMatchesGit compares with `git diff --no-index` hunks.
func TestUnifiedDiffMatchesGit(t *testing.T) {
	t.Parallel()
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n"
	b := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nL\nm\nn\n"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte(a), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte(b), 0o644)
	out, _ := exec.Command("git", "diff", "--no-index", "--no-color", filepath.Join(dir, "a"), filepath.Join(dir, "b")).Output()
	_, gitHunks, _ := strings.Cut(string(out), "\n@@")
	// git appends "function context" to hunk headers; the ranges are what count.
	lines := strings.Split(gitHunks, "\n")
	for i, l := range lines {
		if j := strings.Index(l, " @@ "); j >= 0 {
			lines[i] = l[:j+3]
		}
	}
	gitHunks = strings.Join(lines, "\n")
	_, ours, _ := strings.Cut(Unified("a", "b", a, b), "\n@@")
	if diff := cmp.Diff("@@"+gitHunks, "@@"+ours); diff != "" {
		t.Errorf("hunks differ from git's (-git +ours):\n%s", diff)
	}
}
