// Package local is the forge of a plain Git repository: commit statuses are
// kept as git notes under refs/notes/flotilla (one JSON note per commit,
// readable with `git notes --ref=flotilla show <sha>`), so the whole loop
// runs without any server.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// NotesRef holds Flotilla's notes.
const NotesRef = plumbing.ReferenceName("refs/notes/flotilla")

// Forge is a plain repository as a forge: statuses in notes, pull
// requests in refs/flotilla/forge, merges made directly on the branches.
type Forge struct {
	repo *git.Repository
	dir  string
	// remote, when set, is the plain Git remote the forge's refs live in:
	// fetched before every read, pushed (fast-forward only, so a push that
	// another writer beat is refused and retried) after every write, so
	// several clones share one forge. The remote's branches are kept under
	// RemoteRefs, never in the repository's own refs/heads: a checkout's
	// branches stay the user's.
	remote string
	// Auth authenticates to the remote (nil: none, as for a path).
	Auth transport.AuthMethod
	// Now is the clock (tests set it).
	Now func() time.Time
}

// RemoteRefs is where a forge with a remote keeps the remote's branches
// (refs/heads/<b> as RemoteRefs+<b>), the same place promote and render
// track them.
const RemoteRefs = "refs/flotilla/remote/"

// OpenRemote opens the forge of the repository at path whose forge refs
// (notes, pull requests, branches) live in the remote at url: a URL or the
// path of a (bare) repository that a team shares. The repository at path
// is a local cache: its own branches are never changed.
func OpenRemote(path, url string) (*Forge, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	f.remote = url
	return f, nil
}

// OpenRemoteInMemory opens the forge of the remote at url with a cache in
// memory: for a command that only reads and writes statuses (verify)
// and has no local repository. Merges need a repository on disk.
func OpenRemoteInMemory(url string) (*Forge, error) {
	r, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, err
	}
	return &Forge{repo: r, remote: url, Now: time.Now}, nil
}

// Open opens the forge of the repository at path.
func Open(path string) (*Forge, error) {
	// A bare mirror or a checkout's root, seeing only the objects git
	// sees: never a receive-pack quarantine's (see gitobj.Open).
	r, err := gitobj.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Forge{repo: r, dir: path, Now: time.Now}, nil
}

// note is the JSON of one commit's note: the newest status of each
// context and, for a context whose newest status is success, when its
// current unbroken run of success began (the history SuccessSince
// needs; a note written before it was kept reads as starting at the
// newest status).
type note struct {
	Statuses map[string]forge.Status `json:"statuses"`
	Since    map[string]time.Time    `json:"since,omitempty"`
}

func (f *Forge) read(sha string) (note, *object.Commit, error) {
	n := note{Statuses: map[string]forge.Status{}}
	h, err := gitobj.ReadRef(f.repo.Storer, NotesRef)
	if err != nil {
		return n, nil, err
	}
	if h.IsZero() {
		return n, nil, nil
	}
	c, err := f.repo.CommitObject(h)
	if err != nil {
		return n, nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return n, nil, err
	}
	file, err := tree.File(sha)
	if errors.Is(err, object.ErrFileNotFound) {
		return n, c, nil
	}
	if err != nil {
		return n, nil, err
	}
	r, err := file.Reader()
	if err != nil {
		return n, nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return n, nil, err
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return note{Statuses: map[string]forge.Status{}}, c, nil // a note not ours: replaced
	}
	if n.Statuses == nil {
		n.Statuses = map[string]forge.Status{}
	}
	return n, c, nil
}

// SetStatus records a status on a commit, with a compare-and-set of the
// notes ref (retried a few times against concurrent writers).
func (f *Forge) SetStatus(ctx context.Context, sha string, s forge.Status) error {
	if _, err := f.repo.CommitObject(plumbing.NewHash(sha)); err != nil {
		// A shared remote's commit this cache has not fetched yet.
		if ferr := f.fetch(ctx, "refs/heads/*"); ferr != nil {
			return ferr
		}
		if _, err := f.repo.CommitObject(plumbing.NewHash(sha)); err != nil {
			return fmt.Errorf("set status on %s: no such commit: %w", sha, err)
		}
	}
	s.Description = forge.Truncate(s.Description)
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = f.Now().UTC()
	}
	for attempt := 0; attempt < 5; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f.fetch(ctx, string(NotesRef)); err != nil {
			return err
		}
		n, parent, err := f.read(sha)
		if err != nil {
			return err
		}
		prev, had := n.Statuses[s.Context]
		if had && forge.Same(prev, s) {
			return nil // said already: its time stays the first report's
		}
		n.Statuses[s.Context] = s
		if n.Since == nil {
			n.Since = map[string]time.Time{}
		}
		switch {
		case s.State != forge.StateSuccess:
			delete(n.Since, s.Context)
		case had && prev.State == forge.StateSuccess:
			if n.Since[s.Context].IsZero() {
				n.Since[s.Context] = prev.UpdatedAt
			}
		default:
			n.Since[s.Context] = s.UpdatedAt
		}
		b, err := json.MarshalIndent(n, "", "  ")
		if err != nil {
			return err
		}
		err = f.commit(sha, append(b, '\n'), parent)
		if err == nil {
			err = f.push(ctx, NotesRef, parentHash(parent))
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, errMoved) {
			return err
		}
	}
	return failure.Mark(failure.Conflict, fmt.Errorf("set status on %s: %s kept moving (other writers won 5 times): run again", sha, NotesRef))
}

