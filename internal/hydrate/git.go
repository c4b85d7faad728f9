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
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
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
	// Attempts bounds the tries when a push loses a race (default 5).
	Attempts int
	// BeforePush, when set, runs between building the commits and pushing
	// them (tests use it to lose a race on purpose).
	BeforePush func(attempt int)

	prefetched chan fetched
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

// ErrRace means the remote moved between fetch and push.
var ErrRace = errors.New("the remote branches moved while rendering")

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
			return nil, fmt.Errorf("read the hydrated branches: %w", err)
		}
		// The new objects: everything in the new trees that their parents
		// do not hold. The same pack is stored locally and sent.
		known := map[plumbing.Hash]bool{}
		pack := gitobj.NewPack(func(h plumbing.Hash) bool { return known[h] })
		results, updates, err := p.prepare(pack, known, trees, heads, dry, when)
		if err != nil {
			return nil, err
		}
		if len(updates) == 0 {
			return results, nil
		}
		enc, err := pack.Encode()
		if err == nil {
			err = pack.Store(p.Repo.Storer, enc)
		}
		if err != nil {
			return nil, fmt.Errorf("write hydrated commits: %w", err)
		}
		if p.BeforePush != nil {
			p.BeforePush(attempt)
		}
		err = p.update(ctx, updates, enc.Bytes)
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

type update struct {
	branch   string
	old, new plumbing.Hash
}

