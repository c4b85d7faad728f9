package promote

import (
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/policy"
)

// gateCase is one row of a gate's table: the step context, the app, and
// the verdict the gate must give.
type gateCase struct {
	name string
	c    StepContext
	a    App
	want Verdict
}

func runGate(t *testing.T, g Gate, name string, cases []gateCase) {
	t.Helper()
	if g.Name() != name {
		t.Errorf("Name() = %q, want %q", g.Name(), name)
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.Check(&tt.c, tt.a); got != tt.want {
				t.Errorf("%s.Check = %+v, want %+v", g.Name(), got, tt.want)
			}
		})
	}
}

func TestLiveGate(t *testing.T) {
	t.Parallel()
	runGate(t, LiveGate{}, "live", []gateCase{
		{"live equals staging", StepContext{}, App{Live: "v2", Staging: "v2"}, Verdict{Open: true}},
		{"both absent", StepContext{}, App{}, Verdict{Open: true}},
		{"staging differs", StepContext{}, App{Live: "v1", Staging: "v2"}, Verdict{State: Waiting}},
		{"new app", StepContext{}, App{Staging: "v2"}, Verdict{State: Waiting}},
		{"removed app", StepContext{}, App{Live: "v1"}, Verdict{State: Waiting}},
	})
}

func TestVerifiedGate(t *testing.T) {
	t.Parallel()
	verifying := Verdict{State: Verifying, WaitingFor: "verify's success on the live commit"}
	runGate(t, VerifiedGate{}, "verified", []gateCase{
		{"no status", StepContext{}, App{}, verifying},
		{"pending", StepContext{}, App{Status: &forge.Status{State: forge.StatePending}}, verifying},
		{"success", StepContext{}, App{Status: &forge.Status{State: forge.StateSuccess}}, Verdict{Open: true}},
		{"failure", StepContext{}, App{Status: &forge.Status{State: forge.StateFailure, Description: "Degraded"}},
			Verdict{State: Failed, WaitingFor: "a fix: verify reported failure: Degraded"}},
		{"error", StepContext{}, App{Status: &forge.Status{State: forge.StateError, Description: "no cluster"}},
			Verdict{State: Failed, WaitingFor: "a fix: verify reported error: no cluster"}},
	})
}

func TestBakeGate(t *testing.T) {
	t.Parallel()
	half := StepContext{Now: now, Step: Step{BakeTime: 30 * time.Minute}}
	// since is an app whose newest success is newest old, in a run of
	// success that began run ago.
	since := func(newest, run time.Duration) App { return App{Status: ok(newest), SuccessSince: now.Add(-run)} }
	runGate(t, BakeGate{}, "bake", []gateCase{
		// verify re-posts success every 15m: the newest is 5m old, the
		// run 31m: baked (counted from the newest, it never would be).
		{"re-posted success: counted from the run's first success", half, since(5*time.Minute, 31*time.Minute), Verdict{Open: true}},
		{"re-posted success, run too short", half, since(5*time.Minute, 20*time.Minute), Verdict{State: Baking, WaitingFor: "bake time (10m0s left)"}},
		// A failure at -25m, success again at -24m: the run restarted.
		{"a failure in between restarted the run", half, since(9*time.Minute, 24*time.Minute), Verdict{State: Baking, WaitingFor: "bake time (6m0s left)"}},
		{"run start not read: the newest success", half, App{Status: ok(31 * time.Minute)}, Verdict{Open: true}},
		{"a run start after the newest is ignored", half, since(31*time.Minute, 1*time.Minute), Verdict{Open: true}},
		{"no bake time", StepContext{Now: now}, App{Status: ok(0)}, Verdict{Open: true}},
		{"baking", half, App{Status: ok(10 * time.Minute)}, Verdict{State: Baking, WaitingFor: "bake time (20m0s left)"}},
		{"rounded to the second", half, App{Status: ok(10*time.Minute + 1500*time.Millisecond)}, Verdict{State: Baking, WaitingFor: "bake time (19m59s left)"}},
		{"just baked", half, App{Status: ok(30 * time.Minute)}, Verdict{Open: true}},
		{"long baked", half, App{Status: ok(time.Hour)}, Verdict{Open: true}},
		{"no step selects it: no bake time", half, App{Step: Unmatched, Status: ok(0)}, Verdict{Open: true}},
	})
}

