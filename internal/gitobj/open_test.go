package gitobj

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestOpenSeesOnlyWhatGitSees: objects in a receive-pack quarantine
// directory (a push in flight, one a killed receive-pack left, one a local
// clone copied) are no part of the repository to git. go-git's own
// storage reads them; a repository opened with Open does not, so a blob
// written there is really written, and a fetch asks for a commit it would
// otherwise take as stored. Bare, a checkout's root and a folder inside a
// checkout, with the quarantine names of Git 2.35 and later and before.
func TestOpenSeesOnlyWhatGitSees(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		quarantine string
		layout     func(t *testing.T) (open, gitDir string)
	}{
		{"bare", "tmp_objdir-incoming-x1", func(t *testing.T) (string, string) {
			d := gittest.Bare(t, filepath.Join(t.TempDir(), "r.git"))
			return d, d
		}},
		{"checkout", "tmp_objdir-incoming-x2", func(t *testing.T) (string, string) {
			d, _ := gittest.Fleet(t, gittest.Files(t, map[string]string{"f": "x\n"}))
			return d, filepath.Join(d, ".git")
		}},
		{"folder in a checkout", "incoming-x3", func(t *testing.T) (string, string) {
			d, _ := gittest.Fleet(t, gittest.Files(t, map[string]string{"sub/f": "x\n"}))
			return filepath.Join(d, "sub"), filepath.Join(d, ".git")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, gitDir := tc.layout(t)
			content := []byte("only in " + tc.quarantine + "\n")
			if err := os.MkdirAll(filepath.Join(gitDir, "objects", tc.quarantine), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("git", "hash-object", "-w", "--stdin")
			cmd.Dir = gitDir
			cmd.Stdin = strings.NewReader(string(content))
			cmd.Env = append(os.Environ(), "GIT_OBJECT_DIRECTORY="+filepath.Join(gitDir, "objects", tc.quarantine))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("git hash-object -w into %s: %v", tc.quarantine, err)
			}
			h := plumbing.NewHash(strings.TrimSpace(string(out)))
			if h != BlobHash(content) {
				t.Fatalf("git wrote %s, want %s", h, BlobHash(content))
			}

			// The precondition: go-git alone takes the object as stored.
			plain, err := git.PlainOpen(path)
			if errors.Is(err, git.ErrRepositoryNotExists) {
				plain, err = git.PlainOpenWithOptions(path, &git.PlainOpenOptions{DetectDotGit: true})
			}
			if err != nil {
				t.Fatal(err)
			}
			if plain.Storer.HasEncodedObject(h) != nil {
				t.Logf("go-git no longer reads %s: Open's HideQuarantine could go", tc.quarantine)
			}

			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Storer.HasEncodedObject(h); !errors.Is(err, plumbing.ErrObjectNotFound) {
				t.Errorf("HasEncodedObject of an object only in %s: %v, want not found", tc.quarantine, err)
			}
			if _, err := r.BlobObject(h); !errors.Is(err, plumbing.ErrObjectNotFound) {
				t.Errorf("BlobObject of an object only in %s: %v, want not found", tc.quarantine, err)
			}
			if _, err := Blob(r.Storer, content); err != nil {
				t.Fatal(err)
			}
			gittest.Git(t, gitDir, "cat-file", "-e", h.String()) // written where git sees it
			if _, err := r.BlobObject(h); err != nil {
				t.Errorf("the blob written: %v", err)
			}

			head, err := r.Head()
			if tc.name == "bare" {
				if _, werr := r.Worktree(); !errors.Is(werr, git.ErrIsBareRepository) {
					t.Errorf("a bare repository opened with a worktree: %v", werr)
				}
			} else if err != nil || head.Hash().String() != gittest.Git(t, gitDir, "rev-parse", "HEAD") {
				t.Errorf("HEAD %v (%v), want git's", head, err)
			} else if _, werr := r.Worktree(); werr != nil {
				t.Errorf("the checkout's worktree: %v", werr)
			}

			// Packs stored through it stay read-only, as git leaves them.
			p := NewPack(nil)
			p.AddBlob(BlobHash([]byte("packed\n")), []byte("packed\n"))
			enc, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Store(r.Storer, enc); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(filepath.Join(gitDir, "objects", "pack", "pack-"+enc.Checksum.String()+".pack"))
			if err != nil || st.Mode().Perm() != 0o444 {
				t.Errorf("stored pack: %v, mode %v; want read-only", err, st.Mode())
			}
		})
	}
}
