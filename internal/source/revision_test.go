package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	git "github.com/go-git/go-git/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// revisionRepo makes a repository whose first commit ("v1") holds a.yaml
// only and whose second (HEAD, tagged v2) holds files, links, an
// executable, a file above the size limit and a submodule.
func revisionRepo(t *testing.T) (dir string, repo *git.Repository) {
	t.Helper()
	dir = gittest.Files(t, map[string]string{"a.yaml": "v1\n"})
	gittest.Git(t, dir, "init", "-q", "-b", "main")
	gittest.Commit(t, dir, "2026-01-01T00:00:00Z", "v1")
	gittest.Git(t, dir, "tag", "v1")
	files := map[string]string{
		"a.yaml":          "v2\n",
		"d/b.yaml":        "b\n",
		"d/e/c.yaml":      "c\n",
		"run.sh":          "#!/bin/sh\n",
		"shared/s.yaml":   "shared\n",
		"empty-dir/.keep": "",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"d/to-shared.yaml": "../shared/s.yaml",
		"d/shared":         "../shared",
		"d/via-dir.yaml":   "shared/s.yaml",
		"dangling":         "nope.yaml",
		"out":              "../outside.yaml",
		"abs":              "/etc/passwd",
		"loop":             "loop",
		"ping":             "pong",
		"pong":             "ping",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	big, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(fleet.MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()
	gittest.Git(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("1", 40)+",sub")
	gittest.Commit(t, dir, "2026-01-02T00:00:00Z", "v2")
	gittest.Git(t, dir, "tag", "v2")
	repo, err = git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, repo
}

func TestRevisionFS(t *testing.T) {
	t.Parallel()
	dir, repo := revisionRepo(t)
	rev, err := RevisionFS(repo, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if want := gittest.Git(t, dir, "rev-parse", "v2"); rev.Commit() != want {
		t.Errorf("Commit() = %s, want %s", rev.Commit(), want)
	}

	t.Run("reads", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			want string // content, or the error
			is   error  // errors.Is
			as   any    // errors.As
		}{
			{name: "a.yaml", want: "v2\n"},
			{name: "d/e/c.yaml", want: "c\n"},
			{name: "d/to-shared.yaml", want: "shared\n"},
			{name: "d/shared/s.yaml", want: "shared\n"},
			{name: "d/via-dir.yaml", want: "shared\n"}, // d/shared/s.yaml, through the link d/shared
			{name: "dangling", want: "read dangling: file does not exist", is: fs.ErrNotExist},
			{name: "missing.yaml", want: "read missing.yaml: file does not exist", is: fs.ErrNotExist},
			{name: "sub", want: "read sub: file does not exist", is: fs.ErrNotExist},
			{name: "../x", want: "read ../x: invalid argument", is: fs.ErrInvalid},
			{name: "d", want: "read d: is a directory"},
			{name: "out", want: "read out: symbolic link out points to ../outside.yaml, outside the tree (a link is followed only inside it: make it relative and keep it inside)", as: new(*fleet.SymlinkEscapeError)},
			{name: "abs", want: "read abs: symbolic link abs points to /etc/passwd, outside the tree (a link is followed only inside it: make it relative and keep it inside)", as: new(*fleet.SymlinkEscapeError)},
			{name: "loop", want: "read loop: symbolic link loop at loop (the link leads back to itself: fix or remove it)", as: new(*fleet.SymlinkLoopError)},
			{name: "ping", want: "read ping: symbolic link loop at ping (the link leads back to itself: fix or remove it)", as: new(*fleet.SymlinkLoopError)},
			{name: "big.bin", want: "read big.bin: limit exceeded: big.bin is larger than 16 MiB", is: fleet.ErrLimit},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				data, err := rev.ReadFile(tt.name)
				got := string(data)
				if err != nil {
					got = err.Error()
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ReadFile (-want +got):\n%s", diff)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("error %v is not %v", err, tt.is)
				}
				if tt.as != nil && !errors.As(err, tt.as) {
					t.Errorf("error %T is not %T", err, tt.as)
				}
				// Open reads what ReadFile reads, and fails alike.
				if od, oerr := fs.ReadFile(struct{ fs.FS }{rev}, tt.name); (oerr == nil) != (err == nil) || string(od) != string(data) {
					t.Errorf("Open+Read = %q, %v; ReadFile = %q, %v", od, oerr, data, err)
				}
			})
		}
	})

	t.Run("lists", func(t *testing.T) {
		t.Parallel()
		var got []string
		err := fs.WalkDir(rev, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			got = append(got, p+" "+d.Type().String())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{". d---------", "a.yaml ----------", "abs L---------", "big.bin ----------",
			"d d---------", "d/b.yaml ----------", "d/e d---------", "d/e/c.yaml ----------", "d/shared L---------",
			"d/to-shared.yaml L---------", "d/via-dir.yaml L---------", "dangling L---------", "empty-dir d---------", "empty-dir/.keep ----------",
			"loop L---------", "out L---------", "ping L---------", "pong L---------", "run.sh ----------",
			"shared d---------", "shared/s.yaml ----------"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("WalkDir (-want +got):\n%s", diff)
		}
		if st, err := rev.Stat("run.sh"); err != nil || st.Mode() != 0o555 || st.Size() != 10 {
			t.Errorf("Stat(run.sh) = %v, %v", st, err)
		}
		if st, err := rev.Stat("d/shared"); err != nil || !st.IsDir() || st.Name() != "shared" {
			t.Errorf("Stat(d/shared) follows the link: %v, %v", st, err)
		}
		if st, err := rev.Lstat("d/shared"); err != nil || st.Mode().Type() != fs.ModeSymlink {
			t.Errorf("Lstat(d/shared) = %v, %v", st, err)
		}
		if st, err := rev.Lstat("d/shared/s.yaml"); err != nil || st.Name() != "s.yaml" || st.Size() != 7 {
			t.Errorf("Lstat through a link = %v, %v", st, err)
		}
		if target, err := rev.ReadLink("d/to-shared.yaml"); err != nil || target != "../shared/s.yaml" {
			t.Errorf("ReadLink = %q, %v", target, err)
		}
		if entries, err := rev.ReadDir("d/shared"); err != nil || len(entries) != 1 || entries[0].Name() != "s.yaml" {
			t.Errorf("ReadDir(d/shared) = %v, %v", entries, err)
		}
	})

	t.Run("fstest", func(t *testing.T) {
		t.Parallel()
		sub, err := fs.Sub(rev, "d")
		if err != nil {
			t.Fatal(err)
		}
		// Trees of files, directories and links inside: fstest checks
		// that every way of reading agrees.
		if err := fstest.TestFS(sub, "b.yaml", "e/c.yaml"); err != nil {
			t.Error(err)
		}
		v1, err := RevisionFS(repo, "v1")
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(v1, "a.yaml"); err != nil {
			t.Error(err)
		}
	})

	t.Run("concurrent reads", func(t *testing.T) {
		t.Parallel()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				for _, name := range []string{"a.yaml", "d/b.yaml", "d/shared/s.yaml", "run.sh"} {
					if _, err := rev.ReadFile(name); err != nil {
						errs[i] = err
						return
					}
					if _, err := rev.Stat(name); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRevisionFSRevisions: each revision is its own tree; one that does
// not resolve is ErrNoRevision.
func TestRevisionFSRevisions(t *testing.T) {
	t.Parallel()
	dir, repo := revisionRepo(t)
	for rev, want := range map[string]string{"v1": "v1\n", "main~1": "v1\n", "HEAD": "v2\n", gittest.Git(t, dir, "rev-parse", "v1"): "v1\n"} {
		r, err := RevisionFS(repo, rev)
		if err != nil {
			t.Fatalf("%s: %v", rev, err)
		}
		if got, err := r.ReadFile("a.yaml"); err != nil || string(got) != want {
			t.Errorf("%s: a.yaml = %q, %v; want %q", rev, got, err, want)
		}
	}
	if r, _ := RevisionFS(repo, "v1"); r != nil {
		if _, err := r.Stat("d"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("v1 has no d: %v", err)
		}
	}
	if _, err := RevisionFS(repo, "no-such-branch"); !errors.Is(err, ErrNoRevision) {
		t.Errorf("unknown revision: %v, want ErrNoRevision", err)
	}
}

// TestLoadFSFromRevision: the example fleet loaded from a commit, without
// a checkout, is the fleet loaded from the disk.
func TestLoadFSFromRevision(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, filepath.Join("..", "..", "testdata", "fleet"))
	repo, err := git.PlainOpen(checkout)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := RevisionFS(repo, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	want, err := fleet.Load(checkout)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fleet.LoadFS(rev)
	if err != nil {
		t.Fatal(err)
	}
	got.Root = want.Root
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-Load +LoadFS of the revision):\n%s", diff)
	}
}

// TestRevisionCheckout: a checkout holds the folder's files whole (even
// those above the read limit: nothing is parsed), its directories and
// the links that resolve inside it, as links; nothing else.
func TestRevisionCheckout(t *testing.T) {
	t.Parallel()
	_, repo := revisionRepo(t)
	rev, err := RevisionFS(repo, "v2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir  string
		want []string // path, then what it is
	}{
		{".", []string{". dir", "a.yaml file 3", "big.bin file 16777217", "d dir", "d/b.yaml file 2", "d/e dir", "d/e/c.yaml file 2",
			"d/shared link ../shared", "d/to-shared.yaml link ../shared/s.yaml", "d/via-dir.yaml link shared/s.yaml",
			"empty-dir dir", "empty-dir/.keep file 0", "run.sh file 10", "shared dir", "shared/s.yaml file 7"}},
		{"d", []string{". dir", "b.yaml file 2", "e dir", "e/c.yaml file 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			dest := t.TempDir()
			if err := rev.Checkout(tt.dir, dest); err != nil {
				t.Fatal(err)
			}
			var got []string
			err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(dest, p)
				rel = filepath.ToSlash(rel)
				switch {
				case d.Type() == fs.ModeSymlink:
					target, err := os.Readlink(p)
					if err != nil {
						return err
					}
					got = append(got, rel+" link "+target)
				case d.IsDir():
					got = append(got, rel+" dir")
				default:
					st, err := os.Stat(p)
					if err != nil {
						return err
					}
					got = append(got, rel+" file "+strconv.FormatInt(st.Size(), 10))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("checkout (-want +got):\n%s", diff)
			}
		})
	}
}
