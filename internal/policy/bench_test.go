package policy

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/flotilla-dev/flotilla/internal/benchfleet"
)

// benchInputs is the bench fleet as the policy gate sees it: nClusters
// clusters of nServices services (a Deployment, a Service and a ConfigMap
// each) and benchfleet.Policies on every cluster.
func benchInputs(b *testing.B, nClusters, nServices int) []Input {
	policies := objects(b, "policies", benchfleet.Policies)
	var ins []Input
	for c := range nClusters {
		in := Input{Cluster: benchfleet.Cluster(c), KubeVersion: "1.34", AppAnnotation: "flotilla.dev/app", Objects: append([]Object(nil), policies...)}
		for s := range nServices {
			name := fmt.Sprintf("svc-%02d", s)
			in.Objects = append(in.Objects, objects(b, name, fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[1]s, labels: {app.kubernetes.io/name: %[1]s}, annotations: {flotilla.dev/app: %[1]s-%[3]s}}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers: [{name: app, image: "ghcr.io/example/%[1]s:1.0.0", ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[1]s, labels: {app.kubernetes.io/name: %[1]s}}
spec: {selector: {app: %[1]s}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: %[1]s-config, namespace: %[1]s}
data: {ENV: production}
`, name, c%3+1, in.Cluster))...)
		}
		ins = append(ins, in)
	}
	return ins
}

// BenchmarkPolicyGate evaluates the bench fleet (200 clusters of 25
// services, 5 policies each) as render does: one cluster per worker, two
// workers, one Evaluator sharing compiled policies.
func BenchmarkPolicyGate(b *testing.B) {
	ins := benchInputs(b, 200, 25)
	b.ResetTimer()
	for b.Loop() {
		ev := NewEvaluator()
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(2)
		for _, in := range ins {
			g.Go(func() error {
				rep, err := ev.Evaluate(ctx, in)
				if err == nil && len(rep.Violations) != 0 {
					err = fmt.Errorf("%s: %+v", in.Cluster, rep.Violations[0])
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		if ev.Compiles() != 5 {
			b.Fatalf("%d compiles for 5 policies on 200 clusters", ev.Compiles())
		}
	}
}
