// Package helm renders Helm charts in process with Helm's Go SDK (Helm 4,
// the major version Argo CD 3.5 and later run), as `helm template` does:
// client-only, so `lookup` finds nothing and no cluster is contacted; no
// post-renderer, no plugin, no helm executable. All of Flotilla's use of
// the Helm library is in this package.
package helm

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	valuesloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/strvals"
)

// DefaultKubeVersion is the Kubernetes version charts see in
// .Capabilities.KubeVersion when neither the cluster (inventory
// spec.kubeVersion), the fleet (flotilla.yaml helm.kubeVersion) nor the
// Application (source.helm.kubeVersion) names one. Helm's own default
// depends on how the program was built (the client-go version it links,
// or v1.20.0 in test binaries); a fixed default keeps output the same
// for every build.
const DefaultKubeVersion = "v1.37.0"

// Chart is a loaded chart.
type Chart = chart.Charter

// File is a named value file's content.
type File struct {
	// Name is shown in errors (a path relative to the repository).
	Name string
	Data []byte
}

// Request is one `helm template` invocation.
type Request struct {
	// Chart is the loaded chart (LoadDir, LoadArchive).
	Chart chart.Charter
	// ReleaseName and Namespace are --name-template and --namespace
	// (Helm's default namespace, "default", when empty).
	ReleaseName, Namespace string
	// KubeVersion is --kube-version (DefaultKubeVersion when empty);
	// APIVersions are --api-versions, added to Helm's built-in list.
	KubeVersion string
	APIVersions []string
	// ValueFiles are the --values files in order (the last wins).
	ValueFiles []File
	// Set, SetString are --set and --set-string arguments (key=value).
	Set, SetString []string
	// SetFile are --set-file values: key and the file's content.
	SetFile []FileParameter
	// SkipCRDs leaves out the crds/ folders (no --include-crds).
	SkipCRDs, SkipSchemaValidation, SkipTests bool
	// NoHooks leaves every hook out of the output (--no-hooks).
	NoHooks bool
}

// FileParameter is one --set-file value.
type FileParameter struct {
	Key  string
	File File
}

// LoadDir loads the chart in dir (its charts/ folder holds the
// dependencies). The caller has checked that no file of dir leads out of
// the repository.
func LoadDir(dir string) (chart.Charter, error) {
	return loader.LoadDir(dir)
}

// ErrMissingDependency means a dependency of Chart.yaml is not in charts/.
var ErrMissingDependency = errors.New("dependency missing from charts/")

// Describe returns a chart's name and version, for errors.
func Describe(c chart.Charter) string {
	ac, err := chart.NewAccessor(c)
	if err != nil {
		return "chart"
	}
	m := ac.MetadataAsMap()
	return fmt.Sprintf("chart %v version %v", m["Name"], m["Version"])
}

// Template renders req.Chart and returns the manifest `helm template`
// prints: the release's manifests, then its hooks (test hooks left out
// with SkipTests), each document headed by "# Source: <template>".
func Template(req Request) ([]byte, error) {
	vals, err := mergeValues(req)
	if err != nil {
		return nil, err
	}
	ac, err := chart.NewAccessor(req.Chart)
	if err != nil {
		return nil, err
	}
	switch t := ac.MetadataAsMap()["Type"]; t {
	case "", "application", nil:
	default:
		return nil, fmt.Errorf("%v charts are not installable (a library chart is only used as a dependency)", t)
	}
	if deps := ac.MetaDependencies(); len(deps) > 0 {
		if err := action.CheckDependencies(req.Chart, deps); err != nil {
			return nil, fmt.Errorf("%w: %v (vendor it with `helm dependency build`, or give Chart.lock so Flotilla can fetch it)", ErrMissingDependency, err)
		}
	}
	kv := req.KubeVersion
	if kv == "" {
		kv = DefaultKubeVersion
	}
	parsed, err := common.ParseKubeVersion(kv)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", kv, err)
	}
	ns := req.Namespace
	if ns == "" {
		ns = "default"
	}

	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.DiscardHandler)
	inst := action.NewInstall(cfg)
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName = req.ReleaseName
	inst.Replace = true
	inst.Namespace = ns
	inst.IncludeCRDs = !req.SkipCRDs
	inst.SkipSchemaValidation = req.SkipSchemaValidation
	inst.KubeVersion = parsed
	inst.APIVersions = common.VersionSet(slices.Clone(req.APIVersions))
	r, err := inst.Run(req.Chart, vals)
	if err != nil {
		return nil, err
	}
	var rel *release.Release
	switch v := r.(type) {
	case *release.Release:
		rel = v
	case release.Release:
		rel = &v
	default:
		return nil, fmt.Errorf("unexpected release type %T", r)
	}
	var out bytes.Buffer
	fmt.Fprintln(&out, strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		if req.NoHooks {
			break
		}
		if req.SkipTests && slices.Contains(h.Events, release.HookTest) {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return out.Bytes(), nil
}

// TemplateName renders a release name template (--name-template) as
// Helm does: Sprig's functions, no data.
func TemplateName(nameTemplate string) (string, error) {
	return action.TemplateName(nameTemplate)
}

// mergeValues is Helm's values.Options.MergeValues, reading nothing
// itself: value files in order, then --set, --set-string, --set-file.
func mergeValues(req Request) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range req.ValueFiles {
		m, err := valuesloader.LoadValues(bytes.NewReader(f.Data))
		if err != nil {
			return nil, fmt.Errorf("parse value file %s: %w", f.Name, err)
		}
		base = valuesloader.MergeMaps(base, m)
	}
	for _, v := range req.Set {
		if err := strvals.ParseInto(v, base); err != nil {
			return nil, fmt.Errorf("parse parameter %q: %w", v, err)
		}
	}
	for _, v := range req.SetString {
		if err := strvals.ParseIntoString(v, base); err != nil {
			return nil, fmt.Errorf("parse string parameter %q: %w", v, err)
		}
	}
	for _, p := range req.SetFile {
		data := string(p.File.Data)
		reader := func([]rune) (any, error) { return data, nil }
		if err := strvals.ParseIntoFile(p.Key+"=file", base, reader); err != nil {
			return nil, fmt.Errorf("parse file parameter %s (%s): %w", p.Key, p.File.Name, err)
		}
	}
	return base, nil
}
