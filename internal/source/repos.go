// Package source maps repository URLs to file trees. The fleet checkout
// and plain folders are read as they are on disk, whatever revision is
// asked for, so that a pull request renders its own content; a mapped
// folder that is itself the root of another Git repository is read at the
// requested revision with go-git.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// Repos resolves repository URLs through a fleet's repos: mappings. It is
// safe for concurrent use and caches what it reads for its lifetime (one
// run).
type Repos struct {
	root    string
	mapping map[string]string // fleet.NormalizeRepoURL(url) -> absolute folder

	mu    sync.Mutex
	trees map[string]*tree // folder + "@" + revision
	temps []string         // checkouts to remove on Close
}

type tree struct {
	files []string
	read  func(name string) ([]byte, error)
	sha   string // the commit, for trees read through Git
	// rev is the commit's tree, for trees read through Git: checkouts
	// are written from it (symbolic links as links).
	rev *Revision

	once     sync.Once
	checkout string
	err      error
}

// New returns the resolver of a fleet.
func New(f *fleet.Fleet) (*Repos, error) {
	r := &Repos{root: f.Root, mapping: map[string]string{}, trees: map[string]*tree{}}
	for url, p := range f.Config.Repos {
		abs, err := fleet.ResolveRepoPath(f.Root, p)
		if err != nil {
			return nil, fmt.Errorf("repos[%q]: %w", redact.URL(url), err)
		}
		r.mapping[fleet.NormalizeRepoURL(url)] = abs
	}
	return r, nil
}

// Dir returns the folder a repository URL maps to.
func (r *Repos) Dir(repoURL string) (string, error) {
	dir, ok := r.mapping[fleet.NormalizeRepoURL(repoURL)]
	if !ok {
		return "", fmt.Errorf("repository %s is not mapped: add it to repos: in %s (for example %q: .)", redact.URL(repoURL), fleet.ConfigFile, redact.URL(repoURL))
	}
	return dir, nil
}

// IsGit reports whether a mapped folder is read through Git at a revision
// (it is the root of a Git repository other than the fleet checkout).
func (r *Repos) IsGit(dir string) bool {
	if dir == r.root {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, ".git"))
	return err == nil
}

// Files lists the repository's files at revision (sorted, slash-separated).
func (r *Repos) Files(ctx context.Context, repoURL, revision string) ([]string, error) {
	t, err := r.tree(ctx, repoURL, revision)
	if err != nil {
		return nil, err
	}
	return t.files, nil
}

// ReadFile reads one file of the repository at revision.
func (r *Repos) ReadFile(ctx context.Context, repoURL, revision, name string) ([]byte, error) {
	t, err := r.tree(ctx, repoURL, revision)
	if err != nil {
		return nil, err
	}
	i := sort.SearchStrings(t.files, name)
	if i == len(t.files) || t.files[i] != name {
		return nil, fmt.Errorf("%s: no file %s", redact.URL(repoURL), name)
	}
	return t.read(name)
}

func (r *Repos) tree(ctx context.Context, repoURL, revision string) (*tree, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := r.Dir(repoURL)
	if err != nil {
		return nil, err
	}
	isGit := r.IsGit(dir)
	key := dir
	if isGit {
		key += "@" + revision
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.trees[key]; ok {
		return t, nil
	}
	var t *tree
	if isGit {
		t, err = gitTree(dir, revision)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", redact.URL(repoURL), err)
		}
	} else {
		t, err = diskTree(dir)
		if err != nil {
			return nil, err
		}
	}
	r.trees[key] = t
	return t, nil
}

func diskTree(dir string) (*tree, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" && p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // symbolic links are not followed out of the tree
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	return &tree{files: files, read: func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(path.Clean(name))))
	}}, nil
}

// ResolveRevision resolves a revision (branch, tag, commit SHA or HEAD; ""
// means HEAD) in the Git repository at dir.
func ResolveRevision(dir, revision string) (*git.Repository, plumbing.Hash, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("open git repository %s: %w", dir, err)
	}
	if revision == "" {
		revision = "HEAD"
	}
	h, err := repo.ResolveRevision(plumbing.Revision(revision))
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("unable to resolve git revision %q to a commit: revision not found", revision)
	}
	return repo, *h, nil
}

func gitTree(dir, revision string) (*tree, error) {
	repo, h, err := ResolveRevision(dir, revision)
	if err != nil {
		return nil, err
	}
	commit, err := repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	tr, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", h, err)
	}
	blobs := map[string]*object.File{}
	var files []string
	err = tr.Files().ForEach(func(f *object.File) error {
		if f.Mode.IsFile() {
			files = append(files, f.Name)
			blobs[f.Name] = f
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	rev := &Revision{commit: h, objs: repo, root: &node{name: ".", mode: filemode.Dir, hash: tr.Hash}}
	return &tree{files: files, sha: h.String(), rev: rev, read: func(name string) ([]byte, error) {
		rev.mu.Lock() // go-git's object storage is not safe for concurrent reads
		defer rev.mu.Unlock()
		f, ok := blobs[name]
		if !ok {
			return nil, errors.New("no file " + name)
		}
		rd, err := f.Reader()
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		return io.ReadAll(rd)
	}}, nil
}

// Checkout returns a directory with the repository's content at revision
// and the commit it is: the mapped folder itself (and no commit) for
// on-disk repositories, else a temporary checkout made once per run and
// removed by Close.
func (r *Repos) Checkout(ctx context.Context, repoURL, revision string) (dir, sha string, err error) {
	d, err := r.Dir(repoURL)
	if err != nil {
		return "", "", err
	}
	if !r.IsGit(d) {
		return d, "", nil
	}
	t, err := r.tree(ctx, repoURL, revision)
	if err != nil {
		return "", "", err
	}
	t.once.Do(func() {
		t.checkout, t.err = os.MkdirTemp("", "flotilla-checkout-")
		if t.err != nil {
			return
		}
		r.mu.Lock()
		r.temps = append(r.temps, t.checkout)
		r.mu.Unlock()
		t.err = t.rev.Checkout(".", t.checkout) // symbolic links as links
	})
	return t.checkout, t.sha, t.err
}

// Root is the fleet checkout's directory.
func (r *Repos) Root() string { return r.root }

// Close removes temporary checkouts.
func (r *Repos) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, d := range r.temps {
		errs = append(errs, os.RemoveAll(d))
	}
	r.temps = nil
	return errors.Join(errs...)
}
