package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/ghflow"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// waveSim runs examples/github/wave.yml: promote's plan and execute-plan
// over a wave of clusters, the fleet-wave environment's reviewers, and
// apply and verify.
type waveSim struct {
	wave     []string // the clusters the plan would move
	approve  bool
	reviews  []string
	executed []string // the hashes execute-plan was given
	applied  []string
	verified []string
}

func (s *waveSim) Workflow(uses string) (*ghflow.Workflow, error) {
	return nil, fmt.Errorf("unexpected reusable workflow %s", uses)
}

func (s *waveSim) Review(env, job string) bool {
	s.reviews = append(s.reviews, env+"/"+job)
	return s.approve
}

func (s *waveSim) hash() string { return fmt.Sprintf("%064x", len(s.wave)) }

func (s *waveSim) Action(uses string, with map[string]string) (map[string]string, error) {
	if !strings.HasPrefix(uses, "flotilla-dev/flotilla@") {
		return nil, nil
	}
	switch with["command"] {
	case "promote":
		if with["forge"] != "github" {
			return nil, fmt.Errorf("promote without forge: github")
		}
		w := promote.Wave{Hash: s.hash(), Clusters: []promote.WaveCluster{}}
		for _, c := range s.wave {
			w.Clusters = append(w.Clusters, promote.WaveCluster{Cluster: c, Mode: promote.ModePush})
		}
		switch {
		case with["plan"] == "true" && with["execute-plan"] == "":
			out := outputs("wave", w)
			out["plan-hash"] = w.Hash
			return out, nil
		case with["plan"] == "" && with["execute-plan"] != "":
			s.executed = append(s.executed, with["execute-plan"])
			if got, err := readPlanWave(with["plan-wave"]); err != nil || got.Hash != with["execute-plan"] {
				return nil, fmt.Errorf("plan-wave is not the planned wave: %v %+v", err, got)
			}
			if with["execute-plan"] != w.Hash {
				return nil, fmt.Errorf("the wave changed")
			}
			return outputs("apply-clusters", s.wave, "apply-matrix", clusterMatrix(s.wave, 32)), nil
		}
		return nil, fmt.Errorf("promote with plan %q and execute-plan %q", with["plan"], with["execute-plan"])
	case "apply", "verify":
		if with["kubeconfig-data"] == "" {
			return nil, fmt.Errorf("no kubeconfig")
		}
		names := strings.Split(with["clusters"], ",")
		if with["command"] == "apply" {
			s.applied = append(s.applied, names...)
		} else {
			s.verified = append(s.verified, names...)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown command %q", with["command"])
}

// TestWaveWorkflow: in examples/github/wave.yml the plan job's hash
// reaches promote --execute-plan only through the fleet-wave environment's
// required reviewers; an approved wave is applied and verified in the same
// run, a rejected one runs nothing, and an empty wave asks nobody.
func TestWaveWorkflow(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../examples/github/wave.yml")
	if err != nil {
		t.Fatal(err)
	}
	w, err := ghflow.Parse("wave.yml", b)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := ghflow.Starts(w, ghflow.Event{Name: "workflow_dispatch", Actor: ghflow.User}, true); !ok || err != nil {
		t.Fatalf("workflow_dispatch does not start it: %v", err)
	}
	github := map[string]any{"event_name": "workflow_dispatch", "ref": "refs/heads/main", "ref_name": "main", "repository": "example/fleet", "token": "github-token"}
	for _, tt := range []struct {
		name     string
		wave     []string
		approve  bool
		reviews  int
		executed bool
		applied  []string
	}{
		{"approved", []string{"c2", "c3"}, true, 1, true, []string{"c2", "c3"}},
		{"rejected", []string{"c2", "c3"}, false, 1, false, nil},
		{"empty wave", nil, true, 0, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &waveSim{wave: tt.wave, approve: tt.approve}
			run := ghflow.Execute(w, github, map[string]any{"KUBECONFIG": "kubeconfig"}, s)
			if len(s.reviews) != tt.reviews || tt.reviews > 0 && s.reviews[0] != "fleet-wave/execute" {
				t.Errorf("reviews %v", s.reviews)
			}
			if want := []string(nil); tt.executed {
				want = []string{s.hash()}
				if diff := cmp.Diff(want, s.executed); diff != "" {
					t.Errorf("execute-plan (-want +got):\n%s", diff)
				}
			} else if len(s.executed) > 0 {
				t.Errorf("execute-plan ran: %v", s.executed)
			}
			slices.Sort(s.applied)
			slices.Sort(s.verified)
			if !slices.Equal(s.applied, tt.applied) || !slices.Equal(s.verified, tt.applied) {
				t.Errorf("applied %v, verified %v, want %v", s.applied, s.verified, tt.applied)
			}
			if tt.approve {
				if failed := run.Failed(); len(failed) > 0 {
					t.Errorf("failed jobs: %v", failed)
				}
			}
		})
	}
}
