package hydrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// Bot is the author and committer of hydrated commits.
var Bot = object.Signature{Name: "flotilla[bot]", Email: "flotilla[bot]@users.noreply.github.com"}

// Publisher writes trees as commits on branches of a Git repository and,
// with a remote, pushes them.
type Publisher struct {
	// Repo is the local repository: the fleet checkout. New objects are
	// written into it; the dry commit's ancestry is read from it.
	Repo *git.Repository
	// Remote is the URL to push to. Empty: update the local branches of Repo
	// and push nothing.
	Remote string
	// Auth authenticates to Remote (nil for none).
	Auth transport.AuthMethod
	// Origin is the fleet repository's URL, from which a shallow checkout
	// is deepened to compare dry commits (default: the checkout's origin
	// remote). OriginAuth authenticates to it (default: Auth, when Origin
	// is on Remote's https host).
	Origin     string
	OriginAuth transport.AuthMethod
	// Attempts bounds the tries when a push loses a race (default 5).
	Attempts int
	// BeforePush, when set, runs between building the commits and pushing
	// them (tests use it to lose a race on purpose).
	BeforePush func(attempt int)

	prefetched chan fetched
	// branches are those of the last Publish's trees.
	branches []string
	// pushSess is the receive-pack session the last read of the heads
	// opened, for the push that follows.
	pushSess *pushSession
}

type fetched struct {
	heads map[string]plumbing.Hash
	err   error
}

// Prefetch starts reading the heads of the trees' branches — with a
// remote, the fetch and its round trips — while the caller goes on (to
// render them); the next Publish of the same branches starts from what it
// read. Heads read early can only be stale, and a stale head loses the
// push's old-value check and is read again, as any lost race. Close waits
// for a prefetch that no Publish used.
func (p *Publisher) Prefetch(ctx context.Context, trees []*Tree) {
	p.prefetched = make(chan fetched, 1)
	go func() {
		h, err := p.heads(ctx, trees)
		p.prefetched <- fetched{h, err}
	}()
}

// Close waits for an unused prefetch to finish and ends the remote session
// it kept.
func (p *Publisher) Close() {
	if p.prefetched != nil {
		<-p.prefetched
		p.prefetched = nil
	}
	p.closePush()
}

// Result is the outcome for one branch.
type Result struct {
	Cluster string `json:"cluster"`
	Branch  string `json:"branch"`
	Old     string `json:"oldCommit,omitempty"`
	New     string `json:"newCommit,omitempty"`
	// Updated is true when a commit was made and published.
	Updated bool   `json:"updated"`
	Change  Change `json:"change"`
	// Kept says why a changed tree was not written, if it was not.
	Kept string `json:"kept,omitempty"`
}

// ErrRace means the remote moved between fetch and push. Publish returns
// it when the last attempt lost too: a failure.Conflict (run again).
var ErrRace = failure.Mark(failure.Conflict, errors.New("the remote branches moved while rendering"))

const trackingPrefix = "refs/flotilla/remote/"

