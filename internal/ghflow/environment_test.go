package ghflow

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// reviewHost runs every action step with no outputs and answers
// deployment reviews with approve.
type reviewHost struct {
	approve bool
	asked   []string
}

func (h *reviewHost) Action(string, map[string]string) (map[string]string, error) { return nil, nil }
func (h *reviewHost) Workflow(string) (*Workflow, error)                          { return nil, nil }
func (h *reviewHost) Review(env, job string) bool {
	h.asked = append(h.asked, env+"/"+job)
	return h.approve
}

// TestEnvironmentReviewers: a job naming an environment (a name, or
// {name, url}, with expressions) runs only when its reviewers approve; a
// rejection fails it and skips the jobs that need it.
func TestEnvironmentReviewers(t *testing.T) {
	t.Parallel()
	w, err := Parse("wave.yml", []byte(`on: workflow_dispatch
jobs:
  plan:
    runs-on: ubuntu-latest
    steps: [{uses: actions/checkout@v4}]
  execute:
    needs: plan
    runs-on: ubuntu-latest
    environment: {name: "fleet-${{ github.event_name }}", url: https://example.com}
    steps: [{uses: actions/checkout@v4}]
  after:
    needs: execute
    runs-on: ubuntu-latest
    steps: [{uses: actions/checkout@v4}]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		approve bool
		want    []JobRun
	}{
		{true, []JobRun{{ID: "plan", Result: "success"}, {ID: "execute", Result: "success", Environment: "fleet-workflow_dispatch"}, {ID: "after", Result: "success"}}},
		{false, []JobRun{{ID: "plan", Result: "success"}, {ID: "execute", Result: "failure", Err: "deployment to fleet-workflow_dispatch rejected", Environment: "fleet-workflow_dispatch"}, {ID: "after", Result: "skipped"}}},
	} {
		h := &reviewHost{approve: tt.approve}
		run := Execute(w, map[string]any{"event_name": "workflow_dispatch"}, nil, h)
		if diff := cmp.Diff(tt.want, run.Jobs); diff != "" {
			t.Errorf("approve %v (-want +got):\n%s", tt.approve, diff)
		}
		if diff := cmp.Diff([]string{"fleet-workflow_dispatch/execute"}, h.asked); diff != "" {
			t.Errorf("reviews asked (-want +got):\n%s", diff)
		}
	}
}
