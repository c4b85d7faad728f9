// Package promote decides and carries out tiered promotion: changes move
// from each cluster's staging branch into its live branch through one pull
// request per cluster, app by app, only after the earlier rollout steps of
// the same ApplicationSet were verified healthy on the exact live commit.
//
// The decision (Decide) is a pure function from a Snapshot to a Plan,
// made of gates as values (SettleGates, EntryGates: one type each,
// evaluated in order). Run makes one pass — approvals, the snapshot read
// from Git and the forge, the decision, its execution through the forge
// and Git — and returns a Result as data; it never prints.
package promote

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// Step is one rollout step.
type Step struct {
	Name  string
	Match []fleet.ApplicationMatchExpression
	// MaxUpdate is the raw value: an integer, a percentage, or nil (all).
	MaxUpdate *fleet.IntOrString
	// BakeTime is how long a success must have lasted before the next
	// step may start (Flotilla extension).
	BakeTime time.Duration
	// RequireApproval needs an approving review of the current head before
	// a pull request holding an app of this step merges (extension). On a
	// Direct step the approval is a wave approval: the step moves only
	// through Options.ExecutePlan.
	RequireApproval bool
	// Approvals is how many approving reviews it needs (0: one);
	// Approvers, when set, the only users whose approvals count: logins,
	// and teams as org/team-slug (extensions; either implies
	// RequireApproval). Only reviewers with write access count
	// (ReviewGate).
	Approvals int
	Approvers []string
	// Direct is `pullRequest: false` (extension): the step's promotions
	// are fast-forwards of the live branches in one atomic push, under the
	// same gates, with no pull request.
	Direct bool
}

// Teams are the teams (org/team-slug) among the step's approvers.
func (s Step) Teams() []string {
	var out []string
	for _, a := range s.Approvers {
		if strings.Contains(a, "/") {
			out = append(out, a)
		}
	}
	return out
}

// RequiredApprovals is how many approvals a pull request holding an app
// of the step needs, when it needs any.
func (s Step) RequiredApprovals() int { return max(1, s.Approvals) }

// Unmatched is the step of an app no step selects.
const Unmatched = -1

// Steps returns an ApplicationSet's rollout: its RollingSync steps, else
// the fleet's rollout.steps, else one step holding every app.
func Steps(set *fleet.ApplicationSet, fallback []fleet.ApplicationSetRolloutStep) ([]Step, error) {
	raw := fallback
	if s := set.Spec.Strategy; s != nil && s.Type == "RollingSync" && s.RollingSync != nil {
		raw = s.RollingSync.Steps
	}
	if len(raw) == 0 {
		return []Step{{Name: "all"}}, nil
	}
	out := make([]Step, len(raw))
	for i, r := range raw {
		s := Step{Name: r.Name, Match: r.MatchExpressions, MaxUpdate: r.MaxUpdate, Approvals: r.Approvals,
			RequireApproval: r.RequireApproval || r.Approvals > 0 || len(r.Approvers) > 0,
			Direct:          r.PullRequest != nil && !*r.PullRequest}
		if s.Name == "" {
			s.Name = stepName(r, i)
		}
		if r.Approvals < 0 {
			return nil, fmt.Errorf("ApplicationSet %s: rollout step %d: approvals %d is negative: give how many approving reviews the step needs", set.Metadata.Name, i+1, r.Approvals)
		}
		for _, who := range r.Approvers {
			name := strings.TrimPrefix(strings.TrimSpace(who), "@")
			org, team, isTeam := strings.Cut(name, "/")
			if name == "" || strings.ContainsAny(name, " \t") || isTeam && (org == "" || team == "" || strings.Contains(team, "/")) {
				return nil, fmt.Errorf("ApplicationSet %s: rollout step %d: approvers: %q is not a user login or a team (org/team-slug)", set.Metadata.Name, i+1, who)
			}
			s.Approvers = append(s.Approvers, name)
		}
		if r.BakeTime != "" {
			d, err := time.ParseDuration(r.BakeTime)
			if err != nil {
				return nil, fmt.Errorf("ApplicationSet %s: rollout step %d: bakeTime %q: %v", set.Metadata.Name, i+1, r.BakeTime, err)
			}
			s.BakeTime = d
		}
		for _, e := range r.MatchExpressions {
			if e.Operator != "In" && e.Operator != "NotIn" {
				return nil, fmt.Errorf("ApplicationSet %s: rollout step %d: operator %q is not valid (RollingSync steps take In or NotIn)", set.Metadata.Name, i+1, e.Operator)
			}
		}
		if lim, err := MaxUpdate(r.MaxUpdate, 1); s.Direct && err == nil && lim == 0 {
			// maxUpdate 0 asks for a review of each pull request: a step
			// without pull requests could never move.
			return nil, fmt.Errorf("ApplicationSet %s: rollout step %d: maxUpdate 0 needs an approving review of each pull request, and pullRequest: false opens none: "+
				"set requireApproval: true instead (the step then moves only through a wave approval: promote --plan, then promote --execute-plan HASH), or drop pullRequest: false", set.Metadata.Name, i+1)
		}
		if s.Direct && (r.Approvals > 1 || len(r.Approvers) > 0) {
			// Approvals are reviews of a pull request: a step without
			// pull requests moves by one wave approval, whose reviewers
			// are the GitHub Environment's.
			return nil, fmt.Errorf("ApplicationSet %s: rollout step %d: approvals and approvers count reviews of a pull request, and pullRequest: false opens none: "+
				"set requireApproval: true (the step then moves only through a wave approval, promote --execute-plan, approved by the reviewers of the GitHub Environment that runs it), or drop pullRequest: false", set.Metadata.Name, i+1)
		}
		out[i] = s
	}
	return out, nil
}

