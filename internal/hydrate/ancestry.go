package hydrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/gitobj"
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
// lacks the history to say.
type ancestry struct {
	p       *Publisher
	ctx     context.Context
	ours    plumbing.Hash
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
		newer, known := a.newer(theirs)
		if known {
			if newer {
				return fmt.Sprintf("the branch holds a proposal from dry commit %s, which is newer than %s", short(theirs.String()), short(a.ours.String()))
			}
			return ""
		}
		if a.step >= len(deepenSteps) || a.deepErr != nil {
			break
		}
		full := false
		a.deepErr = a.p.deepen(a.ctx, deepenSteps[a.step], []plumbing.Hash{a.ours, theirs}, &full)
		a.step++
		if full {
			a.step = len(deepenSteps)
		}
	}
	why := fmt.Sprintf("cannot tell whether dry commit %s, from which the branch was rendered, is newer than %s, so the branch is kept", short(theirs.String()), short(a.ours.String()))
	if a.deepErr != nil {
		return why + fmt.Sprintf(": reading the fleet's history: %v", a.deepErr)
	}
	return why + fmt.Sprintf(": the fleet repository's history does not hold %s; if it was removed from the history, delete the hydrated branch so the next render writes it again", short(theirs.String()))
}

// newer tells whether ours is an ancestor of theirs (their proposal is
// newer), and whether the checkout holds enough history to know.
func (a *ancestry) newer(theirs plumbing.Hash) (newer, known bool) {
	s := a.p.Repo.Storer
	shallow, err := s.Shallow()
	if err != nil {
		return false, false
	}
	// Ours descending from theirs is the common case (one render after
	// another) and settles it: theirs is older.
	if found, _ := reaches(s, shallow, a.ours, theirs); found {
		return false, true
	}
	found, complete := reaches(s, shallow, theirs, a.ours)
	return found, found || complete
}

// reaches walks the ancestry of from looking for to. complete is false
// when the walk met a commit whose parents the checkout lacks (a missing
// object, or a shallow boundary).
func reaches(s interface {
	EncodedObject(plumbing.ObjectType, plumbing.Hash) (plumbing.EncodedObject, error)
}, shallow []plumbing.Hash, from, to plumbing.Hash) (found, complete bool) {
	seen := map[plumbing.Hash]bool{from: true}
	queue := []plumbing.Hash{from}
	complete = true
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == to {
			return true, true
		}
		o, err := s.EncodedObject(plumbing.CommitObject, h)
		if err != nil {
			complete = false
			continue
		}
		c, err := object.DecodeCommit(nil, o)
		if err != nil {
			complete = false
			continue
		}
		if slices.Contains(shallow, h) {
			complete = false
			continue
		}
		for _, parent := range c.ParentHashes {
			if !seen[parent] {
				seen[parent] = true
				queue = append(queue, parent)
			}
		}
	}
	return false, complete
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

// deepen fetches the history of commits (or, when the server does not
// serve commits by name, of its branches) depth commits deep into the
// checkout, and records the new shallow boundary as git does.
//
// A checkout that is not shallow fetches the missing commits whole, and
// sets *full: deeper steps would bring nothing more.
func (p *Publisher) deepen(ctx context.Context, depth int, commits []plumbing.Hash, full *bool) error {
	u, auth, err := p.origin()
	if err != nil {
		return err
	}
	cl, ep, err := endpoint(u)
	if err != nil {
		return err
	}
	sess, err := cl.NewUploadPackSession(ep, auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", redact.URL(u), err)
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.Shallow) {
		_ = req.Capabilities.Set(capability.Shallow)
	}
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if ar.Capabilities.Supports(capability.AllowReachableSHA1InWant) {
		req.Wants = commits
	} else {
		refs, err := ar.AllReferences()
		if err != nil {
			return err
		}
		for _, r := range refs {
			if r.Name().IsBranch() && r.Type() == plumbing.HashReference && !slices.Contains(req.Wants, r.Hash()) {
				req.Wants = append(req.Wants, r.Hash())
			}
		}
	}
	slices.SortFunc(req.Wants, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
	shallow, err := p.Repo.Storer.Shallow()
	if err != nil {
		return err
	}
	// What the checkout has, so the remote sends only the rest (never a
	// want: go-git sends nothing when every want is a have).
	local, _, err := gitobj.ReadRefs(p.Repo.Storer, "refs/")
	if err != nil {
		return err
	}
	for _, h := range local {
		if !slices.Contains(req.Wants, h) && !slices.Contains(req.Haves, h) && p.Repo.Storer.HasEncodedObject(h) == nil {
			req.Haves = append(req.Haves, h)
		}
	}
	slices.SortFunc(req.Haves, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
	if len(shallow) > 0 {
		if !ar.Capabilities.Supports(capability.Shallow) {
			return fmt.Errorf("%s does not serve shallow fetches", redact.URL(u))
		}
		req.Shallows = shallow
		req.Depth = packp.DepthCommits(depth)
	} else {
		// A whole history stays whole: the missing commits come with
		// all their history, not behind a new shallow boundary.
		*full = true
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return fmt.Errorf("fetch the history of %s: %w", redact.URL(u), err)
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
	if err != nil {
		return fmt.Errorf("fetch the history of %s: %w", redact.URL(u), err)
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
		return nil
	}
	if dir, ok := gitobj.DiskDir(p.Repo.Storer); ok {
		var b strings.Builder
		for _, h := range next {
			b.WriteString(h.String() + "\n")
		}
		if len(next) == 0 {
			// The whole history: not shallow any more.
			if err := os.Remove(filepath.Join(dir, "shallow")); err != nil && !os.IsNotExist(err) {
				return err
			}
			return nil
		}
		return gitobj.WriteFile(dir, "shallow", []byte(b.String()))
	}
	return p.Repo.Storer.SetShallow(next)
}
