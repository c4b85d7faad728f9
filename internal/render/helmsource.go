package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/render/helm"
)

// A Helm source is rendered as Argo CD's repo server renders it: the
// equivalent of
//
//	helm template <chart> --name-template <releaseName> --namespace <ns>
//	  [--kube-version <v>] --set k=v... --set-string k=v... --set-file k=f...
//	  --values <valueFiles...> [--values <values|valuesObject>]
//	  --api-versions <v>... [--include-crds] [--skip-schema-validation] [--skip-tests]
//
// in process (see package helm).

// ErrUnknownRef means a value file names a $ref no source of the
// Application has.
var ErrUnknownRef = errors.New("unknown $ref")

// ErrValueFile means a value or file parameter file cannot be read.
var ErrValueFile = errors.New("missing value file")

// isHelm reports whether s in dir is a Helm source, as Argo CD decides:
// source.helm set, or no explicit other type and no kustomization but a
// Chart.yaml (a kustomization wins over a Chart.yaml beside it).
func isHelm(fsys filesys.FileSystem, dir string, s fleet.ApplicationSource) bool {
	if !s.Helm.IsZero() {
		return true
	}
	if !s.Kustomize.IsZero() || !s.Directory.IsZero() || kustomizationIn(fsys, dir) != "" {
		return false
	}
	st, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && !st.IsDir()
}

// helmInputs are the inputs of one Helm build besides the chart: they
// are all part of its key.
type helmInputs struct {
	App         string
	ReleaseName string
	Namespace   string
	KubeVersion string
	APIVersions []string
	Env         map[string]string
	Refs        map[string]refTarget // "$name" → checkout

	ctx context.Context // for fetching dependencies; not an input
}

// refTarget is the checkout of a source with ref:.
type refTarget struct {
	RepoURL string
	Dir     string
	SHA     string
}

// newHelmInputs applies Argo CD's precedence: release name from
// source.helm.releaseName, else the Application name; namespace from
// source.helm.namespace, else the destination namespace; kube version and
// API versions from source.helm, else the cluster's.
func newHelmInputs(ctx context.Context, app *fleet.Application, s fleet.ApplicationSource, sha string, caps fleet.Capabilities, refs map[string]refTarget) helmInputs {
	in := helmInputs{
		ctx: ctx,
		App: app.Metadata.Name, ReleaseName: app.Metadata.Name, Namespace: app.Spec.Destination.Namespace,
		KubeVersion: caps.KubeVersion, APIVersions: caps.APIVersions, Refs: refs,
	}
	if h := s.Helm; h != nil {
		if h.ReleaseName != "" {
			in.ReleaseName = h.ReleaseName
		}
		if h.Namespace != "" {
			in.Namespace = h.Namespace
		}
		if h.KubeVersion != "" {
			in.KubeVersion = h.KubeVersion
		}
		if len(h.APIVersions) > 0 {
			in.APIVersions = h.APIVersions
		}
	}
	short := sha
	if len(short) > 7 {
		short = short[:7]
	}
	in.Env = map[string]string{
		"ARGOCD_APP_NAME":                   app.Metadata.Name,
		"ARGOCD_APP_NAMESPACE":              app.Spec.Destination.Namespace,
		"ARGOCD_APP_REVISION":               sha,
		"ARGOCD_APP_REVISION_SHORT":         short,
		"ARGOCD_APP_SOURCE_REPO_URL":        s.RepoURL,
		"ARGOCD_APP_SOURCE_PATH":            s.Path,
		"ARGOCD_APP_SOURCE_TARGET_REVISION": s.TargetRevision,
	}
	return in
}

// envsubst is Argo CD's Env.Envsubst: $NAME and ${NAME} of its build
// environment are replaced, any other name by nothing, "$$" by "$".
func envsubst(s string, env map[string]string) string {
	return os.Expand(s, func(name string) string {
		if name == "$" {
			return "$"
		}
		return env[name]
	})
}

// helmKey names a Helm build of the chart at path of the checkout. The
// Application's name is part of it only through the release name, or
// when source.helm refers to Argo CD's environment: Applications of many
// clusters share a build where all inputs are the same.
func helmKey(dir, sha, path string, s fleet.ApplicationSource, in helmInputs) string {
	h, _ := json.Marshal(s.Helm)
	in.App = ""
	if !usesEnv(s.Helm, in.Refs) {
		in.Env = nil
	}
	opts, _ := json.Marshal(struct {
		H  json.RawMessage
		In helmInputs
	}{h, in})
	sum := sha256.Sum256([]byte("helm\x00" + dir + "\x00" + sha + "\x00" + filepath.Clean(path) + "\x00" + string(opts)))
	return hex.EncodeToString(sum[:])
}