var errMoved = errors.New("notes ref moved")

func (f *Forge) commit(sha string, content []byte, parent *object.Commit) error {
	blob, err := gitobj.Blob(f.repo.Storer, content)
	if err != nil {
		return err
	}
	var entries []object.TreeEntry
	if parent != nil {
		t, err := parent.Tree()
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			if e.Name != sha {
				entries = append(entries, e)
			}
		}
	}
	entries = append(entries, object.TreeEntry{Name: sha, Mode: filemode.Regular, Hash: blob})
	return f.commitRef(NotesRef, entries, parent, "Notes added by flotilla verify\n")
}

// commitRef commits a tree of entries on parent and moves ref there with a
// compare-and-set; errMoved when another writer moved it first.
func (f *Forge) commitRef(ref plumbing.ReferenceName, entries []object.TreeEntry, parent *object.Commit, message string) error {
	s := f.repo.Storer
	treeHash, err := gitobj.Tree(s, entries)
	if err != nil {
		return err
	}
	sig := object.Signature{Name: "flotilla[bot]", Email: "flotilla[bot]@users.noreply.github.com", When: f.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: treeHash}
	if parent != nil {
		c.ParentHashes = []plumbing.Hash{parent.Hash}
	}
	h, err := gitobj.Write(s, c)
	if err != nil {
		return err
	}
	err = gitobj.UpdateRefs(s, []gitobj.RefUpdate{{Name: ref, New: h, Old: parentHash(parent), Check: true}})
	if errors.Is(err, gitobj.ErrRefMoved) {
		return fmt.Errorf("%w: %v", errMoved, err)
	}
	return err
}

// parentHash is a commit's hash, zero for none.
func parentHash(c *object.Commit) plumbing.Hash {
	if c == nil {
		return plumbing.ZeroHash
	}
	return c.Hash
}

// Statuses returns a commit's statuses, sorted by context.
func (f *Forge) Statuses(ctx context.Context, sha string) ([]forge.Status, error) {
	if err := f.fetch(ctx, string(NotesRef)); err != nil {
		return nil, err
	}
	n, _, err := f.read(sha)
	if err != nil {
		return nil, err
	}
	out := make([]forge.Status, 0, len(n.Statuses))
	for _, s := range n.Statuses {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Context < out[j].Context })
	return out, nil
}

// SuccessSince returns when each context's current run of success on sha
// began, from the note's record of it.
func (f *Forge) SuccessSince(ctx context.Context, sha string, contexts []string) (map[string]time.Time, error) {
	if err := f.fetch(ctx, string(NotesRef)); err != nil {
		return nil, err
	}
	n, _, err := f.read(sha)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, c := range contexts {
		s, ok := n.Statuses[c]
		if !ok || s.State != forge.StateSuccess {
			continue
		}
		if since := n.Since[c]; !since.IsZero() {
			out[c] = since
		} else {
			out[c] = s.UpdatedAt
		}
	}
	return out, nil
}

// Permission is write for every user: the local forge has no accounts,
// and whoever records an approval (promote --approve) writes the forge's
// refs, so can push. Restrict who counts with a step's approvers.
func (f *Forge) Permission(context.Context, string) (forge.Permission, error) {
	return forge.PermissionWrite, nil
}

// ErrNoTeams is the local forge's answer about a team: it has none.
var ErrNoTeams = errors.New("the local forge has no teams")

// TeamMember fails: the local forge has no accounts, so no teams (a
// failure.Usage naming the team); name users in a step's approvers.
func (f *Forge) TeamMember(_ context.Context, org, team, _ string) (bool, error) {
	return false, failure.Mark(failure.Usage, fmt.Errorf("approvers name the team %s/%s: %w; name user logins instead", org, team, ErrNoTeams))
}

