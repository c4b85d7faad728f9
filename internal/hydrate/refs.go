package hydrate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// setRefs points each named ref at its hash, or deletes it when the hash
// is zero. In a repository on disk it rewrites packed-refs once, as git
// pack-refs does (under packed-refs.lock, keeping every other entry as it
// is), and removes loose files of those refs that would shadow the packed
// value: one file written for 200 refs instead of 200 files created, each
// of which costs up to a millisecond of system time on a CI runner's
// disk. Elsewhere, or when packed-refs is locked or not in a form it
// knows, it sets the refs one by one.
func setRefs(s storer.ReferenceStorer, refs map[plumbing.ReferenceName]plumbing.Hash) error {
	if len(refs) == 0 {
		return nil
	}
	if fs, ok := s.(*filesystem.Storage); ok {
		err := writePackedRefs(fs.Filesystem(), refs)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errPackedRefs) {
			return err
		}
	}
	names := make([]plumbing.ReferenceName, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		var err error
		if h := refs[name]; h.IsZero() {
			err = s.RemoveReference(name)
		} else {
			err = s.SetReference(plumbing.NewHashReference(name, h))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errPackedRefs means packed-refs could not be rewritten safely (locked by
// another process, or in a form this code does not know): set the refs
// one by one instead.
var errPackedRefs = errors.New("packed-refs not rewritten")

// packedHeader is what git pack-refs writes; true of refs to commits,
// which need no peeled line.
const packedHeader = "# pack-refs with: peeled fully-peeled sorted \n"

// writePackedRefs rewrites dotgit's packed-refs with refs set (or, for a
// zero hash, removed), then removes their loose files.
func writePackedRefs(dotgit billy.Filesystem, refs map[plumbing.ReferenceName]plumbing.Hash) (err error) {
	lock, err := dotgit.OpenFile("packed-refs.lock", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("%w: packed-refs.lock exists", errPackedRefs)
		}
		return err
	}
	committed := false
	defer func() {
		if !committed {
			lock.Close()
			_ = dotgit.Remove("packed-refs.lock")
		}
	}()

	header, entries, err := readPackedRefs(dotgit)
	if err != nil {
		return err
	}
	if header == "" {
		header = packedHeader
	}
	for name, h := range refs {
		if h.IsZero() {
			delete(entries, name)
		} else {
			entries[name] = h.String() + " " + name.String() + "\n"
		}
	}
	names := make([]plumbing.ReferenceName, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	b.WriteString(header)
	for _, name := range names {
		b.WriteString(entries[name])
	}
	if _, err := lock.Write(b.Bytes()); err != nil {
		return err
	}
	if err := lock.Close(); err != nil {
		return err
	}
	if err := dotgit.Rename("packed-refs.lock", "packed-refs"); err != nil {
		return err
	}
	committed = true
	// A loose file of a ref wins over packed-refs: remove the ones left by
	// earlier versions or by go-git.
	for name := range refs {
		if err := dotgit.Remove(name.String()); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// readPackedRefs reads dotgit's packed-refs: its header line and, by ref,
// the entry's lines as they are (the ref line and any peeled line).
func readPackedRefs(dotgit billy.Filesystem) (string, map[plumbing.ReferenceName]string, error) {
	entries := map[plumbing.ReferenceName]string{}
	f, err := dotgit.Open("packed-refs")
	if os.IsNotExist(err) {
		return "", entries, nil
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
			entries[last] += line
		default:
			hash, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			if !ok || !plumbing.IsHash(hash) || !strings.HasPrefix(name, "refs/") || path.Clean(name) != name {
				return "", nil, fmt.Errorf("%w: line %d of packed-refs: %q", errPackedRefs, n, line)
			}
			last = plumbing.ReferenceName(name)
			entries[last] = line
		}
		if err != nil {
			break
		}
	}
	return header, entries, nil
}
