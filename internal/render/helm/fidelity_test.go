package helm

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

// helmCLI is the real Helm CLI of the SDK's version, built from its Go
// module by hack/tools/build.sh into bin/ (or $FLOTILLA_BIN); the test
// skips when it is not built (see kubetest.RequireEnv).
func helmCLI(t *testing.T) string {
	t.Helper()
	return kubetest.Tool(t, "helm")
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, text := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fidelityCharts: a chart with a vendored dependency, a library chart,
// CRDs in crds/, hooks and a test hook, .Capabilities branches, a values
// schema, tpl, lookup and required.
var fidelityCharts = map[string]string{
	"app/Chart.yaml":             "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  condition: sub.enabled\n- name: lib\n  version: 0.1.0\n",
	"app/values.yaml":            "replicas: 1\nname: web\ngreeting: 'hello {{ .Release.Name }}'\nsub: {enabled: true}\nrequiredValue: x\n",
	"app/values.schema.json":     `{"type": "object", "properties": {"replicas": {"type": "integer"}}}`,
	"app/crds/widgets.yaml":      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced, versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]}\n",
	"app/templates/_helpers.tpl": "{{- define \"app.labels\" -}}\napp: {{ .Values.name }}\n{{- end }}\n",
	"app/templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Values.name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
  {{- include "lib.annotations" . | nindent 2 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      {{- include "app.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "app.labels" . | nindent 8 }}
    spec:
      containers:
      - name: c
        image: "nginx:{{ .Chart.AppVersion | default "1" }}"
`,
	"app/templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-cfg}
data:
  greeting: {{ tpl .Values.greeting . | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  minor: {{ .Capabilities.KubeVersion.Minor | quote }}
  {{- if .Capabilities.APIVersions.Has "example.com/v9" }}
  example: "yes"
  {{- end }}
  {{- if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version }}
  modern: "yes"
  {{- end }}
  looked: {{ lookup "v1" "ConfigMap" "default" "x" | toJson | quote }}
  required: {{ required "requiredValue is required" .Values.requiredValue | quote }}
  values: {{ .Values | toJson | quote }}
`,
	"app/templates/hook.yaml":           "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations: {\"helm.sh/hook\": pre-install, \"helm.sh/hook-weight\": \"-1\"}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox}]}}}\n",
	"app/templates/tests/t.yaml":        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations: {\"helm.sh/hook\": test}\nspec: {containers: [{name: t, image: busybox}]}\n",
	"app/templates/NOTES.txt":           "Installed {{ .Release.Name }}.\n",
	"app/charts/sub/Chart.yaml":         "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
	"app/charts/sub/templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}-sub}\nspec: {ports: [{port: 80}]}\n",
	"app/charts/lib/Chart.yaml":         "apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n",
	"app/charts/lib/templates/_lib.tpl": "{{- define \"lib.annotations\" -}}\nannotations: {from: lib}\n{{- end }}\n",
	"prod.yaml":                         "replicas: 3\nname: shop\n",
	"extra.yaml":                        "greeting: 'hi {{ .Release.Namespace }}'\n",
	"file.txt":                          "from a file\n",
}

// TestFidelityWithHelmCLI renders the corpus with Template and with the
// real `helm template` given the flags Argo CD passes, and wants the same
// bytes.
func TestFidelityWithHelmCLI(t *testing.T) {
	cli := helmCLI(t)
	dir := writeFiles(t, fidelityCharts)
	read := func(name string) File {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return File{Name: name, Data: data}
	}
	for _, tt := range []struct {
		name string
		req  Request
		args []string
	}{
		{"defaults as Argo CD passes them", Request{ReleaseName: "web", Namespace: "prod", KubeVersion: "1.31.2"},
			[]string{"--name-template", "web", "--namespace", "prod", "--kube-version", "1.31.2", "--include-crds"}},
		{"value files, set, set-string, set-file, api versions", Request{ReleaseName: "shop", Namespace: "ns", KubeVersion: "v1.29.0",
			ValueFiles: []File{read("prod.yaml"), read("extra.yaml")}, Set: []string{"replicas=5", `name=a\,b`}, SetString: []string{"requiredValue=007"},
			SetFile: []FileParameter{{Key: "fromFile", File: read("file.txt")}}, APIVersions: []string{"example.com/v9", "example.com/v9/Widget"}},
			[]string{"--name-template", "shop", "--namespace", "ns", "--kube-version", "v1.29.0", "--set", "replicas=5", "--set", `name=a\,b`,
				"--set-string", "requiredValue=007", "--set-file", "fromFile=" + filepath.Join(dir, "file.txt"),
				"--values", filepath.Join(dir, "prod.yaml"), "--values", filepath.Join(dir, "extra.yaml"),
				"--api-versions", "example.com/v9", "--api-versions", "example.com/v9/Widget", "--include-crds"}},
		{"skip CRDs, tests and a disabled dependency", Request{ReleaseName: "r", Namespace: "default", KubeVersion: "1.33.0", SkipCRDs: true, SkipTests: true, Set: []string{"sub.enabled=false"}},
			[]string{"--name-template", "r", "--namespace", "default", "--kube-version", "1.33.0", "--set", "sub.enabled=false", "--skip-tests"}},
		{"schema skipped", Request{ReleaseName: "r", Namespace: "n", KubeVersion: "1.33.0", SkipSchemaValidation: true, SetString: []string{"replicas=two"}},
			[]string{"--name-template", "r", "--namespace", "n", "--kube-version", "1.33.0", "--set-string", "replicas=two", "--include-crds", "--skip-schema-validation"}},
	} {
		c, err := LoadDir(filepath.Join(dir, "app"))
		if err != nil {
			t.Fatal(err)
		}
		tt.req.Chart = c
		got, err := Template(tt.req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := runHelm(t, cli, append([]string{"template", filepath.Join(dir, "app")}, tt.args...))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Flotilla and helm template differ\n--- flotilla\n%s\n--- helm\n%s", tt.name, got, want)
		}
	}
}

// TestFidelityErrors: the same inputs fail in both, and Flotilla's
// message carries Helm's (template file:line, schema path).
func TestFidelityErrors(t *testing.T) {
	cli := helmCLI(t)
	dir := writeFiles(t, fidelityCharts)
	for _, tt := range []struct {
		name string
		req  Request
		args []string
		want string
	}{
		{"required", Request{ReleaseName: "r", Set: []string{"requiredValue=null"}}, []string{"--set", "requiredValue=null"}, "app/templates/cm.yaml:"},
		{"schema", Request{ReleaseName: "r", SetString: []string{"replicas=two"}}, []string{"--set-string", "replicas=two"}, "replicas"},
	} {
		c, err := LoadDir(filepath.Join(dir, "app"))
		if err != nil {
			t.Fatal(err)
		}
		tt.req.Chart = c
		_, err = Template(tt.req)
		cmd := exec.Command(cli, append([]string{"template", filepath.Join(dir, "app"), "--name-template", "r"}, tt.args...)...)
		cmd.Env = helmEnv(t)
		out, cliErr := cmd.CombinedOutput()
		if err == nil || cliErr == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: flotilla %v; helm %v: %s", tt.name, err, cliErr, out)
		}
	}
}

func helmEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data", "HELM_NAMESPACE=")
}

func runHelm(t *testing.T, cli string, args []string) []byte {
	t.Helper()
	cmd := exec.Command(cli, args...)
	cmd.Env = helmEnv(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) || err != nil {
		t.Fatalf("helm %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}
