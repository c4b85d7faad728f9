// Package gitobj writes Git objects — blobs, trees and commits — through
// go-git's object storage, and moves refs crash-safely with git's own lock
// protocol (UpdateRefs). The hydrated branches, the promotion commits and
// the local forge's state refs are all written with it.
package gitobj

import (
	"crypto/sha1"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Store is where objects are written: a repository's Storer, or a staging
// area in front of it.
type Store interface {
	NewEncodedObject() plumbing.EncodedObject
	SetEncodedObject(plumbing.EncodedObject) (plumbing.Hash, error)
	HasEncodedObject(plumbing.Hash) error
}

// BlobHash is the object name of content as a blob. It uses the standard
// library's SHA-1, about twice as fast here as go-git's collision-detecting
// one, which guards objects read from others, not those we write.
func BlobHash(content []byte) plumbing.Hash {
	h := sha1.New()
	h.Write([]byte("blob "))
	h.Write(strconv.AppendInt(nil, int64(len(content)), 10))
	h.Write([]byte{0})
	h.Write(content)
	var out plumbing.Hash
	h.Sum(out[:0])
	return out
}

// Blob stores content as a blob, unless the store has it already.
func Blob(s Store, content []byte) (plumbing.Hash, error) {
	return HashedBlob(s, BlobHash(content), content)
}

// HashedBlob stores content, whose BlobHash is h, unless the store has it
// already.
func HashedBlob(s Store, h plumbing.Hash, content []byte) (plumbing.Hash, error) {
	if s.HasEncodedObject(h) == nil {
		return h, nil
	}
	if p, ok := s.(*Pack); ok {
		p.AddBlob(h, content) // no copy
		return h, nil
	}
	return writeRaw(s, plumbing.BlobObject, content)
}

// writeRaw stores data as an object of type t.
func writeRaw(s Store, t plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(t)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// Write encodes and stores a tree or commit.
func Write(s Store, o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// Tree stores a tree of entries, sorted as Git sorts them: by name, a
// subtree's name compared as if it ended in "/".
func Tree(s Store, entries []object.TreeEntry) (plumbing.Hash, error) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	return Write(s, &object.Tree{Entries: entries})
}

// Files stores the trees holding stored blobs at slash-separated paths and
// returns the root tree.
func Files(s Store, files map[string]plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	dirs := map[string]map[string]plumbing.Hash{}
	for p, h := range files {
		if dir, rest, ok := strings.Cut(p, "/"); ok {
			if dirs[dir] == nil {
				dirs[dir] = map[string]plumbing.Hash{}
			}
			dirs[dir][rest] = h
			continue
		}
		entries = append(entries, object.TreeEntry{Name: p, Mode: filemode.Regular, Hash: h})
	}
	for dir, sub := range dirs {
		h, err := Files(s, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h})
	}
	return Tree(s, entries)
}
