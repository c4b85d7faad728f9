package promote

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/policy"
)

// App is one application on one cluster, as the snapshot sees it.
type App struct {
	Name, Cluster, Set string
	Step               int // index into the set's steps, or Unmatched
	// Live and Staging identify the app's content on each branch (a
	// content hash); "" when the app is absent there.
	Live, Staging string
	// Status is verify's status of the app on its cluster's live head.
	Status *forge.Status
	// SuccessSince is when verify's current unbroken run of success on
	// the live head began (the first success after its last other
	// state), read only where a bake is pending; zero when not read
	// (BakeGate then counts from Status, the newest).
	SuccessSince time.Time
	// Denied are the Deny violations of the app's staging content on its
	// cluster (PolicyGate), in the policy package's order; Run computes
	// them only for apps that differ.
	Denied []policy.Violation
}

// Differs reports whether the staging content is not live yet.
func (a App) Differs() bool { return a.Live != a.Staging }

// Cluster is one cluster's promotion state.
type Cluster struct {
	Name string
	// PR is the open promotion pull request, if any.
	PR *forge.PullRequest
	// PRApps are the apps the PR's head promotes; PRCurrent says its head
	// holds their current staging content.
	PRApps    []string
	PRCurrent bool
	// Approvers approve the PR's current head (their latest decisive
	// review), sorted.
	Approvers []string
	// Refused maps an approver whose approval does not count to why
	// ("read access"): no write access to the repository. Approvers
	// absent from it count (ReviewGate).
	Refused map[string]string
	// Teams maps an approver to the teams (org/team-slug) named by the
	// approvers of the steps it needs that the approver is a member of.
	Teams map[string][]string
	// Paused says why and where a person paused the cluster's promotion
	// ("" when not): the paused label on the PR, or an open rollback pull
	// request. Promote neither updates, merges nor closes the PR then.
	Paused string
}

// Snapshot is everything a decision reads.
type Snapshot struct {
	Now      time.Time
	Sets     map[string][]Step
	Apps     []App
	Clusters map[string]*Cluster
	// WaveApproved says the pass executes an approved wave (promote
	// --execute-plan): the approval every app's step asks for is given.
	WaveApproved bool
	// Paused maps an ApplicationSet whose rollout flotilla.yaml pauses to
	// why and where (fleet.RolloutConfig.PausedBy).
	Paused map[string]string
}

// State is where an app is in its rollout.
type State string

// States.
const (
	Live       State = "live"        // staging is live and verified (baked)
	Baking     State = "baking"      // verified, bake time not over
	Verifying  State = "verifying"   // live, waiting for verify's success
	Failed     State = "failed"      // verify failed on the live commit
	InPR       State = "in-pr"       // in the cluster's open pull request
	Waiting    State = "waiting"     // differs, gate closed
	Halted     State = "halted"      // its ApplicationSet's rollout is halted
	Paused     State = "paused"      // its rollout or its cluster is paused (PauseGate)
	NotMatched State = "not-matched" // no step selects it: never merged automatically
)

// AppDecision is the decision about one app.
type AppDecision struct {
	App     string `json:"app"`
	Cluster string `json:"cluster"`
	Set     string `json:"set"`
	Step    string `json:"step"`
	State   State  `json:"state"`
	// Promote says the app goes into its cluster's pull request now.
	Promote bool `json:"promote"`
	// WaitingFor says what the app waits for ("" when nothing).
	WaitingFor string `json:"waitingFor,omitempty"`
}

// ActionKind is what to do with a cluster's pull request.
type ActionKind string

// Actions.
const (
	Open   ActionKind = "open"
	Update ActionKind = "update"
	Merge  ActionKind = "merge"
	Close  ActionKind = "close"
	Wait   ActionKind = "wait"
	// OpenMerge opens the pull request and merges it in the same pass:
	// every app's gate is open and none needs approval or a person, so
	// nothing could change between opening and merging but the forge's own
	// verdict on mergeability (a forge that refuses leaves it open).
	OpenMerge ActionKind = "open+merge"
	// UpdateMerge updates the pull request to its new content and merges
	// it in the same pass, on the same conditions.
	UpdateMerge ActionKind = "update+merge"
	// Push fast-forwards the live branch to the promotion commit, with no
	// pull request: every app is in a `pullRequest: false` step and every
	// gate is open. A pass's pushes are one atomic push.
	Push ActionKind = "push"
)