// Publish commits every tree that differs from its branch and publishes all
// of them at once. It retries from a fresh read of the branches when the
// push loses a race. Nothing is pushed unless every commit was built.
func (p *Publisher) Publish(ctx context.Context, trees []*Tree, dry DryCommit, when time.Time) ([]Result, error) {
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	defer p.closePush() // when no push used the session the heads came with
	p.branches = p.branches[:0]
	for _, t := range trees {
		p.branches = append(p.branches, t.Branch)
	}
	for attempt := 1; ; attempt++ {
		var (
			heads map[string]plumbing.Hash
			err   error
		)
		if p.prefetched != nil {
			f := <-p.prefetched
			p.prefetched = nil
			heads, err = f.heads, f.err
		} else {
			heads, err = p.heads(ctx, trees)
		}
		if err != nil {
			return nil, err // heads says what it read
		}
		// The new objects: everything in the new trees that their parents
		// do not hold. The same pack is stored locally and sent.
		known := map[plumbing.Hash]bool{}
		pack := gitobj.NewPack(func(h plumbing.Hash) bool { return known[h] })
		results, updates, err := p.prepare(ctx, pack, known, trees, heads, dry, when)
		if err != nil {
			return nil, err
		}
		if len(updates) == 0 {
			return results, nil
		}
		var packBytes []byte
		stored := make(chan error, 1)
		if gitobj.SlowPath("pack") {
			if packBytes, err = pack.StoreGoGit(p.Repo.Storer); err != nil {
				return nil, fmt.Errorf("write hydrated commits: %w", err)
			}
			stored <- nil
		} else {
			enc, err := pack.Encode()
			if err != nil {
				return nil, fmt.Errorf("write hydrated commits: %w", err)
			}
			packBytes = enc.Bytes
			// The pack is stored (and fsynced) while the remote takes the
			// push, which sends it from memory; no ref points at its
			// objects before it is stored.
			go func() { stored <- pack.Store(p.Repo.Storer, enc) }()
		}
		if p.BeforePush != nil {
			p.BeforePush(attempt)
		}
		err = p.update(ctx, updates, packBytes, stored)
		if err == nil {
			return results, nil
		}
		if !errors.Is(err, ErrRace) || attempt >= attempts {
			return nil, err
		}
		backoff := time.Duration(50<<attempt)*time.Millisecond + time.Duration(rand.IntN(100))*time.Millisecond
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// update moves a branch, or NotesRef when branch is "".
type update struct {
	branch   string
	old, new plumbing.Hash
}

// ref is the updated ref's full name.
func (u update) ref() plumbing.ReferenceName {
	if u.branch == "" {
		return NotesRef
	}
	return plumbing.ReferenceName("refs/heads/" + u.branch)
}

// key is the ref's key in a heads map.
func (u update) key() string {
	if u.branch == "" {
		return notesKey
	}
	return u.branch
}

// name is the ref as messages name it.
func (u update) name() string {
	if u.branch == "" {
		return NotesRef.String()
	}
	return u.branch
}

// tracking is the ref's remote-tracking ref.
func (u update) tracking() plumbing.ReferenceName { return trackingRef(u.key()) }

// trackingRef is the remote-tracking ref of a heads map key.
func trackingRef(key string) plumbing.ReferenceName {
	if key == notesKey {
		return notesTracking
	}
	return plumbing.ReferenceName(trackingPrefix + key)
}

// heads returns each tree's branch head (zero when the branch is absent),
// and NotesRef's under notesKey: the remote's, fetched, when there is a
// remote; else the local refs.
func (p *Publisher) heads(ctx context.Context, trees []*Tree) (map[string]plumbing.Hash, error) {
	if p.Remote != "" {
		return p.fetch(ctx, trees)
	}
	notes, err := gitobj.ReadRef(p.Repo.Storer, NotesRef)
	if err != nil {
		return nil, fmt.Errorf("read the hydrated branches: %w", err)
	}
	out := map[string]plumbing.Hash{notesKey: notes}
	for _, t := range trees {
		h, err := gitobj.ReadRef(p.Repo.Storer, plumbing.ReferenceName("refs/heads/"+t.Branch))
		if err != nil {
			return nil, fmt.Errorf("read the hydrated branches: %w", err)
		}
		out[t.Branch] = h
	}
	return out, nil
}

// fetch reads the remote's heads of the branches under the trees' common
// prefixes, brings the objects this checkout lacks, and makes the
// remote-tracking refs under refs/flotilla/remote/ equal the heads
// (dropping those of deleted branches). It returns the heads by branch.
//
// The heads come from the advertisement of the receive-pack session the
// push will use (kept in p.push): one request to the remote instead of
// two when the checkout already has the heads' objects — the common case
// — and upload-pack is asked only for what is missing. It does not go
// through go-git's Fetch, whose Prune maps a forced refspec wrongly
// (go-git/go-git#2354) and so deletes and rewrites every tracking ref on
// every run.
func (p *Publisher) fetch(ctx context.Context, trees []*Tree) (map[string]plumbing.Hash, error) {
	var branches []string
	for _, t := range trees {
		branches = append(branches, t.Branch)
	}
	remote, err := p.sync(ctx, branches)
	if err != nil {
		return nil, err
	}
	heads := map[string]plumbing.Hash{notesKey: remote[notesKey]}
	for _, t := range trees {
		heads[t.Branch] = remote[t.Branch] // zero when absent
	}
	return heads, nil
}

// sync reads the remote's heads of the branches under the common
// prefixes of branches, and of NotesRef (under notesKey), from the
// advertisement of a new receive-pack session (kept for the next push),
// brings the objects this checkout lacks, and makes the tracking refs
// under those prefixes, and NotesRef's, equal the remote's heads —
// rewriting tracking refs a killed writer left broken.
func (p *Publisher) sync(ctx context.Context, branches []string) (map[string]plumbing.Hash, error) {
	var prefixes []string
	for _, b := range branches {
		i := strings.LastIndex(b, "/")
		if pre := b[:i+1]; !slices.Contains(prefixes, pre) {
			prefixes = append(prefixes, pre)
		}
	}
	under := func(branch string) bool {
		return slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(branch, pre) })
	}
	fail := func(err error) (map[string]plumbing.Hash, error) {
		return nil, p.remoteError("read the hydrated branches of", err)
	}

	advertised, err := p.advertised(ctx)
	if err != nil {
		return fail(err)
	}
	remote := map[string]plumbing.Hash{} // branch → head
	for name, h := range advertised {
		if branch, ok := strings.CutPrefix(name, "refs/heads/"); ok && under(branch) {
			remote[branch] = h
		}
	}
	if h, ok := advertised[NotesRef.String()]; ok {
		remote[notesKey] = h
	}

	refs, broken, err := gitobj.ReadRefs(p.Repo.Storer, trackingPrefix)
	if err != nil {
		return nil, fmt.Errorf("read the tracking refs: %w", err)
	}
	tracked := map[string]plumbing.Hash{}
	for name, h := range refs {
		if branch := strings.TrimPrefix(name.String(), trackingPrefix); under(branch) {
			tracked[branch] = h
		}
	}
	for _, b := range broken {
		if branch := strings.TrimPrefix(b.Name.String(), trackingPrefix); under(branch) {
			tracked[branch] = plumbing.ZeroHash // rewritten below
		}
	}
	notes, brokenNotes, err := gitobj.ReadRefs(p.Repo.Storer, notesTracking.String())
	if err != nil {
		return nil, fmt.Errorf("read the tracking refs: %w", err)
	}
	if h, ok := notes[notesTracking]; ok {
		tracked[notesKey] = h
	}
	for _, b := range brokenNotes {
		if b.Name == notesTracking {
			tracked[notesKey] = plumbing.ZeroHash
		}
	}

	var wants, haves []plumbing.Hash
	for _, h := range remote {
		if p.Repo.Storer.HasEncodedObject(h) != nil && !slices.Contains(wants, h) {
			wants = append(wants, h)
		}
	}
	for _, h := range tracked {
		if !h.IsZero() && p.Repo.Storer.HasEncodedObject(h) == nil && !slices.Contains(haves, h) {
			haves = append(haves, h)
		}
	}
	if len(wants) > 0 {
		if err := p.fetchObjects(ctx, wants, haves); err != nil {
			return nil, p.remoteError("fetch hydrated branches from", err)
		}
	}

	var moved []gitobj.RefUpdate
	for branch, h := range tracked {
		if _, ok := remote[branch]; !ok {
			moved = append(moved, gitobj.RefUpdate{Name: trackingRef(branch)})
		} else if h.IsZero() {
			moved = append(moved, gitobj.RefUpdate{Name: trackingRef(branch), New: remote[branch]})
		}
	}
	for branch, h := range remote {
		if old, ok := tracked[branch]; !ok || (old != h && !old.IsZero()) {
			moved = append(moved, gitobj.RefUpdate{Name: trackingRef(branch), New: h})
		}
	}
	if err := gitobj.UpdateRefs(p.Repo.Storer, moved); err != nil {
		return nil, fmt.Errorf("record the remote's hydrated branches: %w", err)
	}
	return remote, nil
}