// usesEnv reports whether source.helm may refer to Argo CD's build
// environment ($NAME or ${NAME}): any "$" but the "$ref/" that starts a
// value file naming one of refs, which resolveRef takes off before
// substituting. Conservative: a "$" anywhere else counts.
func usesEnv(h *fleet.ApplicationSourceHelm, refs map[string]refTarget) bool {
	if h == nil {
		return false
	}
	c := *h
	c.ValueFiles = make([]string, len(h.ValueFiles))
	for i, f := range h.ValueFiles {
		if name, rest, ok := strings.Cut(f, "/"); ok {
			if _, ref := refs[name]; ref {
				f = rest
			}
		}
		c.ValueFiles[i] = f
	}
	b, _ := json.Marshal(c)
	return strings.Contains(string(b), "$")
}

// buildHelmGit renders the chart at chartDir of the checkout rfs.
func (b *Builder) buildHelmGit(rfs *rootedFS, chartDir string, s fleet.ApplicationSource, in helmInputs) ([]*unstructured.Unstructured, error) {
	if err := checkTree(rfs, chartDir); err != nil {
		return nil, err
	}
	chart, err := helm.LoadDir(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", s.Path, err)
	}
	local := func(p string) (helm.Chart, error) {
		dir := filepath.Join(chartDir, filepath.FromSlash(p))
		rel, err := filepath.Rel(rfs.base, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, ErrEscape
		}
		if err := checkTree(rfs, dir); err != nil {
			return nil, err
		}
		if err := rfs.check(dir); err != nil {
			return nil, fmt.Errorf("%w (through a symbolic link)", ErrEscape)
		}
		return helm.LoadDir(dir)
	}
	ctx := in.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if err := helm.ResolveDependencies(ctx, chart, b.Charts, local); err != nil {
		return nil, fmt.Errorf("%s: %w", helm.Describe(chart), err)
	}
	return templateChart(chart, gitValues(rfs, chartDir, in), s, in)
}

// templateChart renders a loaded chart; errors name it and its version.
func templateChart(chart helmChart, read valueReader, s fleet.ApplicationSource, in helmInputs) ([]*unstructured.Unstructured, error) {
	req, err := helmRequest(read, s, in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", helm.Describe(chart), err)
	}
	req.Chart = chart
	manifest, err := helm.Template(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", helm.Describe(chart), err)
	}
	objs, err := Decode(helm.Describe(chart), manifest)
	if err != nil {
		return nil, fmt.Errorf("%s: output: %w", helm.Describe(chart), err)
	}
	return objs, nil
}

type helmChart = helm.Chart

// buildHelmRepo renders a chart from a chart repository or registry. Its
// build is keyed by the archive's digest and the inputs.
func (b *Builder) buildHelmRepo(ctx context.Context, app *fleet.Application, s fleet.ApplicationSource, caps fleet.Capabilities, refs map[string]refTarget) ([]*unstructured.Unstructured, string, *helm.Archive, error) {
	if !s.Kustomize.IsZero() || !s.Directory.IsZero() {
		return nil, "", nil, errors.New("multiple application sources defined: a chart source with source.kustomize or source.directory")
	}
	a, err := b.Charts.FetchWith(ctx, s.RepoURL, s.Chart, s.TargetRevision, helm.FetchOptions{PassCredentials: s.Helm != nil && s.Helm.PassCredentials})
	if err != nil {
		return nil, "", nil, err
	}
	in := newHelmInputs(ctx, app, s, a.Version, caps, refs)
	key := helmKey(a.Digest, "", s.Chart, s, in)
	objs, err := b.once(key, func(*build) ([]*unstructured.Unstructured, error) {
		chart, files, err := helm.LoadArchive(a.Data)
		if err != nil {
			return nil, fmt.Errorf("load chart %s version %s: %w", s.Chart, a.Version, err)
		}
		return templateChart(chart, archiveValues(&b.paths, files, in), s, in)
	})
	return objs, key, a, err
}

