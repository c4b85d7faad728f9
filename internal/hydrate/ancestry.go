package hydrate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// The "never back in time" rule: a branch whose head was rendered from a
// dry commit that descends from ours holds a newer proposal and is kept.
// Only ancestry decides — commit dates cannot (two commits in the same
// second, clocks, rebases). A shallow CI clone lacks the history, so it
// is deepened from the fleet's origin, in steps, until the answer is
// known; when it still is not, the branch is kept and the result says why.

// deepenSteps are the depths asked for, one after the other; the last is
// the whole history.
var deepenSteps = []int{64, 1024, math.MaxInt32}

// ancestry answers, for one Publish, whether branch heads rendered from
// other dry commits are newer than ours, deepening the checkout when it
// lacks the history to say. Ours' ancestry is walked once (again after
// each deepening); each branch's question is then a lookup, and a walk
// from theirs only when theirs is not among ours' ancestors.
type ancestry struct {
	p       *Publisher
	ctx     context.Context
	ours    plumbing.Hash
	line    *lineage          // ours' ancestry in the history at hand; nil after deepening
	step    int               // deepenSteps done
	deepErr error             // why the last deepening failed
	answers map[string]string // their dry SHA → why kept ("" to replace)
}

// kept returns why a branch whose head was rendered from dry commit
// theirs must be kept, "" when ours may replace it.
func (a *ancestry) kept(theirs string) string {
	if theirs == "" || theirs == a.ours.String() || !plumbing.IsHash(theirs) {
		return ""
	}
	if why, ok := a.answers[theirs]; ok {
		return why
	}
	why := a.decide(plumbing.NewHash(theirs))
	a.answers[theirs] = why
	return why
}

func (a *ancestry) decide(theirs plumbing.Hash) string {
	for {
		if a.line == nil {
			line, err := newLineage(a.p.Repo.Storer, a.ours)
			if err != nil {
				a.deepErr = err
				break
			}
			a.line = line
		}
		switch a.line.order(theirs) {
		case orderAfter:
			return fmt.Sprintf("the branch holds a proposal from dry commit %s, which is newer than %s", layout.Short(theirs.String()), layout.Short(a.ours.String()))
		case orderBefore, orderNotAfter, orderDiverged:
			// Not newer: older, or from a history ours does not
			// continue (a rewritten fleet history), which ours replaces.
			return ""
		}
		if a.step >= len(deepenSteps) || a.deepErr != nil {
			break
		}
		var full bool
		u, auth, err := a.p.origin()
		if err == nil {
			_, full, err = deepen(a.ctx, a.p.Repo, u, auth, deepenSteps[a.step], []plumbing.Hash{a.ours, theirs}, "")
		}
		a.deepErr = err
		a.line = nil
		a.step++
		if full {
			a.step = len(deepenSteps)
		}
	}
	why := fmt.Sprintf("cannot tell whether dry commit %s, from which the branch was rendered, is newer than %s, so the branch is kept", layout.Short(theirs.String()), layout.Short(a.ours.String()))
	if a.deepErr != nil {
		return why + fmt.Sprintf(": reading the fleet's history: %v", a.deepErr)
	}
	return why + fmt.Sprintf(": the fleet repository's history does not hold %s; if it was removed from the history, delete the hydrated branch so the next render writes it again", layout.Short(theirs.String()))
}

// order is how a commit relates to a head in the history at hand. It is
// the one decision of "never back in time": render keeps a branch whose
// proposal is orderAfter ours, and apply/verify read the newer of a
// branch and its tracking branch (newerOf).
type order int

const (
	// orderUnknown: the histories at hand are cut before the answer.
	orderUnknown order = iota
	// orderNotAfter: the other does not descend from the head (its
	// history is whole and lacks the head), but whether the head
	// descends from it is unknown (the head's history is cut).
	orderNotAfter
	// orderBefore: the head descends from the other, or is it.
	orderBefore
	// orderAfter: the other descends from the head.
	orderAfter
	// orderDiverged: neither descends from the other.
	orderDiverged
)

// commitStorer is what the ancestry walks read.
type commitStorer interface {
	storer.EncodedObjectStorer
	storer.ShallowStorer
}

