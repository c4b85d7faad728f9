package verifier

import (
	"testing"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// TestStatusOf: the commit status of every sync and health pair, under
// the layout's context.
func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		sync   string
		health kube.Health
		want   forge.State
	}{
		{kube.Synced, kube.Healthy, forge.StateSuccess},
		{kube.Synced, kube.Progressing, forge.StatePending},
		{kube.Pending, kube.Missing, forge.StatePending},
		{kube.Pending, kube.Healthy, forge.StatePending},
		{kube.Synced, kube.Degraded, forge.StateFailure},
		{kube.OutOfSync, kube.Healthy, forge.StateFailure},
		{kube.OutOfSync, kube.Progressing, forge.StateFailure},
		{kube.Synced, kube.Missing, forge.StateFailure},
	} {
		s := StatusOf(&kube.AppStatus{App: "web", Sync: tc.sync, Health: tc.health, Message: "m"})
		if s.State != tc.want || s.Context != "flotilla/verify/web" || s.Description != tc.sync+", "+string(tc.health)+": m" {
			t.Errorf("%s %s: %+v, want %s", tc.sync, tc.health, s, tc.want)
		}
	}
}

// TestSettled: --wait stops when nothing progresses and nothing waits to
// be applied; TestInSync: the exit code's rule.
func TestSettled(t *testing.T) {
	for _, tc := range []struct {
		apps    []*kube.AppStatus
		settled bool
		inSync  bool
	}{
		{nil, true, true},
		{[]*kube.AppStatus{{Sync: kube.Synced, Health: kube.Healthy}}, true, true},
		{[]*kube.AppStatus{{Sync: kube.Synced, Health: kube.Healthy}, {Sync: kube.Synced, Health: kube.Degraded}}, true, false},
		{[]*kube.AppStatus{{Sync: kube.Synced, Health: kube.Progressing}}, false, false},
		{[]*kube.AppStatus{{Sync: kube.Pending, Health: kube.Missing}}, false, false},
		{[]*kube.AppStatus{{Sync: kube.OutOfSync, Health: kube.Missing}}, true, false},
	} {
		if got := settled(tc.apps); got != tc.settled {
			t.Errorf("settled(%v) = %v", tc.apps, got)
		}
		if got := (&Cluster{Apps: tc.apps}).InSync(); got != tc.inSync {
			t.Errorf("InSync(%v) = %v", tc.apps, got)
		}
	}
	if (&Cluster{Removed: map[string]int{"old": 2}}).InSync() {
		t.Error("an app that left the branch with objects in the cluster is in sync")
	}
}
