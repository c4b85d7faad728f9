package hydrator

import (
	"context"
	"errors"
	"path/filepath"
	"sort"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// renderJob is one Application to render for one cluster.
type renderJob struct {
	gen     appset.Generated
	cluster string
	// write: the cluster is one of the run's, so the output is kept (an
	// Application of another shard is built only to find its children).
	write bool
}

// builds is what buildTree made of a fleet's Applications, level by
// level (the fleet's own, then their children…), by job.
type builds struct {
	jobs  []renderJob
	apps  []hydrate.App // by job: set where built is
	built []bool
	errs  []error
	// warns are what each job's build found (deprecated fields…).
	warns [][]render.Warning
	// hidden: the job failed before its children were known (its build
	// or their expansion failed).
	hidden []bool
	// appOfApps: the fleet holds plain Application documents or some
	// Application rendered children, so any Application may hide some.
	appOfApps bool
}

// buildTree renders the Applications generated from the fleet and, as
// Argo CD's hub would, the children (Application and ApplicationSet
// objects) their outputs hold, level by level to fleet.MaxAppOfAppsDepth,
// each level's builds in an errgroup bounded by concurrency. inRun are
// the clusters whose output is kept; every Application is built whatever
// its cluster, because a child may go to any cluster. A child is rendered
// like the fleet's own Applications; the parent's output keeps the child
// objects only with appOfApps.keepChildren (its AppProject's resource
// rules see them either way, as Argo CD's sync would).
func buildTree(ctx context.Context, f *fleet.Fleet, repos appset.Repos, b *render.Builder, generated []appset.Generated, inRun map[string]bool, concurrency int) (*builds, error) {
	byServer := map[string]string{}
	caps := map[string]fleet.Capabilities{}
	for _, c := range f.Clusters {
		if _, ok := byServer[c.Server]; !ok {
			byServer[c.Server] = c.Name
		}
		caps[c.Name] = f.CapabilitiesOf(c)
	}
	jobOf := func(g appset.Generated) renderJob {
		name := g.App.Spec.Destination.Name
		if name == "" {
			name = byServer[g.App.Spec.Destination.Server]
		}
		return renderJob{gen: g, cluster: name, write: inRun[name]}
	}
	out := &builds{appOfApps: len(f.Applications) > 0}
	level := make([]renderJob, len(generated))
	known := make(map[string]*appset.Generated, len(generated))
	for i, g := range generated {
		level[i] = jobOf(g)
		known[g.App.Metadata.Name] = &generated[i]
	}
	keep := f.Config.AppOfApps.KeepChildren
	for len(level) > 0 {
		n := len(level)
		apps := make([]hydrate.App, n)
		built := make([]bool, n)
		errs := make([]error, n)
		hidden := make([]bool, n)
		warns := make([][]render.Warning, n)
		kids := make([][]*unstructured.Unstructured, n)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(concurrency)
		for _, i := range buildOrder(level) {
			j := level[i]
			g.Go(func() error {
				o, err := b.RenderFor(gctx, &j.gen.App, caps[j.cluster])
				if err != nil {
					var re *render.Error
					if errors.As(err, &re) && len(j.gen.Parents) > 0 {
						c := *re
						c.App += renderedBy(j.gen)
						err = &c
					}
					errs[i], hidden[i] = &fleet.FileError{File: j.gen.File, Class: fleet.ClassRender, Err: err}, true
					return nil
				}
				warns[i] = o.Warnings
				errs[i] = checkProject(f, j, o)
				if kids[i] = childObjects(o); len(kids[i]) > 0 && !keep {
					if o, err = o.Without(appset.IsChild); err != nil {
						kids[i] = nil
						errs[i] = &fleet.FileError{File: j.gen.File, Class: fleet.ClassRender, Err: &render.Error{App: j.gen.App.Metadata.Name, Err: err}}
						return nil
					}
				}
				if j.write && errs[i] == nil {
					apps[i], built[i] = hydrate.NewApp(&j.gen.App, j.gen.SetName(), o, f.Config.HealthCheckExprs), true
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil { // the builds were cut short, not broken
			return nil, err
		}
		// Expanded in the level's order (by name), so that which of two
		// Applications of one name is refused never depends on timing.
		var next []renderJob
		for i := range level {
			if len(kids[i]) == 0 {
				continue
			}
			out.appOfApps = true
			children, err := appset.Children(ctx, f, repos, &level[i].gen, kids[i], known)
			if err != nil {
				errs[i], hidden[i] = joinErrs(errs[i], err), true
			}
			for _, c := range children {
				next = append(next, jobOf(c))
			}
		}
		out.apps, out.built = append(out.apps, apps...), append(out.built, built...)
		out.jobs = append(out.jobs, level...)
		out.errs = append(out.errs, errs...)
		out.warns = append(out.warns, warns...)
		out.hidden = append(out.hidden, hidden...)
		sort.SliceStable(next, func(a, b int) bool { return next[a].gen.App.Metadata.Name < next[b].gen.App.Metadata.Name })
		level = next
	}
	return out, nil
}

// childObjects returns the Application and ApplicationSet objects among
// an output's, without the label and annotation Flotilla puts on every
// rendered object (Argo CD would not see them on the child).
func childObjects(o *render.Output) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range o.Objects() {
		if !appset.IsChild(obj) {
			continue
		}
		c := obj.DeepCopy()
		labels := c.GetLabels()
		delete(labels, render.ManagedByLabel)
		c.SetLabels(labels)
		annotations := c.GetAnnotations()
		delete(annotations, render.AppAnnotation)
		c.SetAnnotations(annotations)
		out = append(out, c)
	}
	return out
}

// renderedBy names the parent of a child of an app of apps, for messages
// ("" for the fleet's own Applications).
func renderedBy(g appset.Generated) string {
	if len(g.Parents) == 0 {
		return ""
	}
	return " (rendered by application " + g.Parents[len(g.Parents)-1] + ")"
}

func joinErrs(a, b error) error {
	if a == nil {
		return b
	}
	return errors.Join(a, b)
}

// newBuilder is the run's builder: builds and charts cached in the fleet
// checkout's .git/flotilla unless o.NoBuildCache (or the fleet is not in
// Git), charts fetched with o.HelmCredentials.
// A helm section that does not configure is the input's fault.
func newBuilder(f *fleet.Fleet, repos render.Checkouts, repo *git.Repository, o Options) (*render.Builder, error) {
	b := render.NewBuilder(repos, f.Config.Policy)
	chartCache := ""
	if repo != nil && !o.NoBuildCache {
		if st, ok := repo.Storer.(*filesystem.Storage); ok {
			b.Cache = render.OpenDirCache(filepath.Join(st.Filesystem().Root(), "flotilla", "builds"))
			chartCache = filepath.Join(st.Filesystem().Root(), "flotilla", "charts")
		}
	}
	var err error
	if b.Charts, err = chartFetcher(f.Config.Helm, chartCache, o.HelmCredentials); err != nil {
		return nil, failure.Mark(failure.Input, err)
	}
	return b, nil
}
