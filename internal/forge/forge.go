// Package forge is the narrow, provider-neutral interface Flotilla uses to
// talk to where its repository lives: so far, commit statuses, which verify
// posts and promote gates on. Implementations: local (git notes).
package forge

import (
	"context"
	"time"
)

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

// Statuses writes and reads commit statuses.
type Statuses interface {
	// SetStatus sets the status of one context on a commit (the newest
	// status of a context wins, as on GitHub).
	SetStatus(ctx context.Context, sha string, s Status) error
	// Statuses returns the newest status of every context on a commit,
	// sorted by context.
	Statuses(ctx context.Context, sha string) ([]Status, error)
}

// Truncate shortens a description to GitHub's limit.
func Truncate(s string) string {
	r := []rune(s)
	if len(r) <= MaxDescription {
		return s
	}
	return string(r[:MaxDescription-1]) + "…"
}
