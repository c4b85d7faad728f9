package render

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v4/pkg/registry"
	"sigs.k8s.io/kustomize/kyaml/kio"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/render/helm"
	"github.com/flotilla-dev/flotilla/internal/render/helm/helmtest"
)

// chartTemplates: release name and namespace, values, capabilities, a
// hook, a test hook and a CRD.
var chartTemplates = map[string]string{
	"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cfg
  namespace: {{ .Release.Namespace }}
data:
  greeting: {{ .Values.greeting | quote }}
  color: {{ .Values.color | quote }}
  list: {{ .Values.list | toJson | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  {{- if .Capabilities.APIVersions.Has "example.com/v9" }}
  example: "yes"
  {{- end }}
  chart: {{ .Chart.Name }}-{{ .Chart.Version }}
`,
	"templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-web}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:{{ .Values.tag }}"}]}
`,
	"templates/hook.yaml":    "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations: {\"helm.sh/hook\": pre-install}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox}]}}}\n",
	"templates/tests/t.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations: {\"helm.sh/hook\": test}\nspec: {containers: [{name: t, image: busybox}]}\n",
	"crds/widget.yaml":       "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced, versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]}\n",
}

var chartValues = map[string]any{"greeting": "hello", "color": "blue", "list": []any{"a", "b"}, "replicas": 1, "tag": "1.0", "nested": map[string]any{"x": 1, "y": 2}}

// chartDirFiles is chartTemplates as a chart directory at dir.
func chartDirFiles(dir, name, version string) map[string]string {
	files := map[string]string{
		dir + "/Chart.yaml":  fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version),
		dir + "/values.yaml": "greeting: hello\ncolor: blue\nlist: [a, b]\nreplicas: 1\ntag: '1.0'\nnested: {x: 1, y: 2}\n",
	}
	for p, text := range chartTemplates {
		files[dir+"/"+p] = text
	}
	return files
}

// chartServers serves chart web (1.0.0, 1.1.0) from a real https chart
// repository and a real OCI registry (charts/web) over TLS.
type chartServers struct {
	repo, oci *httptest.Server
	ociHost   string
	repoHits  *atomic.Int64
	ociHits   atomic.Int64
}

func newChartServers(t *testing.T) *chartServers {
	t.Helper()
	s := &chartServers{}
	s.repo, s.repoHits = helmtest.Repo(t, "", "", func(dir string) {
		for _, v := range []string{"1.0.0", "1.1.0"} {
			helmtest.Chart(t, dir, "web", v, chartTemplates, chartValues)
		}
		helmtest.Chart(t, dir, "plain", "0.1.0", map[string]string{"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: b}\n"}, map[string]any{})
		helmtest.Chart(t, dir, "novalues", "0.1.0", map[string]string{"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nv}\n"}, nil)
	})
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	s.oci = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ociHits.Add(1)
		reg.ServeHTTP(w, r)
	}))
	s.oci.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.oci.StartTLS()
	t.Cleanup(s.oci.Close)
	s.ociHost = strings.TrimPrefix(s.oci.URL, "https://")
	client, err := registry.NewClient(registry.ClientOptHTTPClient(helmtest.Client(s.oci)), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range []string{"2.0.0", "2.1.0"} {
		data, err := os.ReadFile(helmtest.Chart(t, dir, "web", v, chartTemplates, chartValues))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Push(data, s.ociHost+"/charts/web:"+v); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// fetcher trusts both servers.
func (s *chartServers) fetcher() *helm.Fetcher {
	c := helmtest.Client(s.repo)
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(s.oci.Certificate())
	return &helm.Fetcher{Client: c}
}

// certFile is a PEM bundle of both servers' certificates, for the helm
// CLI (SSL_CERT_FILE).
func (s *chartServers) certFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	var b bytes.Buffer
	for _, srv := range []*httptest.Server{s.repo, s.oci} {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// kustomizeHelmCLI returns kubectl and the helm CLI of the SDK's
// version, or skips.
func kustomizeHelmCLI(t *testing.T) (kubectl, helmCLI string) {
	t.Helper()
	dir := os.Getenv("FLOTILLA_BIN")
	if dir == "" {
		wd, _ := os.Getwd()
		for dir = wd; filepath.Dir(dir) != dir; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
		}
		dir = filepath.Join(dir, "bin")
	}
	kubectl, helmCLI = filepath.Join(dir, "kubectl"), filepath.Join(dir, "helm-v4.3.1", "helm")
	for _, p := range []string{kubectl, helmCLI} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing: build the test tools with `make tools` (or set FLOTILLA_BIN)", p)
		}
	}
	return kubectl, helmCLI
}

