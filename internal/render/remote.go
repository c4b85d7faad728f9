//lint:file-ignore SA1019 the guard reads the deprecated fields (bases, patchesStrategicMerge, patchesJson6902, vars) because Kustomize still loads them

package render

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"

	"github.com/flotilla-dev/flotilla/internal/redact"
)

// Kustomize reaches outside the repository in two places only, both in its
// loader, and neither can be turned off or redirected through krusty's
// options (its git cloner and HTTP client are fixed): Load fetches any
// path whose URL scheme is http or https, and New clones (with the git
// program, into a temporary directory) any path its RepoSpec parser
// accepts. Everything else goes through the filesystem given to it, the
// rootedFS, which keeps reads inside the checkout. So the guard is one
// predicate, isRemote, that holds for every string either of those would
// send away, applied to every string Kustomize hands its loader, before
// Kustomize runs: nothing is fetched, cloned, cached or committed.
//
// The strings Kustomize loads (kustomize/api v0.21, its calls of Load and
// New): the kustomization's resources, bases, components, crds,
// configurations, generators, transformers, validators, openapi.path,
// patches[].path, patchesStrategicMerge, patchesJson6902[].path,
// replacements[].path, configMapGenerator and secretGenerator files, envs
// and env (the helm fields never reach Kustomize: helmcharts.go); and the path fields of the plugin configs that
// generators, transformers and validators name (a PatchTransformer's path,
// a ReplacementTransformer's replacements[].path, ...). Nested
// kustomizations reached through local paths are scanned the same way. A
// kustomization that provides plugin configurations (a generators,
// transformers or validators directory) hands Kustomize its output, which
// a patch or replacement could point at a URL the files never name: such a
// kustomization may only list its configurations (see rewrites).
// TestKustomizationFieldsAreClassified fails when a Kustomize upgrade adds
// a field this scan does not know.

// ErrRemote means a kustomization refers to content outside the repository
// and the policy does not allow it.
var ErrRemote = errors.New("remote content is not allowed")

// RemoteError is a reference to remote content the policy refuses. It
// matches ErrRemote.
type RemoteError struct {
	// File is the kustomization or plugin configuration that holds the
	// reference, relative to the repository root.
	File string
	// Field names where in File, e.g. "patches[2].path".
	Field string
	// URL is the reference as written, its credentials hidden
	// (redact.URL): the error is carried into results and annotations.
	URL string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s: %s: remote %q is not allowed (vendor the content into the repository, or set policy.allowRemoteResources: true in flotilla.yaml)", e.File, e.Field, e.URL)
}

// Is makes errors.Is(err, ErrRemote) hold.
func (e *RemoteError) Is(target error) bool { return target == ErrRemote }