// Merges reports whether the action ends with the live branch moved: a
// merge, a direct push, or a rollback (its result is Done only when it
// merged).
func (k ActionKind) Merges() bool {
	return k == Merge || k == OpenMerge || k == UpdateMerge || k == Push || k == Rollback
}

// WaveApproval is what a direct step that needs an approval waits for.
const WaveApproval = "a wave approval (pullRequest: false): promote --plan, then promote --execute-plan HASH"

// Action is one thing to do for one cluster, with why.
type Action struct {
	Kind    ActionKind `json:"kind"`
	Cluster string     `json:"cluster"`
	// Apps are the apps the pull request promotes (for open, update and
	// merge).
	Apps   []string `json:"apps"`
	Steps  []string `json:"steps,omitempty"`
	Reason string   `json:"reason,omitempty"`
	// NotCounted are the approvals of the pull request that do not count
	// toward the approvals it waits for, each "@user: why" (a wait only).
	NotCounted []string `json:"notCounted,omitempty"`
	// Gates name the gates the apps passed (for push: the commit's
	// Flotilla-Gate trailer).
	Gates []string `json:"gates,omitempty"`
}

// Plan is a decision.
type Plan struct {
	Apps    []AppDecision
	Actions []Action
	// Halted maps an ApplicationSet to why its rollout stopped.
	Halted map[string]string
}

