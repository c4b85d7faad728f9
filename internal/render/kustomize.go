package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// kustomizeSchema guards Kustomize's process-wide OpenAPI schema: builds
// that set a custom schema (the kustomization's openapi field) run alone
// and reset it afterwards; all others share.
var kustomizeSchema sync.RWMutex

// KustomizationFiles are the names Kustomize recognises, in its order.
var KustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizationIn returns the kustomization file of dir, or "".
func kustomizationIn(fs filesys.FileSystem, dir string) string {
	for _, name := range KustomizationFiles {
		p := filepath.Join(dir, name)
		if fs.Exists(p) && !fs.IsDir(p) {
			return p
		}
	}
	return ""
}

// ErrEscape means a path left the repository.
var ErrEscape = errors.New("path leaves the repository")

// rootedFS is the disk seen through a root: nothing outside it can be read,
// directly or through a symbolic link. Some files may be replaced in memory
// (the app's kustomization after Argo CD's kustomize options are applied).
type rootedFS struct {
	filesys.FileSystem
	root    string // symlink-resolved absolute root
	base    string // the root as given, absolute: recorded paths are relative to it
	overlay map[string][]byte
	// virtual are directories that exist only in memory (their files are
	// in overlay): the components holding inflated helmCharts output.
	virtual map[string]bool
	paths   *realPaths
	// rec, when set, records every question the build asks (see cache.go).
	// Reads served from overlay are not recorded: the overlay is made from
	// a recorded read and the options, which are part of the cache key.
	rec *recorder

	// clones, when set (policy.allowRemoteResources), admits the clones
	// of remote bases Kustomize makes during the build.
	clones *cloneDirs

	mu      sync.Mutex
	escaped []string
	// loop is the first symbolic link loop met, if any.
	loop error
	// reads and read count the build's file reads and bytes; limit is the
	// first limit it reached (limits.go).
	reads, read int
	limit       error
	// warnings are what the kustomizations the build loads deserve a
	// word about (deprecated fields), one per file and message.
	warnings []Warning
}

// cloneDirs are the directories Kustomize clones remote bases into: named
// kustomize-* in the temporary directory, made after the build began. A
// clone is read like the checkout (nothing outside it) and removed by
// Kustomize when the build ends.
type cloneDirs struct {
	tmp    string // symlink-resolved
	before map[string]bool
}

func newCloneDirs() *cloneDirs {
	c := &cloneDirs{before: map[string]bool{}}
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		return c // admits nothing: the build fails as an escape
	}
	c.tmp = tmp
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		c.before[e.Name()] = true
	}
	return c
}

// admit returns the clone directory holding real, if it is in one.
func (c *cloneDirs) admit(real string) (string, bool) {
	if c == nil || c.tmp == "" {
		return "", false
	}
	rel, err := filepath.Rel(c.tmp, real)
	if err != nil {
		return "", false
	}
	first, _, _ := strings.Cut(rel, string(filepath.Separator))
	if !strings.HasPrefix(first, "kustomize-") || c.before[first] {
		return "", false
	}
	return filepath.Join(c.tmp, first), true
}

func newRootedFS(root string, paths *realPaths) (*rootedFS, error) {
	real, err := paths.eval(root)
	if err != nil {
		return nil, err
	}
	base, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	return &rootedFS{FileSystem: filesys.MakeFsOnDisk(), root: real, base: base, overlay: map[string][]byte{}, paths: paths}, nil
}

// realPaths memoizes filepath.EvalSymlinks for one Builder: the checkouts
// do not change while a render reads them, and the builds of a fleet
// resolve the same bases and directories over and over.
type realPaths struct {
	mu  sync.Mutex
	m   map[string]realPath
	abs map[string]cleaned
}

type realPath struct {
	real string
	err  error
}

type cleaned struct {
	dir  filesys.ConfirmedDir
	file string
	err  error
}

// cleanedAbs memoizes fs.CleanedAbs (which resolves links too), for the
// same reason.
func (r *realPaths) cleanedAbs(fs filesys.FileSystem, p string) (filesys.ConfirmedDir, string, error) {
	r.mu.Lock()
	v, ok := r.abs[p]
	r.mu.Unlock()
	if ok {
		return v.dir, v.file, v.err
	}
	v.dir, v.file, v.err = fs.CleanedAbs(p)
	r.mu.Lock()
	if r.abs == nil {
		r.abs = map[string]cleaned{}
	}
	r.abs[p] = v
	r.mu.Unlock()
	return v.dir, v.file, v.err
}

