package hydrate

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// NotesRef holds Argo CD's Source Hydrator notes: on each hydrated head, a
// note {"drySha":"<dry commit>"} naming the last dry commit hydrated to
// it, whether that commit changed the branch or not. Argo CD
// (commitserver: NoteNamespace "hydrator.metadata", CommitNote) and GitOps
// Promoter read it; `git notes --ref=hydrator.metadata show <commit>`
// shows it. The local forge's statuses are under refs/notes/flotilla.
const NotesRef = plumbing.ReferenceName("refs/notes/" + MetadataFile)

// notesTracking is this checkout's copy of the remote's NotesRef.
const notesTracking = plumbing.ReferenceName("refs/flotilla/notes/" + MetadataFile)

// notesKey is NotesRef's entry in a heads map (branch → head): no branch
// has that name.
const notesKey = "\x00notes"

// notesMessage is the message of a notes commit, as `git notes add`
// writes it.
const notesMessage = "Notes added by 'git notes add'\n"

// Note is the content of a hydrated commit's note: Argo CD's CommitNote.
type Note struct {
	DrySHA string `json:"drySha"`
}

// noteContent is the note naming dry: the JSON Argo CD's commit server
// gives `git notes add -m`, which ends it with a newline.
func noteContent(dry string) []byte {
	b, _ := json.Marshal(Note{DrySHA: dry}) // a string field cannot fail
	return append(b, '\n')
}

// noteDrySHA reads a note blob's drySha ("" when it is not such a note).
func noteDrySHA(repo *git.Repository, h plumbing.Hash) string {
	b, err := repo.BlobObject(h)
	if err != nil {
		return ""
	}
	r, err := b.Reader()
	if err != nil {
		return ""
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<16))
	if err != nil {
		return ""
	}
	var n Note
	if json.Unmarshal(data, &n) != nil {
		return ""
	}
	return n.DrySHA
}

// notesTree reads and changes a notes commit's tree without reading more
// of it than the notes asked about: git fans notes out ("ab/cdef…" under a
// directory named by the first two hex digits, deeper when there are
// many), and a run touches a few of its thousands of notes.
type notesTree struct {
	repo   *git.Repository
	commit plumbing.Hash
	root   *object.Tree // nil: no notes yet
	// known collects the hash of every tree read.
	known map[plumbing.Hash]bool
}

// readNotes opens the notes at the notes commit head (zero: none).
func readNotes(repo *git.Repository, head plumbing.Hash, known map[plumbing.Hash]bool) (*notesTree, error) {
	n := &notesTree{repo: repo, commit: head, known: known}
	if head.IsZero() {
		return n, nil
	}
	c, err := repo.CommitObject(head)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", NotesRef, layout.Short(head.String()), err)
	}
	if n.root, err = c.Tree(); err != nil {
		return nil, fmt.Errorf("read the tree of %s at %s: %w", NotesRef, layout.Short(head.String()), err)
	}
	known[n.root.Hash] = true
	return n, nil
}

// subtree reads the directory entry e of a notes tree.
func (n *notesTree) subtree(e object.TreeEntry) (*object.Tree, error) {
	t, err := n.repo.TreeObject(e.Hash)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", NotesRef, layout.Short(n.commit.String()), err)
	}
	n.known[t.Hash] = true
	return t, nil
}

// isFanout reports whether a notes tree entry is a fan-out directory.
func isFanout(e object.TreeEntry) bool {
	return e.Mode == filemode.Dir && len(e.Name) == 2 && isHex(e.Name)
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lookup returns the note blob of commit (hex).
func (n *notesTree) lookup(commit string) (plumbing.Hash, bool, error) {
	t, rest := n.root, commit
	for t != nil {
		var next *object.Tree
		for _, e := range t.Entries {
			switch {
			case e.Name == rest && e.Mode.IsFile():
				return e.Hash, true, nil
			case len(rest) > 2 && e.Name == rest[:2] && isFanout(e):
				sub, err := n.subtree(e)
				if err != nil {
					return plumbing.ZeroHash, false, err
				}
				next = sub
			}
		}
		if next == nil {
			break
		}
		t, rest = next, rest[2:]
	}
	return plumbing.ZeroHash, false, nil
}

// notesFanout is the number of notes at the top of the tree above which
// they are moved one level down ("ab/cdef…"), as git fans them out: a flat
// tree of thousands of entries would be rewritten whole on every change.
const notesFanout = 256

// write stores the notes with set added (commit hex → note content) as a
// commit on n.commit into pack, and returns it. Only the directories that
// hold a changed note are read and written again; a note goes into the
// fan-out directory of its prefix when there is one, else at the level
// above, and the top level moves its notes one level down once it holds
// more than notesFanout. The tree depends on the old tree and set alone.
func (n *notesTree) write(pack *gitobj.Pack, set map[string][]byte, when time.Time) (plumbing.Hash, error) {
	blobs := make(map[string]plumbing.Hash, len(set))
	for sha, content := range set {
		h, err := gitobj.HashedBlob(pack, gitobj.BlobHash(content), content)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		blobs[sha] = h
	}
	tree, err := n.writeTree(pack, n.root, blobs, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s: %w", NotesRef, err)
	}
	sig := Bot
	sig.When = when
	c := &object.Commit{Author: sig, Committer: sig, TreeHash: tree, Message: notesMessage}
	if !n.commit.IsZero() {
		c.ParentHashes = []plumbing.Hash{n.commit}
	}
	return gitobj.Write(pack, c)
}

// writeTree writes t (nil: empty) with the notes of set (name below t →
// blob) put in, and returns it.
func (n *notesTree) writeTree(pack *gitobj.Pack, t *object.Tree, set map[string]plumbing.Hash, top bool) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	dirs := map[string]object.TreeEntry{}
	if t != nil {
		for _, e := range t.Entries {
			if _, replaced := set[e.Name]; replaced && e.Mode.IsFile() {
				continue
			}
			if isFanout(e) {
				dirs[e.Name] = e
				continue
			}
			entries = append(entries, e)
		}
	}
	down := map[string]map[string]plumbing.Hash{} // by fan-out directory
	push := func(name string, h plumbing.Hash) {
		if down[name[:2]] == nil {
			down[name[:2]] = map[string]plumbing.Hash{}
		}
		down[name[:2]][name[2:]] = h
	}
	files := 0
	for _, e := range entries {
		if e.Mode.IsFile() && isNoteName(e.Name) {
			files++
		}
	}
	for name := range set {
		if _, ok := dirs[name[:2]]; !ok || len(name) <= 2 {
			files++
		}
	}
	spill := top && files > notesFanout
	kept := entries[:0]
	for _, e := range entries {
		if spill && e.Mode.IsFile() && isNoteName(e.Name) {
			push(e.Name, e.Hash)
			continue
		}
		kept = append(kept, e)
	}
	entries = kept
	for name, h := range set {
		if _, ok := dirs[name[:2]]; (ok || spill) && len(name) > 2 {
			push(name, h)
			continue
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
	}
	for name, e := range dirs {
		if _, changed := down[name]; !changed {
			entries = append(entries, e)
		}
	}
	for name, sub := range down {
		var old *object.Tree
		if e, ok := dirs[name]; ok {
			var err error
			if old, err = n.subtree(e); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		h, err := n.writeTree(pack, old, sub, false)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	return gitobj.Tree(pack, entries)
}

// isNoteName reports whether a top-level file name is a note (a commit's
// full hex name).
func isNoteName(name string) bool { return len(name) == 40 && isHex(name) }