// copyTree copies dir (kustomize pulls charts into the kustomization's
// chart home, so the CLI gets a copy).
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// decodeStream decodes a YAML stream into objects as JSON values.
func decodeStream(t *testing.T, data []byte) []any {
	t.Helper()
	nodes, err := kio.FromBytes(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	out := []any{}
	for _, n := range nodes {
		j, err := n.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(j, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func kustomizeCorpus(s *chartServers) map[string]string {
	repo, oci := s.repo.URL, "oci://"+s.ociHost+"/charts"
	files := map[string]string{
		// A chart in charts/, inline values over its values.yaml, with
		// resources, a generator and a patch over the chart's output,
		// under a namespace the chart's objects keep.
		"local/kustomization.yaml": `namespace: kns
resources: [cm.yaml]
configMapGenerator: [{name: gen, literals: [a=b]}]
helmCharts:
- name: web
  releaseName: loc
  valuesInline: {greeting: inline, list: [c], nested: {x: 9}, replicas: 3}
patches:
- target: {kind: Deployment}
  patch: '[{"op": "add", "path": "/spec/minReadySeconds", "value": 7}]'
`,
		"local/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
		// From the https repository: valuesFile, additionalValuesFiles,
		// CRDs, the chart's namespace, a constraint.
		"repo/kustomization.yaml": `helmCharts:
- name: web
  repo: ` + repo + `
  version: ^1.0.0
  releaseName: fromrepo
  namespace: team
  includeCRDs: true
  valuesFile: values/main.yaml
  additionalValuesFiles: [values/extra.yaml]
  apiVersions: [example.com/v9]
  kubeVersion: "1.31.0"
`,
		"repo/values/main.yaml":  "greeting: main\ntag: '2.0'\n",
		"repo/values/extra.yaml": "color: green\n",
		// From the OCI registry: merge, no CRDs, tests and hooks left out.
		"oci/kustomization.yaml": `helmCharts:
- name: web
  repo: ` + oci + `
  version: 2.0.0
  releaseName: fromoci
  valuesMerge: merge
  valuesInline: {greeting: ignored-by-merge, extra: x}
  skipTests: true
- name: web
  repo: ` + oci + `/
  version: 2.1.0
  releaseName: nohooks
  skipHooks: true
  valuesMerge: replace
  valuesInline: {replicas: 2, tag: "3", greeting: only, color: c, list: []}
`,
		// A base with charts under an overlay: the overlay's namespace
		// reaches helm, its patch the chart's objects.
		"base/kustomization.yaml": "helmCharts:\n- {name: web, repo: " + repo + ", version: 1.0.0, releaseName: based}\nresources: [cm.yaml]\n",
		"base/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base-plain}\n",
		"overlay/kustomization.yaml": `namespace: over
namePrefix: o-
resources: [../base]
patches:
- target: {kind: ConfigMap, name: based-cfg}
  patch: '[{"op": "add", "path": "/data/patched", "value": "yes"}]'
`,
		// A chart already pulled where Kustomize keeps it: no fetch (the
		// repository does not answer).
		"pulled/kustomization.yaml": "helmCharts:\n- {name: web, repo: https://127.0.0.1:1/charts, version: 0.9.0, releaseName: pulled}\n",
		// Generator order (fifo), origin annotations, a component after
		// the charts, no release name for a chart that does not use it,
		// the deprecated field.
		"order/kustomization.yaml": `sortOptions: {order: fifo}
buildMetadata: [originAnnotations]
resources: [cm.yaml]
configMapGenerator: [{name: gen, literals: [a=b]}]
helmCharts:
- {name: plain, repo: ` + repo + `, version: 0.1.0}
components: [comp]
helmChartInflationGenerator:
- {chartName: web, chartRepoUrl: ` + repo + `, chartVersion: 1.1.0, releaseName: old}
`,
		"order/cm.yaml":                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n",
		"order/comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [last.yaml]\n",
		"order/comp/last.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: last}\n",
		// valuesFile, valuesInline over it and additionalValuesFiles last.
		"values/kustomization.yaml": `helmCharts:
- name: web
  releaseName: vals
  valuesFile: main.yaml
  valuesInline: {greeting: inline, nested: {y: 5}}
  additionalValuesFiles: [extra.yaml, extra2.yaml]
`,
		"values/main.yaml":   "greeting: main\ncolor: red\nnested: {x: 3}\nlist: [m]\n",
		"values/extra.yaml":  "color: extra\ntag: '9'\n",
		"values/extra2.yaml": "tag: '10'\n",
		// Both fail: a pulled chart without values.yaml, no chart and no
		// repo, a value file above the kustomization.
		"fail-novalues/kustomization.yaml": "helmCharts:\n- {name: novalues, repo: " + repo + ", version: 0.1.0, releaseName: r}\n",
		"fail-norepo/kustomization.yaml":   "helmCharts:\n- {name: nothere, releaseName: r}\n",
		"fail-restrict/kustomization.yaml": "helmCharts:\n- {name: web, releaseName: r, additionalValuesFiles: [../values/extra.yaml]}\n",
		// chartHome and a Kustomization file of another name.
		"home/Kustomization": "helmGlobals: {chartHome: vendor}\nhelmCharts:\n- {name: web, releaseName: home, namespace: h}\n",
	}
	for p, v := range chartDirFiles("local/charts/web", "web", "0.5.0") {
		files[p] = v
	}
	for p, v := range chartDirFiles("pulled/charts/web-0.9.0/web", "web", "0.9.0") {
		files[p] = v
	}
	for p, v := range chartDirFiles("values/charts/web", "web", "0.7.0") {
		files[p] = v
	}
	for p, v := range chartDirFiles("fail-restrict/charts/web", "web", "0.7.0") {
		files[p] = v
	}
	for p, v := range chartDirFiles("home/vendor/web", "web", "0.6.0") {
		files[p] = v
	}
	return files
}

// TestHelmChartsFidelity builds kustomizations with helmCharts in process
// and with `kubectl kustomize --enable-helm` running the real helm CLI,
// and wants the same objects in the same order.
func TestHelmChartsFidelity(t *testing.T) {
	kubectl, helmCLI := kustomizeHelmCLI(t)
	s := newChartServers(t)
	root := gittest.Files(t, kustomizeCorpus(s))
	certs := s.certFile(t)
	caps := fleet.Capabilities{KubeVersion: "v1.33.2", APIVersions: []string{"example.com/v9"}}
	for _, dir := range []string{"local", "repo", "oci", "overlay", "pulled", "order", "home", "values", "fail-novalues", "fail-norepo", "fail-restrict"} {
		t.Run(dir, func(t *testing.T) {
			rfs, err := newRootedFS(root, &realPaths{})
			if err != nil {
				t.Fatal(err)
			}
			before := s.repoHits.Load()
			objs, _, buildErr := buildKustomize(rfs, filepath.Join(root, dir), nil, fleet.PolicyConfig{}, helmBuild{ctx: t.Context(), charts: s.fetcher(), caps: caps})
			fail := strings.HasPrefix(dir, "fail-")
			if buildErr != nil && !fail {
				t.Fatal(buildErr)
			}
			if dir == "pulled" && s.repoHits.Load() != before {
				t.Error("a chart present in the chart home was fetched")
			}
			j, err := json.Marshal(objs)
			if err != nil {
				t.Fatal(err)
			}
			var got []any
			if err := json.Unmarshal(j, &got); err != nil {
				t.Fatal(err)
			}
			cliRoot := copyTree(t, root)
			home := t.TempDir()
			cmd := exec.Command(kubectl, "kustomize", "--enable-helm", "--helm-command", helmCLI,
				"--helm-kube-version", caps.KubeVersion, "--helm-api-versions", caps.APIVersions[0], filepath.Join(cliRoot, dir))
			cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+certs, "HOME="+home, "KUBECONFIG="+filepath.Join(home, "none"), "HELM_NAMESPACE=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, cliErr := cmd.Output()
			if fail {
				if buildErr == nil || cliErr == nil {
					t.Errorf("want both to fail: flotilla %v; kubectl kustomize %v", buildErr, cliErr)
				}
				return
			}
			if cliErr != nil {
				t.Fatalf("kubectl kustomize: %v\n%s", cliErr, stderr.String())
			}
			want := decodeStream(t, out)
			if dir != "order" {
				// Kustomize's CLI sorts (--reorder legacy), krusty's
				// default keeps the order it made, and Flotilla sorts.
				sortObjects(want)
				sortObjects(got)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Flotilla and kubectl kustomize --enable-helm differ (-kubectl +flotilla):\n%s", diff)
			}
			if len(want) == 0 {
				t.Error("no objects")
			}
		})
	}
}

func sortObjects(objs []any) {
	key := func(o any) string {
		m, _ := o.(map[string]any)
		md, _ := m["metadata"].(map[string]any)
		return fmt.Sprint(m["apiVersion"], "/", m["kind"], "/", md["namespace"], "/", md["name"])
	}
	slices.SortStableFunc(objs, func(a, b any) int { return strings.Compare(key(a), key(b)) })
}

// helmChartsApp is an Application of the kustomization at path.
func helmChartsApp(name, path string) *fleet.Application {
	return app(name, path, "dest", nil, nil)
}

// TestHelmChartsErrors: each way an entry fails is reported with the
// application, the kustomization file, the entry, the chart and version.
func TestHelmChartsErrors(t *testing.T) {
	t.Parallel()
	s := newChartServers(t)
	repo := s.repo.URL
	k := func(entry string) string { return "helmCharts:\n- " + entry + "\n" }
	files := map[string]string{
		"unknown/kustomization.yaml":    k("{name: nope, repo: " + repo + ", version: 1.0.0, releaseName: r}"),
		"version/kustomization.yaml":    k("{name: web, repo: " + repo + ", version: 9.9.9, releaseName: r}"),
		"ocitag/kustomization.yaml":     k("{name: web, repo: \"oci://" + s.ociHost + "/charts\", version: 9.9.9, releaseName: r}"),
		"norepo/kustomization.yaml":     k("{name: missing, releaseName: r}"),
		"novalues/kustomization.yaml":   k("{name: novalues, repo: " + repo + ", version: 0.1.0, releaseName: r}"),
		"valuesfile/kustomization.yaml": k("{name: web, releaseName: r, valuesFile: nope.yaml}"),
		"restrict/kustomization.yaml":   k("{name: web, releaseName: r, additionalValuesFiles: [../shared/v.yaml]}"),
		"shared/v.yaml":                 "greeting: shared\n",
		"both/kustomization.yaml":       k("{name: web, releaseName: r, nameTemplate: x}"),
		"noname/kustomization.yaml":     k("{name: web}"),
		"template/kustomization.yaml":   k("{name: web, releaseName: r}"),
		"merge/kustomization.yaml":      k("{name: web, releaseName: r, valuesMerge: deep}"),
		"gitrepo/kustomization.yaml":    k("{name: web, repo: \"git::https://example.com/charts\", version: 1.0.0, releaseName: r}"),
		"escape/kustomization.yaml":     "helmGlobals: {chartHome: out}\n" + k("{name: web, releaseName: r}"),
		"taken/kustomization.yaml":      k("{name: web, releaseName: r}"),
		"taken/.flotilla-helmcharts/x":  "",
		"ns/kustomization.yaml":         "resources: [a, b]\n",
		"ns/a/kustomization.yaml":       "namespace: a\nresources: [../../nsbase]\n",
		"ns/b/kustomization.yaml":       "namespace: b\nnamePrefix: b-\nresources: [../../nsbase]\n",
		"nsbase/kustomization.yaml":     k("{name: plain, repo: " + repo + ", version: 0.1.0, releaseName: r}"),
	}
	for _, d := range []string{"valuesfile", "restrict", "both", "noname", "template", "merge", "taken"} {
		for p, v := range chartDirFiles(d+"/charts/web", "web", "0.5.0") {
			files[p] = v
		}
	}
	files["noname/charts/web/templates/cm.yaml"] = chartTemplates["templates/cm.yaml"]
	files["template/charts/web/templates/bad.yaml"] = "{{ required \"need .Values.missing\" .Values.missing }}\n"
	root := gittest.Files(t, files)
	outside := gittest.Files(t, chartDirFiles("web", "web", "6.6.6"))
	if err := os.Symlink(outside, filepath.Join(root, "escape", "out")); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
	b.Charts = s.fetcher()
	for _, tt := range []struct {
		dir, entry string
		is         error
		want       string
	}{
		{"unknown", "helmCharts[0]: chart nope version 1.0.0", helm.ErrChartNotFound, "from " + repo},
		{"version", "helmCharts[0]: chart web version 9.9.9", helm.ErrChartNotFound, "from " + repo},
		{"ocitag", "helmCharts[0]: chart web version 9.9.9", helm.ErrChartNotFound, s.ociHost + "/charts/web"},
		{"norepo", "helmCharts[0]: chart missing version (any)", nil, "no chart at norepo/charts/missing and no repo to pull it from (vendor the chart there, or set repo)"},
		{"novalues", "chart novalues version 0.1.0", ErrValueFile, "the chart has no values.yaml"},
		{"valuesfile", "chart web version (any)", ErrValueFile, "valuesFile \"nope.yaml\""},
		{"restrict", "chart web version (any)", nil, "shared/v.yaml is not in or below the kustomization's directory restrict"},
		{"both", "chart web version (any)", nil, "releaseName and nameTemplate are both set"},
		{"noname", "chart web version (any)", nil, "set releaseName"},
		{"template", "chart web version (any)", nil, "web/templates/bad.yaml:1"},
		{"merge", "chart web version (any)", nil, "valuesMerge must be one of"},
		{"gitrepo", "chart web version 1.0.0", nil, "not a chart repository URL"},
		{"escape", "chart web version (any)", ErrEscape, "chart home escape/out/web"},
		{"taken", "", ErrHelmChart, "taken/.flotilla-helmcharts exists"},
		{"ns", "", ErrHelmChart, "different namespaces (\"a\" and \"b\")"},
	} {
		_, err := b.Render(t.Context(), helmChartsApp("web", tt.dir))
		if err == nil {
			t.Errorf("%s: no error", tt.dir)
			continue
		}
		file := tt.dir + "/kustomization.yaml"
		if tt.dir == "ns" {
			file = "nsbase/kustomization.yaml"
		}
		for _, s := range []string{"application web", file, tt.entry, tt.want} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", tt.dir, err, s)
			}
		}
		if !errors.Is(err, ErrHelmChart) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("%s: %v is not ErrHelmChart and %v", tt.dir, err, tt.is)
		}
		if strings.Contains(err.Error(), "6.6.6") {
			t.Errorf("%s: the error quotes a chart outside the repository: %v", tt.dir, err)
		}
	}
	// The allowlist applies to helmCharts.
	b = NewBuilder(diskRepo(root), fleet.PolicyConfig{})
	b.Charts = s.fetcher()
	b.Charts.Allow = []string{"https://charts.example.com"}
	before := s.repoHits.Load()
	if _, err := b.Render(t.Context(), helmChartsApp("web", "unknown")); !errors.Is(err, helm.ErrNotAllowed) {
		t.Errorf("repository outside the allowlist: %v", err)
	}
	if s.repoHits.Load() != before {
		t.Error("a repository outside the allowlist was asked")
	}
}

// TestHelmChartsRemoteGuard: value files and chart homes given as URLs
// are refused in every form (with or without allowRemoteResources:
// Flotilla reads them only from the repository), repos go to the
// Fetcher only (its allowlist refuses them here), and what Kustomize
// itself would fetch beside helmCharts is still refused. Nothing
// connects, nothing is left in the temporary directory or the cache.
func TestHelmChartsRemoteGuard(t *testing.T) {
	w := newRemoteWorld(t)
	base, cacheDir, watch := t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", watch)
	n := 0
	for scheme, u := range w.urls() {
		q := fmt.Sprintf("%q", u)
		for _, tt := range []struct {
			name, kust, want string
			is               error
		}{
			{"valuesFile", "helmCharts: [{name: web, releaseName: r, valuesFile: " + q + "}]\n", "helmCharts[0]: chart web version (any): valuesFile", errRemoteValues},
			{"additionalValuesFiles", "helmCharts: [{name: web, releaseName: r, additionalValuesFiles: [v.yaml, " + q + "]}]\n", "additionalValuesFiles[1]", errRemoteValues},
			{"deprecated values", "helmChartInflationGenerator: [{chartName: web, releaseName: r, values: " + q + "}]\n", "helmCharts[0]: chart web version (any): valuesFile", errRemoteValues},
			{"chartHome", "helmGlobals: {chartHome: " + q + "}\nhelmCharts: [{name: web, releaseName: r}]\n", "helmGlobals.chartHome", ErrHelmChart},
			{"repo", "helmCharts: [{name: web, version: 1.0.0, releaseName: r, repo: " + q + "}]\n", "helmCharts[0]: chart web version 1.0.0", ErrHelmChart},
			{"resources beside charts", "resources: [" + q + "]\nhelmCharts: [{name: web, releaseName: r}]\n", "resources[0]", ErrRemote},
			{"HelmChartInflationGenerator plugin", "generators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n  metadata: {name: h}\n  name: web\n  repo: " + q + "\n", "repo", ErrRemote},
		} {
			for _, allow := range []bool{false, true} {
				if allow && errors.Is(tt.is, ErrRemote) {
					continue
				}
				n++
				root := filepath.Join(base, fmt.Sprint(n))
				files := map[string]string{"app/kustomization.yaml": tt.kust, "app/v.yaml": "a: b\n"}
				for p, v := range chartDirFiles("app/charts/web", "web", "0.5.0") {
					files[p] = v
				}
				writeFiles(t, root, files)
				b := NewBuilder(diskRepo(root), fleet.PolicyConfig{AllowRemoteResources: allow})
				b.Cache = DirCache(cacheDir)
				b.Charts.Allow = []string{"https://charts.invalid"}
				_, err := b.Render(t.Context(), app("web", "app", "web", nil, nil))
				if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s/%s (allowRemoteResources %t): got %v, want %v naming %q", tt.name, scheme, allow, err, tt.is, tt.want)
				}
				if tt.name == "repo" && (strings.HasPrefix(strings.ToLower(u), "http://") || strings.HasPrefix(strings.ToLower(u), "https://")) && !errors.Is(err, helm.ErrNotAllowed) {
					t.Errorf("repo/%s: %v went past the Fetcher's allowlist", scheme, err)
				}
			}
		}
	}
	if c := w.conns.Load(); c != 0 {
		t.Errorf("%d connections to the remote server", c)
	}
	assertEmpty(t, watch, "the temporary directory")
	assertEmpty(t, cacheDir, "the build cache")
}

