package forgetest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// GitHub is the fake. Its zero value is not usable: call New.
type GitHub struct {
	t      testing.TB
	Server *httptest.Server
	// Owner and Repo name the one repository it serves.
	Owner, Repo string
	bare        string

	mu       sync.Mutex
	examples map[string]any
	nextID   int64
	pulls    map[int]*pull
	statuses map[string][]status // by sha, oldest first
	comments map[int][]comment   // by issue
	// Requests counts requests by operationId; NotModified counts 304s.
	requests    map[string]int
	notModified int
	// Rate limit.
	limit, remaining int
	reset            time.Time
	// Injections.
	secondary     int // next requests answered with a secondary rate limit
	retryAfter    int
	serverErrors  int
	mergeRefusals map[int]refusal
	mergeable     map[int]string
	// perms are the users' permissions (none when unset); teams the
	// active members of each "org/team".
	perms map[string]string
	teams map[string][]string
	// now is the clock of the times the fake records (statuses, reviews).
	now func() time.Time
}

type pull struct {
	Number        int
	Title, Body   string
	Head, Base    string
	State         string
	Merged        bool
	MergeSHA      string
	Labels        []string
	Reviews       []review
	CreatedAt     time.Time
	ClosedAt      time.Time
	mergedHeadSHA string
	mergedBaseSHA string
}

type review struct {
	ID       int64
	User     string
	State    string
	CommitID string
	Body     string
	At       time.Time
}

type status struct {
	ID                               int64
	State, Context, Description, URL string
	At                               time.Time
}

type comment struct {
	ID   int64
	Body string
	At   time.Time
}

type refusal struct {
	code    int
	message string
}

// New starts a fake GitHub serving owner/repo from the bare repository at
// bare. It stops with the test; any contract violation fails the test,
// and so does a finding of git fsck in bare (gittest.Fsck).
func New(t testing.TB, bare, owner, repo string) *GitHub {
	t.Helper()
	gittest.Fsck(t, bare) // first: it runs after the server stopped
	c, err := description()
	if err != nil {
		t.Fatalf("load GitHub's OpenAPI description: %v", err)
	}
	g := &GitHub{
		t: t, Owner: owner, Repo: repo, bare: bare, nextID: 1000,
		pulls: map[int]*pull{}, statuses: map[string][]status{}, comments: map[int][]comment{},
		requests: map[string]int{}, limit: 5000, remaining: 5000, reset: time.Now().Add(time.Hour),
		mergeRefusals: map[int]refusal{}, mergeable: map[int]string{}, perms: map[string]string{}, teams: map[string][]string{},
		now: func() time.Time { return time.Now().UTC() },
	}
	g.examples = map[string]any{}
	for name, ex := range c.doc.Components.Examples {
		if ex.Value != nil {
			g.examples[name] = ex.Value.Value
		}
	}
	fail := func(msg string) { t.Errorf("fake GitHub: %s", msg) }
	g.Server = httptest.NewServer(c.wrap(fail, g.serve))
	t.Cleanup(g.Server.Close)
	return g
}

// URL is the API base URL to give go-github (with a trailing slash).
func (g *GitHub) URL() string { return g.Server.URL + "/" }

// Requests returns how many requests each operation received, and how many
// were answered 304 Not Modified.
func (g *GitHub) Requests() (map[string]int, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for k, v := range g.requests {
		out[k] = v
	}
	return out, g.notModified
}

// Remaining is the primary rate-limit budget left.
func (g *GitHub) Remaining() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.remaining
}

// InjectSecondaryRateLimit answers the next n requests with 403 and
// Retry-After: retryAfter seconds.
func (g *GitHub) InjectSecondaryRateLimit(n, retryAfter int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.secondary, g.retryAfter = n, retryAfter
}

// ExhaustRateLimit spends the primary budget until reset.
func (g *GitHub) ExhaustRateLimit(reset time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.remaining, g.reset = 0, reset
}

// InjectServerErrors answers the next n requests with 502.
func (g *GitHub) InjectServerErrors(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.serverErrors = n
}

// RefuseMerge makes merges of a pull request fail with 405 or 409.
func (g *GitHub) RefuseMerge(number, code int, message string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mergeRefusals[number] = refusal{code, message}
}

// SetMergeableState overrides a pull request's mergeable_state.
func (g *GitHub) SetMergeableState(number int, state string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mergeable[number] = state
}

