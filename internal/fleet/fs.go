package fleet

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// MaxLinks is how many symbolic links ResolveLinks follows for one path
// before it calls the path a loop (as Linux's MAXSYMLINKS).
const MaxLinks = 40

// SymlinkEscapeError is a symbolic link of a file system (an fs.FS) whose
// target is outside it: an absolute path, or one above its root.
type SymlinkEscapeError struct {
	// Path is the link, slash-separated, relative to the root.
	Path string
	// Target is where it points.
	Target string
}

func (e *SymlinkEscapeError) Error() string {
	return "symbolic link " + e.Path + " points to " + e.Target + ", outside the tree (a link is followed only inside it: make it relative and keep it inside)"
}

// ResolveLinks returns the name that name designates once every symbolic
// link on it is followed, inside fsys: a link whose target is absolute or
// climbs above the root of fsys is a *SymlinkEscapeError, and a path that
// takes more than MaxLinks links is a *SymlinkLoopError naming the first
// link. Targets are joined lexically, as fstest.MapFS does. A missing
// element is an error matching fs.ErrNotExist.
func ResolveLinks(fsys fs.ReadLinkFS, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "resolve", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return name, nil
	}
	first := ""
	hops := 0
	resolved, rest := "", strings.Split(name, "/")
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		if elem == "." || elem == "" {
			continue
		}
		next := elem
		if resolved != "" {
			next = resolved + "/" + elem
		}
		info, err := fsys.Lstat(next)
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if first == "" {
			first = next
		}
		if hops++; hops > MaxLinks {
			return "", &SymlinkLoopError{Path: first}
		}
		target, err := fsys.ReadLink(next)
		if err != nil {
			return "", err
		}
		if target == "" || path.IsAbs(target) || strings.HasPrefix(target, "\\") {
			return "", &SymlinkEscapeError{Path: next, Target: target}
		}
		joined := path.Join(path.Dir(next), target)
		if joined == ".." || strings.HasPrefix(joined, "../") {
			return "", &SymlinkEscapeError{Path: next, Target: target}
		}
		// Start again from the root: the target may hold links too.
		resolved = ""
		if joined != "." {
			rest = append(strings.Split(joined, "/"), rest...)
		}
	}
	if resolved == "" {
		return ".", nil
	}
	return resolved, nil
}

// ReadFileFS reads a file of fsys of at most MaxFileSize bytes (see
// ReadFile). It follows symbolic links as fsys does: resolve them first
// (ResolveLinks) to keep them inside it.
func ReadFileFS(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d MiB", ErrLimit, name, MaxFileSize>>20)
	}
	return data, nil
}

// resolve resolves the links of name inside fsys, when it has any.
func (f *loader) resolve(name string) (string, error) {
	if rl, ok := f.fsys.(fs.ReadLinkFS); ok {
		return ResolveLinks(rl, name)
	}
	return name, nil
}

// readFileFS is readFile for LoadFS. A symbolic link that loops or leads
// out of fsys is a *FileError naming the link.
func (f *loader) readFileFS(file string) ([]byte, error) {
	real, err := f.resolve(file)
	var loop *SymlinkLoopError
	var escape *SymlinkEscapeError
	if errors.As(err, &loop) || errors.As(err, &escape) {
		return nil, &FileError{File: file, Class: ClassConfig, Msg: "read", Err: err}
	}
	if err != nil {
		return nil, err
	}
	return ReadFileFS(f.fsys, real)
}

// checkRepoPathFS is ResolveRepoPath for LoadFS: p must name a directory
// of fsys, reached without leaving it.
func (f *loader) checkRepoPathFS(p string) error {
	if err := checkRelative(p); err != nil {
		return errors.New("path " + p + " " + err.Error() + " (repos: paths are relative to the fleet root and stay inside it)")
	}
	real, err := f.resolve(path.Clean(p))
	var loop *SymlinkLoopError
	var escape *SymlinkEscapeError
	switch {
	case errors.As(err, &loop):
		return fmt.Errorf("path %s: %w", p, err)
	case errors.As(err, &escape):
		return fmt.Errorf("path %s escapes the fleet root through a symbolic link: %w", p, err)
	case err != nil:
		return errors.New("path " + p + " does not exist")
	}
	if st, err := fs.Stat(f.fsys, real); err != nil {
		return errors.New("path " + p + " does not exist")
	} else if !st.IsDir() {
		return errors.New("path " + p + " is not a directory")
	}
	return nil
}

// listFilesFS is listFiles for LoadFS: every file of fsys but
// directories (a symbolic link is listed, as on disk), skipping .git.
func (f *loader) listFilesFS() ([]string, error) {
	var out []string
	err := fs.WalkDir(f.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		out = append(out, p)
		return nil
	})
	slices.Sort(out)
	return out, err
}
