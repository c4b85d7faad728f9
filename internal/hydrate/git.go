package hydrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
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
	for attempt := 1; ; attempt++ {
		heads, err := p.heads(ctx, trees)
		if err != nil {
			return nil, fmt.Errorf("read the hydrated branches: %w", err)
		}
		stage := newStaging(p.Repo.Storer)
		results, updates, err := p.prepare(stage, trees, heads, dry, when)
		if err != nil {
			return nil, err
		}
		if len(updates) == 0 {
			return results, nil
		}
		if err := stage.flush(); err != nil {
			return nil, fmt.Errorf("write hydrated commits: %w", err)
		}
		if p.BeforePush != nil {
			p.BeforePush(attempt)
		}
		err = p.update(ctx, updates)
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

// heads returns each tree's branch head (zero when the branch is absent),
// fetched from the remote when there is one.
func (p *Publisher) heads(ctx context.Context, trees []*Tree) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	prefix := "refs/heads/"
	if p.Remote != "" {
		if err := p.fetch(ctx, trees); err != nil {
			return nil, err
		}
		prefix = trackingPrefix
	}
	for _, t := range trees {
		ref, err := p.Repo.Reference(plumbing.ReferenceName(prefix+t.Branch), false)
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

// remoteName names the anonymous remote; it is never saved in the config.
const remoteName = "flotilla"

func (p *Publisher) remote() *git.Remote {
	return git.NewRemote(p.Repo.Storer, &config.RemoteConfig{Name: remoteName, URLs: []string{p.Remote}})
}

// fetch brings the remote's branches under the trees' common prefix into
// refs/flotilla/remote/, pruning deleted ones.
func (p *Publisher) fetch(ctx context.Context, trees []*Tree) error {
	prefixes := map[string]bool{}
	for _, t := range trees {
		i := strings.LastIndex(t.Branch, "/")
		prefixes[t.Branch[:i+1]] = true
	}
	var specs []config.RefSpec
	for pre := range prefixes {
		specs = append(specs, config.RefSpec("+refs/heads/"+pre+"*:"+trackingPrefix+pre+"*"))
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i] < specs[j] })
	err := p.remote().FetchContext(ctx, &git.FetchOptions{RemoteName: remoteName, RefSpecs: specs, Auth: p.Auth, Prune: true, Tags: git.NoTags})
	switch {
	case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, transport.ErrEmptyRemoteRepository) || isNoMatchingRef(err):
		// The remote has none of the branches; a fetch prunes nothing then,
		// so forget what this checkout saw of them before (perhaps on
		// another remote).
		return p.forgetTracking(prefixes)
	default:
		return fmt.Errorf("fetch hydrated branches from %s: %w", p.Remote, err)
	}
}

// forgetTracking deletes the remote-tracking refs under the prefixes.
func (p *Publisher) forgetTracking(prefixes map[string]bool) error {
	refs, err := p.Repo.Storer.IterReferences()
	if err != nil {
		return err
	}
	var stale []plumbing.ReferenceName
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		for pre := range prefixes {
			if strings.HasPrefix(r.Name().String(), trackingPrefix+pre) {
				stale = append(stale, r.Name())
				break
			}
		}
		return nil
	})
	for _, name := range stale {
		if err := p.Repo.Storer.RemoveReference(name); err != nil {
			return fmt.Errorf("forget %s: %w", name, err)
		}
	}
	return nil
}

func isNoMatchingRef(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "couldn't find remote ref") || errors.Is(err, git.NoMatchingRefSpecError{}))
}