// helmRequest resolves source.helm into a `helm template` request: value
// files (relative to the chart, or "$ref/..." in a ref source, never
// leaving their repository), values or valuesObject as the last value
// file, parameters and file parameters.
func helmRequest(read valueReader, s fleet.ApplicationSource, in helmInputs) (helm.Request, error) {
	req := helm.Request{
		ReleaseName: in.ReleaseName, Namespace: in.Namespace,
		KubeVersion: in.KubeVersion, APIVersions: in.APIVersions,
	}
	h := s.Helm
	if h == nil {
		h = &fleet.ApplicationSourceHelm{}
	}
	req.SkipCRDs, req.SkipSchemaValidation, req.SkipTests = h.SkipCrds, h.SkipSchemaValidation, h.SkipTests
	for _, raw := range h.ValueFiles {
		f, err := read(raw, h.IgnoreMissingValueFiles)
		if err != nil {
			return req, err
		}
		if f != nil {
			req.ValueFiles = append(req.ValueFiles, *f)
		}
	}
	if y, err := valuesYAML(h); err != nil {
		return req, err
	} else if len(y) > 0 {
		req.ValueFiles = append(req.ValueFiles, helm.File{Name: "source.helm.values", Data: y})
	}
	// Argo CD keeps parameters in maps by name (the last one wins) and
	// passes each map as --set or --set-string; here in first-seen order.
	set, setString := orderedMap{}, orderedMap{}
	for _, p := range h.Parameters {
		if p.ForceString {
			setString.put(p.Name, p.Value)
		} else {
			set.put(p.Name, p.Value)
		}
	}
	for _, k := range set.keys {
		req.Set = append(req.Set, k+"="+cleanSetParameter(envsubst(set.m[k], in.Env)))
	}
	for _, k := range setString.keys {
		req.SetString = append(req.SetString, k+"="+cleanSetParameter(envsubst(setString.m[k], in.Env)))
	}
	files := orderedMap{}
	for _, p := range h.FileParameters {
		files.put(p.Name, p.Path)
	}
	for _, k := range files.keys {
		f, err := read(files.m[k], false)
		if err != nil {
			return req, fmt.Errorf("file parameter %s: %w", k, err)
		}
		req.SetFile = append(req.SetFile, helm.FileParameter{Key: k, File: *f})
	}
	return req, nil
}

type orderedMap struct {
	keys []string
	m    map[string]string
}

