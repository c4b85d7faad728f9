package promote

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/policy"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func ok(age time.Duration) *forge.Status {
	return &forge.Status{State: forge.StateSuccess, Description: "in sync", UpdatedAt: now.Add(-age)}
}

func tiers(maxUpdate ...*fleet.IntOrString) []Step {
	names := []string{"canary", "early", "general"}
	var out []Step
	for i, n := range names {
		s := Step{Name: n, Match: []fleet.ApplicationMatchExpression{{Key: "tier", Operator: "In", Values: []string{n}}}}
		if i < len(maxUpdate) {
			s.MaxUpdate = maxUpdate[i]
		}
		out = append(out, s)
	}
	return out
}

func snap(steps []Step, apps ...App) Snapshot {
	s := Snapshot{Now: now, Sets: map[string][]Step{"web": steps}, Clusters: map[string]*Cluster{}}
	for _, a := range apps {
		if a.Set == "" {
			a.Set = "web"
		}
		s.Apps = append(s.Apps, a)
		if s.Clusters[a.Cluster] == nil {
			s.Clusters[a.Cluster] = &Cluster{Name: a.Cluster}
		}
	}
	return s
}

func actions(p Plan) map[string]string {
	out := map[string]string{}
	for _, a := range p.Actions {
		out[a.Cluster] = string(a.Kind) + " " + strings.Join(a.Apps, ",")
	}
	return out
}

func decide(t *testing.T, s Snapshot) Plan {
	t.Helper()
	p, err := Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A new version rolls out tier by tier: only canary moves first.
func TestCanaryFirst(t *testing.T) {
	t.Parallel()
	p := decide(t, snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "web-c", Cluster: "c", Step: 2, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
	))
	if diff := cmp.Diff(map[string]string{"a": "open+merge web-a"}, actions(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d := p.Apps[1]; d.State != Waiting || !strings.Contains(d.WaitingFor, "earlier steps to settle (web-a on a)") {
		t.Errorf("early: %+v", d)
	}
}

// After canary is live and verified, early moves; general still waits.
func TestNextTierAfterVerifiedSuccess(t *testing.T) {
	t.Parallel()
	p := decide(t, snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(time.Minute)},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "web-c", Cluster: "c", Step: 2, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
	))
	if diff := cmp.Diff(map[string]string{"b": "open+merge web-b"}, actions(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Merged but not verified yet: nothing moves.
	p = decide(t, snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: &forge.Status{State: forge.StatePending}},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2"},
	))
	if len(p.Actions) != 0 || p.Apps[0].State != Verifying {
		t.Errorf("unverified canary: %v %+v", actions(p), p.Apps[0])
	}
}

func TestBakeTimeNotPassed(t *testing.T) {
	t.Parallel()
	steps := tiers()
	steps[0].BakeTime = 30 * time.Minute
	p := decide(t, snap(steps,
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(10 * time.Minute)},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2"},
	))
	if len(p.Actions) != 0 || p.Apps[0].State != Baking || p.Apps[0].WaitingFor != "bake time (20m0s left)" {
		t.Errorf("%v %+v", actions(p), p.Apps[0])
	}
	p = decide(t, snap(steps,
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(31 * time.Minute)},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2"},
	))
	if diff := cmp.Diff(map[string]string{"b": "open+merge web-b"}, actions(p)); diff != "" {
		t.Errorf("after the bake time (-want +got):\n%s", diff)
	}
}

