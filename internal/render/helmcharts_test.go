package render

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
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
		// chartHome and a Kustomization file of another name.
		"home/Kustomization": "helmGlobals: {chartHome: vendor}\nhelmCharts:\n- {name: web, releaseName: home, namespace: h}\n",
	}
	for p, v := range chartDirFiles("local/charts/web", "web", "0.5.0") {
		files[p] = v
	}
	for p, v := range chartDirFiles("pulled/charts/web-0.9.0/web", "web", "0.9.0") {
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
	for _, dir := range []string{"local", "repo", "oci", "overlay", "pulled", "order", "home"} {
		t.Run(dir, func(t *testing.T) {
			rfs, err := newRootedFS(root, &realPaths{})
			if err != nil {
				t.Fatal(err)
			}
			before := s.repoHits.Load()
			objs, _, err := buildKustomize(rfs, filepath.Join(root, dir), nil, fleet.PolicyConfig{}, helmBuild{ctx: t.Context(), charts: s.fetcher(), caps: caps})
			if err != nil {
				t.Fatal(err)
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
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kubectl kustomize: %v\n%s", err, stderr.String())
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
