// Package github is the forge of a GitHub (or GitHub Enterprise)
// repository, on go-github v60. It is the only package that imports
// go-github. Reads are conditional requests (ETags), so unchanged reads
// cost no rate limit; primary and secondary rate limits are waited out when
// the wait is short and reported clearly when it is not.
package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// Options configure the client.
type Options struct {
	Owner, Repo string
	// Token authenticates (GITHUB_TOKEN). It is never printed.
	Token string
	// BaseURL is the API root for GitHub Enterprise
	// ("https://ghe.example.com/api/v3/"); empty for github.com.
	BaseURL string
	// MaxWait is the longest rate-limit wait taken before giving up
	// (default 60s).
	MaxWait time.Duration
	// HTTPClient carries requests (default http.DefaultTransport).
	HTTPClient *http.Client
}

// Forge talks to one repository.
type Forge struct {
	c           *gh.Client
	owner, repo string
	t           *transport

	mu sync.Mutex
	// posted holds, per commit this Forge posted statuses on, the newest
	// status of each context as last read or posted: SetStatus skips a
	// status equal to it (one read per commit, not one post per app).
	posted map[string]map[string]forge.Status
	// perms caches each user's permission for the Forge's life (a pass),
	// members each "org/team/user"'s team membership.
	perms   map[string]forge.Permission
	members map[string]bool
}

var _ forge.Forge = (*Forge)(nil)

// New returns the forge of owner/repo.
func New(o Options) (*Forge, error) {
	if o.Owner == "" || o.Repo == "" {
		return nil, errors.New("github forge: owner and repo are required")
	}
	if o.MaxWait == 0 {
		o.MaxWait = 60 * time.Second
	}
	base := http.DefaultTransport
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		base = o.HTTPClient.Transport
	}
	t := &transport{base: base, token: o.Token, maxWait: o.MaxWait, cache: map[string]cached{}}
	c := gh.NewClient(&http.Client{Transport: t})
	if o.BaseURL != "" {
		var err error
		if c, err = c.WithEnterpriseURLs(o.BaseURL, o.BaseURL); err != nil {
			return nil, failure.Usagef("github forge: base URL %q: %s", redact.URL(o.BaseURL), redact.Text(err.Error())) // url.Error quotes the URL
		}
	}
	return &Forge{c: c, owner: o.Owner, repo: o.Repo, t: t, posted: map[string]map[string]forge.Status{}, perms: map[string]forge.Permission{}, members: map[string]bool{}}, nil
}

// Usage reports the requests sent, those answered 304 from the cache (free
// on GitHub), and the rate limit left as the last answer said.
type Usage struct {
	Requests    int64 `json:"requests"`
	NotModified int64 `json:"notModified"`
	Remaining   int64 `json:"remaining"`
}

// Usage returns the request counters, for the job summary.
func (f *Forge) Usage() Usage {
	return Usage{Requests: f.t.requests.Load(), NotModified: f.t.notModified.Load(), Remaining: f.t.remaining.Load()}
}

// ErrBudget means the API budget is spent for longer than MaxWait.
var ErrBudget = errors.New("GitHub API rate limit exhausted")

type cached struct {
	etag   string
	body   []byte
	header http.Header
}

// transport authenticates, serves conditional GETs from its cache, waits
// out short rate limits and counts.
type transport struct {
	base    http.RoundTripper
	token   string
	maxWait time.Duration

	mu    sync.Mutex
	cache map[string]cached

	requests, notModified, remaining atomic.Int64
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	key := req.URL.String()
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if t.token != "" {
			r.Header.Set("Authorization", "Bearer "+t.token)
		}
		var hit cached
		if req.Method == http.MethodGet {
			t.mu.Lock()
			hit = t.cache[key]
			t.mu.Unlock()
			if hit.etag != "" {
				r.Header.Set("If-None-Match", hit.etag)
			}
		}
		t.requests.Add(1)
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if v, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Remaining"), 10, 64); err == nil {
			t.remaining.Store(v)
		}
		switch {
		case resp.StatusCode == http.StatusNotModified && hit.etag != "":
			t.notModified.Add(1)
			resp.Body.Close()
			return cachedResponse(r, hit), nil
		case resp.StatusCode == http.StatusOK && req.Method == http.MethodGet && resp.Header.Get("ETag") != "":
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return nil, err
			}
			t.mu.Lock()
			t.cache[key] = cached{etag: resp.Header.Get("ETag"), body: b, header: resp.Header.Clone()}
			t.mu.Unlock()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return resp, nil
		}
		wait, limited := rateLimitWait(resp)
		if !limited {
			return resp, nil
		}
		if wait > t.maxWait || attempt >= 3 {
			return resp, nil // go-github turns it into a rate-limit error; Forge explains it
		}
		resp.Body.Close()
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
	}
}

