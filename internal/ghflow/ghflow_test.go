package ghflow

import "testing"

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
