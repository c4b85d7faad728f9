package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// ErrNoRevision means a revision does not resolve to a commit of the
// repository.
var ErrNoRevision = errors.New("no such revision")

// Revision is the tree of a Git commit as a read-only file system: an
// fs.FS that is also an fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and
// fs.ReadLinkFS, read from the repository's objects without a checkout.
// A directory's entries are read when it is first visited, so a fleet in
// a folder of a large repository costs only its own trees.
//
// Symbolic links are resolved inside the tree (fleet.ResolveLinks): Open,
// Stat, ReadFile and ReadDir follow them, and a link that leads out of
// the tree (an absolute target, or one above its root) or loops is an
// error naming the link. Lstat and ReadLink show the link itself.
// Submodules are left out. A file larger than fleet.MaxFileSize is
// refused (fleet.ErrLimit) before it is read. Modification times are
// zero. It is safe for concurrent use.
type Revision struct {
	commit plumbing.Hash
	objs   *git.Repository
	root   *node

	// mu guards the object storage (go-git's is not safe for concurrent
	// reads) and the nodes, whose directories are read when first
	// visited.
	mu sync.Mutex
}

var (
	_ fs.ReadDirFS  = (*Revision)(nil)
	_ fs.ReadFileFS = (*Revision)(nil)
	_ fs.StatFS     = (*Revision)(nil)
	_ fs.ReadLinkFS = (*Revision)(nil)
)

// node is an entry of the tree.
type node struct {
	name     string // base name
	mode     filemode.FileMode
	hash     plumbing.Hash
	children []*node // of a directory, sorted by name, once loaded
	loaded   bool

	size int64 // of a blob, -1 until read
}

// RevisionFS returns the tree of revision (a branch, tag, commit SHA or
// anything go-git's ResolveRevision takes) in repo. A revision that does
// not resolve is an error matching ErrNoRevision.
func RevisionFS(repo *git.Repository, revision string) (*Revision, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(revision))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoRevision, revision)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", h, err)
	}
	return &Revision{commit: *h, objs: repo, root: &node{name: ".", mode: filemode.Dir, hash: tree.Hash}}, nil
}

// find returns the entry at name, following no link; r.mu is held.
func (r *Revision) find(name string) (*node, error) {
	n := r.root
	if name == "." {
		return n, nil
	}
	for _, elem := range strings.Split(name, "/") {
		if n.mode != filemode.Dir {
			return nil, fs.ErrNotExist
		}
		if err := r.load(n); err != nil {
			return nil, err
		}
		i := sort.Search(len(n.children), func(i int) bool { return n.children[i].name >= elem })
		if i == len(n.children) || n.children[i].name != elem {
			return nil, fs.ErrNotExist
		}
		n = n.children[i]
	}
	return n, nil
}

// load reads the entries of directory n, once; r.mu is held. Only a
// part of a large repository's tree is read: the directories visited.
func (r *Revision) load(n *node) error {
	if n.loaded {
		return nil
	}
	t, err := object.GetTree(r.objs.Storer, n.hash)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", n.hash, err)
	}
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Dir, filemode.Regular, filemode.Deprecated, filemode.Executable, filemode.Symlink:
			n.children = append(n.children, &node{name: e.Name, mode: e.Mode, hash: e.Hash, size: -1})
		default:
			// A submodule is not part of the tree's content.
		}
	}
	sort.Slice(n.children, func(i, j int) bool { return n.children[i].name < n.children[j].name })
	n.loaded = true
	return nil
}

// Commit is the commit whose tree r is.
func (r *Revision) Commit() string { return r.commit.String() }

// lookup returns the entry name designates, following links when follow.
func (r *Revision) lookup(op, name string, follow bool) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	// Lstat and ReadLink follow the links on the way, not the last one.
	// ResolveLinks calls Lstat on names whose parents it has resolved, so
	// this recursion only ever shortens the name.
	resolve, last := name, ""
	if !follow {
		resolve, last = path.Dir(name), path.Base(name)
	}
	real := resolve
	if resolve != "." {
		var err error
		if real, err = fleet.ResolveLinks(r, resolve); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
	}
	if !follow {
		real = path.Join(real, last)
	}
	r.mu.Lock()
	n, err := r.find(real)
	if err == nil && n.mode == filemode.Dir {
		err = r.load(n) // for ReadDir, and Open's ReadDir
	}
	r.mu.Unlock()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// blob reads the content of a blob, refusing one larger than