// rateLimitWait says whether a response is a rate limit and how long to
// wait: Retry-After (secondary limits), else until X-RateLimit-Reset.
func rateLimitWait(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil {
			return time.Duration(secs) * time.Second, true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(0, time.Until(time.Unix(reset, 0))) + time.Second, true
		}
		return time.Minute, true
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return time.Minute, true
	}
	return 0, false
}

func cachedResponse(req *http.Request, c cached) *http.Response {
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req,
	}
}

// explain turns go-github's errors into ones a person can act on, each
// a failure.Remote (GitHub failed, refused or could not be reached:
// running again may help), but a 409 (someone changed it first), which
// is a failure.Conflict.
func (f *Forge) explain(what string, err error) error {
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		return failure.Mark(failure.Remote, fmt.Errorf("%s: %w: %d requests per hour, resets at %s (in %s); spend fewer requests or use a GitHub App token",
			what, ErrBudget, rl.Rate.Limit, rl.Rate.Reset.UTC().Format(time.RFC3339), time.Until(rl.Rate.Reset.Time).Round(time.Second)))
	case errors.As(err, &abuse):
		retry := "later"
		if abuse.RetryAfter != nil {
			retry = "in " + abuse.RetryAfter.String()
		}
		return failure.Mark(failure.Remote, fmt.Errorf("%s: %w: secondary rate limit, retry %s", what, ErrBudget, retry))
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		switch er.Response.StatusCode {
		case http.StatusNotFound:
			return failure.Mark(failure.Remote, fmt.Errorf("%s: %w", what, forge.ErrNotFound))
		case http.StatusConflict:
			return failure.Mark(failure.Conflict, fmt.Errorf("%s: %w", what, err))
		}
	}
	return failure.Mark(failure.Remote, fmt.Errorf("%s: %w", what, err))
}

func convert(p *gh.PullRequest) *forge.PullRequest {
	out := &forge.PullRequest{
		Number: p.GetNumber(), URL: p.GetHTMLURL(), Title: p.GetTitle(), Body: p.GetBody(),
		Head: p.GetHead().GetRef(), HeadSHA: p.GetHead().GetSHA(), Base: p.GetBase().GetRef(),
		Open: p.GetState() == "open", Merged: p.GetMerged() || p.MergedAt != nil,
		MergeCommitSHA: p.GetMergeCommitSHA(), MergeableState: forge.MergeableState(p.GetMergeableState()),
	}
	if !out.Merged {
		out.MergeCommitSHA = ""
	}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}