var (
	// schemeURL is any URL with an authority: http, https, ssh, file (a
	// local clone of a repository outside the checkout is still outside),
	// git, s3, oci...; a scheme is case-insensitive.
	schemeURL = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	// httpURL is what Kustomize's Load fetches: url.Parse lowercases the
	// scheme, and "http:host/x" parses too.
	httpURL = regexp.MustCompile(`^(?i)https?:`)
	// scpLike is a user before a host, which Kustomize clones with git
	// (git@github.com:org/repo, user@host/org/repo).
	scpLike = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*@`)
)

// isRemote reports whether Kustomize would fetch or clone s rather than
// read it from the filesystem. It holds for more than Kustomize's own
// tests (loader.IsRemoteFile and git.NewRepoSpecFromURL): any URL with
// "//" after a scheme, any go-getter "git::" prefix, any user@ or
// github.com shorthand, in any letter case.
func isRemote(s string) bool {
	s = strings.TrimSpace(s)
	lower := strings.ToLower(s)
	return strings.HasPrefix(lower, "git::") ||
		schemeURL.MatchString(s) || httpURL.MatchString(s) || scpLike.MatchString(s) ||
		strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:")
}

// kustScan walks the kustomizations a build will load.
type kustScan struct {
	fs          *rootedFS
	allowRemote bool
	seen        map[string]bool
	// customSchema is set when a kustomization sets the openapi field.
	customSchema bool
}

// scanKustomizations walks the kustomizations a build of dir will load,
// refusing remote content unless the policy allows it and local paths that
// leave the repository, and reports whether one sets a custom OpenAPI
// schema.
func scanKustomizations(fs *rootedFS, dir string, allowRemote bool) (customSchema bool, err error) {
	s := &kustScan{fs: fs, allowRemote: allowRemote, seen: map[string]bool{}}
	err = s.dir(dir, false)
	return s.customSchema, err
}

// ref refuses a remote reference.
func (s *kustScan) ref(file, field, v string) error {
	if !s.allowRemote && isRemote(v) {
		return &RemoteError{File: file, Field: field, URL: redact.URL(v)}
	}
	return nil
}

// dir scans the kustomization in dir. plugins says its resources are
// plugin configurations (it is a generators, transformers or validators
// entry).
func (s *kustScan) dir(dir string, plugins bool) error {
	key := dir
	if real, err := s.fs.paths.eval(dir); err == nil {
		key = real // a link back up the tree is a cycle, not a deeper path
	}
	if plugins {
		key += "\x00plugins"
	}
	if s.seen[key] {
		return nil
	}
	s.seen[key] = true
	kpath := kustomizationIn(s.fs, dir)
	if kpath == "" {
		return nil
	}
	file := s.fs.rel(kpath)
	data, err := s.fs.ReadFile(kpath)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	// Decoded as Kustomize decodes it: field names match in any case.
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(k.OpenAPI) > 0 {
		s.customSchema = true
	}
	// Kustomize prints these on its process's stderr as it loads the
	// file, naming neither; they go with the build instead.
	if deprecated := k.CheckDeprecatedFields(); deprecated != nil {
		for _, m := range *deprecated {
			s.fs.warnings = append(s.fs.warnings, Warning{File: file, Message: strings.TrimPrefix(m, "# Warning: ")})
		}
	}
	if plugins && !s.allowRemote {
		if err := rewrites(file, &k); err != nil {
			return err
		}
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for field, list := range map[string][]string{"resources": k.Resources, "bases": k.Bases, "components": k.Components} {
		for i, v := range list {
			add(s.entry(file, dir, fmt.Sprintf("%s[%d]", field, i), v, plugins))
		}
	}
	for field, list := range map[string][]string{"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators} {
		for i, v := range list {
			name := fmt.Sprintf("%s[%d]", field, i)
			// Kustomize takes an entry for a path when it does not
			// decode as objects, which this scan may decide otherwise.
			add(s.ref(file, name, v))
			if docs, ok := inlineConfigs(v); ok {
				for _, d := range docs {
					add(s.pluginConfig(file, name, d))
				}
				continue
			}
			add(s.entry(file, dir, name, v, true))
		}
	}
	for field, list := range map[string][]string{"crds": k.Crds, "configurations": k.Configurations} {
		for i, v := range list {
			add(s.ref(file, fmt.Sprintf("%s[%d]", field, i), v))
		}
	}
	if p, ok := k.OpenAPI["path"]; ok {
		add(s.ref(file, "openapi.path", p))
	}
	for i, p := range k.Patches {
		add(s.ref(file, fmt.Sprintf("patches[%d].path", i), p.Path))
	}
	for i, p := range k.PatchesJson6902 {
		add(s.ref(file, fmt.Sprintf("patchesJson6902[%d].path", i), p.Path))
	}
	for i, p := range k.PatchesStrategicMerge {
		add(s.ref(file, fmt.Sprintf("patchesStrategicMerge[%d]", i), string(p)))
	}
	for i, r := range k.Replacements {
		add(s.ref(file, fmt.Sprintf("replacements[%d].path", i), r.Path))
	}
	for i, g := range k.ConfigMapGenerator {
		add(s.kvSources(file, fmt.Sprintf("configMapGenerator[%d]", i), g.KvPairSources))
	}
	for i, g := range k.SecretGenerator {
		add(s.kvSources(file, fmt.Sprintf("secretGenerator[%d]", i), g.KvPairSources))
	}
	// helmGlobals, helmCharts and helmChartInflationGenerator never reach
	// Kustomize: they are inflated in process (helmcharts.go), charts
	// fetched through the Fetcher (its allowlist, cache and credentials),
	// value files and chart homes only read from the checkout.
	return firstError(errs)
}

// rewrites refuses a kustomization that provides plugin configurations
// (a generators, transformers or validators entry, or a kustomization it
// includes) and could rewrite their values on the way: what they load is
// checked before Kustomize runs, on the files as written.
func rewrites(file string, k *types.Kustomization) error {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"patches", len(k.Patches) > 0},
		{"patchesStrategicMerge", len(k.PatchesStrategicMerge) > 0},
		{"patchesJson6902", len(k.PatchesJson6902) > 0},
		{"replacements", len(k.Replacements) > 0},
		{"configurations", len(k.Configurations) > 0},
		{"crds", len(k.Crds) > 0},
		{"transformers", len(k.Transformers) > 0},
		{"generators", len(k.Generators) > 0},
		{"vars", len(k.Vars) > 0},
	} {
		if f.set {
			return fmt.Errorf("%s: %s: a kustomization that provides plugin configurations may not rewrite them, or what they load could not be checked (write the configurations as files, or set policy.allowRemoteResources: true in flotilla.yaml): %w", file, f.name, ErrRemote)
		}
	}
	return nil
}

// firstError returns the error of the first field in the order of the
// message (fields are visited from maps), so that the same input always
// gives the same error.
func firstError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs[0]
}

// kvSources checks a generator's files, envs and env.
func (s *kustScan) kvSources(file, field string, kv types.KvPairSources) error {
	var errs []error
	for i, v := range kv.FileSources {
		if err := s.fileSource(file, fmt.Sprintf("%s.files[%d]", field, i), v); err != nil {
			errs = append(errs, err)
		}
	}
	for i, v := range kv.EnvSources {
		if err := s.ref(file, fmt.Sprintf("%s.envs[%d]", field, i), v); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.ref(file, field+".env", kv.EnvSource); err != nil {
		errs = append(errs, err)
	}
	return firstError(errs)
}

// fileSource checks a "[key=]path" file source.
func (s *kustScan) fileSource(file, field, v string) error {
	if err := s.ref(file, field, v); err != nil {
		return err
	}
	if _, p, ok := strings.Cut(v, "="); ok {
		return s.ref(file, field, p)
	}
	return nil
}

// entry checks a resources-like entry: a file, a kustomization directory
// or a remote base.
func (s *kustScan) entry(file, dir, field, v string, plugins bool) error {
	if isRemote(v) {
		return s.ref(file, field, v)
	}
	p := v
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, v)
	}
	if err := s.fs.check(p); err != nil {
		name, _, _ := strings.Cut(field, "[") // the entry is quoted
		if !errors.Is(err, ErrEscape) {
			return fmt.Errorf("%s: %s %q: %w", file, name, v, err)
		}
		return fmt.Errorf("%s: %s %q: %w", file, name, v, ErrEscape)
	}
	if s.fs.IsDir(p) {
		return s.dir(p, plugins)
	}
	if !plugins || !s.fs.Exists(p) {
		return nil
	}
	data, err := s.fs.ReadFile(p)
	if err != nil {
		return nil // Kustomize reports it
	}
	docs, err := configDocs(data)
	if err != nil {
		return fmt.Errorf("%s: %s: read plugin configuration: %w", s.fs.rel(p), field, err)
	}
	var errs []error
	for _, d := range docs {
		if err := s.pluginConfig(s.fs.rel(p), field, d); err != nil {
			errs = append(errs, err)
		}
	}
	return firstError(errs)
}

// inlineConfigs returns the plugin configurations written inline in a
// generators, transformers or validators entry, as Kustomize takes an
// entry that parses as YAML objects for one.
func inlineConfigs(v string) ([]map[string]any, bool) {
	if !strings.Contains(v, "\n") && !strings.HasPrefix(strings.TrimSpace(v), "{") {
		return nil, false
	}
	docs, err := configDocs([]byte(v))
	return docs, err == nil && len(docs) > 0
}

// configDocs decodes the objects of a YAML stream as Kustomize reads
// resources (kyaml, anchors expanded). Its input has been checked by
// fleet.CheckYAMLStrings: a file read through the build's filesystem
// (readBounded), or a string of a kustomization read so, or of the
// kustomization the Application's options made (buildKustomize).
func configDocs(data []byte) ([]map[string]any, error) {
	nodes, err := kio.FromBytes(data)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(nodes))
	for _, n := range nodes {
		m, err := n.Map()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// pluginLoadKeys are the fields of Kustomize's plugin configurations that
// it loads (PatchTransformer path, PatchStrategicMergeTransformer paths,
// ReplacementTransformer replacements[].path, ValueAddTransformer
// targetFilePath, ConfigMapGenerator and SecretGenerator files, envs and
// env, HelmChartInflationGenerator's values files, repository and homes,
// an exec plugin's argsFromFile). Plugins decode their configuration with
// encoding/json, so names match in any case.
var pluginLoadKeys = []string{
	"path", "paths", "targetFilePath", "files", "envs", "env",
	"valuesFile", "additionalValuesFiles", "repo", "chartHome", "configHome",
	"chartRepoUrl", "helmHome", "values", "argsFromFile",
}

// pluginConfig checks every loaded field of a plugin configuration, at any
// depth (replacements[].path).
func (s *kustScan) pluginConfig(file, field string, doc map[string]any) error {
	kind, _ := doc["kind"].(string)
	name := ""
	if md, ok := doc["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	prefix := fmt.Sprintf("%s (%s %s)", field, kind, name)
	var errs []error
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				child := k
				if path != "" {
					child = path + "." + k
				}
				if loadKey(k) {
					s.pluginValue(file, prefix+": "+child, v[k], &errs)
				}
				walk(child, v[k])
			}
		case map[any]any:
			m := make(map[string]any, len(v))
			for k, e := range v {
				m[fmt.Sprint(k)] = e
			}
			walk(path, m)
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", doc)
	return firstError(errs)
}

func loadKey(k string) bool {
	for _, l := range pluginLoadKeys {
		if strings.EqualFold(k, l) {
			return true
		}
	}
	return false
}

// pluginValue checks a loaded field's value: a path or a list of them.
func (s *kustScan) pluginValue(file, field string, v any, errs *[]error) {
	switch v := v.(type) {
	case string:
		if err := s.fileSource(file, field, v); err != nil {
			*errs = append(*errs, err)
		}
	case []any:
		for i, e := range v {
			if str, ok := e.(string); ok {
				if err := s.fileSource(file, fmt.Sprintf("%s[%d]", field, i), str); err != nil {
					*errs = append(*errs, err)
				}
			}
		}
	}
}

// kustomizeNotices are the lines Kustomize prints on os.Stderr for
// deprecated fields: its own CheckDeprecatedFields on a kustomization
// that uses every one of them.
var kustomizeNotices = sync.OnceValue(func() map[string]bool {
	k := types.Kustomization{
		Bases:                 []string{""},
		CommonLabels:          map[string]string{},
		ImageTags:             []types.Image{},
		PatchesJson6902:       []types.Patch{},
		PatchesStrategicMerge: []types.PatchStrategicMerge{},
		Vars:                  []types.Var{},
	}
	out := map[string]bool{}
	if msgs := k.CheckDeprecatedFields(); msgs != nil {
		for _, m := range *msgs {
			out[m] = true
		}
	}
	return out
})

// IsKustomizeNotice reports whether line (without its newline) is one of
// the deprecation notices Kustomize prints on its process's stderr while
// it loads a kustomization; Builder reports each as a Warning naming its
// file.
func IsKustomizeNotice(line string) bool { return kustomizeNotices()[line] }
