package promote

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
)

// direct makes the named steps of tiers pullRequest: false, with
// requireApproval on those listed in approval.
func direct(steps []Step, names string, approval ...string) []Step {
	for i := range steps {
		if strings.Contains(names, steps[i].Name) {
			steps[i].Direct = true
		}
		for _, a := range approval {
			steps[i].RequireApproval = steps[i].RequireApproval || a == steps[i].Name
		}
	}
	return steps
}

// TestDecideDirectSteps: a pullRequest: false step moves by a push under
// the very gates of a pull request — a prior step not settled, a full
// maxUpdate, a halt or a policy denial hold it — and a step that needs an
// approval waits for a wave approval unless the pass executes one. A
// cluster whose promotion mixes a direct step with a pull-request step goes
// through its pull request.
func TestDecideDirectSteps(t *testing.T) {
	t.Parallel()
	one := intstr.FromInt32(1)
	for _, tt := range []struct {
		name  string
		s     Snapshot
		want  map[string]string
		gates map[string]string // cluster → Gates of its action
	}{
		{"first step pushes", snap(direct(tiers(), "canary early general"),
			App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
			App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2", Status: ok(time.Hour)}),
			map[string]string{"a": "push web-a"}, map[string]string{"a": "pause, halt, policy, prior-steps, max-update"}},
		{"prior step verifying holds the push", snap(direct(tiers(), "early"),
			App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2"},
			App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2", Status: ok(time.Hour)}),
			map[string]string{}, nil},
		{"prior step baking holds the push", snap(func() []Step { s := direct(tiers(), "early"); s[0].BakeTime = 2 * time.Hour; return s }(),
			App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(time.Hour)},
			App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2", Status: ok(time.Hour)}),
			map[string]string{}, nil},
		{"settled prior step lets it push", snap(direct(tiers(), "early"),
			App{Name: "web-a", Cluster: "a", Step: 0, Live: "v2", Staging: "v2", Status: ok(time.Hour)},
			App{Name: "web-b", Cluster: "b", Step: 1, Live: "v1", Staging: "v2", Status: ok(time.Hour)}),
			map[string]string{"b": "push web-b"}, nil},
		{"maxUpdate holds the rest", snap(direct(tiers(&one), "canary"),
			App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
			App{Name: "web-b", Cluster: "b", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)}),
			map[string]string{"a": "push web-a"}, nil},
		{"a failed verify halts it", snap(direct(tiers(), "canary early"),
			App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v1", Status: &forge.Status{State: forge.StateFailure, Description: "crash", UpdatedAt: now}},
			App{Name: "web-b", Cluster: "b", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)}),
			map[string]string{}, nil},
		{"approval waits for the wave", snap(direct(tiers(), "canary", "canary"),
			App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)}),
			map[string]string{"a": "wait web-a"}, nil},
		{"an executed wave approves it", func() Snapshot {
			s := snap(direct(tiers(), "canary", "canary"), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
			s.WaveApproved = true
			return s
		}(), map[string]string{"a": "push web-a"}, map[string]string{"a": "pause, halt, policy, prior-steps, max-update, approval (wave)"}},
		{"an executed wave merges pull requests that need approval", func() Snapshot {
			s := snap(direct(tiers(), "", "canary"), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
			s.WaveApproved = true
			return s
		}(), map[string]string{"a": "open+merge web-a"}, nil},
		{"a pull request left open: pushed all the same", func() Snapshot {
			s := snap(direct(tiers(), "canary"), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
			s.Clusters["a"].PR = &forge.PullRequest{Number: 7}
			s.Clusters["a"].PRApps = []string{"web-a"}
			return s
		}(), map[string]string{"a": "push web-a"}, nil},
		{"a pull request left open and an approval: the wave", func() Snapshot {
			s := snap(direct(tiers(), "canary", "canary"), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
			s.Clusters["a"].PR = &forge.PullRequest{Number: 7}
			s.Clusters["a"].Approvers = []string{"alice"} // a review of the pull request is no wave approval
			return s
		}(), map[string]string{"a": "wait web-a"}, nil},
		{"a paused pull request holds the push", func() Snapshot {
			s := snap(direct(tiers(), "canary"), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
			s.Clusters["a"].PR = &forge.PullRequest{Number: 7}
			s.Clusters["a"].Paused = "the label flotilla/paused on #7"
			return s
		}(), map[string]string{"a": "wait "}, nil},
		{"mixed with a pull-request step: the pull request", func() Snapshot {
			s := snap(direct(tiers(), "canary"), App{Name: "web-a", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)},
				App{Name: "db-a", Set: "db", Cluster: "a", Step: 0, Live: "v1", Staging: "v2", Status: ok(time.Hour)})
			s.Sets["db"] = tiers()
			return s
		}(), map[string]string{"a": "open+merge db-a,web-a"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := decide(t, tt.s)
			if diff := cmp.Diff(tt.want, actions(p)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, a := range p.Actions {
				if want, ok := tt.gates[a.Cluster]; ok && strings.Join(a.Gates, ", ") != want {
					t.Errorf("%s gates %q, want %q", a.Cluster, a.Gates, want)
				}
				if a.Kind == Wait && a.Reason != WaveApproval && !strings.HasPrefix(a.Reason, resumePrefix) {
					t.Errorf("%s waits for %q", a.Cluster, a.Reason)
				}
				if pr := tt.s.Clusters[a.Cluster].PR; a.Kind == Push && pr != nil && !strings.Contains(a.Reason, fmt.Sprintf("closes #%d", pr.Number)) {
					t.Errorf("%s pushes without saying it closes #%d: %q", a.Cluster, pr.Number, a.Reason)
				}
			}
		})
	}
}

// TestStepsPullRequest: pullRequest: false makes a Direct step; maxUpdate
// 0 with it is refused, naming the set and step and what to write instead.
func TestStepsPullRequest(t *testing.T) {
	t.Parallel()
	no, yes := false, true
	zero, pct := intstr.FromInt32(0), intstr.FromString("0%")
	set := &fleet.ApplicationSet{}
	set.Metadata.Name = "web"
	steps, err := Steps(set, []fleet.ApplicationSetRolloutStep{{PullRequest: &no, RequireApproval: true}, {PullRequest: &yes}, {}})
	if err != nil {
		t.Fatal(err)
	}
	if !steps[0].Direct || !steps[0].RequireApproval || steps[1].Direct || steps[2].Direct {
		t.Errorf("steps %+v", steps)
	}
	for _, mu := range []*fleet.IntOrString{&zero, &pct} {
		_, err := Steps(set, []fleet.ApplicationSetRolloutStep{{}, {PullRequest: &no, MaxUpdate: mu}})
		if err == nil || !strings.Contains(err.Error(), "ApplicationSet web: rollout step 2: maxUpdate 0 needs an approving review of each pull request, and pullRequest: false opens none: set requireApproval: true instead") {
			t.Errorf("maxUpdate %s with pullRequest: false: %v", mu.String(), err)
		}
	}
	for _, r := range []fleet.ApplicationSetRolloutStep{{PullRequest: &no, Approvals: 2}, {PullRequest: &no, Approvers: []string{"alice"}}} {
		_, err := Steps(set, []fleet.ApplicationSetRolloutStep{r})
		if err == nil || !strings.Contains(err.Error(), "ApplicationSet web: rollout step 1: approvals and approvers count reviews of a pull request, and pullRequest: false opens none") {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if _, err := Steps(set, []fleet.ApplicationSetRolloutStep{{PullRequest: &no, Approvals: 1}}); err != nil {
		t.Errorf("approvals: 1 with pullRequest: false (one wave approval): %v", err)
	}
}
