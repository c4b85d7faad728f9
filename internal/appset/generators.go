package appset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// Repos gives the git generator read access to repositories.
type Repos interface {
	// Files lists every file of the repository at revision: slash-separated
	// paths relative to its root, sorted. An unknown revision is an error.
	Files(ctx context.Context, repoURL, revision string) ([]string, error)
	// ReadFile reads one file at revision.
	ReadFile(ctx context.Context, repoURL, revision, name string) ([]byte, error)
}

// generation is the state of one ApplicationSet's evaluation.
type generation struct {
	ctx      context.Context
	set      *fleet.ApplicationSet
	r        *Renderer
	clusters []fleet.Cluster
	repos    Repos
	projects map[string]bool
	dirs     map[[2]string][]string // repo URL and revision -> gitDirs
}

type transformResult struct {
	params   []Params
	template fleet.ApplicationSetTemplate
}

// unsupported are generators that need a live SCM or cluster.
var unsupported = []struct {
	name string
	get  func(*fleet.ApplicationSetGenerator) any
	why  string
}{
	{"scmProvider", func(g *fleet.ApplicationSetGenerator) any { return g.SCMProvider }, "queries an SCM provider's API at run time"},
	{"pullRequest", func(g *fleet.ApplicationSetGenerator) any { return g.PullRequest }, "queries open pull requests at run time"},
	{"clusterDecisionResource", func(g *fleet.ApplicationSetGenerator) any { return g.ClusterDecisionResource }, "reads a resource from the Argo CD cluster"},
	{"plugin", func(g *fleet.ApplicationSetGenerator) any { return g.Plugin }, "calls a plugin service at run time"},
}

// UnsupportedGeneratorError is a generator, at any depth, that needs a live
// service Flotilla does not have (an SCM or pull-request API, the Argo CD
// cluster, a plugin service).
type UnsupportedGeneratorError struct {
	Kind string
	// Path is where it is in the ApplicationSet: keys and list indexes from
	// spec down to the generator's kind ("spec", "generators", 0, "matrix",
	// "generators", 1, "pullRequest").
	Path []any
	why  string
}

