package policy

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// FleetReport is the policy outcome of many clusters (render -o json
// "policy", the PR fleet diff's line, promote's gate).
type FleetReport struct {
	// Denied, Warned and Audited count the objects with at least one
	// violation of that action; DeniedClusters the clusters with a denial.
	Denied         int `json:"denied"`
	DeniedClusters int `json:"deniedClusters"`
	Warned         int `json:"warned"`
	Audited        int `json:"audited"`
	// ReportOnly is --policy-report-only: denials did not stop the run.
	ReportOnly bool `json:"reportOnly,omitempty"`
	// Violations are every cluster's, by cluster, app, object, policy.
	Violations []Violation `json:"violations"`
	// NotEvaluated are the Kyverno policies found, per cluster.
	NotEvaluated []ClusterNotEvaluated `json:"notEvaluated,omitempty"`
}

// ClusterNotEvaluated is a policy found on a cluster that cannot be
// evaluated (Kyverno's).
type ClusterNotEvaluated struct {
	Cluster string `json:"cluster"`
	NotEvaluated
}

// EvaluateClusters evaluates n clusters, at most concurrency at once:
// input(ctx, i) builds cluster i's Input (its objects decoded by the
// caller), e evaluates it. The reports are in the order of i; the first
// error stops the rest.
func EvaluateClusters(ctx context.Context, e *Evaluator, n, concurrency int, input func(ctx context.Context, i int) (Input, error)) ([]*Report, error) {
	reports := make([]*Report, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for i := range n {
		g.Go(func() error {
			in, err := input(gctx, i)
			if err != nil {
				return err
			}
			r, err := e.Evaluate(gctx, in)
			reports[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return reports, nil
}

// Summarize counts the reports' violations: objects by action, clusters
// with a denial.
func Summarize(reports []*Report) *FleetReport {
	res := &FleetReport{Violations: []Violation{}}
	type obj struct{ cluster, app, object string }
	seen := map[Action]map[obj]bool{Deny: {}, Warn: {}, Audit: {}}
	deniedClusters := map[string]bool{}
	for _, r := range reports {
		res.Violations = append(res.Violations, r.Violations...)
		for _, v := range r.Violations {
			seen[v.Action][obj{v.Cluster, v.App, v.Object()}] = true
			if v.Action == Deny {
				deniedClusters[v.Cluster] = true
			}
		}
		for _, n := range r.NotEvaluated {
			res.NotEvaluated = append(res.NotEvaluated, ClusterNotEvaluated{Cluster: r.Cluster, NotEvaluated: n})
		}
	}
	res.Denied, res.Warned, res.Audited = len(seen[Deny]), len(seen[Warn]), len(seen[Audit])
	res.DeniedClusters = len(deniedClusters)
	return res
}

// Headline is "2 objects would be denied on 3 clusters".
func (r *FleetReport) Headline() string {
	return fmt.Sprintf("%s would be denied on %s", Plural(r.Denied, "object"), Plural(r.DeniedClusters, "cluster"))
}

// Plural is "1 object", "2 objects".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