func TestMaxUpdate(t *testing.T) {
	t.Parallel()
	general := func(mu *fleet.IntOrString) Plan {
		var apps []App
		for _, c := range []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"} {
			apps = append(apps, App{Name: "web-" + c, Cluster: c, Step: 0, Live: "v1", Staging: "v2"})
		}
		return decide(t, snap([]Step{{Name: "general", MaxUpdate: mu}}, apps...))
	}
	count := func(p Plan, kind ActionKind) int {
		n := 0
		for _, a := range p.Actions {
			if a.Kind == kind {
				n++
			}
		}
		return n
	}
	one := intstr.FromInt32(1)
	quarter := intstr.FromString("25%")
	zero := intstr.FromInt32(0)
	if n := count(general(&one), OpenMerge); n != 1 {
		t.Errorf("maxUpdate 1: %d opened", n)
	}
	if n := count(general(&quarter), OpenMerge); n != 2 {
		t.Errorf("maxUpdate 25%% of 8: %d opened, want 2", n)
	}
	if n := count(general(nil), OpenMerge); n != 8 {
		t.Errorf("no maxUpdate: %d opened, want all 8", n)
	}
	p := general(&zero)
	if n := count(p, Open); n != 8 || p.Apps[0].WaitingFor != "an approving review" {
		t.Errorf("maxUpdate 0: %d opened, %+v", n, p.Apps[0])
	}
	// With maxUpdate 0 an open, current PR waits for an approval, then merges.
	s := snap([]Step{{Name: "general", MaxUpdate: &zero}}, App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2"})
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 1, MergeableState: forge.MergeableClean}, PRApps: []string{"web-a"}, PRCurrent: true}
	if a := decide(t, s).Actions[0]; a.Kind != Wait || a.Reason != "an approving review of the current head" {
		t.Errorf("unapproved: %+v", a)
	}
	s.Clusters["a"].Approvers = []string{"alice"}
	if a := decide(t, s).Actions[0]; a.Kind != Merge {
		t.Errorf("approved: %+v", a)
	}
	// One in flight uses the only slot.
	s = snap(tiers(nil, &one),
		App{Name: "web-a", Cluster: "a", Step: 1, Live: "v2", Staging: "v2", Status: &forge.Status{State: forge.StatePending}},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2"})
	if p := decide(t, s); len(p.Actions) != 0 || !strings.HasPrefix(p.Apps[1].WaitingFor, "a free slot (maxUpdate 1, 1 in flight)") {
		t.Errorf("slot: %v %+v", actions(p), p.Apps[1])
	}
}

func TestApprovalOnAStaleHead(t *testing.T) {
	t.Parallel()
	reviews := []forge.Review{{User: "alice", State: forge.ReviewApproved, CommitID: "old"}}
	if a := forge.Approvers(reviews, "new"); len(a) != 0 {
		t.Fatalf("an approval of an older head counted: %v", a)
	}
	steps := tiers()
	steps[0].RequireApproval = true
	s := snap(steps, App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2"})
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 3, HeadSHA: "new"}, PRApps: []string{"web-a"}, PRCurrent: true,
		Approvers: forge.Approvers(reviews, "new")}
	if a := decide(t, s).Actions[0]; a.Kind != Wait {
		t.Errorf("merged with a stale approval: %+v", a)
	}
}

