package kube

import (
	"testing"
)

// TestHookStatusPod reads a Pod hook by its phase, a failure with the
// Pod's reason or its containers' (no cluster needed).
func TestHookStatusPod(t *testing.T) {
	t.Parallel()
	c := &Client{}
	for _, tt := range []struct {
		status string
		state  hookState
		why    string
	}{
		{"{phase: Running, conditions: [{type: Ready, status: \"True\"}]}", hookRunning, ""},
		{"{phase: Succeeded}", hookSucceeded, ""},
		{"{phase: Failed, reason: DeadlineExceeded, message: Pod was active on the node longer than the specified deadline}", hookFailed,
			"DeadlineExceeded: Pod was active on the node longer than the specified deadline"},
		{"{phase: Failed, containerStatuses: [{name: m, state: {terminated: {reason: Error, exitCode: 3, message: migration 42 failed}}}]}", hookFailed,
			"container m: Error (exit code 3): migration 42 failed"},
		{"{phase: Failed}", hookFailed, "Pod failed"},
	} {
		u := objs(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nstatus: "+tt.status+"\n")[0]
		state, why := c.hookStatus(t.Context(), u)
		if state != tt.state || why != tt.why {
			t.Errorf("%s: %v %q, want %v %q", tt.status, state, why, tt.state, tt.why)
		}
	}
	// Any other kind by its health: a ConfigMap hook succeeds at once.
	if state, _ := c.hookStatus(t.Context(), objs(t, cm("x", "c", "1"))[0]); state != hookSucceeded {
		t.Errorf("ConfigMap hook: %v", state)
	}
}
