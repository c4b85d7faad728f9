// Package render builds one Application's sources into the objects its
// cluster should run: Kustomize through krusty (load restrictions on,
// remote resources and plugins off unless the fleet allows them) or a plain
// directory, with Argo CD's source.kustomize options, then the destination
// namespace, Flotilla's label and annotation, the Secret guard, a stable
// order and stable YAML.
//
// Identical builds (same repository content, path and options) run once per
// Builder and are shared by every Application that needs them.
package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	yamlv2 "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
	"github.com/flotilla-dev/flotilla/internal/render/helm"
)

// Checkouts gives the builder repository content on disk.
type Checkouts interface {
	// Checkout returns a directory holding the repository at revision and
	// the commit it is ("" when it is a working tree read as it is).
	Checkout(ctx context.Context, repoURL, revision string) (dir, sha string, err error)
}

// Builder renders Applications. It is safe for concurrent use.
type Builder struct {
	repos  Checkouts
	policy fleet.PolicyConfig

	paths realPaths
	// Cache, when set, keeps Kustomize builds across runs.
	Cache BuildCache
	// Charts fetches the charts of chart repository sources.
	Charts *helm.Fetcher

	mu     sync.Mutex
	builds map[string]*build
	// helmProbes: whether a Kustomize build reaches helmCharts, by key.
	helmProbes map[string]bool
	outputs    map[string]*finishedOutput
	// count is the number of distinct builds of the run (each made once,
	// however many Applications share it); cached, how many of them were
	// reused from Cache.
	count, cached atomic.Int64
}

type build struct {
	done     chan struct{}
	objs     []*unstructured.Unstructured
	warnings []Warning
	err      error
}

// NewBuilder returns a builder reading repositories through repos.
func NewBuilder(repos Checkouts, policy fleet.PolicyConfig) *Builder {
	return &Builder{repos: repos, policy: policy, Charts: &helm.Fetcher{}, builds: map[string]*build{}, outputs: map[string]*finishedOutput{}}
}

// Builds returns how many builds ran or were reused from Cache.
func (b *Builder) Builds() int64 { return b.count.Load() }

// CachedBuilds returns how many of those were reused from Cache.
func (b *Builder) CachedBuilds() int64 { return b.cached.Load() }