// fleet.MaxFileSize.
func (r *Revision) blob(op, name string, n *node) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, err := r.objs.Storer.EncodedObject(plumbing.BlobObject, n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	n.size = o.Size()
	if n.size > fleet.MaxFileSize {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %s is larger than %d MiB", fleet.ErrLimit, name, fleet.MaxFileSize>>20)}
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, fleet.MaxFileSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return data, nil
}

// info describes n, reading its blob's size.
func (r *Revision) info(n *node) fileInfo {
	if n.mode == filemode.Dir {
		return fileInfo{n: n}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n.size < 0 {
		if o, err := r.objs.Storer.EncodedObject(plumbing.BlobObject, n.hash); err == nil {
			n.size = o.Size()
		}
	}
	return fileInfo{n: n, size: n.size}
}

// Open opens the named file or directory, following symbolic links.
func (r *Revision) Open(name string) (fs.File, error) {
	n, err := r.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode == filemode.Dir {
		return &dir{info: fileInfo{n: n, name: path.Base(name)}, r: r, n: n}, nil
	}
	data, err := r.blob("open", name, n)
	if err != nil {
		return nil, err
	}
	return &file{info: fileInfo{n: n, name: path.Base(name), size: int64(len(data))}, Reader: bytes.NewReader(data)}, nil
}

// ReadFile reads the named file, following symbolic links.
func (r *Revision) ReadFile(name string) ([]byte, error) {
	n, err := r.lookup("read", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode == filemode.Dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return r.blob("read", name, n)
}

// ReadDir lists the named directory, sorted by name, following symbolic
// links to it (not those in it).
func (r *Revision) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := r.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	out := make([]fs.DirEntry, len(n.children))
	for i, c := range n.children {
		out[i] = dirEntry{r: r, n: c}
	}
	return out, nil
}

// Stat describes the named file, following symbolic links.
func (r *Revision) Stat(name string) (fs.FileInfo, error) {
	n, err := r.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	fi := r.info(n)
	fi.name = path.Base(name)
	return fi, nil
}

// Lstat describes the named file; a symbolic link is described itself
// (the links on the way to it are followed).
func (r *Revision) Lstat(name string) (fs.FileInfo, error) {
	n, err := r.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return r.info(n), nil
}

// ReadLink returns the target of the named symbolic link (the links on
// the way to it are followed).
func (r *Revision) ReadLink(name string) (string, error) {
	n, err := r.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	data, err := r.blob("readlink", name, n)
	return string(data), err
}

// fileInfo is the fs.FileInfo of a node.
type fileInfo struct {
	n    *node
	name string // as opened, when not the node's own name
	size int64
}

func (i fileInfo) Name() string {
	if i.name != "" {
		return i.name
	}
	return i.n.name
}

func (i fileInfo) Size() int64 { return max(i.size, 0) }

func (i fileInfo) Mode() fs.FileMode {
	switch i.n.mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Executable:
		return 0o555
	}
	return 0o444
}

func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.n.mode == filemode.Dir }
func (i fileInfo) Sys() any           { return nil }

// dirEntry is the fs.DirEntry of a node.
type dirEntry struct {
	r *Revision
	n *node
}

func (e dirEntry) Name() string               { return e.n.name }
func (e dirEntry) IsDir() bool                { return e.n.mode == filemode.Dir }
func (e dirEntry) Type() fs.FileMode          { return fileInfo{n: e.n}.Mode().Type() }
func (e dirEntry) Info() (fs.FileInfo, error) { return e.r.info(e.n), nil }

// file is an open file: its content, read whole (it is bounded).
type file struct {
	info fileInfo
	*bytes.Reader
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Close() error               { return nil }

// dir is an open directory.
type dir struct {
	info fileInfo
	r    *Revision
	n    *node
	off  int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *dir) ReadDir(count int) ([]fs.DirEntry, error) {
	rest := d.n.children[d.off:]
	if count > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if count > 0 && count < len(rest) {
		rest = rest[:count]
	}
	d.off += len(rest)
	out := make([]fs.DirEntry, len(rest))
	for i, c := range rest {
		out[i] = dirEntry{r: d.r, n: c}
	}
	return out, nil
}

// Checkout writes the folder dir of the tree ("." for all of it) into
// dest, an existing directory, as git checkout would: its files whole,
// whatever their size (nothing is parsed here), its directories, and its
// symbolic links that resolve inside the folder, as links. Links that lead
// out of the folder, loop or dangle, and submodules, are left out.
func (r *Revision) Checkout(dir, dest string) error {
	var folder fs.FS = r
	if dir != "." {
		sub, err := fs.Sub(r, dir)
		if err != nil {
			return err
		}
		folder = sub
	}
	links := folder.(fs.ReadLinkFS)
	return fs.WalkDir(folder, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p := filepath.Join(dest, filepath.FromSlash(name))
		switch {
		case d.IsDir():
			return os.MkdirAll(p, 0o755)
		case d.Type() == fs.ModeSymlink:
			if _, err := fleet.ResolveLinks(links, name); err != nil {
				return nil // not followed: it leads out of the folder, loops or dangles
			}
			target, err := links.ReadLink(name)
			if err != nil {
				return err
			}
			return os.Symlink(filepath.FromSlash(target), p)
		}
		return r.copyBlob(path.Join(dir, name), p)
	})
}

// copyBlob writes the file name of the tree to p, whole.
func (r *Revision) copyBlob(name, p string) error {
	n, err := r.lookup("checkout", name, false)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o, err := r.objs.Storer.EncodedObject(plumbing.BlobObject, n.hash)
	if err != nil {
		out.Close()
		return fmt.Errorf("read %s: %w", name, err)
	}
	rd, err := o.Reader()
	if err != nil {
		out.Close()
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer rd.Close()
	if _, err := io.Copy(out, rd); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	return out.Close()
}
