package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// errPolicyDenied means the policy gate found objects a cluster would deny.
var errPolicyDenied = errors.New("policy gate")

// policyResult is the policy gate's outcome (render -o json "policy").
type policyResult struct {
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
	NotEvaluated []notEvaluated `json:"notEvaluated,omitempty"`
}

type notEvaluated struct {
	Cluster string `json:"cluster"`
	policy.NotEvaluated
}

// policyGate evaluates every written tree against the policies its own
// render deploys (and those of policy.policiesDir), one cluster per worker,
// at most concurrency at once, sharing compiled policies across clusters.
func policyGate(ctx context.Context, p *renderPlan, concurrency int) (*policyResult, error) {
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

func summarizePolicy(reports []*policy.Report) *policyResult {
	res := &policyResult{Violations: []policy.Violation{}}
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
			res.NotEvaluated = append(res.NotEvaluated, notEvaluated{Cluster: r.Cluster, NotEvaluated: n})
		}
	}
	res.Denied, res.Warned, res.Audited = len(seen[policy.Deny]), len(seen[policy.Warn]), len(seen[policy.Audit])
	res.DeniedClusters = len(deniedClusters)
	return res
}

// headline is "2 objects would be denied on 3 clusters".
func (r *policyResult) headline() string {
	return fmt.Sprintf("%s would be denied on %s", plural(r.Denied, "object"), plural(r.DeniedClusters, "cluster"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// err is the gate's failure: the denials, in one error.
func (r *policyResult) err() error {
	return fmt.Errorf("%w: %s: nothing was written (fix the objects or the policies, or pass --policy-report-only)", errPolicyDenied, r.headline())
}

// writePolicyText prints one line per cluster/app/object/policy/action.
func writePolicyText(w io.Writer, r *policyResult) {
	if len(r.Violations) == 0 && len(r.NotEvaluated) == 0 {
		return
	}
	parts := []string{r.headline()}
	if r.Warned > 0 {
		parts = append(parts, plural(r.Warned, "object")+" warned")
	}
	if r.Audited > 0 {
		parts = append(parts, plural(r.Audited, "object")+" audited")
	}
	fmt.Fprintf(w, "Policy gate: %s.\n", strings.Join(parts, "; "))
	for _, v := range r.Violations {
		via := v.Policy
		if v.Binding != "" {
			via += " (" + v.Binding + ")"
		}
		fmt.Fprintf(w, "  %-5s %s/%s  %s  %s: %s\n", strings.ToLower(string(v.Action)), v.Cluster, v.App, v.Object(), via, v.Message)
	}
	// Kyverno policies: once per cluster.
	for i := 0; i < len(r.NotEvaluated); {
		j := i
		var names []string
		for ; j < len(r.NotEvaluated) && r.NotEvaluated[j].Cluster == r.NotEvaluated[i].Cluster; j++ {
			n := r.NotEvaluated[j]
			names = append(names, fmt.Sprintf("%s %s (%s)", n.Kind, n.Name, n.App))
		}
		fmt.Fprintf(w, "  not evaluated on %s: Kyverno policies: %s\n", r.NotEvaluated[i].Cluster, strings.Join(names, ", "))
		i = j
	}
	fmt.Fprintln(w)
}

// annotatePolicy reports each violation to the GitHub Action: an error
// annotation per denial, a warning per Warn.
func annotatePolicy(env Env, r *policyResult) {
	for _, v := range r.Violations {
		msg := fmt.Sprintf("policy gate: %s/%s: %s: %s", v.Cluster, v.App, v.Object(), policy.DeniedMessage(v))
		switch {
		case v.Action == policy.Deny && env.Annotate != nil:
			env.Annotate(errors.New(msg))
		case v.Action == policy.Warn && env.Warn != nil:
			env.Warn("", msg)
		}
	}
}

// loadFleetPolicies reads policy.policiesDir: every .yaml, .yml and .json
// file in it, sorted by path.
func loadFleetPolicies(f *fleet.Fleet) ([]*unstructured.Unstructured, error) {
	dir := f.Config.Policy.PoliciesDir
	if dir == "" {
		return nil, nil
	}
	if !filepath.IsLocal(filepath.FromSlash(dir)) {
		return nil, fmt.Errorf("%w: %s: policy.policiesDir %q must be a folder inside the fleet", errUsage, fleet.ConfigFile, dir)
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
		return nil, fmt.Errorf("%w: %s: read policy.policiesDir: %w", errUsage, fleet.ConfigFile, err)
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
			return nil, fmt.Errorf("%w: decode fleet policy: %w", errUsage, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// checkPolicy runs the policy gate on a plan about to be written: it
// returns the result to report (nil when nothing was found), or, on a
// denial without --policy-report-only, prints it and returns the error
// that stops the run before anything is written.
func checkPolicy(ctx context.Context, p *renderPlan, o renderOptions, env Env) (*policyResult, int, error) {
	gate, err := policyGate(ctx, p, o.concurrency)
	if err != nil {
		return nil, ExitUsage, err
	}
	p.timer.done("policy")
	if len(gate.Violations) == 0 && len(gate.NotEvaluated) == 0 {
		return nil, ExitOK, nil
	}
	gate.ReportOnly = o.policyReportOnly
	annotatePolicy(env, gate)
	if gate.Denied == 0 || o.policyReportOnly {
		return gate, ExitOK, nil
	}
	if o.output == "json" {
		if err := writeJSON(env.Stdout, struct {
			Policy *policyResult `json:"policy"`
		}{gate}); err != nil {
			return nil, ExitFailed, err
		}
	} else {
		writePolicyText(env.Stdout, gate)
	}
	return nil, ExitFailed, gate.err()
}
