package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/flotilla-dev/flotilla/internal/kube/health"
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

// HealthWith computes an object's health with the fleet's custom checks
// (flotilla.yaml's healthCheckExprs) first: a check for the object's
// apiVersion and kind decides; other objects get HealthOf.
func HealthWith(checks *health.Checks, u *unstructured.Unstructured) (Health, string) {
	res, ok := checks.Eval(u)
	if !ok {
		return HealthOf(u)
	}
	switch res.Status {
	case health.Current:
		return Healthy, res.Message
	case health.Failed:
		return Degraded, res.Message
	}
	return Progressing, res.Message
}

// healthOf is the health of an object of the app being applied: its
// fleet's custom checks first (HealthWith), else HealthOf.
func (o *Options) healthOf(u *unstructured.Unstructured) (Health, string) {
	if o.app == nil {
		return HealthOf(u)
	}
	return HealthWith(o.app.Health, u)
}

// HealthOf computes an object's health with kstatus and APPLY.md's
// overrides: a Job is healthy only when Complete, a paused Deployment is
// Suspended, an APIService needs Available=True, a bare Pod that Failed is
// Degraded, a LoadBalancer Service does not wait for an address.
func HealthOf(u *unstructured.Unstructured) (Health, string) {
	gk := u.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "batch" && gk.Kind == "Job":
		switch {
		case hasCondition(u, "Complete", "True"):
			return Healthy, "Job completed"
		case hasCondition(u, "Failed", "True"):
			return Degraded, conditionMessage(u, "Failed", "Job failed")
		}
		return Progressing, "Job not complete yet"
	case gk.Group == "apps" && gk.Kind == "Deployment":
		if paused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused"); paused {
			return Suspended, "Deployment is paused"
		}
	case gk.Group == "apiregistration.k8s.io" && gk.Kind == "APIService":
		if hasCondition(u, "Available", "True") {
			return Healthy, "APIService available"
		}
		return Progressing, conditionMessage(u, "Available", "APIService not available")
	case gk.Group == "" && gk.Kind == "Pod":
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "Failed" {
			return Degraded, "Pod failed"
		}
	case gk.Group == "" && gk.Kind == "Service":
		if t, _, _ := unstructured.NestedString(u.Object, "spec", "type"); t == "LoadBalancer" {
			return Healthy, "Service is ready (the load balancer address is not awaited)"
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