// fetch copies refs from the remote (force: the remote is the truth):
// each ref named, or under a name ending in "/*", that the remote has.
// It reads the remote's advertisement, asks for the objects this
// repository lacks and moves the refs in one crash-safe transaction —
// not with go-git's Fetch, which writes refs by truncate-then-write and
// reads every ref of the repository first.
func (f *Forge) fetch(ctx context.Context, refs ...string) error {
	if f.remote == "" {
		return nil
	}
	fail := func(err error) error {
		return fmt.Errorf("fetch %s from %s: %w", strings.Join(refs, ", "), redact.URL(f.remote), err)
	}
	ep, err := transport.NewEndpoint(f.remote)
	if err != nil {
		return fail(err)
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return fail(err)
	}
	sess, err := cl.NewUploadPackSession(ep, f.Auth)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil
	}
	if err != nil {
		return fail(err)
	}
	var updates []gitobj.RefUpdate
	var wants, haves []plumbing.Hash
	for name, h := range ar.References {
		if !slices.ContainsFunc(refs, func(r string) bool {
			pre, wild := strings.CutSuffix(r, "*")
			return name == r || wild && strings.HasPrefix(name, pre)
		}) {
			continue
		}
		local := f.localRef(plumbing.ReferenceName(name))
		cur, err := gitobj.ReadRef(f.repo.Storer, local)
		var broken *gitobj.BrokenRefError
		if err != nil && !errors.As(err, &broken) {
			return fail(err)
		}
		if cur == h {
			continue
		}
		if !cur.IsZero() && !slices.Contains(haves, cur) {
			haves = append(haves, cur)
		}
		if f.repo.Storer.HasEncodedObject(h) != nil && !slices.Contains(wants, h) {
			wants = append(wants, h)
		}
		updates = append(updates, gitobj.RefUpdate{Name: local, New: h})
	}
	if len(wants) > 0 {
		req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
		if ar.Capabilities.Supports(capability.NoProgress) {
			_ = req.Capabilities.Set(capability.NoProgress)
		}
		slices.SortFunc(wants, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
		slices.SortFunc(haves, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
		req.Wants, req.Haves = wants, haves
		resp, err := sess.UploadPack(ctx, req)
		if err != nil {
			return fail(err)
		}
		err = gitobj.StoreUploadPack(f.repo.Storer, req, resp)
		if err != nil {
			return fail(err)
		}
	}
	if err := gitobj.UpdateRefs(f.repo.Storer, updates); err != nil {
		return fail(err)
	}
	return nil
}

// localRef is where the forge keeps a ref of the remote: branches under
// RemoteRefs when there is a remote, everything else (notes, the state
// ref: the forge's own) under its name.
func (f *Forge) localRef(name plumbing.ReferenceName) plumbing.ReferenceName {
	if b, ok := strings.CutPrefix(name.String(), "refs/heads/"); ok && f.remote != "" {
		return plumbing.ReferenceName(RemoteRefs + b)
	}
	return name
}

// push publishes ref to the remote as a fast-forward from old (zero: the
// remote must not have it). When the push fails, what the remote holds
// tells why — not the error's text: another value means another writer
// moved the ref first (errMoved: fetch and retry); old still there means
// the remote refused or failed (a *gitobj.PushError quoting the remote);
// our own value there means the push landed (its answer lost), which
// gitobj.Push counts as success.
func (f *Forge) push(ctx context.Context, ref plumbing.ReferenceName, old plumbing.Hash) error {
	if f.remote == "" {
		return nil
	}
	err := gitobj.Push(ctx, f.repo.Storer, f.remote, f.Auth, true, gitobj.PushRef{Src: f.localRef(ref), Dst: ref})
	if err == nil {
		return nil
	}
	refs, lerr := f.remoteOf().ListContext(ctx, &git.ListOptions{Auth: f.Auth})
	if lerr == nil || errors.Is(lerr, transport.ErrEmptyRemoteRepository) {
		cur := plumbing.ZeroHash
		for _, r := range refs {
			if r.Name() == ref {
				cur = r.Hash()
			}
		}
		if cur != old {
			return fmt.Errorf("%w: %s is at %s on %s, expected %s", errMoved, ref, cur, redact.URL(f.remote), old)
		}
	}
	return err // a *gitobj.PushError: names ref and the remote, quotes the remote
}

func (f *Forge) remoteOf() *git.Remote {
	return git.NewRemote(f.repo.Storer, &config.RemoteConfig{Name: "flotilla-forge", URLs: []string{f.remote}})
}
