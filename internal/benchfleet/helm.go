package benchfleet

import (
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// Tiers are the values tiers of the Helm fleet: cluster i carries the
// label tier: Tiers[i%4], and each chart has a value file per tier.
var Tiers = []string{"bronze", "silver", "gold", "platinum"}

// KubeVersions are the clusters' spec.kubeVersion: cluster i runs
// KubeVersions[(i/4)%2], so every tier has clusters of both versions.
var KubeVersions = []string{"v1.33.4", "v1.34.1"}

// ChartVersion is the version of every chart in the Helm fleet's chart
// repository (exact, so a warm cache needs no index).
const ChartVersion = "1.0.0"

// Chart names chart c of the Helm fleet.
func Chart(c int) string { return fmt.Sprintf("chart-%02d", c) }

// Cluster names cluster i of either fleet.
func Cluster(i int) string { return fmt.Sprintf("cluster-%03d", i) }

// TierOf is the tier label of cluster i of the Helm fleet.
func TierOf(i int) string { return Tiers[i%len(Tiers)] }

// KubeVersionOf is the spec.kubeVersion of cluster i of the Helm fleet.
func KubeVersionOf(i int) string { return KubeVersions[(i/len(Tiers))%len(KubeVersions)] }

// WriteCharts writes the sources of nCharts charts below dir (one folder
// each, named by Chart): a Deployment, a Service, a ServiceAccount, a
// ConfigMap, a PodDisruptionBudget and an HPA behind a value, with
// helpers, as charts are commonly written.
func WriteCharts(dir string, nCharts int) error {
	for c := range nCharts {
		name := Chart(c)
		files := map[string]string{
			"Chart.yaml":  fmt.Sprintf("apiVersion: v2\nname: %s\ndescription: Service %d of the bench fleet.\nversion: %s\nappVersion: \"2.%d.0\"\n", name, c, ChartVersion, c),
			"values.yaml": "replicas: 1\nimage: {repository: ghcr.io/example/" + name + ", tag: \"\"}\nresources: {requests: {cpu: 100m, memory: 64Mi}}\nautoscaling: {enabled: false, maxReplicas: 5}\nconfig: {logLevel: info}\n",
			"templates/_helpers.tpl": `{{- define "app.fullname" -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- end }}
{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}
{{- define "app.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
`,
			"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  labels: {{- include "app.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicas }}
  {{- end }}
  selector:
    matchLabels: {{- include "app.selector" . | nindent 6 }}
  template:
    metadata:
      labels: {{- include "app.selector" . | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    spec:
      serviceAccountName: {{ include "app.fullname" . }}
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
        envFrom: [{configMapRef: {name: {{ include "app.fullname" . }}}}]
        ports: [{name: http, containerPort: 8080}]
        resources: {{- toYaml .Values.resources | nindent 10 }}
`,
			"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "app.fullname" . }}
  labels: {{- include "app.labels" . | nindent 4 }}
spec:
  selector: {{- include "app.selector" . | nindent 4 }}
  ports: [{name: http, port: 80, targetPort: http}]
`,
			"templates/serviceaccount.yaml": `apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "app.fullname" . }}
  labels: {{- include "app.labels" . | nindent 4 }}
`,
			"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "app.fullname" . }}
  labels: {{- include "app.labels" . | nindent 4 }}
data:
  {{- range $k, $v := .Values.config }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
  KUBE_VERSION: {{ .Capabilities.KubeVersion.Version | quote }}
`,
			"templates/pdb.yaml": `{{- if gt (int .Values.replicas) 1 }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "app.fullname" . }}
  labels: {{- include "app.labels" . | nindent 4 }}
spec:
  minAvailable: 1
  selector:
    matchLabels: {{- include "app.selector" . | nindent 6 }}
{{- end }}
`,
			"templates/hpa.yaml": `{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "app.fullname" . }}
  labels: {{- include "app.labels" . | nindent 4 }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ include "app.fullname" . }}}
  minReplicas: {{ .Values.replicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 75}}}]
{{- end }}
`,
		}
		for p, text := range files {
			if err := write(filepath.Join(dir, name, p), text); err != nil {
				return err
			}
		}
	}
	return nil
}

// tierValues are the values of a chart on a tier: replicas, autoscaling
// and the log level differ.
func tierValues(c, tier int) string {
	return fmt.Sprintf("replicas: %d\nautoscaling: {enabled: %t, maxReplicas: %d}\nconfig: {logLevel: %s, tier: %s}\nresources: {requests: {cpu: %dm, memory: %dMi}}\n",
		tier+1, tier >= 2, 4*(tier+1), []string{"debug", "info", "info", "warn"}[tier], Tiers[tier], 100*(tier+1), 64*(tier+1)+c)
}

// WriteHelm writes the Helm fleet into dir: nClusters clusters (labels
// tier, spec.kubeVersion as TierOf and KubeVersionOf), and one
// ApplicationSet putting each of nCharts charts from the chart repository
// repoURL on every cluster, multi-source: the chart, and this
// repository as ref "values" for values/<chart>/<tier>.yaml. The release
// name is the chart's, so Applications with equal inputs share a build.
// caFile, when set, is the CA bundle trusted for the repository.
func WriteHelm(dir, repoURL, caFile string, nClusters, nCharts int) error {
	cfg := "repos:\n  https://git.example.com/fleet.git: .\n"
	if caFile != "" {
		cfg += "helm:\n  caFile: " + caFile + "\n"
	}
	var elements strings.Builder
	for c := range nCharts {
		fmt.Fprintf(&elements, "          - chart: %s\n", Chart(c))
	}
	files := map[string]string{
		"flotilla.yaml": cfg,
		"applicationsets/charts.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: charts}
spec:
  generators:
  - matrix:
      generators:
      - clusters: {}
      - list:
          elements:
` + elements.String() + `  template:
    metadata: {name: "{{chart}}-{{name}}"}
    spec:
      project: default
      sources:
      - repoURL: ` + repoURL + `
        chart: "{{chart}}"
        targetRevision: ` + ChartVersion + `
        helm:
          releaseName: "{{chart}}"
          valueFiles: ["$values/values/{{chart}}/{{metadata.labels.tier}}.yaml"]
      - {repoURL: https://git.example.com/fleet.git, targetRevision: main, ref: values}
      destination: {server: "{{server}}", namespace: "{{chart}}"}
`,
	}
	var inv strings.Builder
	for i := range nClusters {
		fmt.Fprintf(&inv, "---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: %s, labels: {tier: %s}}\nspec: {server: https://%s.example.com, kubeVersion: %s}\n",
			Cluster(i), TierOf(i), Cluster(i), KubeVersionOf(i))
	}
	files["clusters/clusters.yaml"] = inv.String()
	for c := range nCharts {
		for t, tier := range Tiers {
			files[fmt.Sprintf("values/%s/%s.yaml", Chart(c), tier)] = tierValues(c, t)
		}
	}
	for p, text := range files {
		if err := write(filepath.Join(dir, p), text); err != nil {
			return err
		}
	}
	return nil
}

