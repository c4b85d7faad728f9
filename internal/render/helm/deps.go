package helm

import (
	"context"
	"fmt"
	"strings"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

// LocalChart loads a file:// dependency: path is relative to the chart
// directory, and the caller keeps it inside the repository.
type LocalChart func(path string) (Chart, error)

// ResolveDependencies adds to c the dependencies of its Chart.yaml that
// its charts/ folder lacks, as `helm dependency build` would fetch them:
// the version pinned in Chart.lock (else Chart.yaml's constraint) from
// the dependency's https or OCI repository through f, or a file://
// chart through local. Dependencies already in charts/ are left alone.
func ResolveDependencies(ctx context.Context, c Chart, f *Fetcher, local LocalChart) error {
	ch, ok := c.(*chartv2.Chart)
	if !ok || len(ch.Metadata.Dependencies) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	locked := map[string]string{}
	if ch.Lock != nil {
		for _, d := range ch.Lock.Dependencies {
			locked[d.Name+"\x00"+d.Repository] = d.Version
		}
	}
	for _, d := range ch.Metadata.Dependencies {
		if have[d.Name] {
			continue
		}
		version := d.Version
		if v, ok := locked[d.Name+"\x00"+d.Repository]; ok {
			version = v
		}
		var dep Chart
		switch repo := d.Repository; {
		case strings.HasPrefix(repo, "file://"):
			var err error
			if dep, err = local(strings.TrimPrefix(repo, "file://")); err != nil {
				return fmt.Errorf("%w: %s (%s): %w", ErrMissingDependency, d.Name, repo, err)
			}
		case strings.HasPrefix(repo, "https://"), strings.HasPrefix(repo, "http://"), strings.HasPrefix(repo, "oci://"):
			if f == nil {
				return fmt.Errorf("%w: %s from %s: no chart fetcher", ErrMissingDependency, d.Name, repo)
			}
			a, err := f.Fetch(ctx, repo, d.Name, version)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrMissingDependency, d.Name, err)
			}
			if dep, _, err = LoadArchive(a.Data); err != nil {
				return fmt.Errorf("%w: %s %s: %w", ErrMissingDependency, d.Name, a.Version, err)
			}
		default:
			return fmt.Errorf("%w: %s has repository %q: only https://, oci:// and file:// repositories can be fetched (repository names from `helm repo add` are not known here); vendor it in charts/", ErrMissingDependency, d.Name, repo)
		}
		dv2, ok := dep.(*chartv2.Chart)
		if !ok {
			return fmt.Errorf("%w: %s is not an apiVersion v1/v2 chart", ErrMissingDependency, d.Name)
		}
		ch.AddDependency(dv2)
		have[d.Name] = true
	}
	return nil
}