func TestHaltGate(t *testing.T) {
	t.Parallel()
	runGate(t, HaltGate{}, "halt", []gateCase{
		{"running", StepContext{}, App{}, Verdict{Open: true}},
		{"halted", StepContext{Halted: "web-a on a failed verification: Degraded"}, App{},
			Verdict{State: Halted, WaitingFor: "the rollout is halted: web-a on a failed verification: Degraded"}},
	})
}

func TestPolicyGate(t *testing.T) {
	t.Parallel()
	deny := func(policyName, msg string) policy.Violation {
		return policy.Violation{Cluster: "a", App: "web-a", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "web", Name: "web", Policy: policyName, Binding: policyName, Action: policy.Deny, Message: msg}
	}
	long := strings.Repeat("é", 200)
	runGate(t, PolicyGate{}, "policy", []gateCase{
		{"no violation", StepContext{}, App{Name: "web-a", Cluster: "a"}, Verdict{Open: true}},
		{"denied", StepContext{}, App{Name: "web-a", Cluster: "a", Denied: []policy.Violation{deny("guardrails", "replicas must be at most 10, not 30")}},
			Verdict{WaitingFor: "a policy fix: guardrails denies Deployment web/web: replicas must be at most 10, not 30"}},
		{"denied twice: the first, and how many more", StepContext{}, App{Name: "web-a", Cluster: "a", Denied: []policy.Violation{deny("guardrails", "too many"), deny("PodSecurity", "privileged")}},
			Verdict{WaitingFor: "a policy fix: guardrails denies Deployment web/web: too many (1 more)"}},
		{"a long message is cut at a rune", StepContext{}, App{Name: "web-a", Cluster: "a", Denied: []policy.Violation{deny("guardrails", long)}},
			Verdict{WaitingFor: "a policy fix: guardrails denies Deployment web/web: " + strings.Repeat("é", 119) + "…"}},
		{"cluster-scoped object", StepContext{}, App{Denied: []policy.Violation{{Kind: "Namespace", Name: "web", Policy: "ns", Action: policy.Deny, Message: "m"}}},
			Verdict{WaitingFor: "a policy fix: ns denies Namespace web: m"}},
	})
}

func TestPriorStepsGate(t *testing.T) {
	t.Parallel()
	runGate(t, PriorStepsGate{}, "prior-steps", []gateCase{
		{"first step", StepContext{}, App{}, Verdict{Open: true}},
		{"earlier steps settled", StepContext{Limit: 1, InFlight: 1}, App{}, Verdict{Open: true}},
		{"an earlier app unsettled", StepContext{Unsettled: "web-a on a"}, App{}, Verdict{WaitingFor: "earlier steps to settle (web-a on a)"}},
	})
}

func TestMaxUpdateGate(t *testing.T) {
	t.Parallel()
	inPR := map[string]bool{"a/web-a": true}
	runGate(t, MaxUpdateGate{}, "max-update", []gateCase{
		{"a free slot", StepContext{Limit: 2, InFlight: 1}, App{Name: "web-b", Cluster: "b"}, Verdict{Open: true}},
		{"no free slot", StepContext{Limit: 2, InFlight: 2}, App{Name: "web-b", Cluster: "b"}, Verdict{WaitingFor: "a free slot (maxUpdate 2, 2 in flight)"}},
		{"over the limit", StepContext{Limit: 1, InFlight: 3}, App{Name: "web-b", Cluster: "b"}, Verdict{WaitingFor: "a free slot (maxUpdate 1, 3 in flight)"}},
		{"in the pull request already", StepContext{Limit: 1, InFlight: 1, OpenPR: inPR}, App{Name: "web-a", Cluster: "a"}, Verdict{Open: true}},
		{"another cluster's app of that name", StepContext{Limit: 1, InFlight: 1, OpenPR: inPR}, App{Name: "web-a", Cluster: "b"}, Verdict{WaitingFor: "a free slot (maxUpdate 1, 1 in flight)"}},
		{"maxUpdate 0: every app enters", StepContext{Limit: 0, InFlight: 5}, App{Name: "web-b", Cluster: "b"}, Verdict{Open: true}},
	})
}

