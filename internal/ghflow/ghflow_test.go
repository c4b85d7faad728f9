package ghflow

import (
	"strings"
	"testing"
)

// TestEval pins the expression semantics the workflows rely on.
func TestEval(t *testing.T) {
	t.Parallel()
	ctx := map[string]any{
		"github": map[string]any{"event_name": "schedule", "event": map[string]any{"schedule": "*/15 * * * *"}},
		"needs":  map[string]any{"promote": map[string]any{"outputs": map[string]any{"apply-clusters": "[]", "m": `{"include":[{"a":1}]}`}}},
		"steps":  map[string]any{"app": map[string]any{"outputs": map[string]any{}}},
		"status": "success",
	}
	for expr, want := range map[string]any{
		"github.event.schedule == '*/15 * * * *' || github.event_name == 'workflow_dispatch'": true,
		"needs.promote.outputs.apply-clusters != '[]'":                                        false,
		"steps.app.outputs.token || 'github-token'":                                           "github-token",
		"fromJSON(needs.promote.outputs.m).include[0].a":                                      1.0,
		"startsWith('hydrated/a', 'HYDRATED/')":                                               true,
		"!(1 < 2) && true":                                                                    false,
		"format('refs/heads/{0}', 'main') == 'refs/heads/main'":                               true,
		"needs.nope.outputs.x == ''":                                                          true, // null and '' both convert to 0
	} {
		got, err := Eval(expr, ctx)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", expr, got, err, want)
		}
	}
	if _, err := Eval("unknown.x", ctx); err == nil {
		t.Error("an unknown context evaluates")
	}
}

// TestStarts: GitHub's token rule, where workflows are read from, and
// the branches filters.
func TestStarts(t *testing.T) {
	t.Parallel()
	w, err := Parse("w.yml", []byte(`
on:
  push: {branches: [main, "hydrated/**", "!hydrated/**-next"]}
  pull_request: {branches: [main]}
  workflow_dispatch: {}
jobs: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ev   Event
		has  bool
		want bool
	}{
		{Event{Name: "push", Branch: "main", Actor: User}, true, true},
		{Event{Name: "push", Branch: "hydrated/a/b", Actor: User}, true, true},
		{Event{Name: "push", Branch: "hydrated/a-next", Actor: User}, true, false},
		{Event{Name: "push", Branch: "hydrated/a", Actor: GitHubToken}, true, false},
		{Event{Name: "push", Branch: "hydrated/a", Actor: App}, false, false},
		{Event{Name: "pull_request", Branch: "x", Base: "release", Actor: User}, true, false},
		{Event{Name: "workflow_dispatch", Actor: GitHubToken}, true, true},
		{Event{Name: "schedule", Cron: "0 * * * *", Actor: User}, true, false},
	} {
		if got, err := Starts(w, tc.ev, tc.has); err != nil || got != tc.want {
			t.Errorf("%+v: %v (%v), want %v", tc.ev, got, err, tc.want)
		}
	}
}

type recordHost struct{ got []string }

func (h *recordHost) Action(uses string, with map[string]string) (map[string]string, error) {
	h.got = append(h.got, with["k"]+"|"+with["d"])
	return nil, nil
}

func (h *recordHost) Workflow(string) (*Workflow, error) { return nil, nil }

// TestEnvironmentSecrets: a job in a GitHub Environment (an expression
// per matrix entry) sees that environment's secrets over the
// repository's, case-insensitively and by a computed name
// (secrets[matrix.secret]); a job in another environment or in none sees
// the repository's only.
func TestEnvironmentSecrets(t *testing.T) {
	t.Parallel()
	w, err := Parse("w.yml", []byte(`
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    environment: ${{ matrix.env }}
    strategy: {matrix: {include: [{env: a, secret: KUBECONFIG_A}, {env: b, secret: KUBECONFIG_A}, {env: "", secret: KUBECONFIG_A}, {env: A, secret: KUBECONFIG_A}]}}
    steps:
      - uses: x/y@v1
        with: {k: "${{ secrets.kubeconfig }}", d: "${{ secrets[matrix.secret] }}"}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := &recordHost{}
	r := ExecuteWithEnvironments(w, map[string]any{}, map[string]any{"KUBECONFIG": "repo"},
		map[string]map[string]any{"a": {"kubeconfig": "env-a", "KUBECONFIG_A": "own-a"}, "b": {}}, h)
	if f := r.Failed(); len(f) > 0 {
		t.Fatal(f)
	}
	// "A" is environment a: GitHub matches environment names case-insensitively.
	if got := strings.Join(h.got, " "); got != "env-a|own-a repo| repo| env-a|own-a" {
		t.Errorf("secrets seen: %s", got)
	}
}