// ListPullRequests lists pull requests, following every page.
func (f *Forge) ListPullRequests(ctx context.Context, o forge.ListOptions) ([]forge.PullRequest, error) {
	opts := &gh.PullRequestListOptions{State: "open", Base: o.Base, ListOptions: gh.ListOptions{PerPage: 100}}
	if o.All {
		opts.State = "all"
	}
	if o.Head != "" {
		opts.Head = f.owner + ":" + o.Head
	}
	var out []forge.PullRequest
	for {
		prs, resp, err := f.c.PullRequests.List(ctx, f.owner, f.repo, opts)
		if err != nil {
			return nil, f.explain("list pull requests", err)
		}
		for _, p := range prs {
			out = append(out, *convert(p))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// GetPullRequest reads one pull request, with its mergeable state.
func (f *Forge) GetPullRequest(ctx context.Context, number int) (*forge.PullRequest, error) {
	p, _, err := f.c.PullRequests.Get(ctx, f.owner, f.repo, number)
	if err != nil {
		return nil, f.explain(fmt.Sprintf("read pull request #%d", number), err)
	}
	return convert(p), nil
}

// OpenPullRequest opens a pull request and labels it.
func (f *Forge) OpenPullRequest(ctx context.Context, o forge.OpenOptions) (*forge.PullRequest, error) {
	p, _, err := f.c.PullRequests.Create(ctx, f.owner, f.repo, &gh.NewPullRequest{
		Title: gh.String(o.Title), Head: gh.String(o.Head), Base: gh.String(o.Base), Body: gh.String(o.Body),
	})
	if err != nil {
		return nil, f.explain(fmt.Sprintf("open a pull request from %s into %s", o.Head, o.Base), err)
	}
	out := convert(p)
	if len(o.Labels) > 0 {
		if err := f.AddLabels(ctx, out.Number, o.Labels); err != nil {
			return out, err
		}
		out.Labels = append(out.Labels, o.Labels...)
	}
	return out, nil
}

// UpdatePullRequest edits the title or body.
func (f *Forge) UpdatePullRequest(ctx context.Context, number int, o forge.UpdateOptions) (*forge.PullRequest, error) {
	p, _, err := f.c.PullRequests.Edit(ctx, f.owner, f.repo, number, &gh.PullRequest{Title: o.Title, Body: o.Body})
	if err != nil {
		return nil, f.explain(fmt.Sprintf("update pull request #%d", number), err)
	}
	return convert(p), nil
}

// ClosePullRequest closes a pull request without merging it.
func (f *Forge) ClosePullRequest(ctx context.Context, number int) error {
	_, _, err := f.c.PullRequests.Edit(ctx, f.owner, f.repo, number, &gh.PullRequest{State: gh.String("closed")})
	if err != nil {
		return f.explain(fmt.Sprintf("close pull request #%d", number), err)
	}
	return nil
}

// AddLabels labels a pull request.
func (f *Forge) AddLabels(ctx context.Context, number int, labels []string) error {
	_, _, err := f.c.Issues.AddLabelsToIssue(ctx, f.owner, f.repo, number, labels)
	if err != nil {
		return f.explain(fmt.Sprintf("label pull request #%d", number), err)
	}
	return nil
}

// MergePullRequest merges; GitHub's 405 (not mergeable: blocked, behind,
// conflicts) and 409 (head moved) are results, not errors.
func (f *Forge) MergePullRequest(ctx context.Context, number int, o forge.MergeOptions) (forge.MergeResult, error) {
	method := o.Method
	if method == "" {
		method = "merge"
	}
	res, resp, err := f.c.PullRequests.Merge(ctx, f.owner, f.repo, number, o.Message,
		&gh.PullRequestOptions{SHA: o.SHA, MergeMethod: method, CommitTitle: o.Title})
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusConflict) {
			msg := "not mergeable"
			var er *gh.ErrorResponse
			if errors.As(err, &er) && er.Message != "" {
				msg = er.Message
			}
			return forge.MergeResult{NotReady: fmt.Sprintf("%s (%d)", msg, resp.StatusCode)}, nil
		}
		return forge.MergeResult{}, f.explain(fmt.Sprintf("merge pull request #%d", number), err)
	}
	return forge.MergeResult{Merged: res.GetMerged(), SHA: res.GetSHA()}, nil
}

// Reviews lists a pull request's reviews, every page, oldest first.
func (f *Forge) Reviews(ctx context.Context, number int) ([]forge.Review, error) {
	opts := &gh.ListOptions{PerPage: 100}
	var out []forge.Review
	for {
		rs, resp, err := f.c.PullRequests.ListReviews(ctx, f.owner, f.repo, number, opts)
		if err != nil {
			return nil, f.explain(fmt.Sprintf("list reviews of #%d", number), err)
		}
		for _, r := range rs {
			out = append(out, forge.Review{ID: r.GetID(), User: r.GetUser().GetLogin(), State: forge.ReviewState(r.GetState()), CommitID: r.GetCommitID()})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// UpsertComment edits the comment carrying the marker, or creates it.
func (f *Forge) UpsertComment(ctx context.Context, number int, marker, body string) error {
	tag := forge.CommentMarker(marker)
	body = tag + "\n" + body
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := f.c.Issues.ListComments(ctx, f.owner, f.repo, number, opts)
		if err != nil {
			return f.explain(fmt.Sprintf("list comments of #%d", number), err)
		}
		for _, c := range cs {
			if strings.Contains(c.GetBody(), tag) {
				if c.GetBody() == body {
					return nil
				}
				_, _, err := f.c.Issues.EditComment(ctx, f.owner, f.repo, c.GetID(), &gh.IssueComment{Body: gh.String(body)})
				if err != nil {
					return f.explain(fmt.Sprintf("edit comment on #%d", number), err)
				}
				return nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	_, _, err := f.c.Issues.CreateComment(ctx, f.owner, f.repo, number, &gh.IssueComment{Body: gh.String(body)})
	if err != nil {
		return f.explain(fmt.Sprintf("comment on #%d", number), err)
	}
	return nil
}

// SetStatus posts a commit status, unless the newest status of its
// context on the commit says the same already (read once per commit and
// Forge: the combined status). Another writer's status posted since that
// read is not seen: the skipped status is posted by the next run.
func (f *Forge) SetStatus(ctx context.Context, sha string, s forge.Status) error {
	f.mu.Lock()
	newest, read := f.posted[sha]
	f.mu.Unlock()
	if !read {
		list, err := f.Statuses(ctx, sha)
		if err != nil {
			return err
		}
		newest = map[string]forge.Status{}
		for _, x := range list {
			newest[x.Context] = x
		}
		f.mu.Lock()
		f.posted[sha] = newest
		f.mu.Unlock()
	}
	f.mu.Lock()
	prev, had := newest[s.Context]
	f.mu.Unlock()
	if had && forge.Same(prev, s) {
		return nil
	}
	st := &gh.RepoStatus{State: gh.String(string(s.State)), Context: gh.String(s.Context), Description: gh.String(forge.Truncate(s.Description))}
	if s.TargetURL != "" {
		st.TargetURL = gh.String(s.TargetURL)
	}
	if _, _, err := f.c.Repositories.CreateStatus(ctx, f.owner, f.repo, sha, st); err != nil {
		return f.explain(fmt.Sprintf("set status %s on %s", s.Context, sha), err)
	}
	s.Description = forge.Truncate(s.Description)
	f.mu.Lock()
	newest[s.Context] = s
	f.mu.Unlock()
	return nil
}

// SuccessSince reads the commit's statuses newest first
// (repos/list-commit-statuses-for-ref), a page of 100 at a time, only
// until every context's run of success is bounded by another state.
func (f *Forge) SuccessSince(ctx context.Context, sha string, contexts []string) (map[string]time.Time, error) {
	runs := forge.NewRunStarts(contexts)
	if len(contexts) == 0 {
		return runs.Since(), nil
	}
	opts := &gh.ListOptions{PerPage: 100}
	for {
		list, resp, err := f.c.Repositories.ListStatuses(ctx, f.owner, f.repo, sha, opts)
		if err != nil {
			return nil, f.explain(fmt.Sprintf("list the statuses of %s", sha), err)
		}
		for _, s := range list {
			at := s.GetCreatedAt().Time // each status is posted once: created is when
			if at.IsZero() {
				at = s.GetUpdatedAt().Time
			}
			if !runs.Add(forge.Status{Context: s.GetContext(), State: forge.State(s.GetState()), UpdatedAt: at}) {
				return runs.Since(), nil
			}
		}
		if resp.NextPage == 0 {
			return runs.Since(), nil
		}
		opts.Page = resp.NextPage
	}
}

// Permission reads a user's permission on the repository
// (repos/get-collaborator-permission-level), once per user and Forge; a
// user GitHub does not know has none.
func (f *Forge) Permission(ctx context.Context, user string) (forge.Permission, error) {
	f.mu.Lock()
	p, ok := f.perms[user]
	f.mu.Unlock()
	if ok {
		return p, nil
	}
	lvl, _, err := f.c.Repositories.GetPermissionLevel(ctx, f.owner, f.repo, user)
	if err != nil {
		err = f.explain(fmt.Sprintf("read the permission of %s", user), err)
		if !errors.Is(err, forge.ErrNotFound) {
			return "", err
		}
	}
	p = forge.PermissionNone
	if err == nil {
		p = forge.Permission(lvl.GetPermission())
	}
	f.mu.Lock()
	f.perms[user] = p
	f.mu.Unlock()
	return p, nil
}

// Statuses reads a commit's combined status.
func (f *Forge) Statuses(ctx context.Context, sha string) ([]forge.Status, error) {
	opts := &gh.ListOptions{PerPage: 100}
	var out []forge.Status
	for {
		cs, resp, err := f.c.Repositories.GetCombinedStatus(ctx, f.owner, f.repo, sha, opts)
		if err != nil {
			return nil, f.explain(fmt.Sprintf("read statuses of %s", sha), err)
		}
		for _, s := range cs.Statuses {
			out = append(out, forge.Status{Context: s.GetContext(), State: forge.State(s.GetState()), Description: s.GetDescription(),
				TargetURL: s.GetTargetURL(), UpdatedAt: s.GetUpdatedAt().Time})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// TeamMember reads user's membership of org/team
// (teams/get-membership-for-user-in-org), once per team and user and
// Forge: a member when the membership is active; GitHub answers 404 for
// no membership (and for a team the token cannot see).
func (f *Forge) TeamMember(ctx context.Context, org, team, user string) (bool, error) {
	key := org + "/" + team + "/" + user
	f.mu.Lock()
	m, ok := f.members[key]
	f.mu.Unlock()
	if ok {
		return m, nil
	}
	ms, _, err := f.c.Teams.GetTeamMembershipBySlug(ctx, org, team, user)
	if err != nil {
		err = f.explain(fmt.Sprintf("read the membership of %s in the team %s/%s", user, org, team), err)
		if !errors.Is(err, forge.ErrNotFound) {
			return false, err
		}
	}
	m = err == nil && ms.GetState() == "active"
	f.mu.Lock()
	f.members[key] = m
	f.mu.Unlock()
	return m, nil
}

// GetBranch returns a branch's head commit.
func (f *Forge) GetBranch(ctx context.Context, branch string) (string, error) {
	ref, _, err := f.c.Git.GetRef(ctx, f.owner, f.repo, "heads/"+branch)
	if err != nil {
		return "", f.explain("read branch "+branch, err)
	}
	return ref.GetObject().GetSHA(), nil
}

// SetBranch points a branch at sha, creating it when absent. GitHub's API
// has no compare-and-set: old is checked by reading first, so concurrent
// writers should push with a lease instead (as render does).
func (f *Forge) SetBranch(ctx context.Context, branch, sha, old string) error {
	cur, err := f.GetBranch(ctx, branch)
	if errors.Is(err, forge.ErrNotFound) {
		_, _, err := f.c.Git.CreateRef(ctx, f.owner, f.repo, &gh.Reference{Ref: gh.String("refs/heads/" + branch), Object: &gh.GitObject{SHA: gh.String(sha)}})
		if err != nil {
			return f.explain("create branch "+branch, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if old != "" && cur != old {
		return failure.Mark(failure.Conflict, fmt.Errorf("move branch %s: it is at %s, expected %s", branch, cur, old))
	}
	_, _, err = f.c.Git.UpdateRef(ctx, f.owner, f.repo, &gh.Reference{Ref: gh.String("refs/heads/" + branch), Object: &gh.GitObject{SHA: gh.String(sha)}}, true)
	if err != nil {
		return f.explain("move branch "+branch, err)
	}
	return nil
}
