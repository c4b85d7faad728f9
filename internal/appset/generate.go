// Package appset evaluates Argo CD ApplicationSets into Applications exactly
// as Argo CD's ApplicationSet controller does: the same generators (list,
// clusters, git, matrix, merge), the same parameter shapes, the same two
// template modes (fasttemplate and Go templates with Sprig), the same
// validation and normalisation. Behaviour is pinned by the conformance
// corpus in testdata/conformance/appset, produced by Argo CD's own code.
//
// The package is pure but for the Repos it is given: it reads no files,
// talks to no cluster and keeps no state between calls.
package appset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// ResourcesFinalizer is the finalizer Argo CD adds so that deleting an
// Application deletes its resources.
const ResourcesFinalizer = "resources-finalizer.argocd.argoproj.io"

// Input is one ApplicationSet and the world it is evaluated in.
type Input struct {
	Set      *fleet.ApplicationSet
	Clusters []fleet.Cluster
	// Projects are the AppProjects that exist; nil accepts any non-empty
	// project name.
	Projects map[string]bool
	Repos    Repos
}

// Result is what one ApplicationSet generates.
type Result struct {
	// Apps are the valid Applications, sorted by name.
	Apps []fleet.Application
	// Invalid are the Applications Argo CD would skip, with the reason.
	Invalid []InvalidApp
}

// InvalidApp is a generated Application that failed validation.
type InvalidApp struct {
	Name  string
	Class fleet.Class
	Err   error
}

