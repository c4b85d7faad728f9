package promote

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// TestStepsAgreeWithArgoCD: for the corpus cases with expected-status.json
// (produced by Argo CD's controller), every app Argo CD put in step N is in
// step N here; apps Argo CD left unmatched may match through the
// cluster-label fallback (Flotilla's extension).
func TestStepsAgreeWithArgoCD(t *testing.T) {
	t.Parallel()
	corpus := "../../testdata/conformance/appset"
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		src := filepath.Join(corpus, e.Name())
		raw, err := os.ReadFile(filepath.Join(src, "expected-status.json"))
		if err != nil {
			continue
		}
		var status struct {
			ApplicationStatus []struct{ Application, Step string }
		}
		if err := json.Unmarshal(raw, &status); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for _, f := range []string{"appset.yaml", "clusters.yaml"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		os.WriteFile(filepath.Join(dir, fleet.ConfigFile), []byte("clusters: [clusters.yaml]\napplicationSets: [appset.yaml]\nargoCD: {inCluster: true, projects: [default]}\n"), 0o644)
		f, err := fleet.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		apps, err := appset.GenerateFleet(t.Context(), f, nil)
		if err != nil {
			t.Fatal(err)
		}
		byServer := map[string]fleet.Cluster{}
		for _, c := range f.Clusters {
			byServer[c.Server] = c
		}
		got := map[string]int{}
		for _, g := range apps {
			steps, err := Steps(&g.Set.Set, nil)
			if err != nil {
				t.Fatal(err)
			}
			got[g.App.Metadata.Name] = StepOf(steps, g.App.Metadata.Labels, byServer[g.App.Spec.Destination.Server].Labels)
		}
		for _, s := range status.ApplicationStatus {
			argo, _ := strconv.Atoi(s.Step)
			ours, ok := got[s.Application]
			switch {
			case !ok:
				t.Errorf("%s: %s not generated", e.Name(), s.Application)
			case argo > 0 && ours != argo-1:
				t.Errorf("%s: %s is in step %d here, Argo CD says %d", e.Name(), s.Application, ours+1, argo)
			case argo == -1 && ours != Unmatched:
				t.Logf("%s: %s matched step %d through its cluster's labels (Argo CD: unmatched)", e.Name(), s.Application, ours+1)
			}
			checked++
		}
	}
	if checked < 6 {
		t.Fatalf("checked %d apps, want the corpus' RollingSync cases", checked)
	}
}

// TestStepApprovals: approvals and approvers are read from a step and
// imply requireApproval; a negative count or an approver that is no
// login is refused, naming the set and the step.
func TestStepApprovals(t *testing.T) {
	t.Parallel()
	set := &fleet.ApplicationSet{}
	set.Metadata.Name = "web"
	for _, tt := range []struct {
		name string
		step fleet.ApplicationSetRolloutStep
		want Step
		err  string
	}{
		{"approvals imply requireApproval", fleet.ApplicationSetRolloutStep{Name: "prod", Approvals: 2},
			Step{Name: "prod", RequireApproval: true, Approvals: 2}, ""},
		{"approvers imply requireApproval, @ dropped", fleet.ApplicationSetRolloutStep{Name: "prod", Approvers: []string{"@ada", " wes "}},
			Step{Name: "prod", RequireApproval: true, Approvers: []string{"ada", "wes"}}, ""},
		{"neither", fleet.ApplicationSetRolloutStep{Name: "canary"}, Step{Name: "canary"}, ""},
		{"negative", fleet.ApplicationSetRolloutStep{Name: "prod", Approvals: -1}, Step{},
			"ApplicationSet web: rollout step 1: approvals -1 is negative: give how many approving reviews the step needs"},
		{"empty approver", fleet.ApplicationSetRolloutStep{Name: "prod", Approvers: []string{"ada", " "}}, Step{},
			`ApplicationSet web: rollout step 1: approvers: " " is not a user login or a team (org/team-slug)`},
		{"a team", fleet.ApplicationSetRolloutStep{Name: "prod", Approvers: []string{"@example/ops", "ada"}},
			Step{Name: "prod", RequireApproval: true, Approvers: []string{"example/ops", "ada"}}, ""},
		{"a team without its org", fleet.ApplicationSetRolloutStep{Name: "prod", Approvers: []string{"/ops"}}, Step{},
			`ApplicationSet web: rollout step 1: approvers: "/ops" is not a user login or a team (org/team-slug)`},
		{"a team path", fleet.ApplicationSetRolloutStep{Name: "prod", Approvers: []string{"example/ops/x"}}, Step{},
			`ApplicationSet web: rollout step 1: approvers: "example/ops/x" is not a user login or a team (org/team-slug)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Steps(set, []fleet.ApplicationSetRolloutStep{tt.step})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Step{tt.want}, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if n := got[0].RequiredApprovals(); n != max(1, tt.step.Approvals) {
				t.Errorf("RequiredApprovals %d", n)
			}
		})
	}
}
