package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Health is an object's or an app's health.
type Health string

// Healths, from best to worst.
const (
	Healthy     Health = "Healthy"
	Suspended   Health = "Suspended"
	Progressing Health = "Progressing"
	Missing     Health = "Missing"
	Degraded    Health = "Degraded"
)

func (h Health) rank() int {
	switch h {
	case Healthy:
		return 0
	case Suspended:
		return 1
	case Progressing:
		return 2
	case Missing:
		return 3
	}
	return 4
}

// Worse returns the worse of two healths.
func Worse(a, b Health) Health {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Rule is one of Flotilla's overrides of kstatus for one kind (APPLY.md).
type Rule struct {
	Kind schema.GroupKind
	// Eval decides the object's health; decided is false when the rule
	// leaves the object to kstatus.
	Eval func(u *unstructured.Unstructured) (h Health, msg string, decided bool)
}

// Rules are the built-in overrides, one per kind, consulted before
// kstatus: a Job is healthy only when Complete, a paused Deployment is
// Suspended, an APIService needs Available=True, a bare Pod that Failed is
// Degraded, a LoadBalancer Service does not wait for an address.
var Rules = []Rule{
	{schema.GroupKind{Group: "batch", Kind: "Job"}, func(u *unstructured.Unstructured) (Health, string, bool) {
		switch {
		case hasCondition(u, "Complete", "True"):
			return Healthy, "Job completed", true
		case hasCondition(u, "Failed", "True"):
			return Degraded, conditionMessage(u, "Failed", "Job failed"), true
		}
		return Progressing, "Job not complete yet", true
	}},
	{schema.GroupKind{Group: "apps", Kind: "Deployment"}, func(u *unstructured.Unstructured) (Health, string, bool) {
		if paused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused"); paused {
			return Suspended, "Deployment is paused", true
		}
		return "", "", false
	}},
	{schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"}, func(u *unstructured.Unstructured) (Health, string, bool) {
		if hasCondition(u, "Available", "True") {
			return Healthy, "APIService available", true
		}
		return Progressing, conditionMessage(u, "Available", "APIService not available"), true
	}},
	{schema.GroupKind{Group: "", Kind: "Pod"}, func(u *unstructured.Unstructured) (Health, string, bool) {
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "Failed" {
			return Degraded, "Pod failed", true
		}
		return "", "", false
	}},
	{schema.GroupKind{Group: "", Kind: "Service"}, func(u *unstructured.Unstructured) (Health, string, bool) {
		if t, _, _ := unstructured.NestedString(u.Object, "spec", "type"); t == "LoadBalancer" {
			return Healthy, "Service is ready (the load balancer address is not awaited)", true
		}
		return "", "", false
	}},
}

// rules indexes Rules by kind.
var rules = func() map[schema.GroupKind]Rule {
	out := make(map[schema.GroupKind]Rule, len(Rules))
	for _, r := range Rules {
		out[r.Kind] = r
	}
	return out
}()

// Of computes an object's health: the rule for its kind (Rules) when it
// decides, else kstatus's status (Current is Healthy, Failed Degraded,
// NotFound Missing, anything else Progressing).
func Of(u *unstructured.Unstructured) (Health, string) {
	if r, ok := rules[u.GroupVersionKind().GroupKind()]; ok {
		if h, msg, decided := r.Eval(u); decided {
			return h, msg
		}
	}
	res, err := status.Compute(u)
	if err != nil {
		return Progressing, fmt.Sprintf("status cannot be computed: %v", err)
	}
	switch res.Status {
	case status.CurrentStatus:
		return Healthy, res.Message
	case status.FailedStatus:
		return Degraded, res.Message
	case status.NotFoundStatus:
		return Missing, "not found"
	}
	return Progressing, res.Message
}

// With computes an object's health with the fleet's custom checks
// (flotilla.yaml's healthCheckExprs) first: a check for the object's
// apiVersion and kind decides; other objects get Of.
func With(checks *Checks, u *unstructured.Unstructured) (Health, string) {
	res, ok := checks.Eval(u)
	if !ok {
		return Of(u)
	}
	switch res.Status {
	case Current:
		return Healthy, res.Message
	case Failed:
		return Degraded, res.Message
	}
	return Progressing, res.Message
}

func hasCondition(u *unstructured.Unstructured, typ, want string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == want {
			return true
		}
	}
	return false
}

func conditionMessage(u *unstructured.Unstructured, typ, fallback string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			if msg, _ := m["message"].(string); msg != "" {
				return msg
			}
		}
	}
	return fallback
}