// A newer staging commit supersedes the one in flight: the PR is updated.
func TestSupersession(t *testing.T) {
	t.Parallel()
	s := snap(tiers(), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v3"})
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 1}, PRApps: []string{"web-a"}, PRCurrent: false}
	if diff := cmp.Diff(map[string]string{"a": "update+merge web-a"}, actions(decide(t, s))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A person merged the PR: the app is live; once verified, the rollout goes on.
func TestManualMergeByAHuman(t *testing.T) {
	t.Parallel()
	s := snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(time.Minute)},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2"})
	if diff := cmp.Diff(map[string]string{"b": "open+merge web-b"}, actions(decide(t, s))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A closed PR (closed by a person, or with nothing left) is opened again
// only while there is something to promote; an open PR with nothing left
// to promote is closed.
func TestClosedPullRequest(t *testing.T) {
	t.Parallel()
	s := snap(tiers(), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(time.Minute)})
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 4}, PRApps: []string{"web-a"}}
	if diff := cmp.Diff(map[string]string{"a": "close "}, actions(decide(t, s))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A person closed the PR while there was still something to promote:
	// the next pass proposes it again (with the current content).
	s = snap(tiers(), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2"})
	if diff := cmp.Diff(map[string]string{"a": "open+merge web-a"}, actions(decide(t, s))); diff != "" {
		t.Errorf("after a person closed it (-want +got):\n%s", diff)
	}
}

func TestUnmatchedAppIsNeverMergedAutomatically(t *testing.T) {
	t.Parallel()
	s := snap(tiers(), App{Name: "web-x", Cluster: "x", Step: Unmatched, Live: "v1", Staging: "v2"})
	if diff := cmp.Diff(map[string]string{"x": "open web-x"}, actions(decide(t, s))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	s.Clusters["x"] = &Cluster{Name: "x", PR: &forge.PullRequest{Number: 1, MergeableState: forge.MergeableClean}, PRApps: []string{"web-x"}, PRCurrent: true, Approvers: []string{"alice"}}
	if a := decide(t, s).Actions[0]; a.Kind != Wait || !strings.Contains(a.Reason, "a person must merge") {
		t.Errorf("unmatched: %+v", a)
	}
}

// A failed verify halts the set: nothing else enters, open PRs close.
func TestHaltOnFailedVerify(t *testing.T) {
	t.Parallel()
	s := snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: &forge.Status{State: forge.StateFailure, Description: "Deployment degraded"}},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2"})
	s.Clusters["b"].PR = &forge.PullRequest{Number: 2}
	s.Clusters["b"].PRApps = []string{"web-b"}
	p := decide(t, s)
	if p.Halted["web"] != "web-a on a failed verification: Deployment degraded" {
		t.Errorf("halted: %v", p.Halted)
	}
	if diff := cmp.Diff(map[string]string{"b": "close "}, actions(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if p.Apps[1].State != Halted {
		t.Errorf("%+v", p.Apps[1])
	}
}

func TestMaxUpdateValues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    intstr.IntOrString
		n    int
		want int
	}{
		{intstr.FromInt32(2), 10, 2}, {intstr.FromString("25%"), 10, 2}, {intstr.FromString("25%"), 3, 1},
		{intstr.FromString("100%"), 7, 7}, {intstr.FromString("0%"), 7, 0}, {intstr.FromString("3"), 7, 3},
	} {
		got, err := MaxUpdate(&tt.v, tt.n)
		if err != nil || got != tt.want {
			t.Errorf("MaxUpdate(%v, %d) = %d, %v; want %d", tt.v.String(), tt.n, got, err, tt.want)
		}
	}
	bad := intstr.FromString("lots")
	if _, err := MaxUpdate(&bad, 3); err == nil {
		t.Error("a bad maxUpdate was accepted")
	}
}

// TestOnePassPerTier: a pull request whose gates are open and that needs
// no approval and no person is merged in the pass that opens or updates
// it; one that needs an approval or a person is only opened or updated.
func TestOnePassPerTier(t *testing.T) {
	t.Parallel()
	zero := intstr.FromInt32(0)
	approval := tiers()
	approval[0].RequireApproval = true
	current := func(apps ...string) *Cluster {
		return &Cluster{Name: "a", PR: &forge.PullRequest{Number: 1, MergeableState: forge.MergeableClean}, PRApps: apps, PRCurrent: true}
	}
	stale := func(apps ...string) *Cluster { c := current(apps...); c.PRCurrent = false; return c }
	for _, tt := range []struct {
		name  string
		steps []Step
		app   App
		pr    *Cluster
		want  ActionKind
	}{
		{"no pull request, gates open: open and merge", tiers(), App{Step: 0}, nil, OpenMerge},
		{"stale pull request, gates open: update and merge", tiers(), App{Step: 0}, stale("web-a"), UpdateMerge},
		{"pull request with other apps, gates open: update and merge", tiers(), App{Step: 0}, current("web-old"), UpdateMerge},
		{"current pull request, gates open: merge", tiers(), App{Step: 0}, current("web-a"), Merge},
		{"requireApproval: open only", approval, App{Step: 0}, nil, Open},
		{"requireApproval, stale: update only", approval, App{Step: 0}, stale("web-a"), Update},
		{"maxUpdate 0: open only", []Step{{Name: "general", MaxUpdate: &zero}}, App{Step: 0}, nil, Open},
		{"maxUpdate 0, stale: update only", []Step{{Name: "general", MaxUpdate: &zero}}, App{Step: 0}, stale("web-a"), Update},
		{"no step selects it: open only", tiers(), App{Step: Unmatched}, nil, Open},
		{"no step selects it, stale: update only", tiers(), App{Step: Unmatched}, stale("web-a"), Update},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := tt.app
			a.Name, a.Cluster, a.Live, a.Staging = "web-a", "a", "v1", "v2"
			s := snap(tt.steps, a)
			if tt.pr != nil {
				s.Clusters["a"] = tt.pr
			}
			p := decide(t, s)
			if len(p.Actions) != 1 || p.Actions[0].Kind != tt.want {
				t.Fatalf("actions %v, want %s", actions(p), tt.want)
			}
			if got := p.Actions[0].Kind.Merges(); got != (tt.want == OpenMerge || tt.want == UpdateMerge || tt.want == Merge) {
				t.Errorf("%s.Merges() = %v", tt.want, got)
			}
		})
	}
}