func (o *orderedMap) put(k, v string) {
	if o.m == nil {
		o.m = map[string]string{}
	}
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

// cleanSetParameter escapes commas as Argo CD does before --set, unless
// the value is a {list}.
func cleanSetParameter(v string) string {
	if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
		return v
	}
	var b strings.Builder
	var prev rune
	for _, r := range v {
		if r == ',' && prev != '\\' {
			b.WriteString(`\,`)
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// valuesYAML is Argo CD's ValuesYAML: valuesObject when set, else values.
func valuesYAML(h *fleet.ApplicationSourceHelm) ([]byte, error) {
	if h.ValuesObject == nil || len(h.ValuesObject.Raw) == 0 {
		return []byte(h.Values), nil
	}
	y, err := yaml.JSONToYAML(h.ValuesObject.Raw)
	if err != nil {
		return nil, fmt.Errorf("source.helm.valuesObject: %w", err)
	}
	return y, nil
}

// valueReader reads a value file given as source.helm writes it.
type valueReader func(raw string, ignoreMissing bool) (*helm.File, error)

// gitValues reads value files for a chart at chartDir of the checkout
// rfs, as Argo CD resolves them: "$ref/path" in the checkout of the
// source with that ref, an absolute path from the repository root, else
// relative to the chart; never out of their repository (also through
// symbolic links). A missing file is skipped (nil) with ignoreMissing.
func gitValues(rfs *rootedFS, chartDir string, in helmInputs) valueReader {
	return func(raw string, ignoreMissing bool) (*helm.File, error) {
		root, base, p, err := resolveRef(rfs.paths, raw, in)
		if err != nil {
			return nil, err
		}
		if root == nil {
			root, base = rfs, chartDir
		}
		return readRooted(root, base, raw, p, ignoreMissing)
	}
}

// archiveValues reads value files for a chart from a chart repository:
// relative to the chart, in its archive ("$ref/path" as gitValues).
func archiveValues(paths *realPaths, files map[string][]byte, in helmInputs) valueReader {
	return func(raw string, ignoreMissing bool) (*helm.File, error) {
		root, base, p, err := resolveRef(paths, raw, in)
		if err != nil {
			return nil, err
		}
		if root != nil {
			return readRooted(root, base, raw, p, ignoreMissing)
		}
		if err := remoteValueFile(raw, p); err != nil {
			return nil, err
		}
		name := filepath.ToSlash(filepath.Clean("/" + filepath.FromSlash(p)))[1:]
		if strings.HasPrefix(filepath.ToSlash(filepath.Clean(filepath.FromSlash(p))), "../") {
			return nil, fmt.Errorf("value file %q: %w", raw, ErrEscape)
		}
		data, ok := files[name]
		if !ok {
			if ignoreMissing {
				return nil, nil
			}
			return nil, fmt.Errorf("value file %q: %w: the chart has no file %s (fix the path, or set ignoreMissingValueFiles: true)", raw, ErrValueFile, name)
		}
		return &helm.File{Name: name, Data: data}, nil
	}
}

// resolveRef resolves "$ref/path" to the ref source's checkout (root nil
// when raw names no ref) and substitutes Argo CD's environment.
func resolveRef(paths *realPaths, raw string, in helmInputs) (root *rootedFS, base, p string, err error) {
	p = raw
	if strings.HasPrefix(raw, "$") {
		name, rest, _ := strings.Cut(raw, "/")
		if t, ok := in.Refs[name]; ok {
			root, err = newRootedFS(t.Dir, paths)
			if err != nil {
				return nil, "", "", err
			}
			base, p = root.base, "/"+rest
		} else if _, env := in.Env[strings.Trim(name, "${}")]; !env {
			refs := make([]string, 0, len(in.Refs))
			for r := range in.Refs {
				refs = append(refs, r)
			}
			slices.Sort(refs)
			if len(refs) == 0 {
				refs = []string{"none"}
			}
			return nil, "", "", fmt.Errorf("value file %q: %w %s (the refs of this Application's sources: %s)", raw, ErrUnknownRef, name, strings.Join(refs, ", "))
		}
	}
	return root, base, envsubst(p, in.Env), nil
}

func remoteValueFile(raw, p string) error {
	if u, err := url.Parse(p); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return fmt.Errorf("value file %q: remote value files are not supported (put the file in a repository and use a ref source)", raw)
	}
	return nil
}

// readRooted reads p (absolute: from root; else from base) in root.
func readRooted(root *rootedFS, base, raw, p string, ignoreMissing bool) (*helm.File, error) {
	if err := remoteValueFile(raw, p); err != nil {
		return nil, err
	}
	var full string
	if filepath.IsAbs(filepath.FromSlash(p)) {
		full = filepath.Join(root.base, filepath.FromSlash(p))
	} else {
		full = filepath.Join(base, filepath.FromSlash(p))
	}
	rel, err := filepath.Rel(root.base, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("value file %q: %w", raw, ErrEscape)
	}
	if err := root.check(full); err != nil {
		return nil, fmt.Errorf("value file %q: %w (through a symbolic link)", raw, ErrEscape)
	}
	data, err := os.ReadFile(full)
	if errors.Is(err, fs.ErrNotExist) {
		if ignoreMissing {
			return nil, nil
		}
		return nil, fmt.Errorf("value file %q: %w: %s does not exist in the repository (fix the path, or set ignoreMissingValueFiles: true)", raw, ErrValueFile, filepath.ToSlash(rel))
	}
	if err != nil {
		return nil, fmt.Errorf("value file %q: %w", raw, err)
	}
	return &helm.File{Name: filepath.ToSlash(rel), Data: data}, nil
}

// checkTree refuses a chart any of whose files (Helm's loader follows
// symbolic links) leads out of the repository.
func checkTree(rfs *rootedFS, dir string) error {
	seen := map[string]bool{}
	var walk func(p string, depth int) error
	walk = func(p string, depth int) error {
		if depth > 64 {
			return fmt.Errorf("%s: symbolic links nest too deep", p)
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			child := filepath.Join(p, e.Name())
			if e.Type()&fs.ModeSymlink == 0 {
				if e.IsDir() {
					if err := walk(child, depth+1); err != nil {
						return err
					}
				}
				continue
			}
			if err := rfs.check(child); err != nil {
				rel, _ := filepath.Rel(rfs.base, child)
				return fmt.Errorf("chart file %s: %w (through a symbolic link)", filepath.ToSlash(rel), ErrEscape)
			}
			real, err := rfs.paths.eval(child)
			if err != nil {
				continue // dangling: Helm's loader reports it
			}
			if st, err := os.Stat(real); err == nil && st.IsDir() {
				if seen[real] {
					return fmt.Errorf("%s: symbolic link cycle", child)
				}
				seen[real] = true
				if err := walk(child, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(dir, 0)
}

// refTargets checks out every source with ref: of app, by "$name".
func (b *Builder) refTargets(ctx context.Context, app *fleet.Application) (map[string]refTarget, error) {
	refs := map[string]refTarget{}
	for _, s := range app.Spec.AllSources() {
		if s.Ref == "" {
			continue
		}
		if s.Chart != "" {
			continue // a chart as ref: only its values matter to Argo CD, not supported here
		}
		dir, sha, err := b.repos.Checkout(ctx, s.RepoURL, s.TargetRevision)
		if err != nil {
			return nil, fmt.Errorf("ref %s (%s): %w", s.Ref, s.RepoURL, err)
		}
		refs["$"+s.Ref] = refTarget{RepoURL: s.RepoURL, Dir: dir, SHA: sha}
	}
	return refs, nil
}