// Field is Path in the usual field notation.
func (e *UnsupportedGeneratorError) Field() string {
	var b strings.Builder
	for _, p := range e.Path {
		switch v := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

func (e *UnsupportedGeneratorError) Error() string {
	return fmt.Sprintf("the %s generator %s, and Flotilla renders without any live service (use list, clusters, git, matrix or merge)", e.Kind, e.why)
}

// findUnsupported returns the first generator, depth first, that needs a
// live service: it would fail the whole ApplicationSet anyway, so it is
// named before any other generator runs.
func findUnsupported(gens []fleet.ApplicationSetGenerator, path []any) *UnsupportedGeneratorError {
	for i := range gens {
		g := &gens[i]
		at := append(append([]any{}, path...), i)
		for _, u := range unsupported {
			if u.get(g) != nil {
				return &UnsupportedGeneratorError{Kind: u.name, Path: append(at, u.name), why: u.why}
			}
		}
		if g.Matrix != nil {
			if e := findUnsupported(g.Matrix.Generators, append(at, "matrix", "generators")); e != nil {
				return e
			}
		}
		if g.Merge != nil {
			if e := findUnsupported(g.Merge.Generators, append(at, "merge", "generators")); e != nil {
				return e
			}
		}
	}
	return nil
}

// kinds returns the generator kinds set in one generator entry, in Argo
// CD's order.
func kinds(g *fleet.ApplicationSetGenerator) []string {
	var out []string
	if g.List != nil {
		out = append(out, "list")
	}
	if g.Clusters != nil {
		out = append(out, "clusters")
	}
	if g.Git != nil {
		out = append(out, "git")
	}
	for _, u := range unsupported {
		if u.get(g) != nil {
			out = append(out, u.name)
		}
	}
	if g.Matrix != nil {
		out = append(out, "matrix")
	}
	if g.Merge != nil {
		out = append(out, "merge")
	}
	return out
}

func generatorTemplate(g *fleet.ApplicationSetGenerator, kind string) *fleet.ApplicationSetTemplate {
	switch kind {
	case "list":
		return g.List.Template
	case "clusters":
		return g.Clusters.Template
	case "git":
		return g.Git.Template
	case "matrix":
		return g.Matrix.Template
	case "merge":
		return g.Merge.Template
	}
	return nil
}

// transform runs one generator entry (Argo CD's Transform): for each kind
// set in it, interpolate the entry with genParams (a matrix's first child's
// parameters), generate, and apply the entry's selector.
func (g *generation) transform(gen *fleet.ApplicationSetGenerator, base fleet.ApplicationSetTemplate, genParams Params) ([]transformResult, error) {
	sel, err := parseSelector(gen.Selector, false)
	if err != nil {
		return nil, fmt.Errorf("error parsing label selector: %w", err)
	}
	var res []transformResult
	for _, kind := range kinds(gen) {
		tmpl, err := mergeTemplate(generatorTemplate(gen, kind), base)
		if err != nil {
			return nil, err
		}
		requested := gen
		if len(genParams) > 0 {
			requested, err = renderValue(g.ctx, g.r, gen, genParams)
			if err != nil {
				return nil, fmt.Errorf("failed to replace parameters in generator: %w", err)
			}
		}
		params, err := g.generate(requested, kind)
		if err != nil {
			return nil, err
		}
		var kept []Params
		for _, p := range params {
			if gen.Selector != nil && !sel.matches(flattenStrings(p)) {
				continue
			}
			kept = append(kept, p)
		}
		res = append(res, transformResult{params: kept, template: tmpl})
	}
	return res, nil
}

// mergeTemplate merges a generator-level template over the ApplicationSet's
// (generator fields win, empty ones are taken from the base).
func mergeTemplate(override *fleet.ApplicationSetTemplate, base fleet.ApplicationSetTemplate) (fleet.ApplicationSetTemplate, error) {
	var dst fleet.ApplicationSetTemplate
	if override != nil {
		b, err := json.Marshal(override)
		if err != nil {
			return dst, err
		}
		if err := json.Unmarshal(b, &dst); err != nil {
			return dst, err
		}
	}
	fillEmpty(reflectValue(&dst), reflectValue(&base))
	return dst, nil
}

func (g *generation) generate(gen *fleet.ApplicationSetGenerator, kind string) ([]Params, error) {
	switch kind {
	case "list":
		return g.list(gen.List)
	case "clusters":
		return g.clusterParams(gen.Clusters)
	case "git":
		return g.git(gen.Git)
	case "matrix":
		return g.matrix(gen.Matrix)
	case "merge":
		return g.merge(gen.Merge)
	}
	for _, u := range unsupported {
		if u.name == kind {
			return nil, &UnsupportedGeneratorError{Kind: kind, why: u.why}
		}
	}
	return nil, fmt.Errorf("unknown generator %q", kind)
}

func (g *generation) list(l *fleet.ListGenerator) ([]Params, error) {
	res := make([]Params, len(l.Elements))
	for i, el := range l.Elements {
		b, err := json.Marshal(el)
		if err != nil {
			return nil, err
		}
		var element map[string]any
		if err := json.Unmarshal(b, &element); err != nil {
			return nil, fmt.Errorf("error unmarshling list element %w", err)
		}
		if g.set.Spec.GoTemplate {
			res[i] = element
			continue
		}
		params := Params{}
		for _, k := range slices.Sorted(maps.Keys(element)) {
			v := element[k]
			if k == "values" {
				values, ok := v.(map[string]any)
				if !ok {
					return nil, errors.New("error parsing values map")
				}
				for _, vk := range slices.Sorted(maps.Keys(values)) {
					vv := values[vk]
					s, ok := vv.(string)
					if !ok {
						return nil, fmt.Errorf("list element %d: values.%s is not a string (in default mode list values must be strings: quote it, or set goTemplate: true)", i, vk)
					}
					params["values."+vk] = s
				}
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("list element %d: %q is not a string (in default mode list values must be strings: quote it, or set goTemplate: true)", i, k)
			}
			params[k] = s
		}
		if len(element) > 0 {
			res[i] = params
		}
	}
	if l.ElementsYaml != "" {
		var more []map[string]any
		if err := yaml.Unmarshal([]byte(l.ElementsYaml), &more); err != nil {
			return nil, fmt.Errorf("error unmarshling decoded ElementsYaml %w", err)
		}
		res = append(res, more...)
	}
	return res, nil
}

func (g *generation) clusterParams(c *fleet.ClusterGenerator) ([]Params, error) {
	sel, err := parseSelector(&c.Selector, true)
	if err != nil {
		return nil, fmt.Errorf("error converting label selector: %w", err)
	}
	ignoreLocal := !c.Selector.IsEmpty()
	var res []Params
	for _, cl := range g.clusters {
		var p Params
		if cl.Local {
			if ignoreLocal {
				continue
			}
			p = Params{"name": cl.Name, "nameNormalized": cl.Name, "server": cl.Server, "project": ""}
		} else {
			if !sel.matches(cl.Labels) {
				continue
			}
			p = Params{"name": cl.Name, "nameNormalized": SanitizeName(cl.Name), "server": cl.Server, "project": cl.Project}
			if g.set.Spec.GoTemplate {
				meta := map[string]any{}
				if len(cl.Labels) > 0 {
					meta["labels"] = copyStrings(cl.Labels)
				}
				if len(cl.Annotations) > 0 {
					meta["annotations"] = copyStrings(cl.Annotations)
				}
				p["metadata"] = meta
			} else {
				for k, v := range cl.Labels {
					p["metadata.labels."+k] = v
				}
				for k, v := range cl.Annotations {
					p["metadata.annotations."+k] = v
				}
			}
		}
		if err := g.appendValues(c.Values, p); err != nil {
			return nil, err
		}
		res = append(res, p)
	}
	if c.FlatList {
		list := make([]any, len(res))
		for i, p := range res {
			list[i] = p
		}
		return []Params{{"clusters": list}}, nil
	}
	return res, nil
}

func copyStrings(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// appendValues renders a generator's values against the parameter set's
// own parameters (not against each other) and adds them as values.<key>.
func (g *generation) appendValues(values map[string]string, p Params) error {
	rendered := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		s, err := g.r.Replace(g.ctx, values[k], p)
		if err != nil {
			return fmt.Errorf("failed to replace templated string: %w", err)
		}
		rendered[k] = s
	}
	if g.set.Spec.GoTemplate {
		p["values"] = rendered
		return nil
	}
	for k, v := range rendered {
		p["values."+k] = v
	}
	return nil
}

func (g *generation) projectKnown(project string) bool {
	if g.projects == nil {
		return project != ""
	}
	return g.projects[project]
}

func (g *generation) git(gg *fleet.GitGenerator) ([]Params, error) {
	if project := g.set.Spec.Template.Spec.Project; !strings.Contains(project, "{{") && !g.projectKnown(project) {
		return nil, fmt.Errorf("error getting project %s: the git generator needs the template's project to exist (AppProject %q not found)", project, project)
	}
	var (
		res []Params
		err error
	)
	switch {
	case len(gg.Directories) > 0:
		res, err = g.gitDirectories(gg)
	case len(gg.Files) > 0:
		res, err = g.gitFiles(gg)
	default:
		return nil, errors.New("the git generator needs directories or files")
	}
	if err != nil {
		return nil, fmt.Errorf("error generating params from git: %w", err)
	}
	return res, nil
}

// gitDirectories keeps the directories of gitDirs matched by an include
// pattern and by no exclude pattern (path.Match: "*" never crosses "/").
func (g *generation) gitDirectories(gg *fleet.GitGenerator) ([]Params, error) {
	dirs, err := g.gitDirs(gg.RepoURL, gg.Revision)
	if err != nil {
		return nil, err
	}
	var res []Params
	for _, d := range dirs {
		include, exclude := false, false
		for _, item := range gg.Directories {
			ok, err := path.Match(item.Path, d)
			if err != nil || !ok {
				continue
			}
			if item.Exclude {
				exclude = true
			} else {
				include = true
			}
		}
		if !include || exclude {
			continue
		}
		p := Params{}
		g.addPathParams(p, gg.PathParamPrefix, d, "")
		if err := g.appendValues(gg.Values, p); err != nil {
			return nil, err
		}
		res = append(res, p)
	}
	return res, nil
}

// gitDirs lists a revision's directories that hold a file at any depth,
// sorted, without the root and anything below a directory whose name
// starts with ".". A matrix asks once per parameter set of its other child:
// the list is made once per revision and evaluation.
func (g *generation) gitDirs(repoURL, revision string) ([]string, error) {
	key := [2]string{repoURL, revision}
	if dirs, ok := g.dirs[key]; ok {
		return dirs, nil
	}
	files, err := g.repos.Files(g.ctx, repoURL, revision)
	if err != nil {
		return nil, fmt.Errorf("error getting directories from repo: %w", err)
	}
	dirSet := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f); d != "." && d != "/" && !dirSet[d]; d = path.Dir(d) {
			dirSet[d] = true
		}
	}
	dirs := []string{}
	for d := range dirSet {
		hidden := false
		for _, seg := range strings.Split(d, "/") {
			hidden = hidden || strings.HasPrefix(seg, ".")
		}
		if !hidden {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	if g.dirs == nil {
		g.dirs = map[[2]string][]string{}
	}
	g.dirs[key] = dirs
	return dirs, nil
}

// addPathParams adds path, path.basename, path.basenameNormalized and
// path[N] (default mode) or the .path map with segments (go mode); file
// names too when file is set.
func (g *generation) addPathParams(p Params, prefix, dir, file string) {
	if g.set.Spec.GoTemplate {
		pp := map[string]any{
			"path":               dir,
			"basename":           path.Base(dir),
			"basenameNormalized": SanitizeName(path.Base(dir)),
			"segments":           strings.Split(dir, "/"),
		}
		if file != "" {
			pp["filename"] = path.Base(file)
			pp["filenameNormalized"] = SanitizeName(path.Base(file))
		}
		if prefix != "" {
			p[prefix] = map[string]any{"path": pp}
		} else {
			p["path"] = pp
		}
		return
	}
	name := "path"
	if prefix != "" {
		name = prefix + ".path"
	}
	p[name] = dir
	p[name+".basename"] = path.Base(dir)
	p[name+".basenameNormalized"] = SanitizeName(path.Base(dir))
	if file != "" {
		p[name+".filename"] = path.Base(file)
		p[name+".filenameNormalized"] = SanitizeName(path.Base(file))
	}
	for i, seg := range strings.Split(dir, "/") {
		if seg != "" {
			p[name+"["+strconv.Itoa(i)+"]"] = seg
		}
	}
}

// gitFiles collects the files matched by the include patterns, removes
// those matched by exclude patterns (git pathspec rules: "*" crosses "/"),
// and turns each file into parameter sets.
func (g *generation) gitFiles(gg *fleet.GitGenerator) ([]Params, error) {
	files, err := g.repos.Files(g.ctx, gg.RepoURL, gg.Revision)
	if err != nil {
		return nil, fmt.Errorf("error retrieving Git files: %w", err)
	}
	selected := map[string]bool{}
	for _, item := range gg.Files {
		if item.Exclude {
			continue
		}
		for _, f := range files {
			if matchPathspec(item.Path, f) {
				selected[f] = true
			}
		}
	}
	for _, item := range gg.Files {
		if !item.Exclude {
			continue
		}
		for _, f := range files {
			if matchPathspec(item.Path, f) {
				delete(selected, f)
			}
		}
	}
	names := make([]string, 0, len(selected))
	for f := range selected {
		names = append(names, f)
	}
	slices.Sort(names)
	var res []Params
	for _, name := range names {
		data, err := g.repos.ReadFile(g.ctx, gg.RepoURL, gg.Revision, name)
		if err != nil {
			return nil, err
		}
		ps, err := g.gitFileParams(name, data, gg)
		if err != nil {
			return nil, fmt.Errorf("unable to process file '%s': %w", name, err)
		}
		res = append(res, ps...)
	}
	return res, nil
}

func (g *generation) gitFileParams(name string, data []byte, gg *fleet.GitGenerator) ([]Params, error) {
	if len(data) > fleet.MaxFileSize {
		return nil, fmt.Errorf("%w: the file is larger than %d MiB", fleet.ErrLimit, fleet.MaxFileSize>>20)
	}
	if err := fleet.CheckYAML(name, data); err != nil {
		return nil, err
	}
	var objects []map[string]any
	if err := yaml.Unmarshal(data, &objects); err != nil {
		single := map[string]any{}
		if err := yaml.Unmarshal(data, &single); err != nil {
			return nil, fmt.Errorf("unable to parse file: %w", err)
		}
		objects = []map[string]any{single}
	} else if len(objects) == 0 {
		objects = []map[string]any{{}}
	}
	var res []Params
	for _, obj := range objects {
		p := Params{}
		if g.set.Spec.GoTemplate {
			for k, v := range obj {
				p[k] = v
			}
		} else {
			for k, v := range flatten(obj) {
				p[k] = fmt.Sprintf("%v", v)
			}
		}
		g.addPathParams(p, gg.PathParamPrefix, path.Dir(name), name)
		if err := g.appendValues(gg.Values, p); err != nil {
			return nil, fmt.Errorf("failed to append templated values: %w", err)
		}
		res = append(res, p)
	}
	return res, nil
}

// child runs one matrix or merge child, which must hold exactly one
// generator kind.
func (g *generation) child(gen *fleet.ApplicationSetGenerator, genParams Params) ([]Params, error) {
	if n := len(kinds(gen)); n != 1 {
		if n == 0 {
			return nil, errors.New("child generator generated no parameters: a child entry names no generator")
		}
		return nil, errors.New("a child entry of matrix or merge must hold exactly one generator")
	}
	t, err := g.transform(gen, fleet.ApplicationSetTemplate{}, genParams)
	if err != nil {
		return nil, fmt.Errorf("child generator returned an error on parameter generation: %w", err)
	}
	return t[0].params, nil
}

func (g *generation) matrix(m *fleet.MatrixGenerator) ([]Params, error) {
	switch {
	case len(m.Generators) < 2:
		return nil, errors.New("found less than two generators, Matrix support only two")
	case len(m.Generators) > 2:
		return nil, errors.New("found more than two generators, Matrix support only two")
	}
	first, err := g.child(&m.Generators[0], nil)
	if err != nil {
		return nil, fmt.Errorf("error failed to get params for first generator in matrix generator: %w", err)
	}
	// A second generator without a template in it makes the same
	// parameters for every set of the first (clusters × directories):
	// made once and shared, as combining copies them.
	fixed := !templatedGenerator(&m.Generators[1])
	var (
		res  []Params
		same []Params
	)
	for _, a := range first {
		second := same
		if second == nil {
			second, err = g.child(&m.Generators[1], a)
			if err != nil {
				return nil, fmt.Errorf("failed to get params for second generator in the matrix generator: %w", err)
			}
			if fixed {
				same = second
			}
		}
		if err := g.ctx.Err(); err != nil {
			return nil, err
		}
		if len(res)+len(second) > MaxParamSets {
			return nil, fmt.Errorf("%w: the matrix generator makes more than %d parameter sets", fleet.ErrLimit, MaxParamSets)
		}
		for _, b := range second {
			if g.set.Spec.GoTemplate {
				res = append(res, mergeOverride(copyParams(b), a))
				continue
			}
			combined, err := combineStringMaps(a, b)
			if err != nil {
				return nil, fmt.Errorf("failed to combine string maps with merging params for the matrix generator: %w", err)
			}
			res = append(res, combined)
		}
	}
	return res, nil
}

// templatedGenerator says whether any string of gen holds a template.
func templatedGenerator(gen *fleet.ApplicationSetGenerator) bool {
	b, err := json.Marshal(gen)
	return err != nil || isTemplated(string(b))
}

func (g *generation) merge(m *fleet.MergeGenerator) ([]Params, error) {
	if len(m.Generators) == 0 {
		return nil, errors.New("the merge generator needs at least one child generator")
	}
	if len(m.MergeKeys) == 0 {
		return nil, errors.New("no merge keys were specified, the merge generator needs at least one")
	}
	sets := make([][]Params, len(m.Generators))
	for i := range m.Generators {
		ps, err := g.child(&m.Generators[i], nil)
		if err != nil {
			return nil, fmt.Errorf("error getting param sets from generators: %w", err)
		}
		sets[i] = ps
	}
	base, order, err := byMergeKey(m.MergeKeys, sets[0])
	if err != nil {
		return nil, fmt.Errorf("error getting param sets by merge key: %w", err)
	}
	for _, ps := range sets[1:] {
		overrides, _, err := byMergeKey(m.MergeKeys, ps)
		if err != nil {
			return nil, fmt.Errorf("error getting param sets by merge key: %w", err)
		}
		for key, b := range base {
			o, ok := overrides[key]
			if !ok {
				continue
			}
			if g.set.Spec.GoTemplate {
				base[key] = mergeOverride(b, o)
				continue
			}
			merged := toStringMap(b)
			for k, v := range toStringMap(o) {
				merged[k] = v
			}
			base[key] = fromStringMap(merged)
		}
	}
	res := make([]Params, 0, len(order))
	for _, key := range order {
		res = append(res, base[key])
	}
	return res, nil
}

// byMergeKey indexes parameter sets by the JSON of their merge-key values
// (so 8080 and "8080" differ); the values must be unique.
func byMergeKey(keys []string, sets []Params) (map[string]Params, []string, error) {
	out := make(map[string]Params, len(sets))
	var order []string
	for _, p := range sets {
		k := map[string]any{}
		for _, mk := range keys {
			k[mk] = p[mk]
		}
		b, err := json.Marshal(k)
		if err != nil {
			return nil, nil, fmt.Errorf("error marshalling param set key json: %w", err)
		}
		if _, dup := out[string(b)]; dup {
			return nil, nil, fmt.Errorf("the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was %s", b)
		}
		out[string(b)] = copyParams(p)
		order = append(order, string(b))
	}
	return out, order, nil
}