// TestPolicyDeniedAppStaysOut: an app whose proposed content its cluster
// would deny does not enter the pull request; the cluster's other apps do
// (Warn and Audit do not count: Run puts only Deny in Denied). An app no
// step selects is held back too, and a denied app already in an open pull
// request leaves it.
func TestPolicyDeniedAppStaysOut(t *testing.T) {
	t.Parallel()
	deny := []policy.Violation{{Cluster: "a", App: "api-a", Kind: "Deployment", Namespace: "api", Name: "api", Policy: "guardrails", Action: policy.Deny, Message: "replicas must be at most 10, not 30"}}
	s := snap(tiers(),
		App{Name: "api-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour), Denied: deny},
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "web-x", Cluster: "x", Step: Unmatched, Live: "v1", Staging: "v2", Denied: deny},
	)
	p := decide(t, s)
	if diff := cmp.Diff(map[string]string{"a": "open+merge web-a"}, actions(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	want := "a policy fix: guardrails denies Deployment api/api: replicas must be at most 10, not 30"
	for _, d := range p.Apps {
		if d.App == "web-a" {
			continue
		}
		if d.Promote || d.State != Waiting || d.WaitingFor != want {
			t.Errorf("%s: %+v", d.App, d)
		}
	}
	// In the open pull request already (from before the policy): it leaves.
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 1, MergeableState: forge.MergeableClean}, PRApps: []string{"api-a", "web-a"}, PRCurrent: true}
	if diff := cmp.Diff(map[string]string{"a": "update+merge web-a"}, actions(decide(t, s))); diff != "" {
		t.Errorf("denied app in the pull request (-want +got):\n%s", diff)
	}
}