// advertised returns the remote's refs from the advertisement of a new
// receive-pack session, kept for the next push; with SlowPath("push"),
// from go-git's Remote.List.
func (p *Publisher) advertised(ctx context.Context) (map[string]plumbing.Hash, error) {
	if gitobj.SlowPath("push") {
		rem := git.NewRemote(p.Repo.Storer, &config.RemoteConfig{Name: "flotilla-push", URLs: []string{p.Remote}})
		list, err := rem.ListContext(ctx, &git.ListOptions{Auth: p.Auth})
		if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return nil, err
		}
		out := map[string]plumbing.Hash{}
		for _, r := range list {
			if r.Type() == plumbing.HashReference {
				out[r.Name().String()] = r.Hash()
			}
		}
		return out, nil
	}
	sess, err := p.openPush(ctx)
	if err != nil {
		return nil, err
	}
	return sess.adv.References, nil
}

// Track makes the tracking refs (refs/flotilla/remote/<branch>) of the
// remote's branches under prefixes (each ending in "/") equal the
// remote's heads, fetching the objects repo lacks — the read half of
// Publish, crash-safe as it is, for the commands that read the branches
// the renders wrote.
func Track(ctx context.Context, repo *git.Repository, remote string, auth transport.AuthMethod, prefixes ...string) error {
	p := &Publisher{Repo: repo, Remote: remote, Auth: auth}
	defer p.Close()
	_, err := p.sync(ctx, prefixes) // a prefix reads as a branch's folder
	return err
}