// Error is a failure of a whole ApplicationSet: nothing is generated.
type Error struct {
	Class fleet.Class
	// Generator is the index of the failing entry of spec.generators.
	Generator int
	// Template is the template string that failed, when one did.
	Template string
	Err      error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Generate evaluates one ApplicationSet. A generator or template failure
// returns an *Error and no Applications (Argo CD creates, updates and
// deletes nothing then); invalid Applications are reported in
// Result.Invalid and left out of Result.Apps.
func Generate(ctx context.Context, in Input) (*Result, error) {
	set := in.Set
	r, err := NewRenderer(set.Spec.GoTemplate, set.Spec.GoTemplateOptions)
	if err != nil {
		return nil, &Error{Class: fleet.ClassRenderTemplateParams, Err: err}
	}
	g := &generation{ctx: ctx, set: set, r: r, clusters: in.Clusters, repos: in.Repos, projects: in.Projects}

	if u := findUnsupported(set.Spec.Generators, []any{"spec", "generators"}); u != nil {
		return nil, &Error{Class: fleet.ClassGenerationFromParams, Generator: u.Path[2].(int), Err: u}
	}
	var apps []*fleet.Application
	for i := range set.Spec.Generators {
		results, err := g.transform(&set.Spec.Generators[i], set.Spec.Template, nil)
		if err != nil {
			return nil, &Error{Class: fleet.ClassGenerationFromParams, Generator: i, Template: templateOf(err), Err: err}
		}
		for _, res := range results {
			rendered, err := renderAll(ctx, set, applicationFromTemplate(res.template), res.params)
			if err != nil {
				return nil, &Error{Class: fleet.ClassRenderTemplateParams, Template: templateOf(err), Err: err}
			}
			for _, app := range rendered {
				app.Metadata.Namespace = set.Metadata.Namespace
				apps = append(apps, app)
			}
		}
	}

	out := &Result{}
	bad := map[string]InvalidApp{}
	seen := map[string]bool{}
	for _, app := range apps {
		if seen[app.Metadata.Name] {
			bad[app.Metadata.Name] = InvalidApp{app.Metadata.Name, fleet.ClassApplicationValidation,
				fmt.Errorf("ApplicationSet %s contains applications with duplicate name: %s", set.Metadata.Name, app.Metadata.Name)}
			continue
		}
		seen[app.Metadata.Name] = true
		if !g.projectKnown(app.Spec.Project) {
			bad[app.Metadata.Name] = InvalidApp{app.Metadata.Name, fleet.ClassApplicationValidation,
				fmt.Errorf("application references project %s which does not exist", app.Spec.Project)}
			continue
		}
		if err := checkDestination(app.Spec.Destination, in.Clusters); err != nil {
			bad[app.Metadata.Name] = InvalidApp{app.Metadata.Name, fleet.ClassApplicationValidation,
				fmt.Errorf("application destination spec is invalid: %w", err)}
		}
	}
	rolling := set.Spec.Strategy != nil && set.Spec.Strategy.Type == "RollingSync"
	kept := make([]*fleet.Application, 0, len(apps))
	for _, app := range apps {
		if _, ok := bad[app.Metadata.Name]; ok {
			continue
		}
		if rolling && app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil {
			// As Argo CD with progressive syncs: the rollout, not automated
			// sync, decides when the app changes.
			off := false
			app.Spec.SyncPolicy.Automated.Enabled = &off
		}
		normalize(&app.Spec)
		if err := checkStorable(app); err != nil {
			out.Invalid = append(out.Invalid, InvalidApp{app.Metadata.Name, fleet.ClassUpdateApplication, err})
			continue
		}
		kept = append(kept, app)
	}
	for _, b := range bad {
		out.Invalid = append(out.Invalid, b)
	}
	// Sorted as pointers, then copied once: an Application is ~400 bytes.
	sort.Slice(kept, func(i, j int) bool { return kept[i].Metadata.Name < kept[j].Metadata.Name })
	out.Apps = make([]fleet.Application, len(kept))
	for i, app := range kept {
		out.Apps[i] = *app
	}
	sort.Slice(out.Invalid, func(i, j int) bool { return out.Invalid[i].Name < out.Invalid[j].Name })
	return out, nil
}

// renderAll renders tmpl with each parameter set, the sets shared out
// among the CPUs in chunks when there are many (each worker with its own
// Renderer, whose template cache is not safe for concurrent use). It
// returns the failure of the first failing set, as rendering them in order
// would.
func renderAll(ctx context.Context, set *fleet.ApplicationSet, tmpl *fleet.Application, params []Params) ([]*fleet.Application, error) {
	const chunk = 128
	out := make([]*fleet.Application, len(params))
	errs := make([]error, len(params))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), (len(params)+chunk-1)/chunk) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := NewRenderer(set.Spec.GoTemplate, set.Spec.GoTemplateOptions) // the options were checked
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= len(params) {
					return
				}
				for i := start; i < min(start+chunk, len(params)); i++ {
					if errs[i] = ctx.Err(); errs[i] != nil {
						return
					}
					out[i], errs[i] = renderApplication(ctx, r, tmpl, set, params[i])
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// applicationFromTemplate is Argo CD's GetTempApplication.
func applicationFromTemplate(t fleet.ApplicationSetTemplate) *fleet.Application {
	return &fleet.Application{
		APIVersion: "argoproj.io/v1alpha1",
		Kind:       "Application",
		Metadata: fleet.ObjectMeta{
			Name:        t.Name,
			Namespace:   t.Namespace,
			Labels:      t.Labels,
			Annotations: t.Annotations,
			Finalizers:  t.Finalizers,
		},
		Spec: t.Spec,
	}
}

// renderApplication renders the template with one parameter set, adds the
// default finalizer and applies templatePatch.
func renderApplication(ctx context.Context, r *Renderer, tmpl *fleet.Application, set *fleet.ApplicationSet, p Params) (*fleet.Application, error) {
	var app *fleet.Application
	if len(p) == 0 {
		// Argo CD returns the template untouched for an empty parameter
		// set: no substitution and no default finalizer.
		var err error
		if app, err = clone(tmpl); err != nil {
			return nil, err
		}
	} else {
		var err error
		if app, err = renderValue(ctx, r, tmpl, p); err != nil {
			return nil, err
		}
		preserve := set.Spec.SyncPolicy != nil && set.Spec.SyncPolicy.PreserveResourcesOnDeletion
		if !preserve && len(app.Metadata.Finalizers) == 0 {
			app.Metadata.Finalizers = []string{ResourcesFinalizer}
		}
	}
	if set.Spec.TemplatePatch == nil {
		return app, nil
	}
	patch, err := r.Replace(ctx, *set.Spec.TemplatePatch, p)
	if err != nil {
		return nil, fmt.Errorf("error replacing values in templatePatch: %w", err)
	}
	return applyTemplatePatch(app, patch)
}

// applyTemplatePatch applies a rendered templatePatch as a strategic merge
// patch; the project cannot be changed by it.
func applyTemplatePatch(app *fleet.Application, patch string) (*fleet.Application, error) {
	original, err := json.Marshal(app)
	if err != nil {
		return nil, err
	}
	patchJSON, err := yaml.YAMLToJSON([]byte(patch))
	if err != nil {
		return nil, fmt.Errorf("error while converting template to json %q: %w", patch, err)
	}
	if err := json.Unmarshal(patchJSON, &fleet.Application{}); err != nil {
		return nil, fmt.Errorf("invalid templatePatch %q: %w", patchJSON, err)
	}
	merged, err := strategicpatch.StrategicMergePatch(original, patchJSON, fleet.Application{})
	if err != nil {
		return nil, fmt.Errorf("error while applying templatePatch %q: %w", patchJSON, err)
	}
	var out fleet.Application
	if err := json.Unmarshal(merged, &out); err != nil {
		return nil, fmt.Errorf("error unmarshalling final application: %w", err)
	}
	out.Spec.Project = app.Spec.Project
	return &out, nil
}

// checkDestination resolves a destination against the inventory as Argo CD
// does: by server or by name, not both.
func checkDestination(d fleet.ApplicationDestination, clusters []fleet.Cluster) error {
	switch {
	case d.Name != "" && d.Server != "":
		return fmt.Errorf("application destination can't have both name and server defined: %s %s", d.Name, d.Server)
	case d.Server != "":
		for _, c := range clusters {
			if c.Server == d.Server {
				return nil
			}
		}
		return fmt.Errorf("unknown destination cluster: no cluster in the inventory has server %q%s%s", d.Server, knownClusters(clusters, true), inClusterHint(d.Server == fleet.InClusterServer))
	case d.Name != "":
		for _, c := range clusters {
			if c.Name == d.Name {
				return nil
			}
		}
		return fmt.Errorf("unknown destination cluster: there are no clusters with this name: %s%s%s", d.Name, knownClusters(clusters, false), inClusterHint(d.Name == fleet.InClusterName))
	}
	return errors.New("destination server missing from app spec (set destination.server or destination.name)")
}

// inClusterHint names the option that adds Argo CD's local cluster, for a
// destination that is its address or name.
func inClusterHint(local bool) string {
	if !local {
		return ""
	}
	return "; that is Argo CD's own cluster: set argoCD.inCluster: true in flotilla.yaml to render its apps (to the branch of the cluster named " + fleet.InClusterName + ")"
}

func knownClusters(clusters []fleet.Cluster, servers bool) string {
	if len(clusters) == 0 {
		return " (the inventory is empty)"
	}
	var names []string
	for i, c := range clusters {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(clusters)-5))
			break
		}
		if servers {
			names = append(names, c.Server)
		} else {
			names = append(names, c.Name)
		}
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}