// TestApprovalsFromWriters: a pull request waits until enough writers
// approve it; the wait says how many count and which approvals do not
// (NotCounted, for the comment on the pull request), and the merge
// names who approved.
func TestApprovalsFromWriters(t *testing.T) {
	t.Parallel()
	steps := tiers()
	steps[0].RequireApproval, steps[0].Approvals = true, 2
	s := snap(steps, App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2"})
	c := &Cluster{Name: "a", PR: &forge.PullRequest{Number: 3, HeadSHA: "h", MergeableState: forge.MergeableClean}, PRApps: []string{"web-a"}, PRCurrent: true}
	s.Clusters["a"] = c
	if p := decide(t, s); p.Apps[0].WaitingFor != "2 approving reviews" {
		t.Errorf("app waits for %q", p.Apps[0].WaitingFor)
	}
	c.Approvers, c.Refused = []string{"rita", "wes"}, map[string]string{"rita": "read access"}
	a := decide(t, s).Actions[0]
	if a.Kind != Wait || a.Reason != "1 of 2 approvals from writers; review by @rita does not count: read access" ||
		!slices.Equal(a.NotCounted, []string{"@rita: read access"}) {
		t.Errorf("a reader and a writer: %+v", a)
	}
	c.Approvers = []string{"ada", "rita", "wes"}
	if a := decide(t, s).Actions[0]; a.Kind != Merge || a.Reason != "every app's gate is open; approved by ada, wes" || a.NotCounted != nil {
		t.Errorf("two writers: %+v", a)
	}
}

// TestPause: a paused canary (its PR's label) is neither updated, merged
// nor closed, and holds the later tiers as an unsettled step would, saying
// so; flotilla.yaml's pause of the set opens nothing on any cluster and
// leaves every open PR as it is; a set's pause leaves other sets moving.
func TestPause(t *testing.T) {
	t.Parallel()
	label := "label flotilla/paused on #3"
	// The canary's PR holds an older v2 (not current) and is paused.
	s := snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v3", Status: ok(time.Hour)},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v3", Status: ok(time.Hour)})
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 3, MergeableState: forge.MergeableClean}, PRApps: []string{"web-a"}, Paused: label}
	p := decide(t, s)
	if diff := cmp.Diff(map[string]string{"a": "wait "}, actions(p)); diff != "" {
		t.Errorf("paused canary (-want +got):\n%s", diff)
	}
	if p.Actions[0].Reason != "a resume: paused by "+label {
		t.Errorf("reason %q", p.Actions[0].Reason)
	}
	if d := p.Apps[0]; d.State != Paused || d.Promote || d.WaitingFor != "a resume: paused by "+label {
		t.Errorf("canary: %+v", d)
	}
	if d := p.Apps[1]; d.State != Waiting || d.WaitingFor != "earlier steps to settle (web-a on a, paused)" {
		t.Errorf("early: %+v", d)
	}
	// A paused cluster whose PR promotes nothing (the rollback's) is not
	// closed; the unpaused cluster moves.
	s = snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 3}, Paused: label}
	if diff := cmp.Diff(map[string]string{"a": "wait ", "b": "open+merge web-b"}, actions(decide(t, s))); diff != "" {
		t.Errorf("empty paused PR (-want +got):\n%s", diff)
	}
	// Resumed (no label): the same PR is updated and merged.
	s.Clusters["a"].Paused = ""
	if diff := cmp.Diff(map[string]string{"a": "close ", "b": "open+merge web-b"}, actions(decide(t, s))); diff != "" {
		t.Errorf("resumed (-want +got):\n%s", diff)
	}
	// flotilla.yaml pauses the set: nothing opens, an open PR waits.
	s = snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "web-c", Cluster: "c", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "api-a", Set: "api", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "api-d", Set: "api", Cluster: "d", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
	s.Sets["api"] = tiers()
	s.Paused = map[string]string{"web": "flotilla.yaml rollout.pausedApplicationSets"}
	s.Clusters["c"].PR = &forge.PullRequest{Number: 5, MergeableState: forge.MergeableClean}
	s.Clusters["c"].PRApps, s.Clusters["c"].PRCurrent = []string{"web-c"}, true
	p = decide(t, s)
	// Cluster a holds a paused web and an api that may move: its PR is
	// opened with api only; c's PR waits; d moves.
	want := map[string]string{"a": "open+merge api-a", "c": "wait ", "d": "open+merge api-d"}
	if diff := cmp.Diff(want, actions(p)); diff != "" {
		t.Errorf("a set paused (-want +got):\n%s", diff)
	}
	for _, d := range p.Apps {
		if d.Set == "web" && (d.State != Paused || d.WaitingFor != "a resume: paused by flotilla.yaml rollout.pausedApplicationSets") {
			t.Errorf("%+v", d)
		}
	}
}

// TestPausedSetLeavesOtherSetsPRs: a set flotilla.yaml pauses does not
// freeze another set's pull request on the same cluster: approved, the
// api pull request merges while web stays paused.
func TestPausedSetLeavesOtherSetsPRs(t *testing.T) {
	t.Parallel()
	api := tiers()
	api[0].RequireApproval = true
	s := snap(tiers(),
		App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
		App{Name: "api-a", Set: "api", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
	s.Sets["api"] = api
	s.Paused = map[string]string{"web": "flotilla.yaml rollout.pausedApplicationSets"}
	s.Clusters["a"] = &Cluster{Name: "a", PR: &forge.PullRequest{Number: 3, HeadSHA: "h", MergeableState: forge.MergeableClean},
		PRApps: []string{"api-a"}, PRCurrent: true, Approvers: []string{"wes"}}
	p := decide(t, s)
	if diff := cmp.Diff(map[string]string{"a": "merge api-a"}, actions(p)); diff != "" {
		t.Errorf("approved api PR beside a paused web (-want +got):\n%s", diff)
	}
	for _, d := range p.Apps {
		if d.App == "web-a" && d.State != Paused {
			t.Errorf("web: %+v", d)
		}
	}
}
