package promote

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/forge"
)

// A Gate is one condition of a rollout, checked for one app of one step.
// Gates are values evaluated in a fixed order from a list (SettleGates,
// EntryGates): a new condition is one type in the list, not an edit of
// Decide. A gate only reads; Decide counts what an admitted app takes
// (a maxUpdate slot).
type Gate interface {
	// Name is the gate's short name (its place in the docs and tests).
	Name() string
	// Check tells whether the gate is open for app a of step c.
	Check(c *StepContext, a App) Verdict
}

// Verdict is a gate's answer for one app.
type Verdict struct {
	// Open says the gate lets the app pass.
	Open bool
	// State is the app's state when the gate is closed ("" leaves
	// Decide's default: Waiting for an app to promote).
	State State
	// WaitingFor says what a closed gate waits for, or, for an open gate,
	// what the merge of the pull request will wait for ("" for nothing).
	WaitingFor string
	// Approval says the pull request holding the app merges only with an
	// approving review of its current head.
	Approval bool
}

// StepContext is what the gates read about one rollout step of one
// ApplicationSet, as Decide walks the set's steps in order.
type StepContext struct {
	// Now is the snapshot's time.
	Now time.Time
	// Set is the ApplicationSet; Step its rollout step (the zero Step
	// for an app no step selects).
	Set  string
	Step Step
	// Limit is the step's maxUpdate resolved for the number of its apps
	// (0: every app needs an approval).
	Limit int
	// InFlight counts the step's apps in an open pull request or live
	// but not settled, plus those Decide admitted so far in this pass.
	InFlight int
	// Unsettled names the first app of an earlier step that is not
	// settled ("" when every one is).
	Unsettled string
	// Halted says why the set's rollout stopped ("" when it did not).
	Halted string
	// Paused says why and where the set's rollout is paused by
	// flotilla.yaml ("" when it is not); PausedClusters says it for each
	// cluster a person paused (the paused label on its promotion pull
	// request, or an open rollback pull request).
	Paused         string
	PausedClusters map[string]string
	// OpenPR holds cluster+"/"+app for every app an open pull request
	// promotes.
	OpenPR map[string]bool
}

// InPR reports whether a's cluster's open pull request promotes a.
func (c *StepContext) InPR(a App) bool { return c.OpenPR[a.Cluster+"/"+a.Name] }

// SettleGates decide whether an app counts as settled — live, verified
// and baked — in this order. The first closed gate gives the app's state
// (Waiting, Verifying, Failed, Baking); an app every gate passes is Live.
// A step's apps must all be settled before the next step's move.
var SettleGates = []Gate{LiveGate{}, VerifiedGate{}, BakeGate{}}

// EntryGates decide whether an app whose proposal differs from its live
// content enters its cluster's pull request now, in this order. The first
// closed gate gives its state and what it waits for; an app every gate
// passes is InPR, and takes a maxUpdate slot unless it was in the pull
// request already.
var EntryGates = []Gate{PauseGate{}, HaltGate{}, PolicyGate{}, PriorStepsGate{}, MaxUpdateGate{}, ApprovalGate{}}

// check runs gates in order: the first closed gate's verdict, else an
// open verdict holding the open gates' WaitingFor (the last one given)
// and Approval (any).
func check(gates []Gate, c *StepContext, a App) Verdict {
	out := Verdict{Open: true}
	for _, g := range gates {
		v := g.Check(c, a)
		if !v.Open {
			return v
		}
		if v.WaitingFor != "" {
			out.WaitingFor = v.WaitingFor
		}
		out.Approval = out.Approval || v.Approval
	}
	return out
}

// LiveGate: the app's proposal is live (its staging content equals its
// live content).
type LiveGate struct{}

// Name implements Gate.
func (LiveGate) Name() string { return "live" }

// Check implements Gate.
func (LiveGate) Check(_ *StepContext, a App) Verdict {
	if a.Differs() {
		return Verdict{State: Waiting}
	}
	return Verdict{Open: true}
}

// VerifiedGate: verify reported success for the app on its cluster's
// live head.
type VerifiedGate struct{}

// Name implements Gate.
func (VerifiedGate) Name() string { return "verified" }