// fetchObjects asks upload-pack for the objects of wants, this checkout
// having haves.
func (p *Publisher) fetchObjects(ctx context.Context, wants, haves []plumbing.Hash) error {
	cl, ep, err := endpoint(p.Remote)
	if err != nil {
		return err
	}
	sess, err := cl.NewUploadPackSession(ep, p.Auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(wants, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	slices.SortFunc(haves, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	req.Wants, req.Haves = wants, haves
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	err = gitobj.StoreUploadPack(p.Repo.Storer, req, resp)
	return err
}

// pushSession is an open receive-pack session and what it advertised.
type pushSession struct {
	transport.ReceivePackSession
	adv *packp.AdvRefs
}

// openPush opens a receive-pack session, kept for the next push (closing
// the one kept before, if any).
func (p *Publisher) openPush(ctx context.Context) (*pushSession, error) {
	p.closePush()
	cl, ep, err := endpoint(p.Remote)
	if err != nil {
		return nil, err
	}
	sess, err := cl.NewReceivePackSession(ep, p.Auth)
	if err != nil {
		return nil, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		sess.Close()
		return nil, err
	}
	p.pushSess = &pushSession{sess, ar}
	return p.pushSess, nil
}

// closePush closes a kept receive-pack session that no push used.
func (p *Publisher) closePush() {
	if p.pushSess != nil {
		_ = p.pushSess.Close()
		p.pushSess = nil
	}
}

// remoteError describes a failure talking to the remote: its URL without
// credentials, and what to do when the remote refused us.
func (p *Publisher) remoteError(what string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		hint = " (the remote wants credentials: for an https remote, set GITHUB_TOKEN or FLOTILLA_GIT_TOKEN to a token that may push to it)"
	case errors.Is(err, transport.ErrAuthorizationFailed):
		hint = " (the credentials were refused: the token needs contents: write on the repository)"
	case errors.Is(err, transport.ErrRepositoryNotFound):
		hint = " (check the URL, and that the token can see the repository)"
	}
	return fmt.Errorf("%s %s: %w%s", what, redact.URL(p.Remote), redact.Error(err), hint)
}

// endpoint resolves url to its transport.
func endpoint(url string) (transport.Transport, *transport.Endpoint, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, nil, err
	}
	cl, err := client.NewClient(ep)
	return cl, ep, err
}

// prepare builds the commits of the trees that changed into pack, adding
// every object of the branches' current trees to known.
//
// It reads the branches' heads first, one after another (go-git's object
// reads are not safe for concurrent use); makes each tree's files and
// their hashes in parallel, the old metadata files they keep read under
// one lock; then writes the changed trees and commits in tree order, so
// the pack is the same whatever the scheduling.
func (p *Publisher) prepare(ctx context.Context, pack *gitobj.Pack, known map[plumbing.Hash]bool, trees []*Tree, heads map[string]plumbing.Hash, dry DryCommit, when time.Time) ([]Result, []update, error) {
	type branch struct {
		r      Result
		done   bool // unchanged: r is the result
		parent *object.Commit
		gold   *gitOld
		files  map[string][]byte
		sums   map[string]plumbing.Hash
		msg    string // the head commit's message
	}
	bs := make([]branch, len(trees))
	var readMu sync.Mutex
	for i, t := range trees {
		b := &bs[i]
		b.r = Result{Cluster: t.Cluster.Name, Branch: t.Branch}
		head := heads[t.Branch]
		if head.IsZero() {
			continue
		}
		b.r.Old = head.String()
		c, err := p.Repo.CommitObject(head)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", t.Branch, err)
		}
		b.msg = c.Message
		if c.Committer.Name == Bot.Name && c.Committer.Email == Bot.Email && ContentOf(c.Message) == t.Digest() {
			// Written by Flotilla from the same content: unchanged,
			// without reading the tree.
			b.r.Change, b.done = Change{Objects: t.objects()}, true
			continue
		}
		tr, err := c.Tree()
		if err != nil {
			return nil, nil, fmt.Errorf("read the tree of %s at %s: %w", t.Branch, layout.Short(head.String()), err)
		}
		b.parent = c
		if b.gold, err = gitFiles(tr, known, &readMu); err != nil {
			return nil, nil, fmt.Errorf("read the files of %s at %s: %w", t.Branch, layout.Short(head.String()), err)
		}
	}

	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, t := range trees {
		b := &bs[i]
		if b.done {
			continue
		}
		g.Go(func() error {
			old := Old(MapFiles(nil))
			if b.gold != nil {
				old = b.gold
			}
			files, change, err := t.Files(old, dry)
			if err != nil {
				return fmt.Errorf("build the tree of %s: %w", t.Branch, err)
			}
			b.r.Change, b.files = change, files
			b.sums = make(map[string]plumbing.Hash, len(files))
			for path, content := range files {
				b.sums[path] = gitobj.BlobHash(content)
			}
			if b.gold.same(b.sums) {
				b.r.Change, b.done = Change{Objects: change.Objects}, true
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}

	var (
		results []Result
		updates []update
		bases   = map[*render.Shared]*deltaBase{}
		anc     = &ancestry{p: p, ctx: ctx, ours: plumbing.NewHash(dry.SHA), answers: map[string]string{}}
	)
	var noted []noteTarget
	for i, t := range trees {
		b := &bs[i]
		if b.done {
			results = append(results, b.r)
			if b.r.Old != "" {
				noted = append(noted, noteTarget{commit: heads[t.Branch], dry: DrySHAOf(b.msg), check: true})
			}
			continue
		}
		r := b.r
		if b.parent != nil {
			if why := anc.kept(DrySHAOf(b.parent.Message)); why != "" {
				r.Kept = why
				results = append(results, r)
				continue
			}
		}
		addDeltas(pack, bases, t, b.files, b.sums)
		treeHash, err := writeTree(pack, b.files, b.sums)
		if err != nil {
			return nil, nil, fmt.Errorf("write the tree of %s: %w", t.Branch, err)
		}
		sig := Bot
		sig.When = when
		commit := &object.Commit{Author: sig, Committer: sig, TreeHash: treeHash,
			Message: CommitMessage(t, dry)}
		if b.parent != nil {
			commit.ParentHashes = []plumbing.Hash{b.parent.Hash}
		}
		h, err := gitobj.Write(pack, commit)
		if err != nil {
			return nil, nil, fmt.Errorf("write the commit of %s: %w", t.Branch, err)
		}
		r.New, r.Updated = h.String(), true
		results = append(results, r)
		updates = append(updates, update{branch: t.Branch, old: heads[t.Branch], new: h})
		noted = append(noted, noteTarget{commit: h})
	}
	u, err := p.notes(pack, known, anc, heads[notesKey], noted, dry, when)
	if err != nil {
		return nil, nil, err
	}
	if u != nil {
		updates = append(updates, *u)
	}
	return results, updates, nil
}

// noteTarget is a head that gets the run's note.
type noteTarget struct {
	commit plumbing.Hash
	// dry is the dry commit the head's message names.
	dry string
	// check: the head was there before the run (unchanged), and keeps a
	// note from a newer dry commit, as a changed tree keeps a newer
	// proposal.
	check bool
}

// notes adds to pack a NotesRef commit on notesHead that gives each target
// the note naming dry, as Argo CD's commit server does for the head it
// hydrated (new or unchanged), and returns its update; nil when every
// target has that note already, or no dry commit is known.
func (p *Publisher) notes(pack *gitobj.Pack, known map[plumbing.Hash]bool, anc *ancestry, notesHead plumbing.Hash, targets []noteTarget, dry DryCommit, when time.Time) (*update, error) {
	if len(targets) == 0 || dry.SHA == "" {
		return nil, nil
	}
	n, err := readNotes(p.Repo, notesHead, known)
	if err != nil {
		return nil, err
	}
	content := noteContent(dry.SHA)
	want := gitobj.BlobHash(content)
	set := map[string][]byte{}
	for _, t := range targets {
		h, ok, err := n.lookup(t.commit.String())
		if err != nil {
			return nil, err
		}
		if ok && h == want {
			continue
		}
		if t.check {
			theirs := t.dry
			if ok {
				theirs = noteDrySHA(p.Repo, h)
			}
			if anc.kept(theirs) != "" {
				continue
			}
		}
		set[t.commit.String()] = content
	}
	if len(set) == 0 {
		return nil, nil
	}
	h, err := n.write(pack, set, when)
	if err != nil {
		return nil, fmt.Errorf("write the notes of the hydrated commits: %w", err)
	}
	return &update{old: notesHead, new: h}, nil
}

// update moves the branches: compare-and-set on local refs, or one atomic
// push of pack with the expected old value of every branch.
//
// The remote-tracking refs move only once the remote's answer is known:
// to the new heads when it took them, else to the heads it really has
// (read again; the next attempt starts from them). A run killed during
// the push leaves them at values the remote had.
func (p *Publisher) update(ctx context.Context, updates []update, pack []byte, stored <-chan error) error {
	waited := false
	var storeErr error
	wait := func() error {
		if !waited {
			waited = true
			if err := <-stored; err != nil {
				storeErr = fmt.Errorf("write hydrated commits: %w", err)
			}
		}
		return storeErr
	}
	defer func() {
		if !waited {
			<-stored
		}
	}()
	if p.Remote == "" {
		if err := wait(); err != nil {
			return err
		}
		refs := make([]gitobj.RefUpdate, 0, len(updates))
		for _, u := range updates {
			refs = append(refs, gitobj.RefUpdate{Name: u.ref(), New: u.new, Old: u.old, Check: true})
		}
		err := gitobj.UpdateRefs(p.Repo.Storer, refs)
		if errors.Is(err, gitobj.ErrRefMoved) {
			return fmt.Errorf("%w: %v", ErrRace, err)
		}
		return err
	}
	refs := make([]gitobj.RefUpdate, 0, len(updates))
	names := make([]plumbing.ReferenceName, 0, len(updates))
	for _, u := range updates {
		refs = append(refs, gitobj.RefUpdate{Name: u.tracking(), New: u.new})
		names = append(names, refs[len(refs)-1].Name)
	}
	// A lock left by a killed run would fail the recording after the
	// push: find it before pushing.
	if err := gitobj.CheckLocks(p.Repo.Storer, names); err != nil {
		return fmt.Errorf("record the remote's hydrated branches: %w", err)
	}
	var (
		status *PushError
		err    error
	)
	if gitobj.SlowPath("push") {
		err = p.pushGoGit(ctx, updates, wait)
	} else {
		status, err = p.push(ctx, updates, pack)
	}
	if werr := wait(); werr != nil {
		if err == nil {
			return fmt.Errorf("%w (pushed: the next run fetches them)", werr)
		}
		return errors.Join(err, werr)
	}
	if err == nil {
		if err := gitobj.UpdateRefs(p.Repo.Storer, refs); err != nil {
			return fmt.Errorf("record the pushed branches (pushed: the next run corrects them): %w", err)
		}
		return nil
	}
	// Refused or failed: what does the remote hold now? Every branch at
	// its new head means the push landed; a branch that is not where the
	// push expected it means another writer moved it (a race, tried again
	// from the heads read here); otherwise the remote refused the push
	// itself.
	branches := slices.Clone(p.branches)
	for _, u := range updates {
		if u.branch != "" { // sync reads NotesRef always
			branches = append(branches, u.branch)
		}
	}
	remote, serr := p.sync(ctx, branches)
	if serr != nil {
		return errors.Join(err, serr)
	}
	// The remote holds every new head: the push landed, and only its
	// answer was lost (a dropped connection, a hook failing after the
	// update). sync recorded them in the tracking refs.
	if !slices.ContainsFunc(updates, func(u update) bool { return remote[u.key()] != u.new }) {
		return nil
	}
	raced := ""
	for _, u := range updates {
		if remote[u.key()] != u.old && raced == "" {
			raced = fmt.Sprintf("%s is at %s on the remote, expected %s", u.name(), layout.Short(orNone(remote[u.key()])), layout.Short(orNone(u.old)))
		}
	}
	if raced != "" {
		p.prefetched = make(chan fetched, 1)
		p.prefetched <- fetched{heads: remote} // absent branches read as zero
		return fmt.Errorf("%w: %s", ErrRace, raced)
	}
	if status != nil {
		return status
	}
	return err
}

func orNone(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing"
	}
	return h.String()
}

// PushError is a push the remote answered but did not take, for a reason
// other than a lost race: its per-ref status (receive-pack's report) and
// what it printed (its hooks' messages, a protected-branch rule).
type PushError struct {
	// Remote is the remote's URL, without credentials.
	Remote string
	// Unpack is the remote's unpack status when it is not "ok".
	Unpack string
	// Refused maps each refused branch to the reason the remote gave.
	Refused map[string]string
	// Messages are the lines the remote printed (git shows them as
	// "remote: ...").
	Messages []string
}

// FailureClass is failure.Remote: the remote refused what was sent (a
// hook, a protected-branch rule); nothing changed there.
func (e *PushError) FailureClass() failure.Class { return failure.Remote }

func (e *PushError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "push to %s refused", e.Remote)
	if e.Unpack != "" {
		fmt.Fprintf(&b, ": unpack: %s", e.Unpack)
	}
	// Branches by reason: an atomic push refuses every branch when one is
	// refused, and 200 lines of the same reason say nothing.
	byReason := map[string][]string{}
	for branch, why := range e.Refused {
		byReason[why] = append(byReason[why], branch)
	}
	reasons := make([]string, 0, len(byReason))
	for why := range byReason {
		reasons = append(reasons, why)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if a, b := len(byReason[reasons[i]]), len(byReason[reasons[j]]); a != b {
			return a < b
		}
		return reasons[i] < reasons[j]
	})
	for _, why := range reasons {
		branches := byReason[why]
		slices.Sort(branches)
		list := strings.Join(branches[:min(len(branches), 3)], ", ")
		if len(branches) > 3 {
			list += fmt.Sprintf(" and %d more", len(branches)-3)
		}
		fmt.Fprintf(&b, "; %s: %s", list, why)
	}
	if len(e.Messages) > 0 {
		b.WriteString("; the remote said:")
		for _, m := range e.Messages {
			b.WriteString("\n  remote: " + m)
		}
	}
	b.WriteString("\nnothing was pushed: fix what the remote refuses (a protected-branch rule or hook on the hydrated branches) and run again")
	return b.String()
}

