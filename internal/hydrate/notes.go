package hydrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
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

// ReadNote returns the dry commit the note on commit names under
// NotesRef's tree at notes ("" when there is no note or it names none).
func ReadNote(repo *git.Repository, notes, commit plumbing.Hash) (string, error) {
	if notes.IsZero() {
		return "", nil
	}
	n, err := readNotes(repo, notes, nil)
	if err != nil {
		return "", err
	}
	h, ok := n.notes[commit.String()]
	if !ok {
		return "", nil
	}
	return noteDrySHA(repo, h), nil
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

// notesTree is a notes commit's tree, read whatever its fan-out.
type notesTree struct {
	commit plumbing.Hash
	// notes maps an annotated commit (hex) to its note's blob.
	notes map[string]plumbing.Hash
	// others are the files that are not notes, by path, kept as they are.
	others map[string]plumbing.Hash
}

// readNotes reads the notes at the notes commit head, adding every object
// of its tree to known (when not nil). Git writes notes at any fan-out
// ("ab/cdef…" or "abcdef…"): a path whose parts join to 40 hex digits is
// a note.
func readNotes(repo *git.Repository, head plumbing.Hash, known map[plumbing.Hash]bool) (*notesTree, error) {
	n := &notesTree{commit: head, notes: map[string]plumbing.Hash{}, others: map[string]plumbing.Hash{}}
	if head.IsZero() {
		return n, nil
	}
	c, err := repo.CommitObject(head)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", NotesRef, short(head.String()), err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read the tree of %s at %s: %w", NotesRef, short(head.String()), err)
	}
	if known != nil {
		known[t.Hash] = true
	}
	walker := object.NewTreeWalker(t, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the tree of %s at %s: %w", NotesRef, short(head.String()), err)
		}
		if known != nil {
			known[entry.Hash] = true
		}
		if !entry.Mode.IsFile() {
			continue
		}
		if sha := strings.ReplaceAll(name, "/", ""); plumbing.IsHash(sha) && sha == strings.ToLower(sha) {
			n.notes[sha] = entry.Hash
		} else {
			n.others[name] = entry.Hash
		}
	}
}

// notesFanout is the number of notes above which they are written one
// level deep ("ab/cdef…"), as git fans them out: a flat tree of thousands
// of entries is rewritten whole on every change.
const notesFanout = 256

// write stores the notes, with set added (commit hex → note content), as
// a commit on n.commit into pack, and returns it. The layout depends on
// the notes alone, so the same notes make the same tree.
func (n *notesTree) write(pack *gitobj.Pack, set map[string][]byte, when time.Time) (plumbing.Hash, error) {
	for sha, content := range set {
		h, err := gitobj.HashedBlob(pack, gitobj.BlobHash(content), content)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		n.notes[sha] = h
	}
	files := make(map[string]plumbing.Hash, len(n.notes)+len(n.others))
	for p, h := range n.others {
		files[p] = h
	}
	shas := make([]string, 0, len(n.notes))
	for sha := range n.notes {
		shas = append(shas, sha)
	}
	sort.Strings(shas)
	for _, sha := range shas {
		p := sha
		if len(shas) > notesFanout {
			p = sha[:2] + "/" + sha[2:]
		}
		if _, taken := files[p]; taken {
			return plumbing.ZeroHash, fmt.Errorf("write %s: %s is both a note and another file", NotesRef, p)
		}
		files[p] = n.notes[sha]
	}
	tree, err := gitobj.Files(pack, files)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sig := Bot
	sig.When = when
	c := &object.Commit{Author: sig, Committer: sig, TreeHash: tree, Message: notesMessage}
	if !n.commit.IsZero() {
		c.ParentHashes = []plumbing.Hash{n.commit}
	}
	return gitobj.Write(pack, c)
}
