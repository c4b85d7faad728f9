package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge2"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/redact"
	"github.com/flotilla-dev/flotilla/internal/render/helm"
)

// Kustomize's helmCharts (and the deprecated helmChartInflationGenerator)
// are inflated here, in process, with the same Helm engine as Helm sources:
// Kustomize's own HelmChartInflationGenerator runs a helm executable, and
// cannot be given another.
//
// Before Kustomize runs, every kustomization the build reaches through
// resources, bases and components is read; for each that lists charts,
// each chart is rendered as the generator would (chart home lookup, pull,
// values, `helm template` flags), and the kustomization is rewritten in
// memory: its helm fields removed and a component added in front of its
// components, a directory that exists only in memory (helmComponentDir)
// whose resources are the charts' output. Kustomize accumulates a
// kustomization's resources, then its generators (configMapGenerator,
// secretGenerator, helmCharts, then the generators field), then its
// components, so the output lands where the generator would put it,
// except after the generators field's output rather than before. The
// objects carry Kustomize's helm-generated annotation, so the namespace
// transformer leaves them alone, as it leaves the generator's; their
// origin annotation (buildMetadata: [originAnnotations]) is set to the
// generator's afterwards (fixHelmOrigins).

// helmComponentDir is the in-memory component of a kustomization with
// charts; helmOutputPrefix names its output file after the kustomization
// file ("helm-kustomization.yaml").
const (
	helmComponentDir = ".flotilla-helmcharts"
	helmOutputPrefix = "helm-"
)

// helmBuild is what a Kustomize build needs to inflate charts.
type helmBuild struct {
	ctx    context.Context
	charts *helm.Fetcher
	// caps are the destination cluster's: kustomize's --helm-kube-version
	// and --helm-api-versions, which an entry's own fields override.
	caps fleet.Capabilities
}

// ErrHelmChart marks a helmCharts entry that cannot be inflated.
var ErrHelmChart = errors.New("kustomize helmCharts")

// HelmChartError is a helmCharts entry that could not be inflated.
type HelmChartError struct {
	// File is the kustomization, relative to the repository root.
	File string
	// Index is the entry's position in helmCharts (after the deprecated
	// helmChartInflationGenerator entries are appended, as Kustomize does).
	Index   int
	Chart   string
	Version string
	Err     error
}

func (e *HelmChartError) Error() string {
	v := e.Version
	if v == "" {
		v = "(any)"
	}
	return fmt.Sprintf("%s: helmCharts[%d]: chart %s version %s: %v", e.File, e.Index, e.Chart, v, e.Err)
}

func (e *HelmChartError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrHelmChart) hold.
func (e *HelmChartError) Is(target error) bool { return target == ErrHelmChart }

// errRemoteValues refuses a value file given as a URL: Kustomize would
// fetch it, Flotilla reads value files only from the repository.
var errRemoteValues = errors.New("remote value files are not supported (put the file in the repository)")

// inflater walks the kustomizations of one build.
type inflater struct {
	fs  *rootedFS
	env helmBuild
	// probe only reports whether a chart is listed (found).
	probe bool
	found bool
	// visited are kustomization directories walked, by real path and
	// inherited namespace; stack the ones being walked (Kustomize
	// reports cycles itself).
	visited map[string]bool
	stack   map[string]bool
	// inflated holds, by real directory, the namespace inherited from the
	// parents when its charts were inflated, and whether the output
	// depends on it.
	inflated map[string]inheritedNS
}

type inheritedNS struct {
	ns      string
	depends bool
}

// inflateHelmCharts inflates the charts of the kustomizations a build of
// dir reaches and reports whether there were any.
func inflateHelmCharts(fs *rootedFS, dir string, env helmBuild) (bool, error) {
	in := &inflater{fs: fs, env: env, visited: map[string]bool{}, stack: map[string]bool{}, inflated: map[string]inheritedNS{}}
	err := in.dir(dir, "")
	return in.found, err
}

// usesHelmCharts reports whether a build of dir reaches a kustomization
// listing charts (errors say yes: the build reports them).
func usesHelmCharts(fs *rootedFS, dir string) bool {
	in := &inflater{fs: fs, probe: true, visited: map[string]bool{}, stack: map[string]bool{}, inflated: map[string]inheritedNS{}}
	if err := in.dir(dir, ""); err != nil {
		return true
	}
	return in.found
}