// TestHelmChartsCapabilities: charts of helmCharts see the destination
// cluster's kube version and API versions unless the entry sets them;
// builds are shared by clusters with the same capabilities only, while
// kustomizations without charts stay shared by all. Credentials of the
// Fetcher reach the repository; a second run with a warm cache makes no
// request.
func TestHelmChartsCapabilities(t *testing.T) {
	t.Parallel()
	srv, hits := helmtest.Repo(t, "u", "pw-charts", func(dir string) {
		helmtest.Chart(t, dir, "web", "1.0.0", chartTemplates, chartValues)
	})
	root := gittest.Files(t, map[string]string{
		"app/kustomization.yaml":    "helmCharts:\n- {name: web, repo: " + srv.URL + ", version: 1.0.0, releaseName: web}\n",
		"pinned/kustomization.yaml": "helmCharts:\n- {name: web, repo: " + srv.URL + ", version: 1.0.0, releaseName: web, kubeVersion: 1.29.0, apiVersions: [other/v1]}\n",
		"plain/kustomization.yaml":  "resources: [cm.yaml]\n",
		"plain/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
	})
	cache := t.TempDir()
	newBuilder := func() *Builder {
		b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
		b.Charts = &helm.Fetcher{Client: helmtest.Client(srv), CacheDir: cache, Credentials: []helm.Credential{{Prefix: srv.URL, Username: "u", Password: "pw-charts"}}}
		return b
	}
	b := newBuilder()
	old := fleet.Capabilities{KubeVersion: "v1.30.1"}
	modern := fleet.Capabilities{KubeVersion: "v1.34.0", APIVersions: []string{"example.com/v9"}}
	cfg := func(path string, caps fleet.Capabilities) map[string]string {
		t.Helper()
		out, err := b.RenderFor(t.Context(), helmChartsApp("web-"+path, path), caps)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Objects() {
			if o.GetKind() == "ConfigMap" {
				d, _, _ := unstructuredStrings(o.Object, "data")
				return d
			}
		}
		t.Fatal("no ConfigMap")
		return nil
	}
	if d := cfg("app", old); d["kube"] != "v1.30.1" || d["example"] != "" {
		t.Errorf("old cluster: %v", d)
	}
	if d := cfg("app", modern); d["kube"] != "v1.34.0" || d["example"] != "yes" {
		t.Errorf("modern cluster: %v", d)
	}
	if d := cfg("pinned", modern); d["kube"] != "v1.29.0" || d["example"] != "" {
		t.Errorf("entry's kubeVersion and apiVersions: %v", d)
	}
	builds := b.Builds()
	cfg("app", old)
	cfg("app", fleet.Capabilities{KubeVersion: "v1.30.1"})
	if n := b.Builds() - builds; n != 0 {
		t.Errorf("%d more builds for clusters with the same capabilities, want 0", n)
	}
	cfg("plain", old)
	builds = b.Builds()
	cfg("plain", modern)
	if n := b.Builds() - builds; n != 0 {
		t.Errorf("a kustomization without charts was built again for other capabilities")
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the index and the archive, once)", n)
	}
	before := hits.Load()
	b = newBuilder()
	cfg("app", old)
	if n := hits.Load() - before; n != 0 {
		t.Errorf("a warm cache made %d requests", n)
	}
}