// stepName names a step after its values ("canary"), else its number.
func stepName(r fleet.ApplicationSetRolloutStep, i int) string {
	if len(r.MatchExpressions) == 1 && r.MatchExpressions[0].Operator == "In" && len(r.MatchExpressions[0].Values) > 0 {
		return strings.Join(r.MatchExpressions[0].Values, "+")
	}
	return strconv.Itoa(i + 1)
}

// matches is Argo CD's step selection: every expression's key must be a
// label, In needs the value listed, NotIn needs it not listed.
func matches(s Step, labels map[string]string) bool {
	if len(s.Match) == 0 {
		return true
	}
	for _, e := range s.Match {
		v, ok := labels[e.Key]
		if !ok {
			return false
		}
		listed := false
		for _, x := range e.Values {
			listed = listed || x == v
		}
		if (e.Operator == "In") != listed {
			return false
		}
	}
	return true
}

// StepOf returns the index of the first step selecting an app by its own
// labels (as Argo CD does), else by its cluster's labels (Flotilla's
// extension, so a cluster label such as rollout-tier works unchanged), or
// Unmatched.
func StepOf(steps []Step, appLabels, clusterLabels map[string]string) int {
	for i, s := range steps {
		if matches(s, appLabels) {
			return i
		}
	}
	for i, s := range steps {
		if matches(s, clusterLabels) {
			return i
		}
	}
	return Unmatched
}

// MaxUpdate resolves a step's maxUpdate for n apps: nil means all; an
// integer is a count; a percentage is rounded down but at least 1; 0 means
// every app needs an approval (nothing moves on its own).
func MaxUpdate(v *fleet.IntOrString, n int) (int, error) {
	if v == nil {
		return n, nil
	}
	if v.Type == 0 { // an integer
		if v.IntVal < 0 {
			return 0, fmt.Errorf("maxUpdate %d is negative", v.IntVal)
		}
		return int(v.IntVal), nil
	}
	s := strings.TrimSpace(v.StrVal)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		pct, err := strconv.ParseFloat(p, 64)
		if err != nil || pct < 0 || pct > 100 {
			return 0, fmt.Errorf("maxUpdate %q is not a percentage", s)
		}
		if pct == 0 {
			return 0, nil
		}
		return max(1, int(math.Floor(float64(n)*pct/100))), nil
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("maxUpdate %q is not a count or a percentage", s)
	}
	return i, nil
}
