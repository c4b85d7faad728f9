package kube

import "testing"

func TestHealthOverrides(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml string
		want       Health
	}{
		{"job complete", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Complete, status: \"True\"}]}\n", Healthy},
		{"job running", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {active: 1}\n", Progressing},
		{"job failed", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Failed, status: \"True\", message: BackoffLimitExceeded}]}\n", Degraded},
		{"paused deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {paused: true}\n", Suspended},
		{"apiservice unavailable", "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: a}\nstatus: {conditions: [{type: Available, status: \"False\"}]}\n", Progressing},
		{"failed pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Failed}\n", Degraded},
		{"load balancer without address", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\n", Healthy},
		{"configmap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", Healthy},
	} {
		if got, msg := HealthOf(objs(t, tt.yaml)[0]); got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got, msg, tt.want)
		}
	}
}