// Check implements Gate.
func (VerifiedGate) Check(_ *StepContext, a App) Verdict {
	switch {
	case a.Status == nil || a.Status.State == forge.StatePending:
		return Verdict{State: Verifying, WaitingFor: "verify's success on the live commit"}
	case a.Status.State != forge.StateSuccess:
		return Verdict{State: Failed, WaitingFor: "a fix: verify reported " + string(a.Status.State) + ": " + a.Status.Description}
	}
	return Verdict{Open: true}
}

// BakeGate: verify's success has lasted the step's bakeTime, counted
// from the start of its current unbroken run of success on the live
// commit (App.SuccessSince: the first success after the last other
// state), so verify re-posting success every run does not restart it
// and a failure in between does.
type BakeGate struct{}

// Name implements Gate.
func (BakeGate) Name() string { return "bake" }

// Check implements Gate.
func (BakeGate) Check(c *StepContext, a App) Verdict {
	bake := c.Step.BakeTime
	if a.Step == Unmatched || bake <= 0 || a.Status == nil {
		return Verdict{Open: true}
	}
	since := a.Status.UpdatedAt
	if !a.SuccessSince.IsZero() && a.SuccessSince.Before(since) {
		since = a.SuccessSince
	}
	if age := c.Now.Sub(since); age < bake {
		return Verdict{State: Baking, WaitingFor: fmt.Sprintf("bake time (%s left)", (bake - age).Round(time.Second))}
	}
	return Verdict{Open: true}
}

// PauseGate: neither the app's ApplicationSet (flotilla.yaml
// rollout.paused, rollout.pausedApplicationSets) nor its cluster (the
// paused label on its promotion pull request, an open rollback pull
// request) is paused. A person's pause comes first: it is what a person
// must undo. A paused app stays different from its live content, so it is
// not settled and holds the later steps as any unsettled app does.
type PauseGate struct{}

// resumePrefix begins what a paused app and its pull request wait for.
const resumePrefix = "a resume: paused by "

// Name implements Gate.
func (PauseGate) Name() string { return "pause" }

// Check implements Gate.
func (PauseGate) Check(c *StepContext, a App) Verdict {
	why := c.Paused
	if why == "" {
		why = c.PausedClusters[a.Cluster]
	}
	if why == "" {
		return Verdict{Open: true}
	}
	return Verdict{State: Paused, WaitingFor: resumePrefix + why}
}

// HaltGate: no app of the ApplicationSet failed verification.
type HaltGate struct{}

// Name implements Gate.
func (HaltGate) Name() string { return "halt" }

// Check implements Gate.
func (HaltGate) Check(c *StepContext, _ App) Verdict {
	if c.Halted != "" {
		return Verdict{State: Halted, WaitingFor: "the rollout is halted: " + c.Halted}
	}
	return Verdict{Open: true}
}

// PolicyGate: no object of the app's proposed (staging) content would be
// denied on its cluster by the policies the cluster's proposed tree
// deploys (App.Denied, computed by Run). Warn and Audit violations do not
// close it. It also holds back apps no rollout step selects.
type PolicyGate struct{}

// Name implements Gate.
func (PolicyGate) Name() string { return "policy" }

// maxPolicyMessage bounds the policy message a closed PolicyGate quotes.
const maxPolicyMessage = 120

// Check implements Gate.
func (PolicyGate) Check(_ *StepContext, a App) Verdict {
	if len(a.Denied) == 0 {
		return Verdict{Open: true}
	}
	v := a.Denied[0]
	msg := v.Message
	if r := []rune(msg); len(r) > maxPolicyMessage {
		msg = string(r[:maxPolicyMessage-1]) + "…"
	}
	w := fmt.Sprintf("a policy fix: %s denies %s: %s", v.Policy, v.Object(), msg)
	if n := len(a.Denied) - 1; n > 0 {
		w += fmt.Sprintf(" (%d more)", n)
	}
	return Verdict{WaitingFor: w}
}

// PriorStepsGate: every app of the set's earlier steps is settled.
type PriorStepsGate struct{}

// Name implements Gate.
func (PriorStepsGate) Name() string { return "prior-steps" }

