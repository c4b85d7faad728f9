package health

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ruleCases are, per built-in rule, objects of its kind and the health Of
// gives them: each rule's verdicts, and where it leaves the object to
// kstatus (decided false), kstatus's.
var ruleCases = map[schema.GroupKind][]struct {
	name, yaml string
	decided    bool
	want       Health
	msg        string // a part of the message
}{
	{Group: "batch", Kind: "Job"}: {
		{"complete", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Complete, status: \"True\"}]}\n", true, Healthy, "Job completed"},
		{"running", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {active: 1}\n", true, Progressing, "not complete"},
		{"not started", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n", true, Progressing, "not complete"},
		{"failed", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Failed, status: \"True\", message: BackoffLimitExceeded}]}\n", true, Degraded, "BackoffLimitExceeded"},
		{"failed without a message", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Failed, status: \"True\"}]}\n", true, Degraded, "Job failed"},
		{"Complete=False", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Complete, status: \"False\"}]}\n", true, Progressing, "not complete"},
	},
	{Group: "apps", Kind: "Deployment"}: {
		{"paused", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {paused: true}\n", true, Suspended, "paused"},
		{"not paused: kstatus", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 2}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1}\n", false, Progressing, ""},
		{"available: kstatus", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1, conditions: [{type: Available, status: \"True\"}]}\n", false, Healthy, ""},
	},
	{Group: "apiregistration.k8s.io", Kind: "APIService"}: {
		{"available", "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: a}\nstatus: {conditions: [{type: Available, status: \"True\"}]}\n", true, Healthy, "available"},
		{"unavailable", "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: a}\nstatus: {conditions: [{type: Available, status: \"False\", message: FailedDiscoveryCheck}]}\n", true, Progressing, "FailedDiscoveryCheck"},
		{"no status (kstatus would say Current)", "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: a}\n", true, Progressing, "not available"},
	},
	{Group: "", Kind: "Pod"}: {
		{"failed (kstatus says Current)", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Failed}\n", true, Degraded, "Pod failed"},
		{"succeeded: kstatus", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Succeeded}\n", false, Healthy, ""},
		{"pending: kstatus", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Pending}\n", false, Progressing, ""},
	},
	{Group: "", Kind: "Service"}: {
		{"load balancer without address (kstatus waits)", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\n", true, Healthy, "not awaited"},
		{"cluster IP: kstatus", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: ClusterIP}\n", false, Healthy, ""},
	},
}

// TestRules runs every built-in rule on its table, and checks each rule
// has one: a rule added without cases fails here.
func TestRules(t *testing.T) {
	t.Parallel()
	for _, r := range Rules {
		cases := ruleCases[r.Kind]
		if len(cases) == 0 {
			t.Errorf("rule for %s has no cases in ruleCases", r.Kind)
		}
		for _, tt := range cases {
			u := obj(t, tt.yaml)
			h, msg, decided := r.Eval(u)
			if decided != tt.decided || decided && h != tt.want {
				t.Errorf("%s %s: rule says %s %q decided=%v, want %s decided=%v", r.Kind, tt.name, h, msg, decided, tt.want, tt.decided)
			}
			if got, msg := Of(u); got != tt.want || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s %s: Of = %s %q, want %s with %q", r.Kind, tt.name, got, msg, tt.want, tt.msg)
			}
		}
	}
	if len(ruleCases) != len(Rules) {
		t.Errorf("%d kinds in ruleCases, %d rules: a case for a kind without a rule", len(ruleCases), len(Rules))
	}
}

// TestRulesOnePerKind: rules are found by kind, so a second rule for one
// would never run.
func TestRulesOnePerKind(t *testing.T) {
	t.Parallel()
	seen := map[schema.GroupKind]bool{}
	for _, r := range Rules {
		if seen[r.Kind] {
			t.Errorf("a second rule for %s", r.Kind)
		}
		seen[r.Kind] = true
	}
}

// TestKstatus: objects no rule decides get kstatus's verdict.
func TestKstatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml string
		want       Health
	}{
		{"configmap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", Healthy},
		{"ready condition false", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Ready, status: \"False\", reason: Broken}]}\n", Progressing},
		{"stalled", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Stalled, status: \"True\", reason: Broken}]}\n", Degraded},
		{"generation not observed", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 2}\nstatus: {observedGeneration: 1}\n", Progressing},
		{"deleting", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, deletionTimestamp: \"2024-01-01T00:00:00Z\"}\n", Progressing},
	} {
		if got, msg := Of(obj(t, tt.yaml)); got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got, msg, tt.want)
		}
	}
}

func TestWorse(t *testing.T) {
	t.Parallel()
	order := []Health{Healthy, Suspended, Progressing, Missing, Degraded}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := Worse(a, b); got != want {
				t.Errorf("Worse(%s, %s) = %s, want %s", a, b, got, want)
			}
		}
	}
	if got := Worse(Healthy, "Unknown"); got != "Unknown" {
		t.Errorf("an unknown health is the worst: got %s", got)
	}
}

// TestWith: a custom check decides for its kind, even over a built-in
// rule; other kinds get Of.
func TestWith(t *testing.T) {
	t.Parallel()
	cs, err := Compile([]Check{
		{APIVersion: "example.com/v1", Kind: "Database", Current: "status.phase == 'Ready'", Failed: "status.phase == 'Error'"},
		{APIVersion: "batch/v1", Kind: "Job", Current: "true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, yaml string
		want       Health
	}{
		{"check current", "apiVersion: example.com/v1\nkind: Database\nmetadata: {name: d}\nstatus: {phase: Ready}\n", Healthy},
		{"check failed", "apiVersion: example.com/v1\nkind: Database\nmetadata: {name: d}\nstatus: {phase: Error}\n", Degraded},
		{"check in progress", "apiVersion: example.com/v1\nkind: Database\nmetadata: {name: d}\nstatus: {phase: Creating}\n", Progressing},
		{"check over a rule", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {active: 1}\n", Healthy},
		{"no check: rule", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Failed}\n", Degraded},
	} {
		if got, msg := With(cs, obj(t, tt.yaml)); got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got, msg, tt.want)
		}
	}
	if got, _ := With(nil, obj(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n")); got != Progressing {
		t.Errorf("no checks: a Job without status is %s, want Progressing", got)
	}
}
