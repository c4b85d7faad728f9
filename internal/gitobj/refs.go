package gitobj

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Refs are read and written here as git itself does, because go-git's
// reference storage is not crash-safe: it truncates a loose ref file and
// then writes it (a process killed in between leaves an empty file, after
// which go-git fails to list any ref — "ref file is empty" — and git gc
// fails too), and its iteration reads git's "<ref>.lock" files as refs.
//
// UpdateRefs follows git's lock protocol: it creates "<ref>.lock" for each
// loose ref it will remove and "packed-refs.lock" with O_EXCL; it folds
// the loose files' values into packed-refs and removes the files (no ref
// changes value meanwhile), then writes the new packed-refs into the lock,
// fsyncs it and renames it over packed-refs, so every ref of one call
// moves in one rename, and a kill at any point leaves all old or all new. A lock held
// by a live process is waited for briefly (as git's core.packedRefsTimeout);
// a lock that stays is reported, never broken: its owner may be a git
// command still running, and git has no record of who holds a lock.

// LockedError means a lock file of git's protocol stayed in place.
type LockedError struct {
	// Path is the lock file.
	Path string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s exists: another git or flotilla process is updating this repository's refs, "+
		"or a previous run was killed while doing so; if no such process is running, remove the file "+
		"(rm %s) and run again", e.Path, e.Path)
}

// BrokenRefError means a loose ref file holds no object name: a process
// that wrote it without git's lock-and-rename (go-git, or an older
// Flotilla) was killed while writing it.
type BrokenRefError struct {
	Name plumbing.ReferenceName
	Path string
}

func (e *BrokenRefError) Error() string {
	return fmt.Sprintf("ref %s is broken: %s holds no commit (a process was probably killed while writing it); "+
		"remove the file (rm %s) or set the ref (git update-ref %s <commit>) and run again", e.Name, e.Path, e.Path, e.Name)
}

// ErrRefMoved means a ref was not at the value an update expected.
var ErrRefMoved = errors.New("ref moved")

// RefUpdate moves one ref.
type RefUpdate struct {
	Name plumbing.ReferenceName
	// New is the ref's new value; zero deletes it.
	New plumbing.Hash
	// Old, when Check is set, is the value the ref must have for the
	// update to happen (zero: the ref must not exist).
	Old   plumbing.Hash
	Check bool
}

// lockTimeout bounds the wait for a lock another process holds (git
// waits 1 s for packed-refs.lock by default).
const lockTimeout = time.Second

// packedHeader is what git pack-refs writes; true of refs to commits,
// which need no peeled line.
const packedHeader = "# pack-refs with: peeled fully-peeled sorted \n"

// DiskDir returns the directory of a repository's storage when it is on
// disk (the .git directory, or a bare repository).
func DiskDir(s any) (string, bool) {
	fs, ok := s.(*filesystem.Storage)
	if !ok {
		return "", false
	}
	return diskRoot(fs.Filesystem())
}

// ReadRef returns a ref's value (zero when it does not exist). On disk it
// reads the loose file, else packed-refs, and reports a broken loose file
// as a *BrokenRefError.
func ReadRef(s storer.ReferenceStorer, name plumbing.ReferenceName) (plumbing.Hash, error) {
	dir, ok := DiskDir(s)
	if !ok {
		ref, err := s.Reference(name)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return plumbing.ZeroHash, nil
		}
		if err != nil {
			return plumbing.ZeroHash, err
		}
		return ref.Hash(), nil
	}
	if err := validRefName(name); err != nil {
		return plumbing.ZeroHash, err
	}
	h, found, err := readLoose(dir, name)
	if err != nil || found {
		return h, err
	}
	_, entries, err := readPackedRefs(dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return entries[name].hash, nil
}

