package hydrator

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/policy"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// PolicyReport is the policy gate's outcome (render -o json "policy").
type PolicyReport = policy.FleetReport

// NotEvaluated is a policy the gate found on a cluster but cannot
// evaluate (Kyverno's).
type NotEvaluated = policy.ClusterNotEvaluated

// Plural is "1 object", "2 objects".

// policyGate evaluates every written tree against the policies its own
// render deploys (and those of policy.policiesDir), one cluster per worker,
// at most concurrency at once, sharing compiled policies across clusters.
func policyGate(ctx context.Context, p *renderPlan, concurrency int) (*PolicyReport, error) {
	reports, err := evaluateTrees(ctx, p.fleet, p.written(), concurrency, true)
	if err != nil {
		return nil, err
	}
	return policy.Summarize(reports), nil
}

// evaluateTrees evaluates each tree against the policies it deploys and
// those of policy.policiesDir. free drops each app's render output once
// read (publishing needs only the manifest).
func evaluateTrees(ctx context.Context, f *fleet.Fleet, trees []*hydrate.Tree, concurrency int, free bool) ([]*policy.Report, error) {
	extra, err := render.FleetPolicies(f)
	if err != nil {
		return nil, err
	}
	var decoded sync.Map // manifest content hash -> []*unstructured.Unstructured (read-only, shared)
	return policy.EvaluateClusters(ctx, policy.NewEvaluator(), len(trees), concurrency, func(_ context.Context, i int) (policy.Input, error) {
		t := trees[i]
		in := policy.Input{Cluster: t.Cluster.Name, KubeVersion: f.CapabilitiesOf(t.Cluster).KubeVersion, Extra: extra, AppAnnotation: render.AppAnnotation}
		for k, a := range t.Apps {
			objs, shared, err := decodeApp(&decoded, a)
			if err != nil {
				return in, fmt.Errorf("cluster %s: app %s: %w", t.Cluster.Name, a.Name, err)
			}
			if free {
				t.Apps[k].Output = nil
			}
			for _, o := range objs {
				in.Objects = append(in.Objects, policy.Object{App: a.Name, Object: o, Shared: shared})
			}
		}
		return in, nil
	})
}

// decodeApp returns the app's objects, read-only: its render output's
// when it has one (not decoded, not copied: shared reports that they are
// a group's, see policy.Object.Shared), else its manifest decoded once
// per content.
func decodeApp(cache *sync.Map, a hydrate.App) (objs []*unstructured.Unstructured, shared bool, err error) {
	if a.Output != nil {
		objs, shared = a.Output.View()
		return objs, shared, nil
	}
	key := a.Info.ContentHash
	if key != "" {
		if v, ok := cache.Load(key); ok {
			return v.([]*unstructured.Unstructured), false, nil
		}
	}
	objs, err = render.Decode(a.Name, a.Manifest)
	if err != nil {
		return nil, false, err
	}
	if key != "" {
		cache.Store(key, objs)
	}
	return objs, false, nil
}

// policyDenied is the gate's failure: the denials, in one error.
func policyDenied(r *PolicyReport) error {
	return fmt.Errorf("%w: %s: nothing was written (fix the objects or the policies, or pass --policy-report-only)", ErrPolicyDenied, r.Headline())
}

// checkPolicy runs the policy gate on a plan about to be written: it
// returns the report (nil when nothing was found) and, on a denial
// without PolicyReportOnly, ErrPolicyDenied, which stops the run before
// anything is written. The gate's own errors (a policy that does not
// load or compile) are the input's fault.
func (p *renderPlan) checkPolicy(ctx context.Context, o Options) (*PolicyReport, error) {
	gate, err := policyGate(ctx, p, o.Concurrency)
	if err != nil {
		return nil, orInput(err)
	}
	p.timer.done("policy")
	if len(gate.Violations) == 0 && len(gate.NotEvaluated) == 0 {
		return nil, nil
	}
	gate.ReportOnly = o.PolicyReportOnly
	if gate.Denied == 0 || o.PolicyReportOnly {
		return gate, nil
	}
	return gate, policyDenied(gate)
}
