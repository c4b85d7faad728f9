package gitobj

import (
	"os/exec"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestFilesMatchesGit writes a tree with nested directories and names
// whose order differs between files and directories ("a.b" < "a/" but
// "a" as a directory sorts after "a.b"), and checks git itself computes
// the same tree from the same files.
func TestFilesMatchesGit(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	gittest.Fsck(t, dir)
	files := map[string]string{"a.b": "1\n", "a/x": "2\n", "a/y/z": "3\n", "README.md": "4\n", "a-c": "5\n"}
	hashes := map[string]plumbing.Hash{}
	for p, c := range files {
		if hashes[p], err = Blob(repo.Storer, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Files(repo.Storer, hashes)
	if err != nil {
		t.Fatal(err)
	}
	// The same tree through git's own index.
	var in strings.Builder
	for p := range files {
		in.WriteString("100644 " + hashes[p].String() + "\t" + p + "\n")
	}
	env := []string{"GIT_DIR=" + dir, "GIT_INDEX_FILE=" + dir + "/tmp-index"}
	cmd := exec.Command("git", "update-index", "--add", "--index-info")
	cmd.Env, cmd.Stdin = append(cmd.Environ(), env...), strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git update-index: %v\n%s", err, out)
	}
	cmd = exec.Command("git", "write-tree")
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); got.String() != want {
		t.Errorf("tree %s, git writes %s", got, want)
	}
	// A second write of the same blob is found, not written again.
	if h, err := Blob(repo.Storer, []byte("1\n")); err != nil || h != hashes["a.b"] {
		t.Errorf("Blob again: %s, %v", h, err)
	}
}

func TestBlobHashIsGits(t *testing.T) {
	for _, c := range []string{"", "x", "kind: ConfigMap\n", strings.Repeat("long ", 10_000)} {
		if got, want := BlobHash([]byte(c)), plumbing.ComputeHash(plumbing.BlobObject, []byte(c)); got != want {
			t.Errorf("BlobHash(%.20q) = %s, want %s", c, got, want)
		}
	}
}