// Review submits a review as user (what a person does in the UI).
func (g *GitHub) Review(number int, user, state, commitID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pulls[number]
	g.nextID++
	p.Reviews = append(p.Reviews, review{ID: g.nextID, User: user, State: state, CommitID: commitID, At: g.now()})
}

// SetPermission gives user a permission on the repository: admin,
// maintain, write, triage or read (GitHub's role names); a user without
// one has none.
func (g *GitHub) SetPermission(user, role string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.perms[user] = role
}

// SetTeam makes users the active members of the team org/team.
func (g *GitHub) SetTeam(org, team string, users ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.teams[org+"/"+team] = users
}

// SetClock sets the clock of the times the fake records from now on
// (default time.Now).
func (g *GitHub) SetClock(now func() time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = func() time.Time { return now().UTC() }
}

// Comments returns the bodies of an issue's comments.
func (g *GitHub) Comments(number int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.comments[number] {
		out = append(out, c.Body)
	}
	return out
}

// MergeByHand merges a pull request as a person would in the UI.
func (g *GitHub) MergeByHand(number int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, err := g.merge(g.pulls[number], "", "")
	return err
}

// SetLabels replaces a pull request's labels, as a person does on
// GitHub's pages (adding or removing flotilla/paused).
func (g *GitHub) SetLabels(number int, labels ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pulls[number].Labels = append([]string(nil), labels...)
}

// ClosePull closes a pull request as a person would.
func (g *GitHub) ClosePull(number int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pulls[number]
	p.State, p.ClosedAt = "closed", time.Now().UTC()
}

// git runs git in the bare repository.
func (g *GitHub) git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = g.bare
	cmd.Env = append(cmd.Environ(), "GIT_AUTHOR_NAME=GitHub", "GIT_AUTHOR_EMAIL=noreply@github.com",
		"GIT_COMMITTER_NAME=GitHub", "GIT_COMMITTER_EMAIL=noreply@github.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func (g *GitHub) branchSHA(branch string) string {
	sha, err := g.git("rev-parse", "--verify", "-q", "refs/heads/"+branch)
	if err != nil {
		return ""
	}
	return sha
}

// mergeRefused is GitHub's refusal of a merge.
type mergeRefused struct {
	code    int
	message string
}

func (e *mergeRefused) Error() string { return e.message }

// merge makes a real merge commit of head into base, titled as GitHub
// does: commit_title when given, else "Merge pull request #N from HEAD".
func (g *GitHub) merge(p *pull, expectSHA, title string) (string, error) {
	base, head := g.branchSHA(p.Base), g.branchSHA(p.Head)
	if expectSHA != "" && expectSHA != head {
		return "", &mergeRefused{409, "Head branch was modified. Review and try the merge again."}
	}
	tree, err := g.git("merge-tree", "--write-tree", base, head)
	if err != nil {
		return "", &mergeRefused{405, "Pull Request is not mergeable"}
	}
	tree = strings.Fields(tree)[0]
	if title == "" {
		title = fmt.Sprintf("Merge pull request #%d from %s", p.Number, p.Head)
	}
	sha, err := g.git("commit-tree", tree, "-p", base, "-p", head, "-m", title+"\n\n"+p.Title)
	if err != nil {
		return "", err
	}
	if _, err := g.git("update-ref", "refs/heads/"+p.Base, sha, base); err != nil {
		return "", &mergeRefused{409, "Base branch was modified. Review and try the merge again."}
	}
	p.Merged, p.MergeSHA, p.State, p.ClosedAt = true, sha, "closed", time.Now().UTC()
	p.mergedHeadSHA, p.mergedBaseSHA = head, base
	return sha, nil
}

// BodyLimit is GitHub's limit on the body of a pull request, an issue, a
// comment or a review: 65,536 characters. The fake refuses a longer body
// as GitHub does (422), counting UTF-16 code units, the largest of the
// counts GitHub could mean by characters (a body's bytes are never fewer).
const BodyLimit = 65536

// bodyResource names what each operation with a body writes.
var bodyResource = map[string]string{
	"pulls/create": "PullRequest", "pulls/update": "PullRequest", "pulls/create-review": "PullRequestReview",
	"issues/create-comment": "IssueComment", "issues/update-comment": "IssueComment",
}

func tooLong(body string) bool {
	return len(body) > BodyLimit && len(utf16.Encode([]rune(body))) > BodyLimit
}

