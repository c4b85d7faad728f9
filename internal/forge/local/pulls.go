package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
)

// StateRef holds the local forge's pull requests, reviews and comments as
// one JSON document (state.json) in a commit, updated by compare-and-set.
const StateRef = plumbing.ReferenceName("refs/flotilla/forge")

var _ forge.Forge = (*Forge)(nil)

type state struct {
	Pulls []*localPull `json:"pulls"`
}

type localPull struct {
	Number   int               `json:"number"`
	Head     string            `json:"head"`
	Base     string            `json:"base"`
	Title    string            `json:"title"`
	Body     string            `json:"body"`
	Open     bool              `json:"open"`
	Merged   bool              `json:"merged"`
	MergeSHA string            `json:"mergeSha,omitempty"`
	HeadSHA  string            `json:"headSha,omitempty"` // frozen when closed
	Labels   []string          `json:"labels,omitempty"`
	Reviews  []forge.Review    `json:"reviews,omitempty"`
	Comments map[string]string `json:"comments,omitempty"` // marker -> body
}

// readState fetches the state ref (and refs, from a remote) and reads it.
// Open pull requests whose head the base already holds are recorded as
// merged first (see merged).
func (f *Forge) readState(ctx context.Context, refs ...string) (*state, error) {
	if err := f.fetch(ctx, append([]string{string(StateRef)}, refs...)...); err != nil {
		return nil, err
	}
	st, _, err := f.loadState()
	if err != nil || (f.remote != "" && !slices.Contains(refs, "refs/heads/*")) {
		return st, err // only with every branch as the remote has it
	}
	done := map[int]string{} // number → merge commit
	for _, p := range st.Pulls {
		if !p.Open {
			continue
		}
		sha, err := f.merged(p)
		if err != nil {
			return nil, fmt.Errorf("read pull request #%d: %w", p.Number, err)
		}
		if sha != "" {
			done[p.Number] = sha
		}
	}
	if len(done) == 0 {
		return st, nil
	}
	err = f.update(func(st *state) error {
		for _, p := range st.Pulls {
			if sha, ok := done[p.Number]; ok && p.Open {
				head, _ := f.branchHead(p.Head)
				p.Open, p.Merged, p.MergeSHA, p.HeadSHA = false, true, sha, head
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record merged pull requests: %w", err)
	}
	st, _, err = f.loadState()
	return st, err
}

// merged returns the merge commit of an open pull request whose head the
// base already holds ("" when it does not): a merge whose record was lost
// — the run was killed between moving the base and recording the merge —
// or a head pushed into the base by hand. GitHub records both as merged;
// merging again would make a second, empty merge commit.
func (f *Forge) merged(p *localPull) (string, error) {
	head, err := f.branchHead(p.Head)
	if err != nil || head == "" {
		return "", err
	}
	base, err := f.branchHead(p.Base)
	if err != nil || base == "" || base == head {
		return "", err
	}
	hc, err := f.repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		return "", err
	}
	bc, err := f.repo.CommitObject(plumbing.NewHash(base))
	if err != nil {
		return "", err
	}
	if ok, err := hc.IsAncestor(bc); err != nil || !ok {
		return "", err
	}
	// The merge commit: the first commit along the base's first parents
	// that has the head as another parent; else the base itself.
	c := bc
	for range 1000 {
		if len(c.ParentHashes) > 1 && slices.Contains(c.ParentHashes[1:], hc.Hash) {
			return c.Hash.String(), nil
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		if c, err = f.repo.CommitObject(c.ParentHashes[0]); err != nil {
			break
		}
	}
	return base, nil
}

// branchHead reads a branch as last fetched ("" when it does not exist).
func (f *Forge) branchHead(branch string) (string, error) {
	h, err := gitobj.ReadRef(f.repo.Storer, f.localRef(plumbing.NewBranchReferenceName(branch)))
	if err != nil || h.IsZero() {
		return "", err
	}
	return h.String(), nil
}

// readPull reads one pull request of the state.
func (f *Forge) readPull(ctx context.Context, number int, refs ...string) (*localPull, error) {
	st, err := f.readState(ctx, refs...)
	if err != nil {
		return nil, err
	}
	return st.find(number)
}

func (f *Forge) loadState() (*state, *object.Commit, error) {
	st := &state{}
	h, err := gitobj.ReadRef(f.repo.Storer, StateRef)
	if err != nil {
		return nil, nil, err
	}
	if h.IsZero() {
		return st, nil, nil
	}
	c, err := f.repo.CommitObject(h)
	if err != nil {
		return nil, nil, err
	}
	file, err := c.File("state.json")
	if err != nil {
		return nil, nil, err
	}
	r, err := file.Reader()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	return st, c, json.Unmarshal(b, st)
}

// update applies change to the state and stores it with a compare-and-set,
// retrying against concurrent writers.
func (f *Forge) update(change func(*state) error) error {
	ctx := context.Background()
	for attempt := 0; attempt < 5; attempt++ {
		if err := f.fetch(ctx, string(StateRef)); err != nil {
			return err
		}
		st, parent, err := f.loadState()
		if err != nil {
			return err
		}
		if err := change(st); err != nil {
			return err
		}
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		err = f.storeState(append(b, '\n'), parent)
		if err == nil {
			err = f.push(ctx, StateRef, parentHash(parent))
		}
		if !errors.Is(err, errMoved) {
			return err
		}
	}
	return failure.Mark(failure.Conflict, fmt.Errorf("%s kept moving (other writers won 5 times): run again", StateRef))
}

func (f *Forge) storeState(content []byte, parent *object.Commit) error {
	blob, err := gitobj.Blob(f.repo.Storer, content)
	if err != nil {
		return err
	}
	return f.commitRef(StateRef, []object.TreeEntry{{Name: "state.json", Mode: filemode.Regular, Hash: blob}}, parent, "flotilla local forge\n")
}

func (st *state) find(number int) (*localPull, error) {
	for _, p := range st.Pulls {
		if p.Number == number {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pull request #%d: %w", number, forge.ErrNotFound)
}

// git runs the git command in the repository (merges need it: go-git
// cannot merge trees).
func (f *Forge) git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = f.dir
	cmd.Env = append(cmd.Environ(), "GIT_AUTHOR_NAME=flotilla[bot]", "GIT_AUTHOR_EMAIL=flotilla[bot]@users.noreply.github.com",
		"GIT_COMMITTER_NAME=flotilla[bot]", "GIT_COMMITTER_EMAIL=flotilla[bot]@users.noreply.github.com")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func (f *Forge) view(p *localPull) forge.PullRequest {
	out := forge.PullRequest{Number: p.Number, URL: fmt.Sprintf("%s#pull-%d", filepath.Base(f.dir), p.Number),
		Head: p.Head, Base: p.Base, Title: p.Title, Body: p.Body, Open: p.Open, Merged: p.Merged,
		MergeCommitSHA: p.MergeSHA, HeadSHA: p.HeadSHA, Labels: append([]string(nil), p.Labels...)}
	if p.Open {
		out.HeadSHA, _ = f.GetBranch(context.Background(), p.Head)
		base, _ := f.GetBranch(context.Background(), p.Base)
		out.MergeableState = forge.MergeableClean
		if _, err := f.git("merge-tree", "--write-tree", base, out.HeadSHA); err != nil {
			out.MergeableState = forge.MergeableDirty
		}
	}
	return out
}

// ListPullRequests lists pull requests, newest first.
func (f *Forge) ListPullRequests(ctx context.Context, o forge.ListOptions) ([]forge.PullRequest, error) {
	st, err := f.readState(ctx, "refs/heads/*")
	if err != nil {
		return nil, err
	}
	var out []forge.PullRequest
	for i := len(st.Pulls) - 1; i >= 0; i-- {
		p := st.Pulls[i]
		if (o.All || p.Open) && (o.Base == "" || o.Base == p.Base) && (o.Head == "" || o.Head == p.Head) {
			out = append(out, f.view(p))
		}
	}
	return out, nil
}

// GetPullRequest reads one pull request.
func (f *Forge) GetPullRequest(ctx context.Context, number int) (*forge.PullRequest, error) {
	p, err := f.readPull(ctx, number, "refs/heads/*")
	if err != nil {
		return nil, err
	}
	v := f.view(p)
	return &v, nil
}

// OpenPullRequest records a pull request between two existing branches.
func (f *Forge) OpenPullRequest(ctx context.Context, o forge.OpenOptions) (*forge.PullRequest, error) {
	for _, b := range []string{o.Head, o.Base} {
		if _, err := f.GetBranch(ctx, b); err != nil {
			return nil, fmt.Errorf("open a pull request from %s into %s: %w", o.Head, o.Base, err)
		}
	}
	var created *localPull
	err := f.update(func(st *state) error {
		for _, p := range st.Pulls {
			if p.Open && p.Head == o.Head && p.Base == o.Base {
				return failure.Mark(failure.Conflict, fmt.Errorf("open a pull request from %s into %s: #%d is already open", o.Head, o.Base, p.Number))
			}
		}
		created = &localPull{Number: len(st.Pulls) + 1, Head: o.Head, Base: o.Base, Title: o.Title, Body: o.Body, Open: true, Labels: o.Labels}
		st.Pulls = append(st.Pulls, created)
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := f.view(created)
	return &v, nil
}

// UpdatePullRequest edits the title or body.
func (f *Forge) UpdatePullRequest(ctx context.Context, number int, o forge.UpdateOptions) (*forge.PullRequest, error) {
	var out *localPull
	err := f.update(func(st *state) error {
		p, err := st.find(number)
		if err != nil {
			return err
		}
		if o.Title != nil {
			p.Title = *o.Title
		}
		if o.Body != nil {
			p.Body = *o.Body
		}
		out = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := f.view(out)
	return &v, nil
}

// ClosePullRequest closes without merging.
func (f *Forge) ClosePullRequest(ctx context.Context, number int) error {
	head := ""
	return f.update(func(st *state) error {
		p, err := st.find(number)
		if err != nil {
			return err
		}
		if p.Open {
			head, _ = f.GetBranch(ctx, p.Head)
			p.Open, p.HeadSHA = false, head
		}
		return nil
	})
}

// AddLabels labels a pull request.
func (f *Forge) AddLabels(ctx context.Context, number int, labels []string) error {
	return f.update(func(st *state) error {
		p, err := st.find(number)
		if err != nil {
			return err
		}
		for _, l := range labels {
			if !containsString(p.Labels, l) {
				p.Labels = append(p.Labels, l)
			}
		}
		return nil
	})
}

// RemoveLabel takes a label off a pull request (promote --resume): what
// a person does on GitHub's pages. A label it does not carry is no error.
func (f *Forge) RemoveLabel(ctx context.Context, number int, label string) error {
	return f.update(func(st *state) error {
		p, err := st.find(number)
		if err != nil {
			return err
		}
		p.Labels = slices.DeleteFunc(p.Labels, func(l string) bool { return l == label })
		return nil
	})
}

// MergePullRequest merges head into base with a real merge commit, made
// directly on the base branch (compare-and-set of the ref). A moved head
// or a conflict is "not ready".
func (f *Forge) MergePullRequest(ctx context.Context, number int, o forge.MergeOptions) (forge.MergeResult, error) {
	pr, err := f.GetPullRequest(ctx, number)
	if err != nil {
		return forge.MergeResult{}, err
	}
	switch {
	case pr.Merged:
		return forge.MergeResult{Merged: true, SHA: pr.MergeCommitSHA}, nil
	case !pr.Open:
		return forge.MergeResult{NotReady: "the pull request is closed"}, nil
	case o.SHA != "" && o.SHA != pr.HeadSHA:
		return forge.MergeResult{NotReady: fmt.Sprintf("the head moved to %s, expected %s", pr.HeadSHA, o.SHA)}, nil
	}
	base, err := f.GetBranch(ctx, pr.Base)
	if err != nil {
		return forge.MergeResult{}, err
	}
	tree, err := f.git("merge-tree", "--write-tree", base, pr.HeadSHA)
	if err != nil {
		return forge.MergeResult{NotReady: "conflicts between " + pr.Head + " and " + pr.Base}, nil
	}
	title := o.Title
	if title == "" {
		title = fmt.Sprintf("Merge pull request #%d from %s", number, pr.Head)
	}
	msg := title + "\n\n" + pr.Title
	if o.Message != "" {
		msg = title + "\n\n" + o.Message
	}
	sha, err := f.git("commit-tree", strings.Fields(tree)[0], "-p", base, "-p", pr.HeadSHA, "-m", msg)
	if err != nil {
		return forge.MergeResult{}, err
	}
	if err := f.SetBranch(ctx, pr.Base, sha, base); errors.Is(err, gitobj.ErrRefMoved) || errors.Is(err, errMoved) {
		return forge.MergeResult{NotReady: "the base moved: " + err.Error()}, nil
	} else if err != nil {
		return forge.MergeResult{}, fmt.Errorf("merge pull request #%d: %w", number, err)
	}
	err = f.update(func(st *state) error {
		p, err := st.find(number)
		if err != nil {
			return err
		}
		p.Open, p.Merged, p.MergeSHA, p.HeadSHA = false, true, sha, pr.HeadSHA
		return nil
	})
	return forge.MergeResult{Merged: true, SHA: sha}, err
}

// Approve records an approving review of sha by user (promote --approve).
func (f *Forge) Approve(ctx context.Context, number int, user, sha string) error {
	return f.update(func(st *state) error {
		p, err := st.find(number)
		if err != nil {
			return err
		}
		p.Reviews = append(p.Reviews, forge.Review{ID: int64(len(p.Reviews) + 1), User: user, State: forge.ReviewApproved, CommitID: sha})
		return nil
	})
}

// Reviews lists the recorded reviews, oldest first.
func (f *Forge) Reviews(ctx context.Context, number int) ([]forge.Review, error) {
	p, err := f.readPull(ctx, number)
	if err != nil {
		return nil, err
	}
	return append([]forge.Review(nil), p.Reviews...), nil
}

// UpsertComment keeps one comment per marker.
func (f *Forge) UpsertComment(ctx context.Context, number int, marker, body string) error {
	return f.update(func(st *state) error {
		p, err := st.find(number)
		if err != nil {
			return err
		}
		if p.Comments == nil {
			p.Comments = map[string]string{}
		}
		p.Comments[marker] = forge.CommentMarker(marker) + "\n" + body
		return nil
	})
}

// Comments returns a pull request's comments, by marker.
func (f *Forge) Comments(ctx context.Context, number int) (map[string]string, error) {
	p, err := f.readPull(ctx, number)
	if err != nil {
		return nil, err
	}
	return p.Comments, nil
}

// GetBranch returns a branch's head.
func (f *Forge) GetBranch(ctx context.Context, branch string) (string, error) {
	if err := f.fetch(ctx, "refs/heads/"+branch); err != nil {
		return "", err
	}
	h, err := f.branchHead(branch)
	if err != nil {
		return "", err
	}
	if h == "" {
		return "", fmt.Errorf("branch %s: %w", branch, forge.ErrNotFound)
	}
	return h, nil
}

// SetBranch moves a branch with a compare-and-set (old "" creates it).
func (f *Forge) SetBranch(ctx context.Context, branch, sha, old string) error {
	name := plumbing.NewBranchReferenceName(branch)
	local := f.localRef(name)
	prev := plumbing.ZeroHash
	if old != "" {
		prev = plumbing.NewHash(old)
	}
	err := gitobj.UpdateRefs(f.repo.Storer, []gitobj.RefUpdate{{Name: local, New: plumbing.NewHash(sha), Old: prev, Check: true}})
	if errors.Is(err, gitobj.ErrRefMoved) && old == "" {
		return fmt.Errorf("create branch %s: it exists already", branch)
	}
	if err != nil {
		return fmt.Errorf("move branch %s: %w", branch, err)
	}
	if err := f.push(ctx, name, prev); err != nil {
		// Put the local ref back: the remote refused the move.
		_ = gitobj.UpdateRefs(f.repo.Storer, []gitobj.RefUpdate{{Name: local, New: prev, Old: plumbing.NewHash(sha), Check: true}})
		return fmt.Errorf("move branch %s: %w", branch, err)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