// heads returns each tree's branch head (zero when the branch is absent):
// the remote's, fetched, when there is a remote; else the local branch.
func (p *Publisher) heads(ctx context.Context, trees []*Tree) (map[string]plumbing.Hash, error) {
	if p.Remote != "" {
		return p.fetch(ctx, trees)
	}
	out := map[string]plumbing.Hash{}
	for _, t := range trees {
		ref, err := p.Repo.Reference(plumbing.ReferenceName("refs/heads/"+t.Branch), false)
		switch {
		case errors.Is(err, plumbing.ErrReferenceNotFound):
			out[t.Branch] = plumbing.ZeroHash
		case err != nil:
			return nil, err
		default:
			out[t.Branch] = ref.Hash()
		}
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
	var prefixes []string
	for _, t := range trees {
		i := strings.LastIndex(t.Branch, "/")
		if pre := t.Branch[:i+1]; !slices.Contains(prefixes, pre) {
			prefixes = append(prefixes, pre)
		}
	}
	under := func(branch string) bool {
		return slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(branch, pre) })
	}
	fail := func(err error) (map[string]plumbing.Hash, error) {
		return nil, p.remoteError("read the hydrated branches of", err)
	}

	sess, err := p.openPush(ctx)
	if err != nil {
		return fail(err)
	}
	remote := map[string]plumbing.Hash{} // branch → head
	for name, h := range sess.adv.References {
		if branch, ok := strings.CutPrefix(name, "refs/heads/"); ok && under(branch) {
			remote[branch] = h
		}
	}

	tracked := map[string]plumbing.Hash{}
	refs, err := p.Repo.Storer.IterReferences()
	if err != nil {
		return nil, err
	}
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		if branch, ok := strings.CutPrefix(r.Name().String(), trackingPrefix); ok && under(branch) && r.Type() == plumbing.HashReference {
			tracked[branch] = r.Hash()
		}
		return nil
	})

	var wants, haves []plumbing.Hash
	for _, h := range remote {
		if p.Repo.Storer.HasEncodedObject(h) != nil && !slices.Contains(wants, h) {
			wants = append(wants, h)
		}
	}
	for _, h := range tracked {
		if p.Repo.Storer.HasEncodedObject(h) == nil && !slices.Contains(haves, h) {
			haves = append(haves, h)
		}
	}
	if len(wants) > 0 {
		if err := p.fetchObjects(ctx, wants, haves); err != nil {
			return nil, p.remoteError("fetch hydrated branches from", err)
		}
	}

	moved := map[plumbing.ReferenceName]plumbing.Hash{}
	for branch := range tracked {
		if _, ok := remote[branch]; !ok {
			moved[plumbing.ReferenceName(trackingPrefix+branch)] = plumbing.ZeroHash
		}
	}
	for branch, h := range remote {
		if tracked[branch] != h {
			moved[plumbing.ReferenceName(trackingPrefix+branch)] = h
		}
	}
	if err := setRefs(p.Repo.Storer, moved); err != nil {
		return nil, err
	}
	heads := map[string]plumbing.Hash{}
	for _, t := range trees {
		heads[t.Branch] = remote[t.Branch] // zero when absent
	}
	return heads, nil
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
	var r io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	err = packfile.UpdateObjectStorage(p.Repo.Storer, r)
	if cerr := resp.Close(); err == nil {
		err = cerr
	}
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
	return fmt.Errorf("%s %s: %w%s", what, redact.URL(p.Remote), err, hint)
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
func (p *Publisher) prepare(pack *gitobj.Pack, known map[plumbing.Hash]bool, trees []*Tree, heads map[string]plumbing.Hash, dry DryCommit, when time.Time) ([]Result, []update, error) {
	type branch struct {
		r      Result
		done   bool // unchanged: r is the result
		parent *object.Commit
		gold   *gitOld
		files  map[string][]byte
		sums   map[string]plumbing.Hash
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
		if c.Committer.Name == Bot.Name && c.Committer.Email == Bot.Email && ContentOf(c.Message) == t.Digest() {
			// Written by Flotilla from the same content: unchanged,
			// without reading the tree.
			b.r.Change, b.done = Change{Objects: t.objects()}, true
			continue
		}
		tr, err := c.Tree()
		if err != nil {
			return nil, nil, fmt.Errorf("read the tree of %s at %s: %w", t.Branch, short(head.String()), err)
		}
		b.parent = c
		if b.gold, err = gitFiles(tr, known, &readMu); err != nil {
			return nil, nil, fmt.Errorf("read the files of %s at %s: %w", t.Branch, short(head.String()), err)
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
	)
	for i, t := range trees {
		b := &bs[i]
		if b.done {
			results = append(results, b.r)
			continue
		}
		r := b.r
		if b.parent != nil {
			if why := p.newerProposal(b.parent, dry.SHA, when); why != "" {
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
	}
	return results, updates, nil
}

// newerProposal returns why the branch head must not be replaced: it was
// rendered from a dry commit that descends from ours. When this checkout
// does not have that commit (a shallow CI clone), the commit dates decide:
// hydrated commits carry their dry commit's date.
func (p *Publisher) newerProposal(head *object.Commit, drySHA string, when time.Time) string {
	theirs := DrySHAOf(head.Message)
	if theirs == "" || theirs == drySHA {
		return ""
	}
	tc, err := p.Repo.CommitObject(plumbing.NewHash(theirs))
	if err != nil {
		if head.Committer.When.After(when) {
			return fmt.Sprintf("the branch holds a proposal from dry commit %s, dated %s, after this one", short(theirs), head.Committer.When.UTC().Format(time.RFC3339))
		}
		return ""
	}
	ours, err := p.Repo.CommitObject(plumbing.NewHash(drySHA))
	if err != nil {
		return ""
	}
	if newer, err := ours.IsAncestor(tc); err == nil && newer {
		return fmt.Sprintf("the branch holds a proposal from dry commit %s, which is newer than %s", short(theirs), short(drySHA))
	}
	return ""
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// update moves the branches: compare-and-set on local refs, or one atomic
// push of pack with the expected old value of every branch.
func (p *Publisher) update(ctx context.Context, updates []update, pack []byte) error {
	if p.Remote == "" {
		for _, u := range updates {
			name := plumbing.ReferenceName("refs/heads/" + u.branch)
			cur, err := p.Repo.Reference(name, false)
			curHash := plumbing.ZeroHash
			if err == nil {
				curHash = cur.Hash()
			} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
				return err
			}
			if curHash != u.old {
				return fmt.Errorf("%w: %s is at %s, expected %s", ErrRace, u.branch, curHash, u.old)
			}
		}
		for _, u := range updates {
			name := plumbing.ReferenceName("refs/heads/" + u.branch)
			var old *plumbing.Reference
			if !u.old.IsZero() {
				old = plumbing.NewHashReference(name, u.old)
			}
			if err := p.Repo.Storer.CheckAndSetReference(plumbing.NewHashReference(name, u.new), old); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrRace, u.branch, err)
			}
		}
		return nil
	}
	// The remote-tracking refs move to the new heads while the remote
	// takes the push, so the next run's fetch has nothing to bring.
	// A failed push puts them back; were that to fail too, the next fetch
	// rewrites every tracking ref that differs from the remote.
	tracked := make(chan error, 1)
	go func() { tracked <- p.track(updates, func(u update) plumbing.Hash { return u.new }) }()
	err := p.push(ctx, updates, pack)
	if terr := <-tracked; err == nil {
		return terr
	}
	_ = p.track(updates, func(u update) plumbing.Hash { return u.old })
	return err
}

// track points each update's remote-tracking ref at the hash at picks
// (none when zero).
func (p *Publisher) track(updates []update, at func(update) plumbing.Hash) error {
	refs := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, u := range updates {
		refs[plumbing.ReferenceName(trackingPrefix+u.branch)] = at(u)
	}
	return setRefs(p.Repo.Storer, refs)
}

// push sends pack and every branch's update in one receive-pack request.
// The server moves a branch only if it is still at the old value the
// update names, and with the atomic capability moves all or none.
func (p *Publisher) push(ctx context.Context, updates []update, pack []byte) error {
	sess := p.pushSess
	if sess == nil {
		var err error
		if sess, err = p.openPush(ctx); err != nil {
			return p.remoteError("push to", err)
		}
	}
	p.pushSess = nil
	defer sess.Close()
	ar := sess.adv
	remoteRefs, err := ar.AllReferences()
	if err != nil {
		return p.remoteError("push to", err)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.Atomic) {
		_ = req.Capabilities.Set(capability.Atomic)
	}
	for _, u := range updates {
		name := plumbing.ReferenceName("refs/heads/" + u.branch)
		cur := plumbing.ZeroHash
		if ref, err := remoteRefs.Reference(name); err == nil {
			cur = ref.Hash()
		}
		if cur != u.old {
			return fmt.Errorf("%w: %s is at %s on the remote, expected %s", ErrRace, u.branch, cur, u.old)
		}
		req.Commands = append(req.Commands, &packp.Command{Name: name, Old: u.old, New: u.new})
	}
	req.Packfile = io.NopCloser(bytes.NewReader(pack))
	rs, err := sess.ReceivePack(ctx, req)
	if err == nil && rs != nil {
		err = rs.Error()
	}
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, race := range []string{"non-fast-forward", "fetch first", "stale info", "failed to update ref", "rejected", "cannot lock ref", "atomic"} {
		if strings.Contains(msg, race) {
			return fmt.Errorf("%w: %v", ErrRace, err)
		}
	}
	return p.remoteError("push to", err)
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
	sort.Strings(out)
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
// manifest added whole to a pack and the first metadata file.
type deltaBase struct {
	hash plumbing.Hash
	name string
	meta plumbing.Hash
	data *gitobj.LineBase // the metadata file
}

// addDeltas adds the new manifests and metadata of t's apps that can be
// deltas of others. A manifest that shares its YAML with others goes in
// whole for the first of its group and as a delta from it for the rest,
// copying the shared bytes and inserting the app's name. A metadata file
// goes in as a line delta from the first of its group (the same layout,
// another destination and content hash). Most of a fleet's files are such
// near copies: without deltas a full push carries and compresses each one
// whole.
func addDeltas(pack *gitobj.Pack, bases map[*render.Shared]*deltaBase, t *Tree, files map[string][]byte, sums map[string]plumbing.Hash) {
	for i := range t.Apps {
		a := &t.Apps[i]
		b := bases[a.shared]
		if b == nil {
			b = &deltaBase{}
			bases[a.shared] = b
		}
		mdPath := a.Name + "/" + MetadataFile
		if h, data := sums[mdPath], files[mdPath]; pack.HasEncodedObject(h) != nil && len(data) > 0 {
			if b.data == nil {
				pack.AddBlob(h, data)
				b.meta, b.data = h, gitobj.NewLineBase(data)
			} else {
				pack.DeltaBlob(h, data, b.meta, b.data.Delta(data))
			}
		}
		path := a.Name + "/" + ManifestFile
		h := sums[path]
		if a.shared == nil || pack.HasEncodedObject(h) == nil {
			continue
		}
		if !bytes.Equal(gitobj.Join(a.shared.Segments, a.Name), files[path]) {
			continue // not what the delta would make: stored whole
		}
		if b.hash.IsZero() {
			pack.AddBlob(h, files[path])
			b.hash, b.name = h, a.Name
			continue
		}
		pack.DeltaBlob(h, files[path], b.hash, gitobj.TemplateDelta(a.shared.Segments, b.name, a.Name))
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