// serve routes one validated request.
func (g *GitHub) serve(w http.ResponseWriter, r *http.Request, op string, params map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests[op]++
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	if params["owner"] != "" && (params["owner"] != g.Owner || params["repo"] != g.Repo) {
		g.write(w, r, 404, map[string]any{"message": "Not Found"})
		return
	}
	switch {
	case g.serverErrors > 0:
		g.serverErrors--
		h.Set("X-Injected", "true")
		g.write(w, r, 502, map[string]any{"message": "Server Error"})
		return
	case g.secondary > 0:
		g.secondary--
		h.Set("Retry-After", strconv.Itoa(g.retryAfter))
		g.rateHeaders(h)
		g.write(w, r, 403, map[string]any{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
		return
	case g.remaining <= 0 && time.Now().Before(g.reset):
		g.rateHeaders(h)
		g.write(w, r, 403, map[string]any{"message": "API rate limit exceeded for installation.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"})
		return
	}
	num, _ := strconv.Atoi(params["pull_number"])
	if num == 0 {
		num, _ = strconv.Atoi(params["issue_number"])
	}
	var body map[string]any
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		if op == "issues/add-labels" && len(b) > 0 && b[0] == '[' {
			var labels []string
			_ = json.Unmarshal(b, &labels)
			body = map[string]any{"labels": toAnyList(labels)}
		}
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	if resource, ok := bodyResource[op]; ok && tooLong(str("body")) {
		g.write(w, r, 422, map[string]any{"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest",
			"errors": []any{map[string]any{"resource": resource, "code": "custom", "field": "body", "message": fmt.Sprintf("body is too long (maximum is %d characters)", BodyLimit)}}})
		return
	}

	switch op {
	case "pulls/list":
		state := r.URL.Query().Get("state")
		if state == "" {
			state = "open"
		}
		var list []*pull
		for _, p := range g.pulls {
			if (state == "all" || p.State == state) &&
				(r.URL.Query().Get("base") == "" || p.Base == r.URL.Query().Get("base")) &&
				(r.URL.Query().Get("head") == "" || g.Owner+":"+p.Head == r.URL.Query().Get("head")) {
				list = append(list, p)
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Number > list[j].Number })
		out := make([]any, len(list))
		for i, p := range list {
			out[i] = g.pullJSON(p, true)
		}
		g.writePage(w, r, out)
	case "pulls/create":
		if g.branchSHA(str("head")) == "" || g.branchSHA(str("base")) == "" {
			g.write(w, r, 422, map[string]any{"message": "Validation Failed", "errors": []any{map[string]any{"resource": "PullRequest", "field": "head", "code": "invalid"}}})
			return
		}
		for _, p := range g.pulls {
			if p.State == "open" && p.Head == str("head") && p.Base == str("base") {
				g.write(w, r, 422, map[string]any{"message": "Validation Failed", "errors": []any{map[string]any{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for " + g.Owner + ":" + p.Head + "."}}})
				return
			}
		}
		p := &pull{Number: len(g.pulls) + 1, Title: str("title"), Body: str("body"), Head: str("head"), Base: str("base"), State: "open", CreatedAt: time.Now().UTC()}
		g.pulls[p.Number] = p
		g.write(w, r, 201, g.pullJSON(p, false))
	case "pulls/get":
		p, ok := g.pulls[num]
		if !ok {
			g.write(w, r, 404, map[string]any{"message": "Not Found"})
			return
		}
		g.write(w, r, 200, g.pullJSON(p, false))
	case "pulls/update":
		p, ok := g.pulls[num]
		if !ok {
			g.write(w, r, 404, map[string]any{"message": "Not Found"})
			return
		}
		if v, ok := body["title"].(string); ok {
			p.Title = v
		}
		if v, ok := body["body"].(string); ok {
			p.Body = v
		}
		if str("state") == "closed" && p.State == "open" {
			p.State, p.ClosedAt = "closed", time.Now().UTC()
		}
		g.write(w, r, 200, g.pullJSON(p, false))
	case "pulls/merge":
		p, ok := g.pulls[num]
		if !ok {
			g.write(w, r, 404, map[string]any{"message": "Not Found"})
			return
		}
		if ref, ok := g.mergeRefusals[num]; ok {
			g.write(w, r, ref.code, map[string]any{"message": ref.message})
			return
		}
		if st := g.mergeable[num]; st != "" && st != "clean" && st != "unstable" && st != "has_hooks" {
			g.write(w, r, 405, map[string]any{"message": "Pull Request is not mergeable"})
			return
		}
		if p.State != "open" {
			g.write(w, r, 405, map[string]any{"message": "Pull Request is not mergeable"})
			return
		}
		sha, err := g.merge(p, str("sha"), str("commit_title"))
		var refused *mergeRefused
		switch {
		case errors.As(err, &refused):
			g.write(w, r, refused.code, map[string]any{"message": refused.message})
			return
		case err != nil:
			w.Header().Set("X-Injected", "true")
			g.write(w, r, 500, map[string]any{"message": err.Error()})
			return
		}
		g.write(w, r, 200, map[string]any{"sha": sha, "merged": true, "message": "Pull Request successfully merged"})
	case "pulls/list-reviews":
		p, ok := g.pulls[num]
		if !ok {
			g.write(w, r, 404, map[string]any{"message": "Not Found"})
			return
		}
		out := []any{}
		for _, rv := range p.Reviews {
			out = append(out, g.reviewJSON(p, rv))
		}
		g.write(w, r, 200, out)
	case "pulls/create-review":
		p := g.pulls[num]
		g.nextID++
		event := map[string]string{"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}[str("event")]
		sha := str("commit_id")
		if sha == "" {
			sha = g.branchSHA(p.Head)
		}
		rv := review{ID: g.nextID, User: "flotilla[bot]", State: event, CommitID: sha, Body: str("body"), At: time.Now().UTC()}
		p.Reviews = append(p.Reviews, rv)
		g.write(w, r, 200, g.reviewJSON(p, rv))
	case "repos/create-commit-status":
		g.nextID++
		st := status{ID: g.nextID, State: str("state"), Context: str("context"), Description: str("description"), URL: str("target_url"), At: g.now()}
		if st.Context == "" {
			st.Context = "default"
		}
		g.statuses[params["sha"]] = append(g.statuses[params["sha"]], st)
		g.write(w, r, 201, g.statusJSON(st))
	case "repos/get-combined-status-for-ref":
		sha := params["ref"]
		if s := g.branchSHA(sha); s != "" {
			sha = s
		}
		latest := map[string]status{}
		for _, st := range g.statuses[sha] {
			latest[st.Context] = st
		}
		var list []any
		combined := "success"
		keys := make([]string, 0, len(latest))
		for k := range latest {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			st := latest[k]
			list = append(list, g.statusJSON(st))
			switch {
			case st.State == "failure" || st.State == "error":
				combined = "failure"
			case st.State == "pending" && combined == "success":
				combined = "pending"
			}
		}
		if len(list) == 0 {
			combined, list = "pending", []any{}
		}
		out := g.example("combined-commit-status")
		out["state"], out["statuses"], out["sha"], out["total_count"] = combined, list, sha, len(list)
		g.write(w, r, 200, out)
	case "repos/list-commit-statuses-for-ref":
		sha := params["ref"]
		if s := g.branchSHA(sha); s != "" {
			sha = s
		}
		all := g.statuses[sha]
		list := make([]any, 0, len(all))
		for i := len(all) - 1; i >= 0; i-- { // newest first
			list = append(list, g.statusJSON(all[i]))
		}
		g.writePage(w, r, list)
	case "repos/get-collaborator-permission-level":
		role := g.perms[params["username"]]
		// permission is the legacy base role: maintain reads as write,
		// triage as read (the operation's description).
		perm := map[string]string{"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}[role]
		if perm == "" {
			perm, role = "none", "none"
		}
		out := g.example("repository-collaborator-permission-response-if-user-has-admin-permissions")
		out["permission"], out["role_name"] = perm, role
		user := out["user"].(map[string]any)
		user["login"] = params["username"]
		user["role_name"] = role // required by the schema; GitHub's example predates it
		g.write(w, r, 200, out)
	case "teams/get-membership-for-user-in-org":
		if !contains(g.teams[params["org"]+"/"+params["team_slug"]], params["username"]) {
			g.write(w, r, 404, map[string]any{"message": "Not Found"})
			return
		}
		out := g.example("team-membership-response-if-user-is-a-team-maintainer")
		out["url"] = fmt.Sprintf("%s/organizations/1/team/1/memberships/%s", g.Server.URL, params["username"])
		out["role"], out["state"] = "member", "active"
		g.write(w, r, 200, out)
	case "issues/list-comments":
		out := []any{}
		for _, c := range g.comments[num] {
			out = append(out, g.commentJSON(num, c))
		}
		g.write(w, r, 200, out)
	case "issues/create-comment":
		g.nextID++
		c := comment{ID: g.nextID, Body: str("body"), At: time.Now().UTC()}
		g.comments[num] = append(g.comments[num], c)
		g.write(w, r, 201, g.commentJSON(num, c))
	case "issues/update-comment":
		id, _ := strconv.ParseInt(params["comment_id"], 10, 64)
		for issue, cs := range g.comments {
			for i := range cs {
				if cs[i].ID == id {
					cs[i].Body = str("body")
					g.write(w, r, 200, g.commentJSON(issue, cs[i]))
					return
				}
			}
		}
		g.write(w, r, 404, map[string]any{"message": "Not Found"})
	case "issues/add-labels":
		p := g.pulls[num]
		for _, l := range body["labels"].([]any) {
			name, _ := l.(string)
			if !contains(p.Labels, name) {
				p.Labels = append(p.Labels, name)
			}
		}
		g.write(w, r, 200, g.labelsJSON(p.Labels))
	case "git/get-ref":
		ref := params["ref"]
		sha, err := g.git("rev-parse", "--verify", "-q", "refs/"+ref)
		if err != nil {
			g.write(w, r, 404, map[string]any{"message": "Not Found"})
			return
		}
		g.write(w, r, 200, g.refJSON("refs/"+ref, sha))
	case "git/create-ref":
		ref, sha := str("ref"), str("sha")
		if _, err := g.git("rev-parse", "--verify", "-q", ref); err == nil {
			g.write(w, r, 422, map[string]any{"message": "Reference already exists"})
			return
		}
		if _, err := g.git("update-ref", ref, sha, ""); err != nil {
			g.write(w, r, 422, map[string]any{"message": "Object does not exist"})
			return
		}
		g.write(w, r, 201, g.refJSON(ref, sha))
	case "git/update-ref":
		ref, sha := "refs/"+params["ref"], str("sha")
		old, err := g.git("rev-parse", "--verify", "-q", ref)
		if err != nil {
			g.write(w, r, 422, map[string]any{"message": "Reference does not exist"})
			return
		}
		force, _ := body["force"].(bool)
		if !force {
			if _, err := g.git("merge-base", "--is-ancestor", old, sha); err != nil {
				g.write(w, r, 422, map[string]any{"message": "Update is not a fast forward"})
				return
			}
		}
		if _, err := g.git("update-ref", ref, sha, old); err != nil {
			g.write(w, r, 422, map[string]any{"message": "Object does not exist"})
			return
		}
		g.write(w, r, 200, g.refJSON(ref, sha))
	default:
		g.write(w, r, 501, map[string]any{"message": "the fake does not implement " + op})
	}
}

// writePage sends one page of list (per_page, page; a Link header to the
// next page), as GitHub's paginated lists.
func (g *GitHub) writePage(w http.ResponseWriter, r *http.Request, list []any) {
	perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	start, end := min((page-1)*perPage, len(list)), min(page*perPage, len(list))
	if end < len(list) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page+1))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, g.Server.URL, r.URL.Path, q.Encode()))
	}
	g.write(w, r, 200, list[start:end])
}

// write sends a JSON answer with rate-limit headers; for GETs it sets an
// ETag and answers a matching If-None-Match with 304, which, as on GitHub,
// does not count against the rate limit.
func (g *GitHub) write(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		g.t.Errorf("fake GitHub: encode: %v", err)
	}
	if r.Method == http.MethodGet && code == 200 {
		sum := sha1.Sum(b)
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			g.notModified++
			g.rateHeaders(w.Header())
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if code != 403 || w.Header().Get("Retry-After") == "" {
		g.remaining--
	}
	g.rateHeaders(w.Header())
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (g *GitHub) rateHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(g.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, g.remaining)))
	h.Set("X-RateLimit-Used", strconv.Itoa(g.limit-max(0, g.remaining)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(g.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// example returns a deep copy of one of the description's examples.
func (g *GitHub) example(name string) map[string]any {
	b, _ := json.Marshal(g.examples[name])
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func (g *GitHub) exampleItem(name string) map[string]any {
	b, _ := json.Marshal(g.examples[name])
	var out []map[string]any
	_ = json.Unmarshal(b, &out)
	return out[0]
}

func (g *GitHub) pullJSON(p *pull, simple bool) map[string]any {
	var out map[string]any
	if simple {
		out = g.exampleItem("pull-request-simple-items")
	} else {
		out = g.example("pull-request")
	}
	base := fmt.Sprintf("%s/repos/%s/%s", g.Server.URL, g.Owner, g.Repo)
	out["id"] = int64(p.Number) + 1_000_000
	out["number"] = p.Number
	out["url"] = fmt.Sprintf("%s/pulls/%d", base, p.Number)
	out["html_url"] = fmt.Sprintf("https://github.example/%s/%s/pull/%d", g.Owner, g.Repo, p.Number)
	out["title"], out["body"], out["state"] = p.Title, p.Body, p.State
	out["created_at"] = p.CreatedAt.Format(time.RFC3339)
	out["updated_at"] = p.CreatedAt.Format(time.RFC3339)
	out["closed_at"], out["merged_at"], out["merge_commit_sha"] = nil, nil, nil
	if !p.ClosedAt.IsZero() {
		out["closed_at"] = p.ClosedAt.Format(time.RFC3339)
	}
	headSHA, baseSHA := g.branchSHA(p.Head), g.branchSHA(p.Base)
	if p.Merged {
		out["merged_at"], out["merge_commit_sha"] = p.ClosedAt.Format(time.RFC3339), p.MergeSHA
		headSHA, baseSHA = p.mergedHeadSHA, p.mergedBaseSHA
	}
	for _, side := range []struct{ key, ref, sha string }{{"head", p.Head, headSHA}, {"base", p.Base, baseSHA}} {
		s := out[side.key].(map[string]any)
		s["ref"], s["sha"], s["label"] = side.ref, side.sha, g.Owner+":"+side.ref
	}
	out["labels"] = g.labelsJSON(p.Labels)
	for _, team := range asList(out["requested_teams"]) {
		team.(map[string]any)["type"] = "organization" // the example predates the required field
	}
	out["auto_merge"] = nil
	out["draft"] = false
	if !simple {
		out["merged"] = p.Merged
		state := g.mergeable[p.Number]
		if state == "" {
			state = "clean"
			if _, err := g.git("merge-tree", "--write-tree", baseSHA, headSHA); err != nil {
				state = "dirty"
			}
		}
		out["mergeable"] = state == "clean" || state == "unstable" || state == "has_hooks"
		out["mergeable_state"] = state
		if p.State != "open" {
			out["mergeable"], out["mergeable_state"] = nil, "unknown"
		}
		out["merged_by"] = nil
	}
	return out
}

func (g *GitHub) reviewJSON(p *pull, rv review) map[string]any {
	out := g.example("pull-request-review")
	out["id"], out["state"], out["commit_id"], out["body"] = rv.ID, rv.State, rv.CommitID, rv.Body
	out["submitted_at"] = rv.At.Format(time.RFC3339)
	out["user"].(map[string]any)["login"] = rv.User
	out["pull_request_url"] = fmt.Sprintf("%s/repos/%s/%s/pulls/%d", g.Server.URL, g.Owner, g.Repo, p.Number)
	return out
}

func (g *GitHub) statusJSON(st status) map[string]any {
	out := g.example("status")
	out["id"], out["state"], out["context"], out["description"] = st.ID, st.State, st.Context, st.Description
	out["target_url"] = nil
	if st.URL != "" {
		out["target_url"] = st.URL
	}
	out["created_at"], out["updated_at"] = st.At.Format(time.RFC3339Nano), st.At.Format(time.RFC3339Nano)
	return out
}

func (g *GitHub) commentJSON(issue int, c comment) map[string]any {
	out := g.example("issue-comment")
	out["id"], out["body"] = c.ID, c.Body
	out["created_at"], out["updated_at"] = c.At.Format(time.RFC3339), c.At.Format(time.RFC3339)
	out["issue_url"] = fmt.Sprintf("%s/repos/%s/%s/issues/%d", g.Server.URL, g.Owner, g.Repo, issue)
	return out
}

func (g *GitHub) labelsJSON(names []string) []any {
	out := []any{}
	for i, n := range names {
		l := g.exampleItem("label-items")
		l["id"], l["name"], l["default"] = i+1, n, false
		out = append(out, l)
	}
	return out
}

func (g *GitHub) refJSON(ref, sha string) map[string]any {
	out := g.example("git-ref")
	out["ref"] = ref
	obj := out["object"].(map[string]any)
	obj["sha"], obj["type"] = sha, "commit"
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