// normalize is Argo CD's NormalizeApplicationSpec as applied when an
// Application is stored. Like Argo CD it normalises only the single
// source, not the entries of sources.
func normalize(spec *fleet.ApplicationSpec) {
	if spec.Project == "" {
		spec.Project = "default"
	}
	if spec.SyncPolicy.IsZero() {
		spec.SyncPolicy = nil
	}
	if len(spec.Sources) > 0 || spec.Source == nil {
		return
	}
	s := spec.Source
	if s.Helm.IsZero() {
		s.Helm = nil
	}
	if s.Kustomize.IsZero() {
		s.Kustomize = nil
	}
	if s.Directory != nil && s.Directory.IsZero() {
		if s.Directory.Exclude != "" && s.Directory.Include != "" {
			s.Directory = &fleet.ApplicationSourceDirectory{Exclude: s.Directory.Exclude, Include: s.Directory.Include}
		} else {
			s.Directory = nil
		}
	}
}

// appResource names Applications in API-server style messages.
const appResource = "Application.argoproj.io"

// checkStorable applies the API server's object-metadata validation.
func checkStorable(app *fleet.Application) error {
	name := app.Metadata.Name
	invalid := func(field, value, msg string) error {
		return fmt.Errorf("%s %q is invalid: %s: Invalid value: %q: %s", appResource, name, field, value, msg)
	}
	if name == "" {
		return fmt.Errorf("%s is invalid: metadata.name: Required value: name or generateName is required", appResource)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return invalid("metadata.name", name, errs[0])
	}
	for _, k := range slices.Sorted(maps.Keys(app.Metadata.Labels)) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return invalid("metadata.labels", k, errs[0])
		}
		if v := app.Metadata.Labels[k]; len(validation.IsValidLabelValue(v)) > 0 {
			return invalid("metadata.labels", v, validation.IsValidLabelValue(v)[0])
		}
	}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(app.Metadata.Annotations)) {
		if errs := validation.IsQualifiedName(strings.ToLower(k)); len(errs) > 0 {
			return invalid("metadata.annotations", k, errs[0])
		}
		total += len(k) + len(app.Metadata.Annotations[k])
	}
	if total > 256*1024 {
		return fmt.Errorf("%s %q is invalid: metadata.annotations: Too long: must have at most 262144 bytes", appResource, name)
	}
	return nil
}

func reflectValue[T any](p *T) reflect.Value { return reflect.ValueOf(p).Elem() }

// templateOf digs the failing template string out of a render error.
func templateOf(err error) string {
	var te *TemplateError
	if errors.As(err, &te) {
		return te.Template
	}
	return ""
}