func unstructuredStrings(obj map[string]any, field string) (map[string]string, bool, error) {
	m, ok := obj[field].(map[string]any)
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out, ok, nil
}

// TestHelmChartsNotCachedAcrossRuns: a build that inflates charts reads
// them outside the build record's questions, so it is never kept: a
// changed chart template shows in the next run.
func TestHelmChartsNotCachedAcrossRuns(t *testing.T) {
	t.Parallel()
	files := map[string]string{"app/kustomization.yaml": "helmCharts: [{name: web, releaseName: r}]\n"}
	for p, v := range chartDirFiles("app/charts/web", "web", "0.5.0") {
		files[p] = v
	}
	root := gittest.Files(t, files)
	cache := t.TempDir()
	greeting := func() string {
		b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
		b.Cache = DirCache(cache)
		out, err := b.Render(t.Context(), helmChartsApp("web", "app"))
		if err != nil {
			t.Fatal(err)
		}
		if b.CachedBuilds() != 0 {
			t.Error("a build with charts was reused from the cache")
		}
		for _, o := range out.Objects() {
			if o.GetKind() == "ConfigMap" {
				d, _, _ := unstructuredStrings(o.Object, "data")
				return d["greeting"]
			}
		}
		return ""
	}
	if g := greeting(); g != "hello" {
		t.Fatalf("greeting %q", g)
	}
	tmpl := filepath.Join(root, "app/charts/web/templates/cm.yaml")
	data, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmpl, bytes.Replace(data, []byte("{{ .Values.greeting | quote }}"), []byte(`"changed"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if g := greeting(); g != "changed" {
		t.Errorf("after the chart changed: greeting %q, want changed", g)
	}
}