// Decide is the promotion decision, a pure function of the snapshot.
//
// An app whose staging content differs from its live content enters its
// cluster's pull request when every gate of EntryGates is open for it:
// neither its set (flotilla.yaml) nor its cluster (the paused label, an
// open rollback) is paused (PauseGate), no app of its set failed
// verification (HaltGate), none of its proposed
// objects would be denied on its cluster (PolicyGate), every app of its
// ApplicationSet in earlier steps is settled (PriorStepsGate; settled:
// every gate of SettleGates is open — live equals staging, verify's
// success on the live head, its unbroken run of success at least
// bakeTime old), and fewer than maxUpdate apps of its own step are in
// flight (MaxUpdateGate). A pull request merges when it holds only such
// apps, it is current, and, for every app whose step requires approval
// (ApprovalGate), it holds the step's approvals of its current head from
// writers (ReviewGate); apps matched by no
// step make a pull request that is never merged automatically. A pull
// request that needs neither an approval nor a person is merged in the
// pass that opens or updates it (OpenMerge, UpdateMerge): one pass per
// tier. A cluster's open pull request is left as it is (Wait) while the
// cluster is paused or it holds, or would hold, a paused app.
func Decide(s Snapshot) (Plan, error) {
	plan := Plan{Halted: map[string]string{}}
	bySet := map[string][]int{}
	for i, a := range s.Apps {
		bySet[a.Set] = append(bySet[a.Set], i)
	}
	inPR := map[string]bool{} // cluster/app
	pausedClusters := map[string]string{}
	for _, c := range s.Clusters {
		for _, app := range c.PRApps {
			inPR[c.Name+"/"+app] = true
		}
		if c.Paused != "" {
			pausedClusters[c.Name] = c.Paused
		}
	}

	decisions := make([]AppDecision, len(s.Apps))
	approval := make([]bool, len(s.Apps)) // the app's pull request needs an approving review
	sets := make([]string, 0, len(bySet))
	for set := range bySet {
		sets = append(sets, set)
	}
	slices.Sort(sets)
	for _, set := range sets {
		idx := bySet[set]
		steps := s.Sets[set]
		// A failed verify anywhere in the set halts it.
		for _, i := range idx {
			a := s.Apps[i]
			if !a.Differs() && a.Status != nil && (a.Status.State == forge.StateFailure || a.Status.State == forge.StateError) {
				plan.Halted[set] = fmt.Sprintf("%s on %s failed verification: %s", a.Name, a.Cluster, a.Status.Description)
				break
			}
		}
		var unsettled string // the first app of the steps walked so far that is not settled
		for k := range steps {
			var stepApps []int
			for _, i := range idx {
				if s.Apps[i].Step == k {
					stepApps = append(stepApps, i)
				}
			}
			limit, err := MaxUpdate(steps[k].MaxUpdate, len(stepApps))
			if err != nil {
				return Plan{}, fmt.Errorf("ApplicationSet %s, step %s: %w", set, steps[k].Name, err)
			}
			c := &StepContext{Now: s.Now, Set: set, Step: steps[k], Limit: limit, Unsettled: unsettled, Halted: plan.Halted[set],
				Paused: s.Paused[set], PausedClusters: pausedClusters, OpenPR: inPR}
			// In flight: in an open pull request, or live but not settled.
			for _, i := range stepApps {
				a := s.Apps[i]
				if c.InPR(a) || !a.Differs() && !check(SettleGates, c, a).Open {
					c.InFlight++
				}
			}
			for _, i := range stepApps {
				a := s.Apps[i]
				d := AppDecision{App: a.Name, Cluster: a.Cluster, Set: set, Step: steps[k].Name, State: Live}
				first := false // the first unsettled app is this one
				if v := check(SettleGates, c, a); !v.Open {
					d.State, d.WaitingFor = v.State, v.WaitingFor
					if unsettled == "" {
						unsettled, first = a.Name+" on "+a.Cluster, true
					}
				}
				if a.Differs() {
					v := check(EntryGates, c, a)
					switch {
					case !v.Open:
						d.WaitingFor = v.WaitingFor
						if v.State != "" {
							d.State = v.State
						}
					default:
						d.State, d.Promote, d.WaitingFor = InPR, true, v.WaitingFor
						approval[i] = v.Approval
						if !c.InPR(a) {
							c.InFlight++ // it takes a slot
						}
					}
				}
				if first && d.State == Paused {
					unsettled += ", paused"
				}
				decisions[i] = d
			}
		}
		unmatched := &StepContext{Now: s.Now, Set: set, Halted: plan.Halted[set], Paused: s.Paused[set], PausedClusters: pausedClusters, OpenPR: inPR}
		for _, i := range idx {
			a := s.Apps[i]
			if a.Step != Unmatched {
				continue
			}
			d := AppDecision{App: a.Name, Cluster: a.Cluster, Set: set, Step: "-", State: NotMatched}
			if v := (PauseGate{}).Check(unmatched, a); a.Differs() && !v.Open {
				d.State, d.WaitingFor = v.State, v.WaitingFor
			} else if v := (PolicyGate{}).Check(unmatched, a); a.Differs() && !v.Open {
				d.State, d.WaitingFor = Waiting, v.WaitingFor
			} else if a.Differs() {
				d.Promote, d.WaitingFor = true, "a person to merge (no rollout step selects it)"
			} else if v := check(SettleGates, unmatched, a); !v.Open {
				d.State, d.WaitingFor = v.State, v.WaitingFor
			}
			decisions[i] = d
		}
	}
	plan.Apps = decisions

	// Per cluster: the pull request holds the apps to promote.
	names := make([]string, 0, len(s.Clusters))
	for n := range s.Clusters {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		c := s.Clusters[name]
		var apps, steps []string
		manual, needsApproval, direct := false, false, true
		var approvalSteps []Step // the steps whose approval the pull request needs
		paused := c.Paused       // why the PR stays as it is
		for i, d := range decisions {
			if d.Cluster == name && d.State == Paused && paused == "" && inPR[name+"/"+d.App] {
				paused = strings.TrimPrefix(d.WaitingFor, resumePrefix)
			}
			if d.Cluster != name || !d.Promote {
				continue
			}
			apps = append(apps, d.App)
			steps = append(steps, d.Step)
			a := s.Apps[i]
			if a.Step == Unmatched {
				manual, direct = true, false
				continue
			}
			direct = direct && s.Sets[a.Set][a.Step].Direct
			if approval[i] {
				needsApproval = true
				approvalSteps = append(approvalSteps, s.Sets[a.Set][a.Step])
			}
		}
		reviews := Verdict{Open: true}
		var approvedBy, notCounted []string
		if needsApproval && !s.WaveApproved {
			for _, st := range approvalSteps {
				v := (ReviewGate{}).Check(st, c)
				if !v.Open && reviews.Open {
					reviews = v
				}
				counted, refused := countApprovals(st, c)
				approvedBy = append(approvedBy, counted...)
				notCounted = append(notCounted, refused...)
			}
			slices.Sort(approvedBy)
			approvedBy = slices.Compact(approvedBy)
			slices.Sort(notCounted)
			notCounted = slices.Compact(notCounted)
		}
		slices.Sort(apps)
		steps = uniq(steps)
		act := Action{Cluster: name, Apps: apps, Steps: steps}
		gates := gateNames(needsApproval, s.WaveApproved)
		if s.WaveApproved {
			needsApproval = false // the wave's approval covers every app
		}
		switch {
		case paused != "" && c.PR != nil:
			// A paused cluster's PR is left as it is: not updated (it may
			// hold what a rollback took back), merged or closed.
			act.Kind, act.Reason = Wait, resumePrefix+paused
		case len(apps) > 0 && direct && needsApproval:
			act.Kind, act.Reason = Wait, WaveApproval
		case len(apps) > 0 && direct:
			act.Kind, act.Reason, act.Gates = Push, "promote "+strings.Join(apps, ", ")+"; every app's gate is open (pullRequest: false: a direct push)", gates
			if c.PR != nil {
				// Left open by a rollback's pause, or from before the step
				// turned direct: a direct step goes by push all the same,
				// and the push closes it.
				act.Reason += fmt.Sprintf("; closes #%d, which a direct step does not use", c.PR.Number)
			}
		case len(apps) == 0 && c.PR != nil:
			act.Kind, act.Reason = Close, "nothing on this cluster may be promoted now"
		case len(apps) == 0:
			continue
		case c.PR == nil && (manual || needsApproval):
			act.Kind, act.Reason = Open, "promote "+strings.Join(apps, ", ")
		case c.PR == nil:
			act.Kind, act.Reason = OpenMerge, "promote "+strings.Join(apps, ", ")+"; every app's gate is open and none needs approval"
		case (!equalStrings(apps, sortedCopy(c.PRApps)) || !c.PRCurrent) && (manual || needsApproval):
			act.Kind, act.Reason = Update, "the apps to promote or their content changed (release latest)"
		case !equalStrings(apps, sortedCopy(c.PRApps)) || !c.PRCurrent:
			act.Kind, act.Reason = UpdateMerge, "the apps to promote or their content changed (release latest); every app's gate is open and none needs approval"
		case manual:
			act.Kind, act.Reason = Wait, "a person must merge: it holds apps no rollout step selects"
		case !reviews.Open:
			act.Kind, act.Reason, act.NotCounted = Wait, reviews.WaitingFor, notCounted
		case c.PR.MergeableState != "" && !c.PR.MergeableState.Ready() && c.PR.MergeableState != forge.MergeableUnknown:
			act.Kind, act.Reason = Wait, "GitHub reports the pull request "+string(c.PR.MergeableState)
		default:
			act.Kind, act.Reason = Merge, "every app's gate is open"
			if needsApproval {
				act.Reason += "; approved by " + strings.Join(approvedBy, ", ")
			}
		}
		plan.Actions = append(plan.Actions, act)
	}
	return plan, nil
}

// gateNames are the entry gates a promoted app passed, as the
// Flotilla-Gate trailer names them: the approval only when it was asked
// for, marked when a wave approval gave it.
func gateNames(approval, wave bool) []string {
	var out []string
	for _, g := range EntryGates {
		switch {
		case g.Name() != (ApprovalGate{}).Name():
			out = append(out, g.Name())
		case approval && wave:
			out = append(out, g.Name()+" (wave)")
		case approval:
			out = append(out, g.Name())
		}
	}
	return out
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