// ReadRefs returns the refs to objects whose names start with prefix.
// Symbolic refs (refs/remotes/origin/HEAD, which every git clone makes)
// are skipped: they name a ref, not an object, and the ref they name is
// listed itself. Broken loose files are not refs: they are returned
// apart, for the caller to decide.
func ReadRefs(s storer.ReferenceStorer, prefix string) (map[plumbing.ReferenceName]plumbing.Hash, []*BrokenRefError, error) {
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	dir, ok := DiskDir(s)
	if !ok {
		iter, err := s.IterReferences()
		if err != nil {
			return nil, nil, err
		}
		err = iter.ForEach(func(r *plumbing.Reference) error {
			if strings.HasPrefix(r.Name().String(), prefix) && r.Type() == plumbing.HashReference {
				out[r.Name()] = r.Hash()
			}
			return nil
		})
		return out, nil, err
	}
	_, entries, err := readPackedRefs(dir)
	if err != nil {
		return nil, nil, err
	}
	for name, e := range entries {
		if strings.HasPrefix(name.String(), prefix) {
			out[name] = e.hash
		}
	}
	var broken []*BrokenRefError
	// Loose files win over packed-refs. Walk the deepest directory the
	// prefix names whole.
	root := prefix[:strings.LastIndex(prefix, "/")+1]
	err = filepath.WalkDir(filepath.Join(dir, filepath.FromSlash(root)), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := plumbing.ReferenceName(filepath.ToSlash(rel))
		if !strings.HasPrefix(name.String(), prefix) || validRefName(name) != nil {
			return nil // a lock file, or not a ref
		}
		h, found, err := readLoose(dir, name)
		var be *BrokenRefError
		switch {
		case errors.As(err, &be):
			broken = append(broken, be)
			delete(out, name)
		case errors.Is(err, errSymbolic):
			delete(out, name)
		case err != nil:
			return err
		case found:
			out[name] = h
		}
		return nil
	})
	return out, broken, err
}

// errSymbolic marks a loose ref file that names another ref.
var errSymbolic = errors.New("symbolic")

// readLoose reads a loose ref file.
func readLoose(dir string, name plumbing.ReferenceName) (plumbing.Hash, bool, error) {
	p := filepath.Join(dir, filepath.FromSlash(name.String()))
	b, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
			return plumbing.ZeroHash, false, nil
		}
		if st, serr := os.Stat(p); serr == nil && st.IsDir() {
			return plumbing.ZeroHash, false, nil
		}
		return plumbing.ZeroHash, false, err
	}
	line := strings.TrimSpace(string(b))
	if strings.HasPrefix(line, "ref: ") {
		return plumbing.ZeroHash, false, fmt.Errorf("ref %s is %w (%s): only refs to commits are written here", name, errSymbolic, line)
	}
	if !plumbing.IsHash(line) {
		return plumbing.ZeroHash, false, &BrokenRefError{Name: name, Path: p}
	}
	return plumbing.NewHash(line), true, nil
}

// validRefName accepts the names this code writes and reads: under refs/,
// clean, no component that git refuses (".", "..", "*.lock", leading dot).
func validRefName(name plumbing.ReferenceName) error {
	n := name.String()
	if !strings.HasPrefix(n, "refs/") || path.Clean(n) != n || strings.ContainsAny(n, " ~^:?*[\\\x7f") {
		return fmt.Errorf("invalid ref name %q", n)
	}
	for _, c := range strings.Split(n, "/") {
		if c == "" || strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return fmt.Errorf("invalid ref name %q", n)
		}
	}
	for _, r := range n {
		if r < 0x20 {
			return fmt.Errorf("invalid ref name %q", n)
		}
	}
	return nil
}

