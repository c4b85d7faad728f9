package gitobj

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Open opens the repository at path — a bare repository or a checkout's
// root as itself, else the checkout the folder path is in — with object
// storage that holds exactly the objects git sees in it.
//
// go-git's own (git.PlainOpen) also reads the objects of any receive-pack
// quarantine directory, objects/tmp_objdir-incoming-* (incoming-* before
// Git 2.35), a convenience for pre-receive hooks. To git that directory is
// no part of the repository: it holds a push in flight, which may yet be
// refused, or one a killed receive-pack left behind, or one a local
// `git clone` copied from a repository that was taking a push. Through
// go-git's storage such an object looks stored, so a fetch does not ask
// for it, a blob is not written again, and a commit or ref is built on it;
// git then finds the object missing (fsck: "missing commit") and every
// clone, push or gc of the repository fails. Every repository Flotilla
// writes into is opened with Open.
func Open(path string) (*git.Repository, error) {
	r, err := git.PlainOpen(path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainOpenWithOptions(path, &git.PlainOpenOptions{DetectDotGit: true})
	}
	if err != nil {
		return nil, err
	}
	st, ok := r.Storer.(*filesystem.Storage)
	if !ok {
		return r, nil
	}
	var wt billy.Filesystem
	if w, err := r.Worktree(); err == nil {
		wt = w.Filesystem
	}
	return git.Open(filesystem.NewStorage(HideQuarantine(st.Filesystem()), cache.NewObjectLRUDefault()), wt)
}

// HideQuarantine returns fs, a repository's git directory, without its
// receive-pack quarantine directories (see Open): give it to
// filesystem.NewStorage for storage that holds only the objects git sees.
func HideQuarantine(fs billy.Filesystem) billy.Filesystem {
	if _, ok := fs.(quarantineHidden); ok {
		return fs
	}
	return quarantineHidden{fs}
}

// quarantineHidden is a git directory whose objects folder lists no
// quarantine directory: go-git looks for one only by listing objects.
type quarantineHidden struct{ billy.Filesystem }

// ReadDir lists a folder, the objects folder without quarantine
// directories.
func (f quarantineHidden) ReadDir(p string) ([]os.FileInfo, error) {
	infos, err := f.Filesystem.ReadDir(p)
	if err != nil || path.Clean(filepath.ToSlash(p)) != "objects" {
		return infos, err
	}
	out := infos[:0:0]
	for _, fi := range infos {
		if !(fi.IsDir() && IsQuarantine(fi.Name())) {
			out = append(out, fi)
		}
	}
	return out, nil
}

// Chmod changes a file's mode when the filesystem can (go-git and Pack
// make packfiles read-only, as git does).
func (f quarantineHidden) Chmod(name string, mode os.FileMode) error {
	if c, ok := f.Filesystem.(billy.Chmod); ok {
		return c.Chmod(name, mode)
	}
	return billy.ErrNotSupported
}

// Capabilities are the wrapped filesystem's.
func (f quarantineHidden) Capabilities() billy.Capability {
	return billy.Capabilities(f.Filesystem)
}

// IsQuarantine reports whether name, a folder of objects/, is a
// receive-pack quarantine directory.
func IsQuarantine(name string) bool {
	return strings.HasPrefix(name, "tmp_objdir-incoming-") || strings.HasPrefix(name, "incoming-")
}