// prepare builds the commits of the trees that changed.
func (p *Publisher) prepare(stage *staging, trees []*Tree, heads map[string]plumbing.Hash, dry DryCommit, when time.Time) ([]Result, []update, error) {
	var (
		results []Result
		updates []update
	)
	for _, t := range trees {
		r := Result{Cluster: t.Cluster.Name, Branch: t.Branch}
		head := heads[t.Branch]
		old := Old(MapFiles(nil))
		var parent *object.Commit
		if !head.IsZero() {
			r.Old = head.String()
			c, err := p.Repo.CommitObject(head)
			if err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", t.Branch, err)
			}
			tr, err := c.Tree()
			if err != nil {
				return nil, nil, fmt.Errorf("read the tree of %s at %s: %w", t.Branch, short(head.String()), err)
			}
			parent = c
			if old, err = gitFiles(tr); err != nil {
				return nil, nil, fmt.Errorf("read the files of %s at %s: %w", t.Branch, short(head.String()), err)
			}
		}
		files, change, err := t.Files(old, dry)
		if err != nil {
			return nil, nil, fmt.Errorf("build the tree of %s: %w", t.Branch, err)
		}
		r.Change = change
		if Unchanged(files, old) {
			r.Change = Change{Objects: change.Objects}
			results = append(results, r)
			continue
		}
		if parent != nil {
			if why := p.newerProposal(parent, dry.SHA, when); why != "" {
				r.Kept = why
				results = append(results, r)
				continue
			}
		}
		treeHash, err := writeTree(stage, files)
		if err != nil {
			return nil, nil, fmt.Errorf("write the tree of %s: %w", t.Branch, err)
		}
		sig := Bot
		sig.When = when
		commit := &object.Commit{Author: sig, Committer: sig, TreeHash: treeHash,
			Message: CommitMessage(t.Cluster.Name, dry, len(t.Apps))}
		if parent != nil {
			commit.ParentHashes = []plumbing.Hash{parent.Hash}
		}
		h, err := gitobj.Write(stage, commit)
		if err != nil {
			return nil, nil, fmt.Errorf("write the commit of %s: %w", t.Branch, err)
		}
		r.New, r.Updated = h.String(), true
		results = append(results, r)
		updates = append(updates, update{branch: t.Branch, old: head, new: h})
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
// fast-forward push.
func (p *Publisher) update(ctx context.Context, updates []update) error {
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
	var specs []config.RefSpec
	for _, u := range updates {
		local := plumbing.ReferenceName("refs/flotilla/out/" + u.branch)
		if err := p.Repo.Storer.SetReference(plumbing.NewHashReference(local, u.new)); err != nil {
			return err
		}
		specs = append(specs, config.RefSpec(string(local)+":refs/heads/"+u.branch))
	}
	err := p.remote().PushContext(ctx, &git.PushOptions{RemoteName: remoteName, RefSpecs: specs, Auth: p.Auth, Atomic: true})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	msg := err.Error()
	for _, race := range []string{"non-fast-forward", "fetch first", "stale info", "failed to update ref", "rejected", "cannot lock ref", "atomic"} {
		if strings.Contains(msg, race) {
			return fmt.Errorf("%w: %v", ErrRace, err)
		}
	}
	return fmt.Errorf("push to %s: %w", p.Remote, err)
}

// gitOld is a branch's tree, compared by blob hash and read lazily.
type gitOld struct {
	tree   *object.Tree
	hashes map[string]plumbing.Hash
}

func gitFiles(t *object.Tree) (*gitOld, error) {
	g := &gitOld{tree: t, hashes: map[string]plumbing.Hash{}}
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
	return ok && h == plumbing.ComputeHash(plumbing.BlobObject, content)
}

func (g *gitOld) Read(path string) ([]byte, bool) {
	if !g.Has(path) {
		return nil, false
	}
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

// staging collects new objects in memory and writes them to the repository
// as one packfile: thousands of small loose objects, one file each, would
// cost more than everything else a render does.
type staging struct {
	repo   storer.EncodedObjectStorer
	mem    *memory.ObjectStorage
	hashes []plumbing.Hash
}

func newStaging(repo storer.EncodedObjectStorer) *staging {
	st := memory.NewStorage()
	return &staging{repo: repo, mem: &st.ObjectStorage}
}

func (s *staging) NewEncodedObject() plumbing.EncodedObject { return &plumbing.MemoryObject{} }

func (s *staging) HasEncodedObject(h plumbing.Hash) error {
	if s.mem.HasEncodedObject(h) == nil {
		return nil
	}
	return s.repo.HasEncodedObject(h)
}

func (s *staging) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	h := o.Hash()
	if s.HasEncodedObject(h) == nil {
		return h, nil
	}
	s.hashes = append(s.hashes, h)
	return s.mem.SetEncodedObject(o)
}

// flush writes the staged objects into the repository.
func (s *staging) flush() error {
	if len(s.hashes) == 0 {
		return nil
	}
	pw, ok := s.repo.(storer.PackfileWriter)
	if !ok {
		for _, h := range s.hashes {
			o, err := s.mem.EncodedObject(plumbing.AnyObject, h)
			if err != nil {
				return err
			}
			if _, err := s.repo.SetEncodedObject(o); err != nil {
				return err
			}
		}
		return nil
	}
	w, err := pw.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := packfile.NewEncoder(w, s.mem, false).Encode(s.hashes, 10); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// writeTree stores files as blobs and trees and returns the root tree.
func writeTree(s gitobj.Store, files map[string][]byte) (plumbing.Hash, error) {
	hashes := make(map[string]plumbing.Hash, len(files))
	for p, c := range files {
		h, err := gitobj.Blob(s, c)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		hashes[p] = h
	}
	return gitobj.Files(s, hashes)
}