// UpdateRefs applies updates together. On disk (see the note above) every
// ref is written into packed-refs and its loose file, if any, removed
// first, so all of them move in one atomic rename; a Check update that finds
// another value fails them all with ErrRefMoved. Elsewhere (in memory)
// they are set one by one.
func UpdateRefs(s storer.ReferenceStorer, updates []RefUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	dir, ok := DiskDir(s)
	if !ok || SlowPath("refs") {
		return updateStorer(s, updates)
	}
	updates = slices.Clone(updates)
	slices.SortFunc(updates, func(a, b RefUpdate) int { return strings.Compare(a.Name.String(), b.Name.String()) })
	for i, u := range updates {
		if err := validRefName(u.Name); err != nil {
			return err
		}
		if i > 0 && updates[i-1].Name == u.Name {
			return fmt.Errorf("ref %s updated twice", u.Name)
		}
	}

	var locks []string // taken, removed on return
	killed := false
	defer func() {
		if killed {
			return // as a killed process leaves them
		}
		for _, l := range locks {
			_ = os.Remove(l)
		}
	}()
	// The loose files to remove, locked first (as git does), then
	// packed-refs.
	var loose []plumbing.ReferenceName // sorted, as updates are
	for _, u := range updates {
		p := filepath.Join(dir, filepath.FromSlash(u.Name.String()))
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			if u.New.IsZero() {
				continue
			}
			return fmt.Errorf("set ref %s: refs exist under it (%s)", u.Name, p)
		}
		l, err := lock(p + ".lock")
		if err != nil {
			return err
		}
		locks = append(locks, l.Name())
		l.Close()
		loose = append(loose, u.Name)
	}
	packedLock, err := lock(filepath.Join(dir, "packed-refs.lock"))
	if err != nil {
		return err
	}
	locks = append(locks, packedLock.Name())
	defer packedLock.Close()

	header, entries, err := readPackedRefs(dir)
	if err != nil {
		return err
	}
	if header == "" && len(entries) == 0 {
		header = packedHeader // an empty file
	}
	// The loose files' values, which shadow packed-refs.
	current := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, name := range loose {
		h, found, err := readLoose(dir, name)
		var be *BrokenRefError
		switch {
		case errors.As(err, &be):
			if u := updates[slices.IndexFunc(updates, func(u RefUpdate) bool { return u.Name == name })]; u.Check {
				return err
			}
		case err != nil:
			return err
		case found:
			current[name] = h
		}
	}
	for _, u := range updates {
		if u.Check {
			cur := entries[u.Name].hash
			if h, ok := current[u.Name]; ok {
				cur = h
			}
			if cur != u.Old {
				return fmt.Errorf("%w: %s is at %s, expected %s", ErrRefMoved, u.Name, orNone(cur), orNone(u.Old))
			}
		}
	}

	// The loose files go first, and every ref keeps its value meanwhile:
	// their values are written into packed-refs (as git pack-refs does),
	// then the files removed. Only then do the new values move, all in
	// one rename, so a process killed at any point leaves every ref at
	// its old value or every ref at its new one. (Removing the files
	// after the move would leave, for a while, old loose values shadowing
	// new packed ones; removing them before folding them in would expose
	// older packed values.)
	if len(loose) > 0 {
		folded := maps.Clone(entries)
		for name, h := range current {
			folded[name] = packedEntry{hash: h, lines: h.String() + " " + name.String() + "\n"}
		}
		if len(current) > 0 {
			if err := writePacked(dir, filepath.Join(dir, "packed-refs.new"), header, folded); err != nil {
				return err
			}
		}
		if updateRefsHook != nil && updateRefsHook(dir, "folded") {
			killed = true
			return errKilled
		}
		for _, name := range loose {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name.String()))); err != nil && !os.IsNotExist(err) {
				return err
			}
			if updateRefsHook != nil && updateRefsHook(dir, "removed "+name.String()) {
				killed = true
				return errKilled
			}
		}
	}

	for _, u := range updates {
		if u.New.IsZero() {
			delete(entries, u.Name)
		} else {
			entries[u.Name] = packedEntry{hash: u.New, lines: u.New.String() + " " + u.Name.String() + "\n"}
		}
	}
	if err := writePackedTo(packedLock, dir, header, entries); err != nil {
		return err
	}
	locks = slices.DeleteFunc(locks, func(l string) bool { return l == packedLock.Name() })
	if updateRefsHook != nil && updateRefsHook(dir, "moved") {
		killed = true
		return errKilled
	}
	return nil
}

// updateRefsHook, set by tests, is called after each step of UpdateRefs
// in the repository dir that changes files on disk; true stops
// UpdateRefs there as a kill would (its locks left in place).
var updateRefsHook func(dir, step string) bool

// errKilled is what UpdateRefs returns when updateRefsHook stopped it.
var errKilled = errors.New("stopped by the test hook")