// Check implements Gate.
func (PriorStepsGate) Check(c *StepContext, _ App) Verdict {
	if c.Unsettled != "" {
		return Verdict{WaitingFor: "earlier steps to settle (" + c.Unsettled + ")"}
	}
	return Verdict{Open: true}
}

// MaxUpdateGate: the step has a free slot (fewer than maxUpdate apps in
// flight), or the app is in the pull request already, or maxUpdate is 0
// (every app enters and waits for an approval).
type MaxUpdateGate struct{}

// Name implements Gate.
func (MaxUpdateGate) Name() string { return "max-update" }

// Check implements Gate.
func (MaxUpdateGate) Check(c *StepContext, a App) Verdict {
	if c.InPR(a) || c.Limit == 0 || c.InFlight < c.Limit {
		return Verdict{Open: true}
	}
	return Verdict{WaitingFor: fmt.Sprintf("a free slot (maxUpdate %d, %d in flight)", c.Limit, c.InFlight)}
}

// ApprovalGate never holds an app out of the pull request; it marks the
// pull request as merging only with approving reviews of its current
// head (ReviewGate: the step's approvals, from writers, from its
// approvers when named) when the step requires approval or its
// maxUpdate is 0.
type ApprovalGate struct{}

// Name implements Gate.
func (ApprovalGate) Name() string { return "approval" }

// Check implements Gate.
func (ApprovalGate) Check(c *StepContext, _ App) Verdict {
	if c.Limit != 0 && !c.Step.RequireApproval {
		return Verdict{Open: true}
	}
	w := "an approving review"
	if n := c.Step.RequiredApprovals(); n > 1 {
		w = fmt.Sprintf("%d approving reviews", n)
	}
	if len(c.Step.Approvers) > 0 {
		w += " from " + mentions(c.Step.Approvers)
	}
	return Verdict{Open: true, Approval: true, WaitingFor: w}
}

// ReviewGate is checked per pull request, for each step whose approval
// it needs (ApprovalGate), when it would merge: enough users (the step's
// approvals, default 1) approve its current head with their latest
// decisive review, each with write access to the repository (admin,
// maintain or write: Cluster.Refused names those without) and, when the
// step names approvers, named there or a member of a team named there
// (Cluster.Teams). A closed gate says how many count
// and why each other approval does not.
type ReviewGate struct{}

// Name is the gate's short name.
func (ReviewGate) Name() string { return "reviews" }

// Check tells whether cluster c's pull request holds the approvals step
// needs.
func (ReviewGate) Check(step Step, c *Cluster) Verdict {
	counted, refused := countApprovals(step, c)
	need := step.RequiredApprovals()
	switch {
	case len(counted) >= need:
		return Verdict{Open: true}
	case need == 1 && len(step.Approvers) == 0 && len(refused) == 0:
		return Verdict{WaitingFor: "an approving review of the current head"}
	}
	w := fmt.Sprintf("%d of %d approvals from writers", len(counted), need)
	if len(step.Approvers) > 0 {
		w += " among " + mentions(step.Approvers)
	}
	for _, r := range refused {
		user, why, _ := strings.Cut(r, ": ")
		w += fmt.Sprintf("; review by %s does not count: %s", user, why)
	}
	return Verdict{WaitingFor: w}
}

// countApprovals splits the approvers of c's pull request into those
// that count for step (sorted logins) and those that do not ("@user:
// why", sorted).
func countApprovals(step Step, c *Cluster) (counted, refused []string) {
	for _, user := range c.Approvers {
		switch why, no := c.Refused[user]; {
		case no:
			refused = append(refused, "@"+user+": "+why)
		case len(step.Approvers) > 0 && !slices.ContainsFunc(step.Approvers, func(a string) bool {
			return strings.EqualFold(a, user) || slices.Contains(c.Teams[user], a)
		}):
			refused = append(refused, "@"+user+": not among the step's approvers")
		default:
			counted = append(counted, user)
		}
	}
	slices.Sort(counted)
	slices.Sort(refused)
	return counted, refused
}

// mentions is "@a, @b".
func mentions(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = "@" + u
	}
	return strings.Join(out, ", ")
}