// Source is a source as it was resolved.
type Source struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path"`
	TargetRevision string `json:"targetRevision"`
	// SHA is the commit read; empty when the working tree was read.
	SHA string `json:"sha,omitempty"`
	// Chart is the chart of a chart repository source; TargetRevision is
	// then the version used and Digest the archive's.
	Chart  string `json:"chart,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// Output is one rendered Application.
type Output struct {
	Manifest []byte
	Sources  []Source
	// Warnings are its builds' (deprecated Kustomize fields), sorted, each
	// once: Applications that share a build share its warnings.
	Warnings []Warning
	// Shared, when set, is the manifest the Applications of the same
	// builds and namespace share; Manifest is it with this one's name.
	Shared *Shared

	objects []*unstructured.Unstructured // with Shared, the group's, named with the placeholder
	name    string
}

// Len is the number of objects.
func (o *Output) Len() int { return len(o.objects) }

// Objects returns the Application's objects, sorted as in Manifest. Output
// shared with other Applications keeps one set of objects for all of them:
// each call makes copies that carry this Application's name.
func (o *Output) Objects() []*unstructured.Unstructured {
	if o.Shared == nil {
		return o.objects
	}
	objs := make([]*unstructured.Unstructured, len(o.objects))
	for i, obj := range o.objects {
		c := obj.DeepCopy()
		annotations := c.GetAnnotations()
		annotations[AppAnnotation] = o.name
		c.SetAnnotations(annotations)
		objs[i] = c
	}
	return objs
}

// View returns the Application's objects without copying them, read-only.
// With Shared (shared is true) they are the group's: each is this
// Application's object but for the value of AppAnnotation, which holds a
// placeholder instead of its name. Objects makes the copies.
func (o *Output) View() (objs []*unstructured.Unstructured, shared bool) {
	return o.objects, o.Shared != nil
}

// Without returns the output with the objects drop reports true left out,
// encoded again (no longer shared with other Applications); o itself
// when drop reports none.
func (o *Output) Without(drop func(*unstructured.Unstructured) bool) (*Output, error) {
	objs := o.Objects()
	kept := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		if !drop(obj) {
			kept = append(kept, obj)
		}
	}
	if len(kept) == len(objs) {
		return o, nil
	}
	manifest, err := Encode(kept)
	if err != nil {
		return nil, err
	}
	return &Output{Manifest: manifest, Sources: o.Sources, objects: kept, name: o.name}, nil
}

// Shared is a manifest several Applications share, split at each place
// the Application name goes: an Application's manifest is the segments
// joined by its name.
type Shared struct {
	Segments [][]byte
}

// Warning is something a build's input deserves a word about that does not
// fail it: a deprecated Kustomize field, with Kustomize's message.
type Warning struct {
	// RepoURL is the source repository (set in Output.Warnings).
	RepoURL string `json:"repoURL,omitempty"`
	// File is the file at fault, slash-separated, relative to its
	// source repository's root.
	File    string `json:"file"`
	Message string `json:"message"`
}

// sortWarnings sorts warnings by repository, file and message and drops
// repeats.
func sortWarnings(ws []Warning) []Warning {
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].RepoURL != ws[j].RepoURL {
			return ws[i].RepoURL < ws[j].RepoURL
		}
		if ws[i].File != ws[j].File {
			return ws[i].File < ws[j].File
		}
		return ws[i].Message < ws[j].Message
	})
	return slices.Compact(ws)
}

// Error is a render failure of one Application.
type Error struct {
	App    string
	Source string // repoURL/path, when one source failed
	Err    error
}

func (e *Error) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("application %s: source %s: %v", e.App, e.Source, e.Err)
	}
	return fmt.Sprintf("application %s: %v", e.App, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrSecret means a plain Secret with data would be committed.
var ErrSecret = errors.New("plain Secret with data")

// Render builds every source of app and post-processes the objects.
//
// Applications that share their builds and destination namespace differ
// only in the flotilla.dev/app annotation, so the post-processed objects
// and their YAML are made once per such group, with a placeholder name;
// each Application's manifest is a copy with its own name put in, and its
// objects are copied only when asked for (Output.Objects). (That is most
// of a fleet: one overlay serves every cluster of a tier.)
func (b *Builder) Render(ctx context.Context, app *fleet.Application) (*Output, error) {
	return b.RenderFor(ctx, app, fleet.Capabilities{})
}

// RenderFor is Render for a destination cluster with caps: Helm charts
// see them as .Capabilities (see helmInputs for the precedence).
func (b *Builder) RenderFor(ctx context.Context, app *fleet.Application, caps fleet.Capabilities) (*Output, error) {
	if err := app.Spec.CheckSources(); err != nil {
		return nil, &Error{App: app.Metadata.Name, Err: err}
	}
	if sp := app.Spec.SyncPolicy; sp != nil {
		// What apply would refuse, refused before anything is published.
		if _, err := syncplan.ParseOptions(sp.SyncOptions, "spec.syncPolicy.syncOptions"); err != nil {
			return nil, &Error{App: app.Metadata.Name, Err: err}
		}
	}
	out := &Output{}
	var (
		built [][]*unstructured.Unstructured
		keys  []string
		refs  map[string]refTarget
	)
	for _, s := range app.Spec.AllSources() {
		if s.Ref == "" {
			continue
		}
		var err error
		if refs, err = b.refTargets(ctx, app); err != nil {
			return nil, &Error{App: app.Metadata.Name, Err: err}
		}
		break
	}
	for _, s := range app.Spec.AllSources() {
		name := strings.TrimSuffix(s.RepoURL, ".git") + "/" + s.Path
		fail := func(err error) (*Output, error) {
			return nil, &Error{App: app.Metadata.Name, Source: name, Err: err}
		}
		switch {
		case s.Chart != "":
			objs, key, a, err := b.buildHelmRepo(ctx, app, s, caps, refs)
			if err != nil {
				return nil, &Error{App: app.Metadata.Name, Source: s.RepoURL + " chart " + s.Chart, Err: err}
			}
			built, keys = append(built, objs), append(keys, key)
			out.Sources = append(out.Sources, Source{RepoURL: s.RepoURL, Chart: s.Chart, TargetRevision: a.Version, Digest: a.Digest})
			continue
		case s.Plugin != nil:
			return fail(pluginError(s.Plugin))
		case s.Ref != "" && s.Path == "":
			continue // a values reference for another source: no objects
		}
		dir, sha, err := b.repos.Checkout(ctx, s.RepoURL, s.TargetRevision)
		if err != nil {
			return fail(err)
		}
		objs, key, err := b.build(dir, sha, s, newHelmInputs(ctx, app, s, sha, caps, refs))
		if err != nil {
			return fail(err)
		}
		for _, w := range b.warnings(key) {
			w.RepoURL = s.RepoURL
			out.Warnings = append(out.Warnings, w)
		}
		built, keys = append(built, objs), append(keys, key)
		rev := s.TargetRevision
		if rev == "" {
			rev = "HEAD"
		}
		out.Sources = append(out.Sources, Source{RepoURL: s.RepoURL, Path: s.Path, TargetRevision: rev, SHA: sha})
	}
	out.Warnings = sortWarnings(out.Warnings)
	name, ns := app.Metadata.Name, app.Spec.Destination.Namespace
	if plainScalar(name) {
		if f := b.finished(ns, keys, built); !errors.Is(f.err, errPlaceholder) {
			if f.err != nil {
				return nil, &Error{App: name, Err: f.err}
			}
			out.objects, out.name = f.objs, name
			out.Manifest = bytes.ReplaceAll(f.manifest, []byte(placeholder), []byte(name))
			out.Shared = f.shared
			return out, nil
		}
	}
	objs, manifest, err := b.finishAll(ns, name, built)
	if err != nil {
		return nil, &Error{App: name, Err: err}
	}
	out.objects, out.Manifest = objs, manifest
	return out, nil
}

// placeholder stands for the Application name in shared output. It is a
// plain YAML scalar, as every name given to the shared path is, so putting
// the name in its place gives the bytes encoding the name would.
const placeholder = "flotilla-app-name-placeholder-5e2b9c1d"

// plainScalar reports whether yaml.v2 writes s as a plain scalar value
// (unquoted, unfolded). Most Application names are; "true" or "123" are not.
func plainScalar(s string) bool {
	return dashedName(s) || yamlPlain(s)
}

// dashedName is the common case, decided without the YAML encoder: a
// lowercase letter, then lowercase letters, digits and dashes, at least
// one dash. No YAML boolean, null, number or timestamp looks like that.
func dashedName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' || !strings.Contains(s, "-") {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func yamlPlain(s string) bool {
	b, err := yamlv2.Marshal(map[string]string{"k": s})
	return err == nil && string(b) == "k: "+s+"\n"
}

// finishedOutput is the post-processed objects and YAML shared by the
// Applications with the same builds and destination namespace.
type finishedOutput struct {
	done     chan struct{}
	objs     []*unstructured.Unstructured
	manifest []byte
	shared   *Shared
	err      error
}

// finished returns (making it once) the shared output of builds keys in
// namespace ns, named with the placeholder.
func (b *Builder) finished(ns string, keys []string, built [][]*unstructured.Unstructured) *finishedOutput {
	key := ns + "\x00" + strings.Join(keys, "\x00")
	b.mu.Lock()
	if f, ok := b.outputs[key]; ok {
		b.mu.Unlock()
		<-f.done
		return f
	}
	f := &finishedOutput{done: make(chan struct{})}
	b.outputs[key] = f
	b.mu.Unlock()
	defer close(f.done)
	f.objs, f.manifest, f.err = b.finishAll(ns, placeholder, built)
	if f.err == nil && bytes.Count(f.manifest, []byte(placeholder)) != len(f.objs) {
		// The source itself holds the placeholder text: it cannot be
		// shared safely, so each Application is made on its own.
		f.objs, f.manifest, f.err = nil, nil, errPlaceholder
	}
	if f.err == nil {
		f.shared = &Shared{Segments: bytes.Split(f.manifest, []byte(placeholder))}
	}
	return f
}

var errPlaceholder = errors.New("the placeholder name appears in the source")

// finishAll copies the built objects, post-processes them for an
// Application named name in namespace ns, sorts and encodes them.
func (b *Builder) finishAll(ns, name string, built [][]*unstructured.Unstructured) ([]*unstructured.Unstructured, []byte, error) {
	var objs []*unstructured.Unstructured
	for _, list := range built {
		for _, o := range list {
			objs = append(objs, o.DeepCopy())
		}
	}
	if err := checkOutput(len(objs), 0); err != nil {
		return nil, nil, err
	}
	if err := b.finish(ns, name, objs); err != nil {
		return nil, nil, err
	}
	order.Sort(objs)
	manifest, err := Encode(objs)
	if err != nil {
		return nil, nil, err
	}
	if err := checkOutput(len(objs), len(manifest)); err != nil {
		return nil, nil, err
	}
	return objs, manifest, nil
}

// build runs (or waits for, or reuses) the build of one source.
// A Helm build's key holds its release name, namespace, capabilities
// and ref checkouts too: it is shared only by Applications for which all
// of them are the same.
func (b *Builder) build(dir, sha string, s fleet.ApplicationSource, in helmInputs) ([]*unstructured.Unstructured, string, error) {
	isChart := isHelm(filesys.MakeFsOnDisk(), filepath.Join(dir, filepath.FromSlash(s.Path)), s)
	var key string
	if isChart {
		key = helmKey(dir, sha, s.Path, s, in)
	} else {
		opts, _ := json.Marshal(struct {
			K *fleet.ApplicationSourceKustomize
			D *fleet.ApplicationSourceDirectory
		}{s.Kustomize, s.Directory})
		h := sha256.Sum256([]byte(dir + "\x00" + sha + "\x00" + filepath.Clean(s.Path) + "\x00" + string(opts)))
		key = hex.EncodeToString(h[:])
		if b.kustomizeHelm(key, dir, s) {
			// Charts see the cluster's capabilities: the build is shared
			// only by clusters with the same ones.
			caps, _ := json.Marshal([]any{in.KubeVersion, in.APIVersions})
			h := sha256.Sum256([]byte(key + "\x00helmCharts\x00" + string(caps)))
			key = hex.EncodeToString(h[:])
		}
	}

	objs, err := b.once(key, func(c *build) ([]*unstructured.Unstructured, error) {
		objs, warnings, err := b.buildSource(dir, s, isChart, in)
		c.warnings = warnings
		return objs, err
	})
	return objs, key, err
}

// warnings returns the warnings of the finished build named key.
func (b *Builder) warnings(key string) []Warning {
	b.mu.Lock()
	c := b.builds[key]
	b.mu.Unlock()
	if c == nil {
		return nil
	}
	<-c.done
	return c.warnings
}

// once runs (or waits for, or reuses) the build named key; run may record
// the build's warnings in the build it is given.
func (b *Builder) once(key string, run func(*build) ([]*unstructured.Unstructured, error)) ([]*unstructured.Unstructured, error) {
	b.mu.Lock()
	if c, ok := b.builds[key]; ok {
		b.mu.Unlock()
		<-c.done
		return c.objs, c.err
	}
	c := &build{done: make(chan struct{})}
	b.builds[key] = c
	b.mu.Unlock()

	b.count.Add(1)
	c.objs, c.err = run(c)
	if c.err == nil {
		c.err = errors.Join(checkNames(c.objs), checkSyncOptions(c.objs))
	}
	close(c.done)
	return c.objs, c.err
}

// buildSource builds one source: its objects, and the warnings of a
// Kustomize build.
func (b *Builder) buildSource(root string, s fleet.ApplicationSource, isChart bool, in helmInputs) ([]*unstructured.Unstructured, []Warning, error) {
	rel := filepath.Clean(filepath.FromSlash(s.Path))
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, nil, fmt.Errorf("%w: path %q", ErrEscape, s.Path)
	}
	dir := filepath.Join(root, rel)
	rfs, err := newRootedFS(root, &b.paths)
	if err != nil {
		return nil, nil, err
	}
	if b.policy.AllowRemoteResources {
		rfs.clones = newCloneDirs()
	}
	if err := rfs.check(dir); err != nil {
		if !errors.Is(err, ErrEscape) {
			return nil, nil, fmt.Errorf("path %q: %w", s.Path, err)
		}
		return nil, nil, fmt.Errorf("path %q: %w (through a symbolic link)", s.Path, ErrEscape)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("path %q does not exist in the repository", s.Path)
	}
	if isChart {
		if !s.Kustomize.IsZero() || !s.Directory.IsZero() {
			return nil, nil, errors.New("multiple application sources defined: source.helm with source.kustomize or source.directory")
		}
		objs, err := b.buildHelmGit(rfs, dir, s, in)
		return objs, nil, err
	}
	if kustomizationIn(rfs, dir) != "" {
		return b.buildKustomizeCached(rfs, dir, s, in)
	}
	if !s.Kustomize.IsZero() {
		return nil, nil, fmt.Errorf("source.kustomize is set but %q has no kustomization file", s.Path)
	}
	objs, err := buildDirectory(rfs, dir, s.Directory)
	return objs, nil, err
}

// buildKustomizeCached builds a kustomization, or reuses the build of an
// earlier run when the cache holds one whose questions still get the same
// answers (see cache.go). A cache that cannot be read or written only
// costs the build.
func (b *Builder) buildKustomizeCached(rfs *rootedFS, dir string, s fleet.ApplicationSource, in helmInputs) ([]*unstructured.Unstructured, []Warning, error) {
	hb := helmBuild{ctx: in.ctx, charts: b.Charts, caps: fleet.Capabilities{KubeVersion: in.KubeVersion, APIVersions: in.APIVersions}}
	if b.Cache == nil || !cacheable(b.policy) {
		objs, _, err := buildKustomize(rfs, dir, s.Kustomize, b.policy, hb)
		return objs, sortWarnings(rfs.warnings), err
	}
	opts, _ := json.Marshal(s.Kustomize)
	key := cacheKey(s.RepoURL, s.Path, opts, b.policy)
	if c, ok := b.Cache.Get(key); ok && stillValid(rfs, c) {
		if objs, err := decodeObjects(c.Objects); err == nil {
			b.cached.Add(1)
			return objs, c.Warnings, nil
		}
	}
	rec := &recorder{}
	rfs.rec = rec
	objs, raw, err := buildKustomize(rfs, dir, s.Kustomize, b.policy, hb)
	rfs.rec = nil
	warnings := sortWarnings(rfs.warnings)
	if err == nil && !rec.uncacheable {
		_ = b.Cache.Put(key, &CachedBuild{Questions: rec.questions, Objects: raw, Warnings: warnings})
	}
	return objs, warnings, err
}

// kustomizeHelm reports (once per build key) whether the kustomization
// of source s in checkout dir reaches helmCharts, whose output depends on
// the cluster's capabilities.
func (b *Builder) kustomizeHelm(key, dir string, s fleet.ApplicationSource) bool {
	b.mu.Lock()
	v, ok := b.helmProbes[key]
	b.mu.Unlock()
	if ok {
		return v
	}
	v = probeHelmCharts(&b.paths, dir, s)
	b.mu.Lock()
	if b.helmProbes == nil {
		b.helmProbes = map[string]bool{}
	}
	b.helmProbes[key] = v
	b.mu.Unlock()
	return v
}

// probeHelmCharts reports whether the kustomization of s (with its
// kustomize options) reaches helmCharts; false for anything else.
func probeHelmCharts(paths *realPaths, root string, s fleet.ApplicationSource) bool {
	rel := filepath.Clean(filepath.FromSlash(s.Path))
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return false
	}
	rfs, err := newRootedFS(root, paths)
	if err != nil {
		return false
	}
	dir := filepath.Join(root, rel)
	kfile := kustomizationIn(rfs, dir)
	if kfile == "" {
		return false
	}
	if !s.Kustomize.IsZero() {
		edited, err := applyKustomizeOptions(rfs, kfile, s.Kustomize)
		if err != nil {
			return true // the build reports it
		}
		rfs.overlay[filepath.Clean(kfile)] = edited
	}
	return usesHelmCharts(rfs, dir)
}

// finish defaults namespaces, labels the objects, refuses duplicates and
// plain Secrets.
func (b *Builder) finish(ns, name string, objs []*unstructured.Unstructured) error {
	crds := crdScopes(objs)
	seen := map[string]bool{}
	var errs []error
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		namespaced, known := scopeOf(gk, crds)
		if known && namespaced && o.GetNamespace() == "" && ns != "" {
			o.SetNamespace(ns)
		}
		key := gk.String() + "/" + o.GetNamespace() + "/" + order.DisplayName(o)
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s appears more than once", order.ID(o)))
		}
		seen[key] = true
		if gk.Group == "" && gk.Kind == "Secret" && !b.policy.AllowSecrets {
			if plain, why := secretProblem(o); plain {
				errs = append(errs, fmt.Errorf("%w: %s would be committed to Git in clear text%s (use a SealedSecret, an ExternalSecret or SOPS, or set policy.allowSecrets: true in flotilla.yaml)", ErrSecret, order.ID(o), why))
			}
		}
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ManagedByLabel] = ManagedByValue
		o.SetLabels(labels)
		annotations := o.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[AppAnnotation] = name
		o.SetAnnotations(annotations)
	}
	return errors.Join(errs...)
}
