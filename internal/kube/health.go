package kube

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/kube/health"
)

// Health is an object's or an app's health (health.Health).
type Health = health.Health

// Healths, from best to worst.
const (
	Healthy     = health.Healthy
	Suspended   = health.Suspended
	Progressing = health.Progressing
	Missing     = health.Missing
	Degraded    = health.Degraded
)

// Worse returns the worse of two healths.
func Worse(a, b Health) Health { return health.Worse(a, b) }

// HealthWith computes an object's health with the fleet's custom checks
// first (health.With).
func HealthWith(checks *health.Checks, u *unstructured.Unstructured) (Health, string) {
	return health.With(checks, u)
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
// overrides (health.Of, health.Rules).
func HealthOf(u *unstructured.Unstructured) (Health, string) { return health.Of(u) }