// lineage is the ancestry of one head in the history at hand, walked
// once: the commits it reaches, and whether nothing of it is missing.
type lineage struct {
	s        commitStorer
	shallow  map[plumbing.Hash]bool
	head     plumbing.Hash
	seen     map[plumbing.Hash]bool // head and its ancestors at hand
	complete bool                   // no commit of head's history is missing
}

// newLineage walks head's ancestry in s.
func newLineage(s commitStorer, head plumbing.Hash) (*lineage, error) {
	list, err := s.Shallow()
	if err != nil {
		return nil, fmt.Errorf("read the shallow list: %w", err)
	}
	l := &lineage{s: s, shallow: map[plumbing.Hash]bool{}, head: head, seen: map[plumbing.Hash]bool{head: true}, complete: true}
	for _, h := range list {
		l.shallow[h] = true
	}
	for queue := []plumbing.Hash{head}; len(queue) > 0; queue = queue[1:] {
		parents, ok := l.parents(queue[0])
		if !ok {
			l.complete = false
			continue
		}
		for _, p := range parents {
			if !l.seen[p] {
				l.seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return l, nil
}

// parents returns h's parents; ok is false when the history at hand
// lacks them (a missing commit, or a shallow boundary).
func (l *lineage) parents(h plumbing.Hash) ([]plumbing.Hash, bool) {
	if l.shallow[h] {
		return nil, false
	}
	o, err := l.s.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return nil, false
	}
	c, err := object.DecodeCommit(nil, o)
	if err != nil {
		return nil, false
	}
	return c.ParentHashes, true
}

// order tells how other relates to the head: a lookup when other is
// among the head's ancestors, else a walk from other that stops at the
// head's ancestors (the head is below none of them).
func (l *lineage) order(other plumbing.Hash) order {
	if l.seen[other] {
		return orderBefore
	}
	seen := map[plumbing.Hash]bool{other: true}
	complete := true
	for queue := []plumbing.Hash{other}; len(queue) > 0; queue = queue[1:] {
		parents, ok := l.parents(queue[0])
		if !ok {
			complete = false
			continue
		}
		for _, p := range parents {
			if p == l.head {
				return orderAfter
			}
			if !seen[p] && !l.seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	switch {
	case complete && l.complete:
		return orderDiverged
	case complete:
		return orderNotAfter
	}
	return orderUnknown
}

// newerOf returns the commit that descends from the other. err is a
// DivergedError (without repository and names, filled in by the caller)
// when neither does, and wraps ErrUndecided when a history stops at a
// commit whose parents are missing before the answer.
func newerOf(s commitStorer, local, theirs plumbing.Hash) (plumbing.Hash, error) {
	l, err := newLineage(s, local)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	switch l.order(theirs) {
	case orderBefore:
		return local, nil
	case orderAfter:
		return theirs, nil
	case orderDiverged:
		return plumbing.ZeroHash, &DivergedError{Local: local.String(), Theirs: theirs.String()}
	}
	return plumbing.ZeroHash, ErrUndecided
}

// origin is the fleet repository the dry commits come from: Origin, else
// the checkout's origin remote.
func (p *Publisher) origin() (string, transport.AuthMethod, error) {
	u := p.Origin
	if u == "" {
		r, err := p.Repo.Remote("origin")
		if err != nil {
			return "", nil, errors.New("the checkout has no origin remote to read the fleet's history from")
		}
		if urls := r.Config().URLs; len(urls) > 0 {
			u = urls[0]
		}
	}
	auth := p.OriginAuth
	if auth == nil && sameHost(u, p.Remote) {
		auth = p.Auth
	}
	return u, auth, nil
}

// sameHost reports whether two https URLs name the same host (only then
// do the remote's credentials go to the origin).
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == "https" && ub.Scheme == "https" && ua.Host == ub.Host
}

// deepen fetches into r, from the repository at u, the history of wants
// (or, when the server does not serve commits by name, of its branches)
// depth commits deep, and records the new shallow boundary as git does:
// objects first, then the shallow file written aside and renamed. With
// branch set it fetches that branch's head as well and returns it (zero
// when u has no such branch), for the caller to record.
//
// A repository that is not shallow fetches the missing commits whole, and
// full is true: deeper steps would bring nothing more.
func deepen(ctx context.Context, r *git.Repository, u string, auth transport.AuthMethod, depth int, wants []plumbing.Hash, branch string) (head plumbing.Hash, full bool, err error) {
	cl, ep, err := endpoint(u)
	if err != nil {
		return head, false, err
	}
	sess, err := cl.NewUploadPackSession(ep, auth)
	if err != nil {
		return head, false, err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return head, false, fmt.Errorf("read %s: %w", redact.URL(u), err)
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.Shallow) {
		_ = req.Capabilities.Set(capability.Shallow)
	}
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return head, false, err
	}
	add := func(h plumbing.Hash) {
		if !slices.Contains(req.Wants, h) {
			req.Wants = append(req.Wants, h)
		}
	}
	switch {
	case branch != "":
		ref, ok := refs[plumbing.NewBranchReferenceName(branch)]
		if !ok || ref.Type() != plumbing.HashReference {
			return head, false, fmt.Errorf("%s has no branch %s", redact.URL(u), branch)
		}
		head = ref.Hash()
		add(head)
		if ar.Capabilities.Supports(capability.AllowReachableSHA1InWant) {
			for _, h := range wants {
				add(h)
			}
		}
	case ar.Capabilities.Supports(capability.AllowReachableSHA1InWant):
		for _, h := range wants {
			add(h)
		}
	default:
		for _, ref := range refs {
			if ref.Name().IsBranch() && ref.Type() == plumbing.HashReference {
				add(ref.Hash())
			}
		}
	}
	slices.SortFunc(req.Wants, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
	shallow, err := r.Storer.Shallow()
	if err != nil {
		return head, false, err
	}
	// What the repository has, so the remote sends only the rest (never
	// a want: go-git sends nothing when every want is a have).
	local, _, err := gitobj.ReadRefs(r.Storer, "refs/")
	if err != nil {
		return head, false, err
	}
	for _, h := range local {
		if !slices.Contains(req.Wants, h) && !slices.Contains(req.Haves, h) && r.Storer.HasEncodedObject(h) == nil {
			req.Haves = append(req.Haves, h)
		}
	}
	slices.SortFunc(req.Haves, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
	if len(shallow) > 0 {
		if !ar.Capabilities.Supports(capability.Shallow) {
			return head, false, fmt.Errorf("%s does not serve shallow fetches", redact.URL(u))
		}
		req.Shallows = shallow
		req.Depth = packp.DepthCommits(depth)
	} else {
		// A whole history stays whole: the missing commits come with
		// all their history, not behind a new shallow boundary.
		full = true
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return head, full, fmt.Errorf("fetch the history of %s: %w", redact.URL(u), err)
	}
	err = gitobj.StoreUploadPack(r.Storer, req, resp)
	if err != nil {
		return head, full, fmt.Errorf("fetch the history of %s: %w", redact.URL(u), err)
	}
	// The objects first, then the boundary: a run killed in between
	// leaves objects behind the old boundary, which git ignores.
	next := slices.DeleteFunc(slices.Clone(shallow), func(h plumbing.Hash) bool { return slices.Contains(resp.Unshallows, h) })
	for _, h := range resp.Shallows {
		if !slices.Contains(next, h) {
			next = append(next, h)
		}
	}
	slices.SortFunc(next, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
	if slices.Equal(next, shallow) {
		return head, full, nil
	}
	if dir, ok := gitobj.DiskDir(r.Storer); ok {
		if len(next) == 0 {
			// The whole history: not shallow any more.
			if err := os.Remove(filepath.Join(dir, "shallow")); err != nil && !os.IsNotExist(err) {
				return head, full, err
			}
			return head, full, nil
		}
		var b strings.Builder
		for _, h := range next {
			b.WriteString(h.String() + "\n")
		}
		return head, full, gitobj.WriteFile(dir, "shallow", []byte(b.String()))
	}
	return head, full, r.Storer.SetShallow(next)
}