// TestPauseGate: a pause of the set (flotilla.yaml) closes the gate for
// every app of the set, a pause of a cluster (its PR's label, an open
// rollback) only for that cluster's apps; the set's pause is named first.
func TestPauseGate(t *testing.T) {
	t.Parallel()
	clusters := map[string]string{"canary": "label flotilla/paused on #3"}
	runGate(t, PauseGate{}, "pause", []gateCase{
		{"nothing paused", StepContext{}, App{Cluster: "canary"}, Verdict{Open: true}},
		{"another cluster paused", StepContext{PausedClusters: clusters}, App{Cluster: "prod"}, Verdict{Open: true}},
		{"its cluster paused", StepContext{PausedClusters: clusters}, App{Cluster: "canary"},
			Verdict{State: Paused, WaitingFor: "a resume: paused by label flotilla/paused on #3"}},
		{"its set paused", StepContext{Paused: "flotilla.yaml rollout.paused: freeze"}, App{Cluster: "prod"},
			Verdict{State: Paused, WaitingFor: "a resume: paused by flotilla.yaml rollout.paused: freeze"}},
		{"both: the set's pause named", StepContext{Paused: "flotilla.yaml rollout.pausedApplicationSets", PausedClusters: clusters}, App{Cluster: "canary"},
			Verdict{State: Paused, WaitingFor: "a resume: paused by flotilla.yaml rollout.pausedApplicationSets"}},
	})
}

func TestApprovalGate(t *testing.T) {
	t.Parallel()
	approval := Verdict{Open: true, Approval: true, WaitingFor: "an approving review"}
	runGate(t, ApprovalGate{}, "approval", []gateCase{
		{"no approval", StepContext{Limit: 3}, App{}, Verdict{Open: true}},
		{"requireApproval", StepContext{Limit: 3, Step: Step{RequireApproval: true}}, App{}, approval},
		{"maxUpdate 0", StepContext{Limit: 0}, App{}, approval},
		{"approvals 2", StepContext{Limit: 3, Step: Step{RequireApproval: true, Approvals: 2}}, App{},
			Verdict{Open: true, Approval: true, WaitingFor: "2 approving reviews"}},
		{"named approvers", StepContext{Limit: 3, Step: Step{RequireApproval: true, Approvers: []string{"ada", "wes"}}}, App{},
			Verdict{Open: true, Approval: true, WaitingFor: "an approving review from @ada, @wes"}},
	})
}