func (in *inflater) real(p string) string {
	if r, err := in.fs.paths.eval(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// dir walks the kustomization in dir, which inherits namespace rootNS
// from the kustomizations above it (Kustomize's helmRootNamespace).
func (in *inflater) dir(dir, rootNS string) error {
	real := in.real(dir)
	key := real + "\x00" + rootNS
	if in.visited[key] || in.stack[real] {
		return nil
	}
	in.visited[key] = true
	in.stack[real] = true
	defer delete(in.stack, real)
	kpath := kustomizationIn(in.fs, dir)
	if kpath == "" {
		return nil
	}
	file := in.fs.rel(kpath)
	data, err := in.fs.ReadFile(kpath)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	components := slices.Clone(k.Components)
	k.FixKustomization()
	if prev, ok := in.inflated[real]; ok {
		// Inflated already (its kustomization is rewritten): once for
		// every parent, unless the namespaces they pass down differ.
		if prev.depends && prev.ns != rootNS {
			return fmt.Errorf("%s: %w: the kustomization is reached from kustomizations with different namespaces (%q and %q), and Kustomize would inflate its charts in each; set helmCharts[].namespace or its namespace", file, ErrHelmChart, prev.ns, rootNS)
		}
	} else if len(k.HelmCharts) > 0 {
		in.found = true
		if !in.probe {
			if err := in.inflate(dir, real, kpath, data, &k, components, rootNS); err != nil {
				return err
			}
		}
	}
	childNS := rootNS
	if k.Namespace != "" {
		childNS = k.Namespace
	}
	for _, list := range [][]string{k.Resources, components} {
		for _, v := range list {
			if v == "" || isRemote(v) || filepath.IsAbs(v) {
				continue // Kustomize refuses or clones it: no charts of ours
			}
			p := filepath.Join(dir, v)
			if in.fs.check(p) != nil || !in.fs.IsDir(p) {
				continue
			}
			if err := in.dir(p, childNS); err != nil {
				return err
			}
		}
	}
	return nil
}

// inflate renders the charts of the kustomization kpath in dir and
// rewrites it to take their output from an in-memory component.
func (in *inflater) inflate(dir, real, kpath string, data []byte, k *types.Kustomization, components []string, rootNS string) error {
	file := in.fs.rel(kpath)
	depends := k.Namespace == ""
	if depends {
		depends = slices.ContainsFunc(k.HelmCharts, func(c types.HelmChart) bool { return c.Namespace == "" })
	}
	in.inflated[real] = inheritedNS{ns: rootNS, depends: depends}
	if in.fs.rec != nil {
		in.fs.rec.refuse() // charts are read outside the recorded questions
	}
	comp := filepath.Join(real, helmComponentDir)
	if _, err := in.fs.paths.eval(comp); err == nil {
		return fmt.Errorf("%s: %w: %s exists, and Flotilla needs that name for the charts' output (rename it)", file, ErrHelmChart, filepath.ToSlash(filepath.Join(filepath.Dir(file), helmComponentDir)))
	}
	var globals types.HelmGlobals
	if k.HelmGlobals != nil {
		globals = *k.HelmGlobals
	}
	var out bytes.Buffer
	for i, c := range k.HelmCharts {
		// Kustomize passes its namespace, or the one inherited, to helm.
		if c.Namespace == "" {
			c.Namespace = k.Namespace
			if c.Namespace == "" {
				c.Namespace = rootNS
			}
		}
		y, err := in.chart(dir, globals, c)
		if err != nil {
			return &HelmChartError{File: file, Index: i, Chart: c.Name, Version: c.Version, Err: err}
		}
		out.Write(y)
	}
	rewritten, err := withoutHelmFields(data, components)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	in.fs.setOverlay(kpath, rewritten)
	in.fs.virtual[comp] = true
	in.fs.overlay[filepath.Join(comp, "kustomization.yaml")] = []byte("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- " + helmOutputPrefix + filepath.Base(kpath) + "\n")
	in.fs.overlay[filepath.Join(comp, helmOutputPrefix+filepath.Base(kpath))] = out.Bytes()
	return nil
}

// setOverlay replaces the file p, by the path given and its real path
// (Kustomize reads files through their real directories).
func (f *rootedFS) setOverlay(p string, data []byte) {
	f.overlay[filepath.Clean(p)] = data
	if dir, err := f.paths.eval(filepath.Dir(p)); err == nil {
		f.overlay[filepath.Join(dir, filepath.Base(p))] = data
	}
}

// withoutHelmFields is the kustomization data without its helm fields
// (in any letter case, as Kustomize reads them), with the in-memory
// component first among its components. It is written as JSON (which
// Kustomize reads as YAML), numbers as they were.
func withoutHelmFields(data []byte, components []string) ([]byte, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	for key := range m {
		for _, f := range []string{"helmCharts", "helmGlobals", "helmChartInflationGenerator", "components"} {
			if strings.EqualFold(key, f) {
				delete(m, key)
			}
		}
	}
	comps := []any{helmComponentDir}
	for _, c := range components {
		comps = append(comps, c)
	}
	m["components"] = comps
	return json.Marshal(m)
}

// chart inflates one entry of the kustomization in dir (real), as
// Kustomize's HelmChartInflationGenerator: its configuration goes through
// the same YAML, the chart is looked up in the chart home and pulled when
// missing, values are merged and helm template is run with its flags. It
// returns the objects as YAML, with Kustomize's helm-generated annotation.
func (in *inflater) chart(dir string, globals types.HelmGlobals, c types.HelmChart) ([]byte, error) {
	var p struct {
		types.HelmGlobals
		types.HelmChart
	}
	// The plugin's Config: the command line's kube version and API
	// versions, then the entry's own over them.
	p.HelmChart.KubeVersion = in.env.caps.KubeVersion
	p.HelmChart.ApiVersions = in.env.caps.APIVersions
	y, err := yaml.Marshal(struct {
		types.HelmGlobals
		types.HelmChart
	}{globals, c})
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(y, &p); err != nil {
		return nil, err
	}
	switch {
	case p.Name == "":
		return nil, errors.New("chart name cannot be empty")
	case strings.HasPrefix(p.ReleaseName, "-"):
		return nil, fmt.Errorf("releaseName must not start with '-', got %q", p.ReleaseName)
	case strings.HasPrefix(p.Name, "-"):
		return nil, fmt.Errorf("chart name must not start with '-', got %q", p.Name)
	case p.ReleaseName != "" && p.NameTemplate != "":
		return nil, errors.New("releaseName and nameTemplate are both set (helm: cannot set --name-template and also specify a name)")
	}
	switch p.ValuesMerge {
	case "":
		p.ValuesMerge = "override"
	case "merge", "override", "replace":
	default:
		return nil, fmt.Errorf("valuesMerge must be one of [merge override replace]")
	}
	// Value files are checked before anything is fetched (Kustomize
	// loads additionalValuesFiles first too).
	for i, v := range append([]string{p.ValuesFile}, p.AdditionalValuesFiles...) {
		if isRemote(v) {
			field := "valuesFile"
			if i > 0 {
				field = fmt.Sprintf("additionalValuesFiles[%d]", i-1)
			}
			return nil, fmt.Errorf("%s %q: %w", field, redact.URL(v), errRemoteValues)
		}
	}
	if p.ChartHome == "" {
		p.ChartHome = types.HelmDefaultHome
	}
	if isRemote(p.ChartHome) || filepath.IsAbs(p.ChartHome) {
		return nil, fmt.Errorf("helmGlobals.chartHome %q: only a path relative to the kustomization is supported", redact.URL(p.ChartHome))
	}
	home := filepath.Join(dir, p.ChartHome)
	if p.Version != "" && p.Repo != "" {
		home = filepath.Join(home, p.Name+"-"+p.Version)
	}
	chartDir := filepath.Join(home, p.Name)

	var (
		chart      helm.Chart
		chartFiles map[string][]byte // of a pulled chart
	)
	if err := in.fs.check(chartDir); errors.Is(err, ErrEscape) {
		return nil, fmt.Errorf("chart home %s: %w", in.fs.rel(chartDir), ErrEscape)
	}
	if in.fs.IsDir(chartDir) {
		if err := checkTree(in.fs, chartDir); err != nil {
			return nil, err
		}
		if chart, err = helm.LoadDir(chartDir); err != nil {
			return nil, fmt.Errorf("load chart %s: %w", in.fs.rel(chartDir), err)
		}
	} else {
		if p.Repo == "" {
			return nil, fmt.Errorf("no chart at %s and no repo to pull it from (vendor the chart there, or set repo)", in.fs.rel(chartDir))
		}
		lower := strings.ToLower(p.Repo)
		if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(p.Repo, "oci://") {
			return nil, fmt.Errorf("repo %q: not a chart repository URL (https://…) or an OCI registry (oci://…)", redact.URL(p.Repo))
		}
		version := p.Version
		if version == "" && p.Devel {
			version = ">0.0.0-0" // helm pull --devel
		}
		ctx := in.env.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		charts := in.env.charts
		if charts == nil {
			charts = &helm.Fetcher{}
		}
		a, err := charts.Fetch(ctx, strings.TrimSuffix(p.Repo, "/"), p.Name, version)
		if err != nil {
			return nil, err
		}
		if chart, chartFiles, err = helm.LoadArchive(a.Data); err != nil {
			return nil, fmt.Errorf("load chart %s version %s: %w", p.Name, a.Version, err)
		}
	}

	values, err := in.values(dir, chartDir, chartFiles, &p.HelmChart)
	if err != nil {
		return nil, err
	}
	req := helm.Request{
		Chart: chart, Namespace: p.Namespace, KubeVersion: p.KubeVersion, APIVersions: p.ApiVersions,
		ValueFiles: values, SkipCRDs: !p.IncludeCRDs, SkipTests: p.SkipTests, NoHooks: p.SkipHooks,
	}
	var names []string
	switch {
	case p.ReleaseName != "":
		names = []string{p.ReleaseName}
	case p.NameTemplate != "":
		a, err := helm.TemplateName(p.NameTemplate)
		if err != nil {
			return nil, fmt.Errorf("nameTemplate: %w", err)
		}
		if b, _ := helm.TemplateName(p.NameTemplate); a != b {
			return nil, fmt.Errorf("nameTemplate %q gives a different name each time (%s, %s): set releaseName", p.NameTemplate, a, b)
		}
		names = []string{a}
	default:
		// helm template --generate-name: the chart's directory name and
		// the time, so two renders with different times must agree.
		base := filepath.Base(chartDir)
		if i := strings.Index(base, "."); i >= 0 {
			base = base[:i]
		}
		if base == "" {
			base = "chart"
		}
		names = []string{base + "-1700000000", base + "-1700000001"}
	}
	var manifest []byte
	for i, name := range names {
		req.ReleaseName = name
		m, err := helm.Template(req)
		if err != nil {
			return nil, err
		}
		if i > 0 && !bytes.Equal(m, manifest) {
			return nil, errors.New("releaseName is not set, so Kustomize names the release after the clock (helm template --generate-name), and this chart's output depends on the release name: set releaseName")
		}
		manifest = m
	}
	return helmGenerated(manifest)
}

// values are the value files the generator passes: valuesFile (default:
// the chart's values.yaml in the chart home), merged with valuesInline
// as valuesMerge says, then additionalValuesFiles. All are read as
// Kustomize's loader reads them: inside the kustomization's directory
// (its load restrictor), never remote.
func (in *inflater) values(dir, chartDir string, chartFiles map[string][]byte, c *types.HelmChart) ([]helm.File, error) {
	read := func(field, p string) (helm.File, error) {
		if isRemote(p) {
			return helm.File{}, fmt.Errorf("%s %q: %w", field, redact.URL(p), errRemoteValues)
		}
		full := p
		if !filepath.IsAbs(full) {
			full = filepath.Join(dir, p)
		}
		if chartFiles != nil && c.ValuesFile == "" && field == "valuesFile" {
			// The pulled chart's values.yaml, where Kustomize would have
			// pulled it to.
			if rel, err := filepath.Rel(dir, full); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return helm.File{}, fmt.Errorf("%s: %s is not in or below the kustomization's directory %s (Kustomize's load restrictor)", field, in.fs.rel(full), in.fs.rel(dir))
			}
			data, ok := chartFiles["values.yaml"]
			if !ok {
				return helm.File{}, fmt.Errorf("%s: %w: the chart has no values.yaml (set valuesFile, or valuesInline with valuesMerge: replace)", field, ErrValueFile)
			}
			return helm.File{Name: in.fs.rel(full), Data: data}, nil
		}
		if err := in.restrict(dir, full); err != nil {
			return helm.File{}, fmt.Errorf("%s %q: %w", field, p, err)
		}
		data, err := in.fs.ReadFile(full)
		if err != nil {
			return helm.File{}, fmt.Errorf("%s %q: %w", field, p, err)
		}
		return helm.File{Name: in.fs.rel(full), Data: data}, nil
	}
	mainPath := c.ValuesFile
	if mainPath == "" {
		mainPath = filepath.Join(chartDir, "values.yaml")
	}
	var main helm.File
	if len(c.ValuesInline) > 0 {
		inline := c.ValuesInline
		if c.ValuesMerge != "replace" {
			f, err := read("valuesFile", mainPath)
			if err != nil {
				return nil, err
			}
			if inline, err = mergeInline(f.Data, inline, c.ValuesMerge); err != nil {
				return nil, fmt.Errorf("valuesInline: %w", err)
			}
		}
		data, err := yaml.Marshal(inline)
		if err != nil {
			return nil, fmt.Errorf("valuesInline: %w", err)
		}
		main = helm.File{Name: "valuesInline", Data: data}
	} else {
		f, err := read("valuesFile", mainPath)
		if err != nil {
			return nil, err
		}
		main = f
	}
	files := []helm.File{main}
	for i, p := range c.AdditionalValuesFiles {
		f, err := read(fmt.Sprintf("additionalValuesFiles[%d]", i), p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// restrict is Kustomize's RestrictionRootOnly for a file of the
// kustomization in dir, and the repository's bounds.
func (in *inflater) restrict(dir, full string) error {
	if err := in.fs.check(full); err != nil {
		return err
	}
	d, f, err := in.fs.CleanedAbs(full)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist in the repository", ErrValueFile, in.fs.rel(full))
	}
	if err != nil {
		return err
	}
	if f == "" {
		return fmt.Errorf("%s is a directory", in.fs.rel(full))
	}
	root, _, err := in.fs.CleanedAbs(dir)
	if err != nil {
		return err
	}
	if !d.HasPrefix(root) {
		return fmt.Errorf("%s is not in or below the kustomization's directory %s (Kustomize's load restrictor)", in.fs.rel(full), in.fs.rel(dir))
	}
	return nil
}

// mergeInline is the generator's replaceValuesInline: valuesInline over
// the values file (override) or under it (merge), with kyaml's merge.
func mergeInline(file []byte, inline map[string]any, how string) (map[string]any, error) {
	fileValues, err := kyaml.Parse(string(file))
	if err != nil {
		return nil, fmt.Errorf("could not parse values file into rnode: %w", err)
	}
	inlineValues, err := kyaml.FromMap(inline)
	if err != nil {
		return nil, fmt.Errorf("could not parse values inline into rnode: %w", err)
	}
	var out *kyaml.RNode
	if how == "merge" {
		out, err = merge2.Merge(fileValues, inlineValues.Copy(), kyaml.MergeOptions{})
	} else {
		out, err = merge2.Merge(inlineValues, fileValues.Copy(), kyaml.MergeOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("could not merge values: %w", err)
	}
	return out.Map()
}

var resmapFactory = resmap.NewFactory(provider.NewDefaultDepProvider().GetResourceFactory())

// helmGenerated reads helm's output as the generator does and marks each
// object as helm-generated.
func helmGenerated(manifest []byte) ([]byte, error) {
	rm, err := resmapFactory.NewResMapFromBytes(manifest)
	if err != nil {
		r := &kio.ByteReader{Reader: bytes.NewReader(manifest), OmitReaderAnnotations: true}
		nodes, rerr := r.Read()
		if rerr != nil {
			return nil, fmt.Errorf("error reading helm output: %w", rerr)
		}
		if len(nodes) == 0 {
			return nil, fmt.Errorf("could not parse bytes into resource map: %w", err)
		}
		if rm, err = resmapFactory.NewResMapFromRNodeSlice(nodes); err != nil {
			return nil, fmt.Errorf("could not parse rnode slice into resource map: %w", err)
		}
	}
	var out bytes.Buffer
	for _, r := range rm.Resources() {
		if err := r.RNode.PipeE(kyaml.SetAnnotation(konfig.HelmGeneratedAnnotation, "true")); err != nil {
			return nil, err
		}
		s, err := r.RNode.String()
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.WriteString(s)
	}
	return out.Bytes(), nil
}

// fixHelmOrigin gives an object of the in-memory component the origin
// annotation Kustomize gives the generator's output.
func fixHelmOrigin(r *resource.Resource) error {
	const key = "config.kubernetes.io/origin"
	v, ok := r.GetAnnotations()[key]
	if !ok {
		return nil
	}
	var o resource.Origin
	if err := yaml.Unmarshal([]byte(v), &o); err != nil {
		return nil
	}
	dir, name := filepath.Split(filepath.FromSlash(o.Path))
	if filepath.Base(filepath.Clean(dir)) != helmComponentDir || !strings.HasPrefix(name, helmOutputPrefix) {
		return nil
	}
	g := resource.Origin{
		Repo: o.Repo, Ref: o.Ref,
		ConfiguredIn: filepath.Join(filepath.Dir(filepath.Clean(dir)), strings.TrimPrefix(name, helmOutputPrefix)),
		ConfiguredBy: kyaml.ResourceIdentifier{TypeMeta: kyaml.TypeMeta{APIVersion: "builtin", Kind: "HelmChartInflationGenerator"}},
	}
	s, err := g.String()
	if err != nil {
		return err
	}
	return r.RNode.PipeE(kyaml.SetAnnotation(key, s))
}
