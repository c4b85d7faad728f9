package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/render/helm"
	"github.com/flotilla-dev/flotilla/internal/render/helm/helmtest"
)

// chartFiles is a chart in Git with a vendored dependency, a CRD, hooks,
// a test hook, a values schema and templates that show the values, the
// release and the capabilities they were given.
func chartFiles() map[string]string {
	return map[string]string{
		"charts/web/Chart.yaml":         "apiVersion: v2\nname: web\nversion: 1.2.3\ndependencies:\n- name: sub\n  version: 0.1.0\n  condition: sub.enabled\n",
		"charts/web/values.yaml":        "replicas: 1\nimage: nginx\nlist: [a]\nsub:\n  enabled: true\n",
		"charts/web/values.schema.json": `{"type": "object", "properties": {"replicas": {"type": "integer"}}}`,
		"charts/web/values-prod.yaml":   "replicas: 3\n",
		"charts/web/crds/crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
`,
		"charts/web/templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cfg
data:
  namespace: {{ .Release.Namespace | quote }}
  values: {{ .Values | toJson | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  {{- if .Capabilities.APIVersions.Has "example.com/v9" }}
  example: "yes"
  {{- end }}
  looked: {{ lookup "v1" "ConfigMap" "default" "x" | toJson | quote }}
`,
		"charts/web/templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations: {"helm.sh/hook": pre-install}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox}]}}}
`,
		"charts/web/templates/tests/test.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations: {"helm.sh/hook": test}
spec: {containers: [{name: t, image: busybox}]}
`,
		"charts/web/charts/sub/Chart.yaml":         "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"charts/web/charts/sub/templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}-sub}\nspec: {ports: [{port: 80}]}\n",
		"env/prod.yaml": "image: nginx-prod\n",
		"env/file.txt":  "from a file",
	}
}

func helmApp(name, ns string, h *fleet.ApplicationSourceHelm) *fleet.Application {
	a := &fleet.Application{}
	a.Metadata.Name = name
	a.Spec.Destination.Namespace = ns
	a.Spec.Source = &fleet.ApplicationSource{RepoURL: "https://example.com/r.git", Path: "charts/web", Helm: h}
	return a
}

func ids(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, order.ID(o))
	}
	return out
}

func configData(t *testing.T, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" {
			d, _, _ := unstructured.NestedStringMap(o.Object, "data")
			return d
		}
	}
	t.Fatal("no ConfigMap")
	return nil
}

