// Package forge is the narrow, provider-neutral interface Flotilla uses to
// talk to where its repository lives: pull requests (find, open, update,
// close, merge, labels), reviews, commit statuses, sticky comments and
// branch refs. Implementations: forge/github (go-github) and forge/local
// (a plain Git repository, no server).
//
// "Not ready yet" is a result, not an error: a merge GitHub refuses because
// the pull request is blocked, behind or changed comes back as a
// MergeResult with a reason.
package forge

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ErrNotFound means the pull request, ref or commit does not exist.
var ErrNotFound = errors.New("not found")

// State is a commit status state, as GitHub names them.
type State string

// States.
const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateFailure State = "failure"
	StateError   State = "error"
)

// Status is one commit status.
type Status struct {
	Context     string    `json:"context"`
	State       State     `json:"state"`
	Description string    `json:"description"`
	TargetURL   string    `json:"targetUrl,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// MaxDescription is GitHub's limit on a status description.
const MaxDescription = 140

// Truncate shortens a description to GitHub's limit.
func Truncate(s string) string {
	r := []rune(s)
	if len(r) <= MaxDescription {
		return s
	}
	return string(r[:MaxDescription-1]) + "…"
}

// Statuses writes and reads commit statuses.
type Statuses interface {
	// SetStatus sets the status of one context on a commit (the newest
	// status of a context wins, as on GitHub). A status that equals the
	// newest of its context (Same) is not posted again: its time stays
	// the time it was first reported.
	SetStatus(ctx context.Context, sha string, s Status) error
	// Statuses returns the newest status of every context on a commit
	// (GitHub's combined status), sorted by context.
	Statuses(ctx context.Context, sha string) ([]Status, error)
	// SuccessSince returns, for each of contexts whose newest status on
	// sha is success, when its current unbroken run of success statuses
	// began: the first success after the newest status of another state.
	// A context without a status, or whose newest status is not success,
	// is absent.
	SuccessSince(ctx context.Context, sha string, contexts []string) (map[string]time.Time, error)
}

// Same reports whether two statuses say the same (context, state,
// description and target URL), whenever they were posted.
func Same(a, b Status) bool {
	return a.Context == b.Context && a.State == b.State && Truncate(a.Description) == Truncate(b.Description) && a.TargetURL == b.TargetURL
}

// RunStarts finds where the current run of success statuses of some
// contexts began, from a commit's statuses fed newest first (GitHub's
// order): Add each status until it returns false, then read Since.
type RunStarts struct {
	open  map[string]bool // contexts still being read
	since map[string]time.Time
}

// NewRunStarts starts a search for the success runs of contexts.
func NewRunStarts(contexts []string) *RunStarts {
	r := &RunStarts{open: map[string]bool{}, since: map[string]time.Time{}}
	for _, c := range contexts {
		r.open[c] = true
	}
	return r
}

// Add reads the next older status; it returns false once every context
// is decided (an older status can change nothing).
func (r *RunStarts) Add(s Status) bool {
	if r.open[s.Context] {
		if s.State == StateSuccess {
			r.since[s.Context] = s.UpdatedAt
		} else {
			delete(r.open, s.Context)
		}
	}
	return len(r.open) > 0
}

// Since returns the start of each context's current success run.
func (r *RunStarts) Since() map[string]time.Time { return r.since }

// MergeableState is GitHub's mergeable_state of a pull request.
type MergeableState string

// The mergeable states (SEMANTICS.md).
const (
	MergeableClean    MergeableState = "clean"     // mergeable, checks passed
	MergeableUnstable MergeableState = "unstable"  // mergeable, some checks failed
	MergeableHasHooks MergeableState = "has_hooks" // mergeable, with hooks
	MergeableBlocked  MergeableState = "blocked"   // required reviews or checks missing
	MergeableBehind   MergeableState = "behind"    // base moved; update the branch
	MergeableDirty    MergeableState = "dirty"     // conflicts
	MergeableDraft    MergeableState = "draft"
	MergeableUnknown  MergeableState = "unknown" // still being computed
)

// Ready reports whether a pull request in this state can be merged now.
func (m MergeableState) Ready() bool {
	return m == MergeableClean || m == MergeableUnstable || m == MergeableHasHooks
}

// PullRequest is a pull request as Flotilla uses it.
type PullRequest struct {
	Number         int            `json:"number"`
	URL            string         `json:"url"`
	Head           string         `json:"head"` // branch
	HeadSHA        string         `json:"headSha"`
	Base           string         `json:"base"`
	Title          string         `json:"title"`
	Body           string         `json:"body"`
	Open           bool           `json:"open"`
	Merged         bool           `json:"merged"`
	MergeCommitSHA string         `json:"mergeCommitSha,omitempty"`
	MergeableState MergeableState `json:"mergeableState,omitempty"`
	Labels         []string       `json:"labels,omitempty"`
}

// ListOptions selects pull requests.
type ListOptions struct {
	Base string // base branch; empty for any
	Head string // head branch; empty for any
	// All includes closed pull requests.
	All bool
}

// OpenOptions opens a pull request.
type OpenOptions struct {
	Head, Base, Title, Body string
	Labels                  []string
}

// UpdateOptions edits a pull request; nil fields are left alone.
type UpdateOptions struct {
	Title, Body *string
}

// MergeOptions merges a pull request.
type MergeOptions struct {
	// SHA is the head the caller checked; the merge is refused (not ready)
	// if the head moved.
	SHA     string
	Method  string // merge (default), squash or rebase
	Title   string
	Message string
}

// MergeResult is the outcome of a merge.
type MergeResult struct {
	Merged bool
	SHA    string // the merge commit
	// NotReady says why the pull request cannot be merged now (blocked,
	// behind, head moved, conflicts); empty when merged.
	NotReady string
}

// ReviewState is a review's state.
type ReviewState string

// Review states.
const (
	ReviewApproved         ReviewState = "APPROVED"
	ReviewChangesRequested ReviewState = "CHANGES_REQUESTED"
	ReviewCommented        ReviewState = "COMMENTED"
	ReviewDismissed        ReviewState = "DISMISSED"
)

// Review is one pull-request review.
type Review struct {
	ID       int64       `json:"id"`
	User     string      `json:"user"`
	State    ReviewState `json:"state"`
	CommitID string      `json:"commitId"`
}

// Approvers returns the users whose latest decisive review approves sha:
// an approval of an older head does not count, and a later "changes
// requested" or dismissal withdraws an approval.
func Approvers(reviews []Review, sha string) []string {
	latest := map[string]Review{}
	for _, r := range reviews { // chronological, as GitHub lists them
		if r.State == ReviewCommented {
			continue
		}
		latest[r.User] = r
	}
	var out []string
	for user, r := range latest {
		if r.State == ReviewApproved && r.CommitID == sha {
			out = append(out, user)
		}
	}
	slices.Sort(out)
	return out
}

// Permission is a user's access to the repository, as GitHub's
// collaborator permission names it: admin, write (maintain included),
// read (triage included) or none.
type Permission string

// Permissions.
const (
	PermissionAdmin    Permission = "admin"
	PermissionMaintain Permission = "maintain"
	PermissionWrite    Permission = "write"
	PermissionTriage   Permission = "triage"
	PermissionRead     Permission = "read"
	PermissionNone     Permission = "none"
)

// CanWrite reports whether the permission lets its holder push: write,
// maintain or admin.
func (p Permission) CanWrite() bool {
	return p == PermissionWrite || p == PermissionMaintain || p == PermissionAdmin
}

// Forge is everything promote and verify do with the repository's host.
type Forge interface {
	Statuses
	ListPullRequests(ctx context.Context, o ListOptions) ([]PullRequest, error)
	GetPullRequest(ctx context.Context, number int) (*PullRequest, error)
	OpenPullRequest(ctx context.Context, o OpenOptions) (*PullRequest, error)
	UpdatePullRequest(ctx context.Context, number int, o UpdateOptions) (*PullRequest, error)
	ClosePullRequest(ctx context.Context, number int) error
	AddLabels(ctx context.Context, number int, labels []string) error
	MergePullRequest(ctx context.Context, number int, o MergeOptions) (MergeResult, error)
	// Reviews lists a pull request's reviews in chronological order.
	Reviews(ctx context.Context, number int) ([]Review, error)
	// Permission returns a user's access to the repository (none for a
	// user the forge does not know).
	Permission(ctx context.Context, user string) (Permission, error)
	// TeamMember reports whether user is an active member of the team
	// org/team (child teams included); false for a team the forge cannot
	// see.
	TeamMember(ctx context.Context, org, team, user string) (bool, error)
	// UpsertComment keeps one comment per marker on a pull request: it
	// edits the comment holding the marker, or creates it.
	UpsertComment(ctx context.Context, number int, marker, body string) error
	// GetBranch returns a branch's head commit (ErrNotFound when absent).
	GetBranch(ctx context.Context, branch string) (string, error)
	// SetBranch points a branch at sha, creating it when absent. With a
	// non-empty old, it is a compare-and-set (force moves allowed).
	SetBranch(ctx context.Context, branch, sha, old string) error
}

// CommentMarker is the hidden HTML comment that identifies a sticky comment.
func CommentMarker(marker string) string {
	return "<!-- flotilla:" + marker + " -->"
}

// CommentRoom is how long the body of a sticky comment may be for the
// whole comment — the marker, a line break, the body — to stay within
// limit: UpsertComment puts the marker first.
func CommentRoom(limit int, marker string) int {
	return limit - len(CommentMarker(marker)) - 1
}