// pushGoGit is push done by go-git's Remote.Push, for SlowPath("push"):
// the new heads go to local refs under refs/flotilla/push/, and go-git
// walks the objects to send and encodes their pack itself. The old values
// are required (RequireRemoteRefs) where the branch exists; new branches
// are not checked.
func (p *Publisher) pushGoGit(ctx context.Context, updates []update, wait func() error) error {
	if err := wait(); err != nil {
		return err
	}
	var (
		local          []gitobj.RefUpdate
		specs, require []config.RefSpec
	)
	for _, u := range updates {
		src := plumbing.ReferenceName("refs/flotilla/push/" + strings.TrimPrefix(u.ref().String(), "refs/"))
		local = append(local, gitobj.RefUpdate{Name: src, New: u.new})
		specs = append(specs, config.RefSpec("+"+src.String()+":"+u.ref().String()))
		if !u.old.IsZero() {
			require = append(require, config.RefSpec(u.old.String()+":"+u.ref().String()))
		}
	}
	if err := gitobj.UpdateRefs(p.Repo.Storer, local); err != nil {
		return err
	}
	rem := git.NewRemote(p.Repo.Storer, &config.RemoteConfig{Name: "flotilla-push", URLs: []string{p.Remote}})
	err := rem.PushContext(ctx, &git.PushOptions{RemoteName: "flotilla-push", Auth: p.Auth, RefSpecs: specs,
		RequireRemoteRefs: require, Atomic: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return p.remoteError("push to", err)
	}
	return nil
}

// push sends pack and every branch's update in one receive-pack request.
// The server moves a branch only if it is still at the old value the
// update names, and with the atomic capability moves all or none. The
// result comes from receive-pack's report (ok/ng per ref): a *PushError
// when it refused, with what the remote printed on the sideband.
func (p *Publisher) push(ctx context.Context, updates []update, pack []byte) (*PushError, error) {
	sess := p.pushSess
	if sess == nil {
		var err error
		if sess, err = p.openPush(ctx); err != nil {
			return nil, p.remoteError("push to", err)
		}
	}
	p.pushSess = nil
	defer sess.Close()
	ar := sess.adv
	remoteRefs, err := ar.AllReferences()
	if err != nil {
		return nil, p.remoteError("push to", err)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.Atomic) {
		_ = req.Capabilities.Set(capability.Atomic)
	}
	// The sideband carries what the remote prints (hooks, rules) apart
	// from the report.
	msgs := &remoteMessages{}
	if ar.Capabilities.Supports(capability.Sideband64k) {
		_ = req.Capabilities.Set(capability.Sideband64k)
		req.Progress = msgs
	} else if ar.Capabilities.Supports(capability.Sideband) {
		_ = req.Capabilities.Set(capability.Sideband)
		req.Progress = msgs
	}
	for _, u := range updates {
		name := u.ref()
		cur := plumbing.ZeroHash
		if ref, err := remoteRefs.Reference(name); err == nil {
			cur = ref.Hash()
		}
		if cur != u.old {
			return nil, fmt.Errorf("%w: %s is at %s on the remote, expected %s", ErrRace, u.name(), cur, u.old)
		}
		req.Commands = append(req.Commands, &packp.Command{Name: name, Old: u.old, New: u.new})
	}
	req.Packfile = io.NopCloser(bytes.NewReader(pack))
	rs, err := sess.ReceivePack(ctx, req)
	if rs == nil {
		if err == nil {
			return nil, fmt.Errorf("push to %s: the remote sent no report", redact.URL(p.Remote))
		}
		if m := msgs.lines(); len(m) > 0 {
			err = fmt.Errorf("%w; the remote said:\n  remote: %s", err, strings.Join(m, "\n  remote: "))
		}
		return nil, p.remoteError("push to", err)
	}
	refused := &PushError{Remote: redact.URL(p.Remote), Refused: map[string]string{}, Messages: msgs.lines()}
	if rs.UnpackStatus != "ok" {
		refused.Unpack = rs.UnpackStatus
	}
	done := map[plumbing.ReferenceName]bool{}
	for _, cs := range rs.CommandStatuses {
		if cs.Status == "ok" {
			done[cs.ReferenceName] = true
		} else {
			refused.Refused[strings.TrimPrefix(cs.ReferenceName.String(), "refs/heads/")] = cs.Status
		}
	}
	for _, c := range req.Commands {
		if !done[c.Name] && refused.Refused[strings.TrimPrefix(c.Name.String(), "refs/heads/")] == "" {
			refused.Refused[strings.TrimPrefix(c.Name.String(), "refs/heads/")] = "not in the remote's report"
		}
	}
	if refused.Unpack != "" || len(refused.Refused) > 0 {
		return refused, refused
	}
	return nil, nil
}

// remoteMessages collects the lines the remote prints on the sideband,
// up to a bound.
type remoteMessages struct {
	mu  sync.Mutex
	buf []byte
}

func (m *remoteMessages) Write(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if room := 64<<10 - len(m.buf); room > 0 {
		m.buf = append(m.buf, b[:min(len(b), room)]...)
	}
	return len(b), nil
}

func (m *remoteMessages) lines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, l := range strings.FieldsFunc(string(m.buf), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimRight(l, " \t"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// gitOld is a branch's tree, compared by blob hash and read lazily.
type gitOld struct {
	tree   *object.Tree
	hashes map[string]plumbing.Hash
	readMu *sync.Mutex // held while reading objects
}

// gitFiles reads a tree's file list, adding the hash of every object in it
// to known. Its files are read later under readMu.
func gitFiles(t *object.Tree, known map[plumbing.Hash]bool, readMu *sync.Mutex) (*gitOld, error) {
	g := &gitOld{tree: t, hashes: map[string]plumbing.Hash{}, readMu: readMu}
	known[t.Hash] = true
	walker := object.NewTreeWalker(t, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			return g, nil
		}
		if err != nil {
			return nil, err
		}
		known[entry.Hash] = true
		if entry.Mode.IsFile() {
			g.hashes[name] = entry.Hash
		}
	}
}

func (g *gitOld) Paths() []string {
	out := make([]string, 0, len(g.hashes))
	for p := range g.hashes {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (g *gitOld) Has(path string) bool { _, ok := g.hashes[path]; return ok }

func (g *gitOld) Same(path string, content []byte) bool {
	h, ok := g.hashes[path]
	return ok && h == gitobj.BlobHash(content)
}

// same reports whether the files with these blob hashes are exactly the
// tree's (false for no tree).
func (g *gitOld) same(sums map[string]plumbing.Hash) bool {
	if g == nil || len(g.hashes) != len(sums) {
		return false
	}
	for path, h := range sums {
		if old, ok := g.hashes[path]; !ok || old != h {
			return false
		}
	}
	return true
}

func (g *gitOld) Read(path string) ([]byte, bool) {
	if !g.Has(path) {
		return nil, false
	}
	g.readMu.Lock()
	defer g.readMu.Unlock()
	f, err := g.tree.File(path)
	if err != nil {
		return nil, false
	}
	s, err := f.Contents()
	if err != nil {
		return nil, false
	}
	return []byte(s), true
}

// deltaBase is, for one group of apps that share their YAML, the first
// manifest and the first metadata file added whole to a pack, the bases
// of the others' deltas.
type deltaBase struct {
	manifest, metadata         plumbing.Hash
	manifestData, metadataData []byte
}

// addDeltas adds the new manifests and metadata of t's apps that can be
// deltas of others. The first manifest and metadata file of each group of
// apps that share their YAML go in whole, the others as deltas from them
// made by go-git's packfile.DiffDelta: a manifest differs from its base
// in the app's name, a metadata file in its destination and content hash.
// Most of a fleet's files are such near copies: without deltas a full
// push carries and compresses each one whole (38% more CPU time for
// make bench's full run).
func addDeltas(pack *gitobj.Pack, bases map[*render.Shared]*deltaBase, t *Tree, files map[string][]byte, sums map[string]plumbing.Hash) {
	if gitobj.SlowPath("nodelta") {
		return
	}
	add := func(base *plumbing.Hash, baseData *[]byte, h plumbing.Hash, data []byte) {
		if pack.HasEncodedObject(h) == nil || len(data) == 0 {
			return
		}
		if base.IsZero() {
			pack.AddBlob(h, data)
			*base, *baseData = h, data
			return
		}
		pack.DeltaBlob(h, data, *base, packfile.DiffDelta(*baseData, data))
	}
	for i := range t.Apps {
		a := &t.Apps[i]
		b := bases[a.shared]
		if b == nil {
			b = &deltaBase{}
			bases[a.shared] = b
		}
		mdPath := a.Name + "/" + MetadataFile
		add(&b.metadata, &b.metadataData, sums[mdPath], files[mdPath])
		if a.shared != nil {
			path := a.Name + "/" + ManifestFile
			add(&b.manifest, &b.manifestData, sums[path], files[path])
		}
	}
}

// writeTree stores files, whose blob hashes are sums, as blobs and trees
// and returns the root tree.
func writeTree(s gitobj.Store, files map[string][]byte, sums map[string]plumbing.Hash) (plumbing.Hash, error) {
	for p, c := range files {
		if _, err := gitobj.HashedBlob(s, sums[p], c); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	return gitobj.Files(s, sums)
}