// TestHelmChartInGit renders a chart found by its Chart.yaml as `helm
// template --include-crds` would: CRDs, the vendored dependency, hooks
// (kept, with their annotation) and test hooks; release name = the
// Application name, release namespace = the destination namespace;
// lookup finds nothing.
func TestHelmChartInGit(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, chartFiles())
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	out, err := b.Render(t.Context(), helmApp("web-prod", "prod", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CustomResourceDefinition/widgets.example.com",
		"ConfigMap/prod/web-prod-cfg",
		"Service/prod/web-prod-sub",
		"Job/prod/web-prod-migrate",
		"Pod/prod/web-prod-test",
	}
	got := ids(out.Objects())
	if diff := cmp.Diff(sortedCopy(want), sortedCopy(got)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	d := configData(t, out.Objects())
	if d["namespace"] != "prod" || d["looked"] != "{}" || d["kube"] != helm.DefaultKubeVersion {
		t.Errorf("release/capabilities/lookup: %v", d)
	}
	if !strings.Contains(string(out.Manifest), "helm.sh/hook: pre-install") {
		t.Errorf("hook annotation lost:\n%s", out.Manifest)
	}

	// skipCrds, skipTests, a disabled dependency (condition), releaseName
	// and helm.namespace (the release's: objects without a namespace still
	// go to the destination namespace, as Argo CD puts them).
	out, err = b.Render(t.Context(), helmApp("web-prod", "prod", &fleet.ApplicationSourceHelm{
		SkipCrds: true, SkipTests: true, ReleaseName: "rel", Namespace: "other",
		Parameters: []fleet.HelmParameter{{Name: "sub.enabled", Value: "false"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ConfigMap/prod/rel-cfg", "Job/prod/rel-migrate"}, sortedCopy(ids(out.Objects()))); diff != "" {
		t.Errorf("with options (-want +got):\n%s", diff)
	}
	if ns := configData(t, out.Objects())["namespace"]; ns != "other" {
		t.Errorf(".Release.Namespace = %q, want other", ns)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// TestHelmValuesPrecedence attacks the order Argo CD gives Helm: the
// chart's values < valueFiles in order < values (or valuesObject, which
// replaces values) < parameters < forceString parameters < file
// parameters.
func TestHelmValuesPrecedence(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, chartFiles())
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	render := func(h *fleet.ApplicationSourceHelm) string {
		t.Helper()
		out, err := b.Render(t.Context(), helmApp("web", "ns", h))
		if err != nil {
			t.Fatal(err)
		}
		return configData(t, out.Objects())["values"]
	}
	for _, tt := range []struct {
		name string
		h    *fleet.ApplicationSourceHelm
		want string
	}{
		{"chart defaults", nil,
			`{"image":"nginx","list":["a"],"replicas":1,"sub":{"enabled":true,"global":{}}}`},
		{"value files in order, absolute from the repository root", &fleet.ApplicationSourceHelm{ValueFiles: []string{"values-prod.yaml", "/env/prod.yaml"}},
			`{"image":"nginx-prod","list":["a"],"replicas":3,"sub":{"enabled":true,"global":{}}}`},
		{"values after value files", &fleet.ApplicationSourceHelm{ValueFiles: []string{"values-prod.yaml"}, Values: "replicas: 5\n"},
			`{"image":"nginx","list":["a"],"replicas":5,"sub":{"enabled":true,"global":{}}}`},
		{"valuesObject replaces values", &fleet.ApplicationSourceHelm{Values: "replicas: 5\nimage: x\n", ValuesObject: &fleet.RawJSON{Raw: []byte(`{"replicas": 6}`)}},
			`{"image":"nginx","list":["a"],"replicas":6,"sub":{"enabled":true,"global":{}}}`},
		{"parameters after values; last of a name wins; commas escaped; {lists} kept", &fleet.ApplicationSourceHelm{Values: "replicas: 5\n",
			Parameters: []fleet.HelmParameter{{Name: "replicas", Value: "6"}, {Name: "replicas", Value: "7"}, {Name: "image", Value: "a,b"}, {Name: "list", Value: "{x,y}"}}},
			`{"image":"a,b","list":["x","y"],"replicas":7,"sub":{"enabled":true,"global":{}}}`},
		{"forceString after set", &fleet.ApplicationSourceHelm{SkipSchemaValidation: true,
			Parameters: []fleet.HelmParameter{{Name: "replicas", Value: "8", ForceString: true}, {Name: "replicas", Value: "9"}}},
			`{"image":"nginx","list":["a"],"replicas":"8","sub":{"enabled":true,"global":{}}}`},
		{"file parameters last, env substituted", &fleet.ApplicationSourceHelm{
			Parameters:     []fleet.HelmParameter{{Name: "image", Value: "$ARGOCD_APP_NAME-img"}},
			FileParameters: []fleet.HelmFileParameter{{Name: "image", Path: "../../env/file.txt"}}},
			`{"image":"from a file","list":["a"],"replicas":1,"sub":{"enabled":true,"global":{}}}`},
		{"env in parameters", &fleet.ApplicationSourceHelm{Parameters: []fleet.HelmParameter{{Name: "image", Value: "$ARGOCD_APP_NAME-${ARGOCD_APP_NAMESPACE}-$$"}}},
			`{"image":"web-ns-$","list":["a"],"replicas":1,"sub":{"enabled":true,"global":{}}}`},
		{"missing value file ignored", &fleet.ApplicationSourceHelm{ValueFiles: []string{"nope.yaml", "values-prod.yaml"}, IgnoreMissingValueFiles: true},
			`{"image":"nginx","list":["a"],"replicas":3,"sub":{"enabled":true,"global":{}}}`},
	} {
		if got := render(tt.h); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// TestHelmCapabilities gives charts the cluster's capabilities, the
// Application's overriding them, and shares a build only between
// clusters whose capabilities are the same.
func TestHelmCapabilities(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, chartFiles())
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	a := helmApp("web", "ns", &fleet.ApplicationSourceHelm{ReleaseName: "web"})
	render := func(app *fleet.Application, caps fleet.Capabilities) map[string]string {
		t.Helper()
		out, err := b.RenderFor(t.Context(), app, caps)
		if err != nil {
			t.Fatal(err)
		}
		return configData(t, out.Objects())
	}
	old := fleet.Capabilities{KubeVersion: "1.29.3"}
	withAPI := fleet.Capabilities{KubeVersion: "v1.31.0", APIVersions: []string{"example.com/v9"}}
	if d := render(a, old); d["kube"] != "v1.29.3" || d["example"] != "" {
		t.Errorf("old cluster: %v", d)
	}
	if d := render(a, withAPI); d["kube"] != "v1.31.0" || d["example"] != "yes" {
		t.Errorf("cluster with API: %v", d)
	}
	render(a, old)
	if n := b.Builds(); n != 2 {
		t.Errorf("%d builds for two capability sets, want 2", n)
	}
	override := helmApp("web", "ns", &fleet.ApplicationSourceHelm{ReleaseName: "web", KubeVersion: "1.33.0", APIVersions: []string{"v1"}})
	if d := render(override, withAPI); d["kube"] != "v1.33.0" || d["example"] != "" {
		t.Errorf("application's capabilities do not replace the cluster's: %v", d)
	}
}

// TestHelmRefValueFiles resolves $ref value files in the ref source's
// checkout.
func TestHelmRefValueFiles(t *testing.T) {
	t.Parallel()
	chartDir := gittest.Files(t, chartFiles())
	valuesDir := gittest.Files(t, map[string]string{"clusters/prod.yaml": "replicas: 4\n"})
	b := NewBuilder(repoMap{"https://example.com/r.git": chartDir, "https://example.com/values.git": valuesDir}, fleet.PolicyConfig{})
	a := &fleet.Application{}
	a.Metadata.Name = "web"
	a.Spec.Sources = []fleet.ApplicationSource{
		{RepoURL: "https://example.com/r.git", Path: "charts/web", Helm: &fleet.ApplicationSourceHelm{ValueFiles: []string{"$values/clusters/prod.yaml"}}},
		{RepoURL: "https://example.com/values.git", Ref: "values"},
	}
	out, err := b.Render(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if got := configData(t, out.Objects())["values"]; !strings.Contains(got, `"replicas":4`) {
		t.Errorf("$values file not applied: %s", got)
	}
}

type repoMap map[string]string

func (r repoMap) Checkout(_ context.Context, repoURL, _ string) (string, string, error) {
	d, ok := r[repoURL]
	if !ok {
		return "", "", errors.New("no such repository")
	}
	return d, "", nil
}

// TestHelmErrors checks that bad input fails with an error naming the
// chart, its version and the file at fault.
func TestHelmErrors(t *testing.T) {
	t.Parallel()
	files := chartFiles()
	files["bad/Chart.yaml"] = "apiVersion: v2\nname: bad\nversion: 0.0.1\n"
	files["bad/templates/x.yaml"] = "a: {{ required \"need x\" .Values.x }}\n"
	files["nodep/Chart.yaml"] = "apiVersion: v2\nname: nodep\nversion: 0.0.2\ndependencies:\n- name: gone\n  version: 1.0.0\n  repository: \"@stable\"\n"
	files["lib/Chart.yaml"] = "apiVersion: v2\nname: lib\nversion: 0.0.3\ntype: library\n"
	files["leak/Chart.yaml"] = "apiVersion: v2\nname: leak\nversion: 0.0.4\n"
	dir := gittest.Files(t, files)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte("kind: Secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "leak", "templates")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "env", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	at := func(path string, h *fleet.ApplicationSourceHelm) *fleet.Application {
		a := helmApp("app-"+strings.ReplaceAll(path, "/", "-"), "ns", h)
		a.Spec.Source.Path = path
		return a
	}
	for _, tt := range []struct {
		name string
		app  *fleet.Application
		want []string
		is   error
	}{
		{"template error with file:line", at("bad", nil), []string{"chart bad version 0.0.1", "bad/templates/x.yaml:1", "need x"}, nil},
		{"schema violation", helmApp("s", "ns", &fleet.ApplicationSourceHelm{Values: "replicas: many\n"}), []string{"chart web version 1.2.3", "replicas"}, nil},
		{"missing value file", helmApp("m", "ns", &fleet.ApplicationSourceHelm{ValueFiles: []string{"nope.yaml"}}), []string{"chart web version 1.2.3", `value file "nope.yaml"`, "charts/web/nope.yaml does not exist"}, ErrValueFile},
		{"missing file parameter", helmApp("f", "ns", &fleet.ApplicationSourceHelm{FileParameters: []fleet.HelmFileParameter{{Name: "x", Path: "nope.txt"}}}), []string{"file parameter x", "nope.txt"}, ErrValueFile},
		{"missing dependency", at("nodep", nil), []string{"chart nodep version 0.0.2", "gone"}, helm.ErrMissingDependency},
		{"unknown $ref", helmApp("r", "ns", &fleet.ApplicationSourceHelm{ValueFiles: []string{"$vals/x.yaml"}}), []string{"chart web version 1.2.3", "$vals"}, ErrUnknownRef},
		{"value file leaves the repository", helmApp("e", "ns", &fleet.ApplicationSourceHelm{ValueFiles: []string{"../../../x.yaml"}}), []string{`value file "../../../x.yaml"`}, ErrEscape},
		{"value file through a link out", helmApp("l", "ns", &fleet.ApplicationSourceHelm{ValueFiles: []string{"/env/link.yaml"}}), []string{`link.yaml`}, ErrEscape},
		{"chart folder linked out", at("leak", nil), []string{"leak/templates"}, ErrEscape},
		{"library chart", at("lib", nil), []string{"library charts are not installable"}, nil},
		{"bad kube version", helmApp("k", "ns", &fleet.ApplicationSourceHelm{KubeVersion: "banana"}), []string{`kube version "banana"`}, nil},
	} {
		_, err := b.Render(t.Context(), tt.app)
		var re *Error
		if err == nil || !errors.As(err, &re) || re.App != tt.app.Metadata.Name {
			t.Errorf("%s: got %v", tt.name, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\ndoes not say %q", tt.name, err, w)
			}
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: %v is not %v", tt.name, err, tt.is)
		}
	}
}

// TestHelmChartRepositorySource renders a chart from a real chart
// repository (TLS, index.yaml) with a semver constraint, value files
// from the chart archive and from a $ref source, and builds it once for
// the Applications that share every input.
func TestHelmChartRepositorySource(t *testing.T) {
	t.Parallel()
	tmpl := map[string]string{
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata: {greeting: {{ .Values.greeting | quote }}, version: {{ .Chart.Version | quote }}}\n",
		"values-prod.yaml":  "greeting: prod\n",
	}
	srv, hits := helmtest.Repo(t, "", "", func(dir string) {
		helmtest.Chart(t, dir, "web", "1.0.0", tmpl, map[string]any{"greeting": "hello"})
		helmtest.Chart(t, dir, "web", "1.1.0", tmpl, map[string]any{"greeting": "hello"})
	})
	valuesDir := gittest.Files(t, map[string]string{"prod.yaml": "greeting: from-ref\n"})
	b := NewBuilder(repoMap{"https://example.com/values.git": valuesDir}, fleet.PolicyConfig{})
	b.Charts.Client = helmtest.Client(srv)
	mk := func(name string, h *fleet.ApplicationSourceHelm) *fleet.Application {
		a := &fleet.Application{}
		a.Metadata.Name = name
		a.Spec.Destination.Namespace = "ns"
		a.Spec.Sources = []fleet.ApplicationSource{
			{RepoURL: srv.URL, Chart: "web", TargetRevision: "^1.0.0", Helm: h},
			{RepoURL: "https://example.com/values.git", Ref: "values"},
		}
		return a
	}
	for _, tt := range []struct {
		h    *fleet.ApplicationSourceHelm
		want string
	}{
		{&fleet.ApplicationSourceHelm{ReleaseName: "web"}, "hello"},
		{&fleet.ApplicationSourceHelm{ReleaseName: "web", ValueFiles: []string{"values-prod.yaml"}}, "prod"},
		{&fleet.ApplicationSourceHelm{ReleaseName: "web", ValueFiles: []string{"values-prod.yaml", "$values/prod.yaml"}}, "from-ref"},
	} {
		out, err := b.Render(t.Context(), mk("a", tt.h))
		if err != nil {
			t.Fatal(err)
		}
		d := configData(t, out.Objects())
		if d["greeting"] != tt.want || d["version"] != "1.1.0" {
			t.Errorf("%v: got %v, want greeting %s of 1.1.0", tt.h.ValueFiles, d, tt.want)
		}
		if s := out.Sources[0]; s.Chart != "web" || s.TargetRevision != "1.1.0" || !strings.HasPrefix(s.Digest, "sha256:") {
			t.Errorf("source recorded as %+v", s)
		}
	}
	before := b.Builds()
	for _, name := range []string{"b", "c", "d"} {
		if _, err := b.Render(t.Context(), mk(name, &fleet.ApplicationSourceHelm{ReleaseName: "web"})); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Builds() - before; n != 0 {
		t.Errorf("%d more builds for Applications with the same inputs, want 0", n)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the index and one archive)", n)
	}
	_, err := b.Render(t.Context(), mk("e", &fleet.ApplicationSourceHelm{ValueFiles: []string{"nope.yaml"}}))
	if !errors.Is(err, ErrValueFile) || !strings.Contains(err.Error(), "chart web version 1.1.0") {
		t.Errorf("missing value file in a chart archive: %v", err)
	}
}

// TestHelmDependencyBuild fetches the dependencies a chart in Git does
// not vendor, as `helm dependency build`: the Chart.lock version from
// the chart repository, and file:// charts of the same repository (not
// outside it).
func TestHelmDependencyBuild(t *testing.T) {
	t.Parallel()
	tmpl := map[string]string{"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-web}\ndata: {version: {{ .Chart.Version | quote }}}\n"}
	srv, _ := helmtest.Repo(t, "", "", func(dir string) {
		helmtest.Chart(t, dir, "web", "1.0.0", tmpl, nil)
		helmtest.Chart(t, dir, "web", "1.1.0", tmpl, nil)
	})
	deps := "dependencies:\n- name: web\n  version: ^1.0.0\n  repository: " + srv.URL + "\n- name: local\n  version: 0.1.0\n  repository: file://../local\n"
	dir := gittest.Files(t, map[string]string{
		"app/Chart.yaml":           "apiVersion: v2\nname: app\nversion: 0.0.1\n" + deps,
		"app/Chart.lock":           "dependencies:\n- name: web\n  version: 1.0.0\n  repository: " + srv.URL + "\n- name: local\n  version: 0.1.0\n  repository: file://../local\ndigest: sha256:0\ngenerated: \"2026-01-01T00:00:00Z\"\n",
		"unlocked/Chart.yaml":      "apiVersion: v2\nname: unlocked\nversion: 0.0.1\ndependencies:\n- name: web\n  version: ^1.0.0\n  repository: " + srv.URL + "\n",
		"escape/Chart.yaml":        "apiVersion: v2\nname: escape\nversion: 0.0.1\ndependencies:\n- name: x\n  version: 0.1.0\n  repository: file://../../../outside\n",
		"local/Chart.yaml":         "apiVersion: v2\nname: local\nversion: 0.1.0\n",
		"local/templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}-local}\nspec: {ports: [{port: 80}]}\n",
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	b.Charts.Client = helmtest.Client(srv)
	render := func(path string) (*Output, error) {
		a := helmApp("r", "ns", nil)
		a.Spec.Source.Path = path
		return b.Render(t.Context(), a)
	}
	out, err := render("app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ConfigMap/ns/r-web", "Service/ns/r-local"}, sortedCopy(ids(out.Objects()))); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if v := configData(t, out.Objects())["version"]; v != "1.0.0" {
		t.Errorf("dependency version %s, want 1.0.0 (Chart.lock)", v)
	}
	if out, err = render("unlocked"); err != nil || configData(t, out.Objects())["version"] != "1.1.0" {
		t.Errorf("without Chart.lock: %v, want the newest version matching ^1.0.0", err)
	}
	if _, err := render("escape"); !errors.Is(err, helm.ErrMissingDependency) || !errors.Is(err, ErrEscape) {
		t.Errorf("file:// dependency out of the repository: %v", err)
	}
}

// TestHelmSharedBuildsWithRefValues: Applications of different names
// whose inputs are equal share one build also when their value files come
// from a ref source ("$values/..." is no use of Argo CD's environment);
// a value file path or a parameter that names $ARGOCD_APP_NAME makes
// each Application its own build, with its own output.
func TestHelmSharedBuildsWithRefValues(t *testing.T) {
	t.Parallel()
	chartDir := gittest.Files(t, chartFiles())
	valuesDir := gittest.Files(t, map[string]string{"clusters/prod.yaml": "replicas: 4\n", "apps/web-b.yaml": "replicas: 7\n"})
	mk := func(name string, h fleet.ApplicationSourceHelm) *fleet.Application {
		a := &fleet.Application{}
		a.Metadata.Name = name
		a.Spec.Destination.Namespace = "ns"
		h.ReleaseName = "web"
		a.Spec.Sources = []fleet.ApplicationSource{
			{RepoURL: "https://example.com/r.git", Path: "charts/web", Helm: &h},
			{RepoURL: "https://example.com/values.git", Ref: "values"},
		}
		return a
	}
	for _, tt := range []struct {
		name   string
		h      fleet.ApplicationSourceHelm
		builds int64
		want   map[string]string // app → a piece of its values
	}{
		{"ref value file", fleet.ApplicationSourceHelm{ValueFiles: []string{"$values/clusters/prod.yaml"}}, 1,
			map[string]string{"web-a": `"replicas":4`, "web-b": `"replicas":4`, "web-c": `"replicas":4`}},
		{"app name in a ref value file", fleet.ApplicationSourceHelm{ValueFiles: []string{"$values/apps/$ARGOCD_APP_NAME.yaml"}, IgnoreMissingValueFiles: true}, 3,
			map[string]string{"web-a": `"replicas":1`, "web-b": `"replicas":7`, "web-c": `"replicas":1`}},
		{"app name in a parameter", fleet.ApplicationSourceHelm{ValueFiles: []string{"$values/clusters/prod.yaml"}, Parameters: []fleet.HelmParameter{{Name: "app", Value: "${ARGOCD_APP_NAME}"}}}, 3,
			map[string]string{"web-a": `"app":"web-a"`, "web-b": `"app":"web-b"`, "web-c": `"app":"web-c"`}},
	} {
		b := NewBuilder(repoMap{"https://example.com/r.git": chartDir, "https://example.com/values.git": valuesDir}, fleet.PolicyConfig{})
		for _, app := range []string{"web-a", "web-b", "web-c"} {
			out, err := b.Render(t.Context(), mk(app, tt.h))
			if err != nil {
				t.Fatalf("%s: %s: %v", tt.name, app, err)
			}
			if got := configData(t, out.Objects())["values"]; !strings.Contains(got, tt.want[app]) {
				t.Errorf("%s: %s: values %s, want %s in them", tt.name, app, got, tt.want[app])
			}
		}
		if n := b.Builds(); n != tt.builds {
			t.Errorf("%s: %d builds for 3 Applications, want %d", tt.name, n, tt.builds)
		}
	}
}