// writePacked writes packed-refs through the file tmp (created afresh;
// the caller holds packed-refs.lock), fsynced and renamed into place.
func writePacked(dir, tmp, header string, entries map[plumbing.ReferenceName]packedEntry) error {
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writePackedTo(f, dir, header, entries); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// writePackedTo writes packed-refs into f, fsyncs, closes it and renames
// it over dir's packed-refs.
func writePackedTo(f *os.File, dir, header string, entries map[plumbing.ReferenceName]packedEntry) error {
	names := make([]plumbing.ReferenceName, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	b.WriteString(header)
	for _, name := range names {
		b.WriteString(entries[name].lines)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return os.Rename(f.Name(), filepath.Join(dir, "packed-refs"))
}

func orNone(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing"
	}
	return h.String()
}

// CheckLocks reports a lock file UpdateRefs would need for names that
// stays in place (waited for as UpdateRefs would). A caller checks before
// a step it cannot undo — a push — that the refs it records afterwards
// can be written.
func CheckLocks(s storer.ReferenceStorer, names []plumbing.ReferenceName) error {
	dir, ok := DiskDir(s)
	if !ok {
		return nil
	}
	locks := []string{filepath.Join(dir, "packed-refs.lock")}
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name.String()))
		if st, err := os.Lstat(p); err == nil && !st.IsDir() {
			locks = append(locks, p+".lock")
		}
	}
	deadline := time.Now().Add(lockTimeout)
	for _, l := range locks {
		for wait := time.Millisecond; ; wait *= 2 {
			if _, err := os.Lstat(l); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				return &LockedError{Path: l}
			}
			time.Sleep(min(wait, 100*time.Millisecond))
		}
	}
	return nil
}

// lock creates a lock file, waiting up to lockTimeout while another
// process holds it.
func lock(p string) (*os.File, error) {
	deadline := time.Now().Add(lockTimeout)
	for wait := time.Millisecond; ; wait *= 2 {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			return f, nil
		}
		if !os.IsExist(err) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, &LockedError{Path: p}
		}
		time.Sleep(min(wait, 100*time.Millisecond))
	}
}

// WriteFile replaces dir/name with data as git replaces a file it owns:
// written into name.lock (created exclusively), fsynced and renamed.
func WriteFile(dir, name string, data []byte) error {
	p := filepath.Join(dir, name)
	f, err := lock(p + ".lock")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	done = true
	return nil
}

func updateStorer(s storer.ReferenceStorer, updates []RefUpdate) error {
	for _, u := range updates {
		if u.Check {
			cur := plumbing.ZeroHash
			ref, err := s.Reference(u.Name)
			if err == nil {
				cur = ref.Hash()
			} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
				return err
			}
			if cur != u.Old {
				return fmt.Errorf("%w: %s is at %s, expected %s", ErrRefMoved, u.Name, orNone(cur), orNone(u.Old))
			}
		}
	}
	for _, u := range updates {
		var err error
		if u.New.IsZero() {
			err = s.RemoveReference(u.Name)
		} else {
			err = s.SetReference(plumbing.NewHashReference(u.Name, u.New))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// packedEntry is one ref of packed-refs: its value and its lines as they
// are (the ref line and any peeled line).
type packedEntry struct {
	hash  plumbing.Hash
	lines string
}

// ErrPackedRefs means packed-refs holds a line this code does not know;
// it is left as it is.
var ErrPackedRefs = errors.New("packed-refs not understood")

// readPackedRefs reads dir's packed-refs: its header line (git's, when the
// file does not exist) and its entries by ref.
func readPackedRefs(dir string) (string, map[plumbing.ReferenceName]packedEntry, error) {
	entries := map[plumbing.ReferenceName]packedEntry{}
	f, err := os.Open(filepath.Join(dir, "packed-refs"))
	if os.IsNotExist(err) {
		return packedHeader, entries, nil
	}
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var (
		header string
		last   plumbing.ReferenceName
	)
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", nil, err
		}
		if line == "" {
			break
		}
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		switch {
		case n == 1 && strings.HasPrefix(line, "# pack-refs with:"):
			header = line
		case strings.HasPrefix(line, "^") && last != "" && plumbing.IsHash(strings.TrimSpace(line[1:])):
			e := entries[last]
			e.lines += line
			entries[last] = e
		default:
			hash, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			if !ok || !plumbing.IsHash(hash) || !strings.HasPrefix(name, "refs/") || path.Clean(name) != name {
				return "", nil, fmt.Errorf("%w: line %d of %s: %q", ErrPackedRefs, n, f.Name(), line)
			}
			last = plumbing.ReferenceName(name)
			entries[last] = packedEntry{hash: plumbing.NewHash(hash), lines: line}
		}
		if err != nil {
			break
		}
	}
	return header, entries, nil
}