func (r *realPaths) eval(p string) (string, error) {
	r.mu.Lock()
	v, ok := r.m[p]
	r.mu.Unlock()
	if ok {
		return v.real, v.err
	}
	v.real, v.err = fleet.EvalSymlinks(p) // names a loop as one
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]realPath{}
	}
	r.m[p] = v
	r.mu.Unlock()
	return v.real, v.err
}

// check resolves p and refuses it outside the root.
func (f *rootedFS) check(p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	real, err := f.paths.eval(abs)
	if err != nil {
		var loop *fleet.SymlinkLoopError
		switch {
		case errors.Is(err, os.ErrNotExist):
			real = abs // checked lexically; it does not exist anyway
		case errors.As(err, &loop):
			f.mu.Lock()
			if f.loop == nil {
				f.loop = err
			}
			f.mu.Unlock()
			return err
		default:
			return err
		}
	}
	if real == f.root || strings.HasPrefix(real, f.root+string(filepath.Separator)) {
		return nil
	}
	if _, ok := f.clones.admit(real); ok {
		return nil
	}
	f.mu.Lock()
	f.escaped = append(f.escaped, p)
	f.mu.Unlock()
	return fmt.Errorf("%w: %s", ErrEscape, p)
}

func (f *rootedFS) ReadFile(p string) ([]byte, error) {
	if b, ok := f.overlay[filepath.Clean(p)]; ok {
		return b, nil
	}
	b, err := f.readFile(p)
	if f.rec != nil {
		f.rec.add(Question{"read", f.rel(p), answer(digest(b), err)})
	}
	return b, err
}

func (f *rootedFS) readFile(p string) ([]byte, error) {
	if err := f.check(p); err != nil {
		return nil, err
	}
	return f.readBounded(p)
}

func (f *rootedFS) Open(p string) (filesys.File, error) {
	if f.rec != nil {
		f.rec.refuse() // what is read through the handle is not seen
	}
	if err := f.check(p); err != nil {
		return nil, err
	}
	return f.FileSystem.Open(p)
}

func (f *rootedFS) Exists(p string) bool {
	if _, ok := f.overlay[filepath.Clean(p)]; ok || f.virtual[filepath.Clean(p)] {
		return true
	}
	ok := f.check(p) == nil && f.FileSystem.Exists(p)
	if f.rec != nil {
		f.rec.add(Question{"exists", f.rel(p), boolAnswer(ok)})
	}
	return ok
}

func (f *rootedFS) IsDir(p string) bool {
	if f.virtual[filepath.Clean(p)] {
		return true
	}
	ok := f.check(p) == nil && f.FileSystem.IsDir(p)
	if f.rec != nil {
		f.rec.add(Question{"isdir", f.rel(p), boolAnswer(ok)})
	}
	return ok
}

func (f *rootedFS) ReadDir(p string) ([]string, error) {
	if c := filepath.Clean(p); f.virtual[c] {
		var names []string
		for name := range f.overlay {
			if filepath.Dir(name) == c {
				names = append(names, filepath.Base(name))
			}
		}
		slices.Sort(names)
		return names, nil
	}
	names, err := f.readDir(p)
	if f.rec != nil {
		f.rec.add(Question{"readdir", f.rel(p), answer(listAnswer(names), err)})
	}
	return names, err
}

func (f *rootedFS) readDir(p string) ([]string, error) {
	if err := f.check(p); err != nil {
		return nil, err
	}
	return f.FileSystem.ReadDir(p)
}

func (f *rootedFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if c := filepath.Clean(p); f.virtual[c] {
		return filesys.ConfirmedDir(c), "", nil
	} else if _, ok := f.overlay[c]; ok && f.virtual[filepath.Dir(c)] {
		return filesys.ConfirmedDir(filepath.Dir(c)), filepath.Base(c), nil
	}
	d, file, err := f.cleanedAbs(p)
	if f.rec != nil {
		f.rec.add(Question{"abs", f.rel(p), answer(f.absAnswer(d, file), err)})
	}
	return d, file, err
}

func (f *rootedFS) cleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if err := f.check(p); err != nil {
		return "", "", err
	}
	return f.paths.cleanedAbs(f.FileSystem, p)
}

func (f *rootedFS) Glob(pattern string) ([]string, error) {
	out, err := f.glob(pattern)
	if f.rec != nil {
		f.rec.add(Question{"glob", f.rel(pattern), answer(f.listRel(out), err)})
	}
	return out, err
}