// ChartRepo is a Helm chart repository (index.yaml and .tgz archives)
// served over TLS on a loopback port, counting the requests it answers.
type ChartRepo struct {
	// URL is the repository's URL, as repoURL.
	URL string
	// CAFile holds the server's certificate (PEM), for helm.caFile and
	// `helm --ca-file`.
	CAFile string

	srv      *httptest.Server
	archives atomic.Int64
	indexes  atomic.Int64
}

// ServeCharts packages every chart folder of src with Helm's SDK (as
// `helm package`) into dir, writes its index.yaml and serves dir. Close
// stops it.
func ServeCharts(src, dir string) (*ChartRepo, error) {
	r := &ChartRepo{}
	files := http.FileServer(http.Dir(dir))
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case strings.HasSuffix(req.URL.Path, ".tgz"):
			r.archives.Add(1)
		case strings.HasSuffix(req.URL.Path, "/index.yaml"):
			r.indexes.Add(1)
		}
		files.ServeHTTP(w, req)
	}))
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.srv.StartTLS()
	r.URL = r.srv.URL
	entries, err := os.ReadDir(src)
	if err != nil {
		r.Close()
		return nil, err
	}
	for _, e := range entries {
		c, err := loader.LoadDir(filepath.Join(src, e.Name()))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("load chart %s: %w", e.Name(), err)
		}
		if _, err := chartutil.Save(c, dir); err != nil {
			r.Close()
			return nil, fmt.Errorf("package chart %s: %w", e.Name(), err)
		}
	}
	idx, err := repo.IndexDirectory(dir, r.URL)
	if err == nil {
		err = idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644)
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("index the chart repository: %w", err)
	}
	r.CAFile = filepath.Join(filepath.Dir(dir), "chart-repo-ca.pem")
	if err := os.WriteFile(r.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o644); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Requests returns how many archives and index.yaml files it served.
func (r *ChartRepo) Requests() (archives, indexes int64) {
	return r.archives.Load(), r.indexes.Load()
}

// Close stops the server.
func (r *ChartRepo) Close() { r.srv.Close() }
