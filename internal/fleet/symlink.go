package fleet

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// SymlinkLoopError is a path that cannot be resolved because a symbolic
// link on it leads, directly or through other links, back to itself (or
// through more links than the system follows).
type SymlinkLoopError struct {
	// Path is the first link of the path that loops.
	Path string
}

func (e *SymlinkLoopError) Error() string {
	return "symbolic link loop at " + e.Path + " (the link leads back to itself: fix or remove it)"
}

// Unwrap makes the error match syscall.ELOOP.
func (e *SymlinkLoopError) Unwrap() error { return syscall.ELOOP }

// EvalSymlinks is filepath.EvalSymlinks naming a symbolic link loop as a
// *SymlinkLoopError (filepath.EvalSymlinks says "too many links").
func EvalSymlinks(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return real, err
	}
	if loop := findLoop(p); loop != "" {
		return "", &SymlinkLoopError{Path: loop}
	}
	return "", err
}

// ExplainLoop turns an error of the operating system about p that is a
// symbolic link loop (ELOOP) into a *SymlinkLoopError naming the link;
// other errors are returned as they are.
func ExplainLoop(p string, err error) error {
	var le *SymlinkLoopError
	if err == nil || errors.As(err, &le) || !errors.Is(err, syscall.ELOOP) {
		return err
	}
	if loop := findLoop(p); loop != "" {
		return &SymlinkLoopError{Path: loop}
	}
	return &SymlinkLoopError{Path: p}
}

// findLoop returns the shortest prefix of p that the system cannot resolve
// for a symbolic link loop, or "".
func findLoop(p string) string {
	vol := filepath.VolumeName(p)
	for i := len(vol) + 1; i <= len(p); i++ {
		if i < len(p) && !os.IsPathSeparator(p[i]) {
			continue
		}
		prefix := p[:i]
		if _, err := os.Stat(prefix); errors.Is(err, syscall.ELOOP) {
			return prefix
		}
	}
	return ""
}