func (f *rootedFS) glob(pattern string) ([]string, error) {
	matches, err := f.FileSystem.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		if f.check(m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *rootedFS) Walk(p string, fn filepath.WalkFunc) error {
	if f.rec != nil {
		f.rec.refuse() // a walk's answers are not recorded
	}
	if err := f.check(p); err != nil {
		return err
	}
	return f.FileSystem.Walk(p, fn)
}

// Refuse writes: a build never changes the checkout.
func (f *rootedFS) WriteFile(p string, _ []byte) error { return fmt.Errorf("read-only: %s", p) }
func (f *rootedFS) Create(p string) (filesys.File, error) {
	return nil, fmt.Errorf("read-only: %s", p)
}
func (f *rootedFS) Mkdir(p string) error    { return fmt.Errorf("read-only: %s", p) }
func (f *rootedFS) MkdirAll(p string) error { return fmt.Errorf("read-only: %s", p) }

// RemoveAll removes only a clone of a remote base, as Kustomize does when
// the build is done with it.
func (f *rootedFS) RemoveAll(p string) error {
	if dir, ok := f.clones.admit(filepath.Clean(p)); ok && dir == filepath.Clean(p) {
		return os.RemoveAll(dir)
	}
	return fmt.Errorf("read-only: %s", p)
}

// buildKustomize builds the kustomization in dir (absolute, inside root).
// It also returns the objects as a JSON array, as Kustomize made them.
// Its helmCharts are inflated in process first (helmcharts.go).
func buildKustomize(fs *rootedFS, dir string, opts *fleet.ApplicationSourceKustomize, policy fleet.PolicyConfig, hb helmBuild) (objs []*unstructured.Unstructured, raw []byte, err error) {
	kfile := kustomizationIn(fs, dir)
	if kfile == "" {
		return nil, nil, fmt.Errorf("no kustomization file in %s", dir)
	}
	if !opts.IsZero() {
		edited, err := applyKustomizeOptions(fs, kfile, opts)
		if err != nil {
			return nil, nil, err
		}
		// The patches are checked one by one, to name the one at fault,
		// and in the kustomization they go into, which Kustomize reads.
		if err := fleet.CheckYAMLStrings(fs.rel(kfile)+" (with the Application's kustomize options)", edited); err != nil {
			return nil, nil, err
		}
		fs.overlay[filepath.Clean(kfile)] = edited
	}
	customSchema, err := scanKustomizations(fs, dir, policy.AllowRemoteResources)
	if err != nil {
		return nil, nil, err
	}
	o := krusty.MakeDefaultOptions()
	o.LoadRestrictions = types.LoadRestrictionsRootOnly
	o.PluginConfig = types.DisabledPluginConfig()
	if policy.AllowPlugins {
		o.PluginConfig = types.MakePluginConfig(types.PluginRestrictionsNone, types.BploUseStaticallyLinked)
	}
	if customSchema {
		kustomizeSchema.Lock()
		defer kustomizeSchema.Unlock()
		defer openapi.ResetOpenAPI()
	} else {
		kustomizeSchema.RLock()
		defer kustomizeSchema.RUnlock()
	}
	defer func() {
		if r := recover(); r != nil {
			objs, raw, err = nil, nil, fmt.Errorf("kustomize panicked: %v", r)
		}
	}()
	// Charts are inflated under the schema lock too: kyaml's merge of
	// valuesInline reads the process-wide schema.
	if fs.virtual == nil {
		fs.virtual = map[string]bool{}
	}
	charts, err := inflateHelmCharts(fs, dir, hb)
	if err != nil {
		return nil, nil, err
	}
	m, err := krusty.MakeKustomizer(o).Run(fs, dir)
	if err != nil {
		if fs.limit != nil {
			return nil, nil, fmt.Errorf("kustomize build %s: %w", dir, fs.limit)
		}
		if fs.loop != nil { // Kustomize reports it as a missing file
			return nil, nil, fmt.Errorf("kustomize build %s: %w", dir, fs.loop)
		}
		if len(fs.escaped) > 0 {
			return nil, nil, fmt.Errorf("kustomize build %s: %w: %s (paths must stay inside the repository)", dir, ErrEscape, fs.escaped[0])
		}
		return nil, nil, fmt.Errorf("kustomize build: %w", err)
	}
	if err := checkOutput(m.Size(), 0); err != nil {
		return nil, nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	raw = []byte{'['}
	for i, r := range m.Resources() {
		if charts {
			if err := fixHelmOrigin(r); err != nil {
				return nil, nil, err
			}
		}
		b, err := resourceJSON(r)
		if err != nil {
			return nil, nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, nil, fmt.Errorf("kustomize output %s: %w", r.CurId(), err)
		}
		objs = append(objs, u)
		if i > 0 {
			raw = append(raw, ',')
		}
		raw = append(raw, b...)
	}
	return objs, append(raw, ']'), nil
}

// resourceJSON is r as JSON: what r.MarshalJSON gives (yaml.v3's decoding
// of the node, as encoding/json writes it) without writing the node as
// YAML text and parsing that again first.
func resourceJSON(r *resource.Resource) ([]byte, error) {
	m := map[string]any{}
	if n := r.RNode.YNode(); n != nil {
		if err := n.Decode(&m); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

// applyKustomizeOptions edits the app's kustomization as Argo CD's
// `kustomize edit` calls do: prefix, suffix and namespace replace; images
// and replicas merge by name; labels and annotations merge with force;
// patches and components are appended.
func applyKustomizeOptions(fs *rootedFS, kfile string, o *fleet.ApplicationSourceKustomize) ([]byte, error) {
	data, err := fs.ReadFile(kfile)
	if err != nil {
		return nil, err
	}
	k := map[string]any{}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", kfile, err)
	}
	if o.NamePrefix != "" {
		k["namePrefix"] = o.NamePrefix
	}
	if o.NameSuffix != "" {
		k["nameSuffix"] = o.NameSuffix
	}
	if o.Namespace != "" {
		k["namespace"] = o.Namespace
	}
	for _, img := range o.Images {
		k["images"] = mergeByName(k["images"], parseImage(img))
	}
	for _, r := range o.Replicas {
		count := r.Count.IntValue()
		if r.Count.Type == intstr.String {
			if _, err := fmt.Sscanf(r.Count.StrVal, "%d", &count); err != nil {
				return nil, fmt.Errorf("kustomize.replicas %q: count %q is not a number", r.Name, r.Count.StrVal)
			}
		}
		k["replicas"] = mergeByName(k["replicas"], map[string]any{"name": r.Name, "count": count})
	}
	if len(o.CommonLabels) > 0 {
		// commonLabels as `kustomize edit fix` writes it: labels with
		// selectors (without them when labelWithoutSelector).
		labels, _ := k["labels"].([]any)
		entry := map[string]any{"pairs": mergeMap(nil, o.CommonLabels), "includeSelectors": !o.LabelWithoutSelector}
		if o.LabelWithoutSelector && o.LabelIncludeTemplates {
			entry["includeTemplates"] = true
		}
		k["labels"] = append(labels, entry)
	}
	if len(o.CommonAnnotations) > 0 {
		k["commonAnnotations"] = mergeMap(k["commonAnnotations"], o.CommonAnnotations)
	}
	for i, p := range o.Patches {
		if err := fleet.CheckYAMLStrings(fmt.Sprintf("spec.source.kustomize.patches[%d].patch", i), []byte(p.Patch)); err != nil {
			return nil, err
		}
		b, err := yaml.Marshal(p)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		patches, _ := k["patches"].([]any)
		k["patches"] = append(patches, m)
	}
	for _, c := range o.Components {
		comps, _ := k["components"].([]any)
		k["components"] = append(comps, c)
	}
	return yaml.Marshal(k)
}

// parseImage parses Argo CD's "[old=]new[:tag|@digest]" image override.
func parseImage(s string) map[string]any {
	entry := map[string]any{}
	old, img, hasOld := strings.Cut(s, "=")
	if !hasOld {
		img = old
	}
	name, digest, hasDigest := strings.Cut(img, "@")
	tag := ""
	if !hasDigest {
		if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
			name, tag = img[:i], img[i+1:]
		}
	}
	if hasOld {
		entry["name"] = old
		if name != old {
			entry["newName"] = name
		}
	} else {
		entry["name"] = name
	}
	if tag != "" {
		entry["newTag"] = tag
	}
	if hasDigest {
		entry["digest"] = digest
	}
	return entry
}

func mergeByName(list any, entry map[string]any) []any {
	l, _ := list.([]any)
	for i, e := range l {
		if m, ok := e.(map[string]any); ok && m["name"] == entry["name"] {
			l[i] = entry
			return l
		}
	}
	return append(l, entry)
}

func mergeMap(existing any, add map[string]string) map[string]any {
	m, _ := existing.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	keys := make([]string, 0, len(add))
	for k := range add {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m[k] = add[k]
	}
	return m
}
