package hydrator

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/policy"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// PolicyReport is the policy gate's outcome (render -o json "policy").
type PolicyReport struct {
	// Denied, Warned and Audited count the objects with at least one
	// violation of that action; DeniedClusters the clusters with a denial.
	Denied         int `json:"denied"`
	DeniedClusters int `json:"deniedClusters"`
	Warned         int `json:"warned"`
	Audited        int `json:"audited"`
	// ReportOnly is --policy-report-only: denials did not stop the run.
	ReportOnly bool `json:"reportOnly,omitempty"`
	// Violations are every cluster's, by cluster, app, object, policy.
	Violations []policy.Violation `json:"violations"`
	// NotEvaluated are the Kyverno policies found, per cluster.
	NotEvaluated []NotEvaluated `json:"notEvaluated,omitempty"`
}

// NotEvaluated is a policy the gate found on a cluster but cannot
// evaluate (Kyverno's).
type NotEvaluated struct {
	Cluster string `json:"cluster"`
	policy.NotEvaluated
}

// policyGate evaluates every written tree against the policies its own
// render deploys (and those of policy.policiesDir), one cluster per worker,
// at most concurrency at once, sharing compiled policies across clusters.
func policyGate(ctx context.Context, p *renderPlan, concurrency int) (*PolicyReport, error) {
	extra, err := loadFleetPolicies(p.fleet)
	if err != nil {
		return nil, err
	}
	trees := p.written()
	ev := policy.NewEvaluator()
	reports := make([]*policy.Report, len(trees))
	var decoded sync.Map // manifest content hash -> []*unstructured.Unstructured (read-only, shared)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, t := range trees {
		g.Go(func() error {
			in := policy.Input{Cluster: t.Cluster.Name, KubeVersion: t.Cluster.Capabilities.KubeVersion, Extra: extra, AppAnnotation: render.AppAnnotation}
			for k, a := range t.Apps {
				objs, err := decodeApp(&decoded, a)
				if err != nil {
					return fmt.Errorf("cluster %s: app %s: %w", t.Cluster.Name, a.Name, err)
				}
				t.Apps[k].Output = nil // publishing needs only the manifest: free the objects after the gate
				for _, o := range objs {
					in.Objects = append(in.Objects, policy.Object{App: a.Name, Object: o})
				}
			}
			r, err := ev.Evaluate(gctx, in)
			reports[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return summarizePolicy(reports), nil
}

// decodeApp returns the app's objects: its render output's when it has
// one (no decoding), else its manifest decoded once per content.
func decodeApp(cache *sync.Map, a hydrate.App) ([]*unstructured.Unstructured, error) {
	if a.Output != nil {
		return a.Output.Objects(), nil
	}
	key := a.Info.ContentHash
	if key != "" {
		if v, ok := cache.Load(key); ok {
			return v.([]*unstructured.Unstructured), nil
		}
	}
	objs, err := render.Decode(a.Name, a.Manifest)
	if err != nil {
		return nil, err
	}
	if key != "" {
		cache.Store(key, objs)
	}
	return objs, nil
}

func summarizePolicy(reports []*policy.Report) *PolicyReport {
	res := &PolicyReport{Violations: []policy.Violation{}}
	type obj struct{ cluster, app, object string }
	seen := map[policy.Action]map[obj]bool{policy.Deny: {}, policy.Warn: {}, policy.Audit: {}}
	deniedClusters := map[string]bool{}
	for _, r := range reports {
		res.Violations = append(res.Violations, r.Violations...)
		for _, v := range r.Violations {
			seen[v.Action][obj{v.Cluster, v.App, v.Object()}] = true
			if v.Action == policy.Deny {
				deniedClusters[v.Cluster] = true
			}
		}
		for _, n := range r.NotEvaluated {
			res.NotEvaluated = append(res.NotEvaluated, NotEvaluated{Cluster: r.Cluster, NotEvaluated: n})
		}
	}
	res.Denied, res.Warned, res.Audited = len(seen[policy.Deny]), len(seen[policy.Warn]), len(seen[policy.Audit])
	res.DeniedClusters = len(deniedClusters)
	return res
}

// Headline is "2 objects would be denied on 3 clusters".
func (r *PolicyReport) Headline() string {
	return fmt.Sprintf("%s would be denied on %s", Plural(r.Denied, "object"), Plural(r.DeniedClusters, "cluster"))
}

// Plural is "1 object", "2 objects".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// err is the gate's failure: the denials, in one error.
func (r *PolicyReport) err() error {
	return fmt.Errorf("%w: %s: nothing was written (fix the objects or the policies, or pass --policy-report-only)", ErrPolicyDenied, r.Headline())
}

// loadFleetPolicies reads policy.policiesDir: every .yaml, .yml and .json
// file in it, sorted by path.
func loadFleetPolicies(f *fleet.Fleet) ([]*unstructured.Unstructured, error) {
	dir := f.Config.Policy.PoliciesDir
	if dir == "" {
		return nil, nil
	}
	if !filepath.IsLocal(filepath.FromSlash(dir)) {
		return nil, fmt.Errorf("%w: %s: policy.policiesDir %q must be a folder inside the fleet", errInput, fleet.ConfigFile, dir)
	}
	root := filepath.Join(f.Root, filepath.FromSlash(dir))
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read policy.policiesDir: %w", errInput, fleet.ConfigFile, err)
	}
	slices.Sort(files)
	var out []*unstructured.Unstructured
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read fleet policy: %w", err)
		}
		rel, _ := filepath.Rel(f.Root, p)
		objs, err := render.Decode(path.Clean(filepath.ToSlash(rel)), data)
		if err != nil {
			return nil, fmt.Errorf("%w: decode fleet policy: %w", errInput, err)
		}
		out = append(out, objs...)
	}
	return out, nil
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
	return gate, gate.err()
}