// TestReviewGate: only approvals of the current head by writers count,
// as many as the step needs, from its approvers when it names them; a
// closed gate says how many count and why each other does not.
func TestReviewGate(t *testing.T) {
	t.Parallel()
	if (ReviewGate{}).Name() != "reviews" {
		t.Errorf("Name() = %q", ReviewGate{}.Name())
	}
	one := Step{RequireApproval: true}
	two := Step{RequireApproval: true, Approvals: 2}
	named := Step{RequireApproval: true, Approvals: 2, Approvers: []string{"Ada", "wes"}}
	pr := func(refused map[string]string, approvers ...string) *Cluster {
		return &Cluster{Name: "prod", Approvers: approvers, Refused: refused}
	}
	read := map[string]string{"rita": "read access"}
	for _, tt := range []struct {
		name string
		step Step
		c    *Cluster
		want Verdict
	}{
		{"no approval", one, pr(nil), Verdict{WaitingFor: "an approving review of the current head"}},
		{"a writer's approval", one, pr(nil, "wes"), Verdict{Open: true}},
		{"a reader's approval does not count", one, pr(read, "rita"),
			Verdict{WaitingFor: "0 of 1 approvals from writers; review by @rita does not count: read access"}},
		{"a reader and a writer", one, pr(read, "rita", "wes"), Verdict{Open: true}},
		{"one of two", two, pr(read, "rita", "wes"),
			Verdict{WaitingFor: "1 of 2 approvals from writers; review by @rita does not count: read access"}},
		{"two writers", two, pr(nil, "bob", "wes"), Verdict{Open: true}},
		{"no access at all", one, pr(map[string]string{"eve": "no access to the repository"}, "eve"),
			Verdict{WaitingFor: "0 of 1 approvals from writers; review by @eve does not count: no access to the repository"}},
		{"a writer not among the approvers", named, pr(read, "bob", "rita", "wes"),
			Verdict{WaitingFor: "1 of 2 approvals from writers among @Ada, @wes; review by @bob does not count: not among the step's approvers; review by @rita does not count: read access"}},
		{"approvers match logins case-insensitively", named, pr(nil, "ada", "wes"), Verdict{Open: true}},
		{"a team member counts", Step{RequireApproval: true, Approvers: []string{"example/ops"}},
			&Cluster{Approvers: []string{"bob"}, Teams: map[string][]string{"bob": {"example/ops"}}}, Verdict{Open: true}},
		{"a member of another team does not", Step{RequireApproval: true, Approvers: []string{"example/ops"}},
			&Cluster{Approvers: []string{"bob"}, Teams: map[string][]string{"bob": {"example/dev"}}},
			Verdict{WaitingFor: "0 of 1 approvals from writers among @example/ops; review by @bob does not count: not among the step's approvers"}},
		{"a named approver without write access does not count", named, pr(map[string]string{"ada": "read access"}, "ada", "wes"),
			Verdict{WaitingFor: "1 of 2 approvals from writers among @Ada, @wes; review by @ada does not count: read access"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := (ReviewGate{}).Check(tt.step, tt.c); got != tt.want {
				t.Errorf("Check = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestGateOrder: the lists hold every gate once, in the order Decide's
// documentation gives; check stops at the first closed gate and keeps
// the open gates' approval and what the merge waits for.
func TestGateOrder(t *testing.T) {
	t.Parallel()
	names := func(gs []Gate) (out []string) {
		for _, g := range gs {
			out = append(out, g.Name())
		}
		return out
	}
	if got := names(SettleGates); len(got) != 3 || got[0] != "live" || got[1] != "verified" || got[2] != "bake" {
		t.Errorf("SettleGates = %v", got)
	}
	if got := strings.Join(names(EntryGates), " "); got != "pause halt policy prior-steps max-update approval" {
		t.Errorf("EntryGates = %v", got)
	}
	// Paused and halted: the pause, a person's decision, says why.
	p := &StepContext{Halted: "x failed", PausedClusters: map[string]string{"b": "label flotilla/paused on #1"}}
	if v := check(EntryGates, p, App{Name: "web-b", Cluster: "b"}); v.State != Paused || v.Open {
		t.Errorf("pause first: %+v", v)
	}
	// Halted and unsettled and out of slots: the halt says why.
	c := &StepContext{Halted: "x failed", Unsettled: "web-a on a", Limit: 1, InFlight: 1}
	if v := check(EntryGates, c, App{Name: "web-b", Cluster: "b"}); v.State != Halted || v.Open {
		t.Errorf("halt first: %+v", v)
	}
	c.Halted = ""
	denied := App{Name: "web-b", Cluster: "b", Denied: []policy.Violation{{Policy: "p", Kind: "Deployment", Name: "x", Action: policy.Deny, Message: "no"}}}
	if v := check(EntryGates, c, denied); v.WaitingFor != "a policy fix: p denies Deployment x: no" || v.Open {
		t.Errorf("policy before the prior steps: %+v", v)
	}
	if v := check(EntryGates, c, App{Name: "web-b", Cluster: "b"}); v.WaitingFor != "earlier steps to settle (web-a on a)" {
		t.Errorf("prior steps before the slot: %+v", v)
	}
	c = &StepContext{Limit: 0, Step: Step{RequireApproval: true}}
	if v := check(EntryGates, c, App{}); !v.Open || !v.Approval || v.WaitingFor != "an approving review" {
		t.Errorf("open with approval: %+v", v)
	}
	// Live but failed: verified closes before bake is asked.
	c = &StepContext{Now: now, Step: Step{BakeTime: time.Hour}}
	if v := check(SettleGates, c, App{Status: &forge.Status{State: forge.StateFailure, UpdatedAt: now}}); v.State != Failed {
		t.Errorf("verified before bake: %+v", v)
	}
}
