package promote

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/policy"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// policyConcurrency bounds the clusters evaluated at once.
const policyConcurrency = 4

// readDenials fills App.Denied for PolicyGate: for every cluster with an
// app to promote, its whole staging tree (every app's proposed manifest)
// is evaluated against the policies that tree deploys and those of
// policy.policiesDir, as render's gate does, so content that reached the
// staging branch past that gate (--policy-report-only, another writer)
// does not enter a pull request. Clusters with nothing to promote are
// not read.
func (r *runner) readDenials(ctx context.Context, snap *Snapshot, data map[string]*clusterData) error {
	active := map[string]bool{}
	for _, a := range snap.Apps {
		if a.Differs() && a.Staging != "" {
			active[a.Cluster] = true
		}
	}
	if len(active) == 0 {
		return nil
	}
	extra, err := render.FleetPolicies(r.Fleet)
	if err != nil {
		return err
	}
	clusters := map[string]fleet.Cluster{}
	for _, c := range r.Fleet.Clusters {
		clusters[c.Name] = c
	}
	names := slices.Sorted(maps.Keys(active))
	// The blobs are read here, one at a time (the repository's storage is
	// not shared between goroutines); only the evaluation is concurrent.
	decoded := map[plumbing.Hash][]*unstructured.Unstructured{} // shared between clusters, read-only
	ins := make([]policy.Input, len(names))
	for i, name := range names {
		d := data[name]
		ins[i] = policy.Input{Cluster: name, KubeVersion: r.Fleet.CapabilitiesOf(clusters[name]).KubeVersion, Extra: extra, AppAnnotation: render.AppAnnotation}
		for _, app := range slices.Sorted(maps.Keys(d.staging)) {
			objs, err := r.decodeManifest(decoded, app, d.staging[app].manifest)
			if err != nil {
				return failure.Mark(failure.Input, fmt.Errorf("policy gate: cluster %s: app %s on %s: %w", name, app, r.Fleet.Config.StagingBranch(name), err))
			}
			for _, o := range objs {
				ins[i].Objects = append(ins[i].Objects, policy.Object{App: app, Object: o})
			}
		}
	}
	reports, err := policy.EvaluateClusters(ctx, policy.NewEvaluator(), len(ins), policyConcurrency, func(_ context.Context, i int) (policy.Input, error) {
		return ins[i], nil
	})
	if err != nil {
		err = fmt.Errorf("policy gate: %w", err)
		if failure.ClassOf(err) == failure.Failed {
			err = failure.Mark(failure.Input, err) // a policy that does not decode: the fleet's fault
		}
		return err
	}
	denied := map[string][]policy.Violation{} // cluster/app
	for _, rep := range reports {
		for _, v := range rep.Violations {
			if v.Action == policy.Deny {
				denied[v.Cluster+"/"+v.App] = append(denied[v.Cluster+"/"+v.App], v)
			}
		}
	}
	for i := range snap.Apps {
		if a := &snap.Apps[i]; a.Differs() {
			a.Denied = denied[a.Cluster+"/"+a.Name]
		}
	}
	return nil
}

// decodeManifest decodes a staging manifest blob once per content.
func (r *runner) decodeManifest(cache map[plumbing.Hash][]*unstructured.Unstructured, app string, h plumbing.Hash) ([]*unstructured.Unstructured, error) {
	if h.IsZero() {
		return nil, nil
	}
	if objs, ok := cache[h]; ok {
		return objs, nil
	}
	b, err := r.blob(h)
	if err != nil {
		return nil, err
	}
	objs, err := render.Decode(app+"/manifest.yaml", b)
	if err != nil {
		return nil, err
	}
	cache[h] = objs
	return objs, nil
}
