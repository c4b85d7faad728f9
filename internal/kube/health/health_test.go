package health

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

// checks are one rule per style a fleet writes: a phase, Ready conditions
// (Flux's own example), a count, and an expression over self.
var checks = []Check{
	{APIVersion: "example.com/v1", Kind: "Database", Current: "status.phase == 'Ready'", InProgress: "status.phase == 'Provisioning'", Failed: "status.phase == 'Error'"},
	{APIVersion: "kro.run/v1alpha1", Kind: "ResourceGraphDefinition", Current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')", Failed: "status.conditions.exists(e, e.type == 'Ready' && e.status == 'False' && e.reason == 'Invalid')"},
	{APIVersion: "example.com/v1", Kind: "Pool", Current: "has(status.ready) && status.ready >= spec.size"},
	{APIVersion: "example.com/v1", Kind: "Flag", Current: "self.data.enabled == 'yes'"},
}

func TestEval(t *testing.T) {
	t.Parallel()
	cs, err := Compile(checks)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, object string
		want         Status
		matched      bool
		message      string
	}{
		{"phase ready", "apiVersion: example.com/v1\nkind: Database\nstatus: {phase: Ready}", Current, true, "current"},
		{"phase provisioning", "apiVersion: example.com/v1\nkind: Database\nstatus: {phase: Provisioning}", InProgress, true, "inProgress"},
		{"phase error", "apiVersion: example.com/v1\nkind: Database\nstatus: {phase: Error}", Failed, true, "failed"},
		{"phase unknown", "apiVersion: example.com/v1\nkind: Database\nstatus: {phase: Other}", InProgress, true, "current is false"},
		{"no status", "apiVersion: example.com/v1\nkind: Database", InProgress, true, "no such key"},
		{"generation not observed", "apiVersion: example.com/v1\nkind: Database\nmetadata: {generation: 3}\nstatus: {phase: Ready, observedGeneration: 2}", InProgress, true, "generation 3 not observed"},
		{"generation observed", "apiVersion: example.com/v1\nkind: Database\nmetadata: {generation: 3}\nstatus: {phase: Ready, observedGeneration: 3}", Current, true, ""},
		{"conditions ready", "apiVersion: kro.run/v1alpha1\nkind: ResourceGraphDefinition\nstatus: {conditions: [{type: Ready, status: 'True'}]}", Current, true, ""},
		{"conditions invalid", "apiVersion: kro.run/v1alpha1\nkind: ResourceGraphDefinition\nstatus: {conditions: [{type: Ready, status: 'False', reason: Invalid}]}", Failed, true, ""},
		{"conditions pending", "apiVersion: kro.run/v1alpha1\nkind: ResourceGraphDefinition\nstatus: {conditions: [{type: Ready, status: 'False', reason: Waiting}]}", InProgress, true, ""},
		{"count reached", "apiVersion: example.com/v1\nkind: Pool\nspec: {size: 3}\nstatus: {ready: 3}", Current, true, ""},
		{"count short", "apiVersion: example.com/v1\nkind: Pool\nspec: {size: 3}\nstatus: {ready: 2}", InProgress, true, ""},
		{"count absent", "apiVersion: example.com/v1\nkind: Pool\nspec: {size: 3}", InProgress, true, ""},
		{"self", "apiVersion: example.com/v1\nkind: Flag\ndata: {enabled: 'yes'}", Current, true, ""},
		{"other version", "apiVersion: example.com/v2\nkind: Database\nstatus: {phase: Error}", "", false, ""},
		{"other kind", "apiVersion: v1\nkind: ConfigMap", "", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := cs.Eval(obj(t, tc.object))
			if ok != tc.matched || got.Status != tc.want || !strings.Contains(got.Message, tc.message) {
				t.Errorf("got %+v (matched %v), want %s (matched %v) with %q", got, ok, tc.want, tc.matched, tc.message)
			}
		})
	}
	var none *Checks
	if _, ok := none.Eval(obj(t, "apiVersion: example.com/v1\nkind: Database")); ok {
		t.Error("no checks matched an object")
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		check Check
		field string
	}{
		{Check{APIVersion: "v1", Kind: "X", Current: "status.phase =="}, "current"},
		{Check{APIVersion: "v1", Kind: "X", Current: "true", Failed: "status.phase + 1 +"}, "failed"},
		{Check{APIVersion: "v1", Kind: "X", Current: "true", InProgress: "'a string'"}, "inProgress"},
		{Check{APIVersion: "v1", Kind: "X", Current: "nosuchvariable == 1"}, "current"},
		{Check{APIVersion: "v1", Kind: "X"}, "current"},
		{Check{Kind: "X", Current: "true"}, "apiVersion"},
		{Check{APIVersion: "v1", Current: "true"}, "kind"},
	}
	for _, tc := range cases {
		_, err := Compile([]Check{{APIVersion: "v1", Kind: "Fine", Current: "true"}, tc.check})
		var ee *ExprError
		if !errors.As(err, &ee) || ee.Index != 1 || ee.Field != tc.field {
			t.Errorf("%+v: got %v, want an ExprError for [1].%s", tc.check, err, tc.field)
		}
	}
	_, err := Compile([]Check{{APIVersion: "v1", Kind: "X", Current: "true"}, {APIVersion: "v1", Kind: "X", Current: "false"}})
	var ee *ExprError
	if !errors.As(err, &ee) || ee.Index != 1 {
		t.Errorf("two checks for one kind: %v", err)
	}
}
