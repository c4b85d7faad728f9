package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

const testClusters = `apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata:
  name: prod-eu
  labels: {environment: production, rollout-tier: canary}
spec:
  server: https://prod-eu.example.com
---
apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata:
  name: dev
  labels: {environment: development}
spec:
  server: https://dev.example.com
`

const testAppSet = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: web
spec:
  generators:
  - clusters: {}
  template:
    metadata:
      name: "web-{{name}}"
    spec:
      project: default
      source:
        repoURL: https://example.com/fleet.git
        path: web
      destination:
        server: "{{server}}"
        namespace: web
`

// writeFleet writes a fleet from the base files with overrides; an empty
// override content writes an empty file.
func writeFleet(t *testing.T, overrides map[string]string) string {
	t.Helper()
	files := map[string]string{
		"clusters/clusters.yaml":   testClusters,
		"applicationsets/web.yaml": testAppSet,
	}
	for k, v := range overrides {
		files[k] = v
	}
	return gittest.Files(t, files)
}

func renderCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Render(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func TestRenderListAppsJSON(t *testing.T) {
	t.Parallel()
	dir := writeFleet(t, nil)
	code, stdout, stderr := renderCmd(t, "--fleet", dir, "--list-apps", "--no-expand", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var apps []struct {
		Metadata struct{ Name string } `json:"metadata"`
		Spec     struct {
			Destination struct{ Server string } `json:"destination"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(stdout), &apps); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.Metadata.Name+" "+a.Spec.Destination.Server)
	}
	want := []string{"web-dev https://dev.example.com", "web-prod-eu https://prod-eu.example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestRenderListClustersJSON(t *testing.T) {
	t.Parallel()
	dir := writeFleet(t, nil)
	code, stdout, stderr := renderCmd(t, "--fleet", dir, "--list-clusters", "--shards", "2", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `[
  {
    "name": "dev",
    "server": "https://dev.example.com",
    "labels": {
      "environment": "development"
    },
    "shard": 0
  },
  {
    "name": "prod-eu",
    "server": "https://prod-eu.example.com",
    "labels": {
      "environment": "production",
      "rollout-tier": "canary"
    },
    "shard": 1
  }
]
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestRenderBadInput shows that each kind of bad input exits 2 with one
// message naming the file (and line) and what is wrong, and prints nothing
// on stdout.
func TestRenderBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name:  "bad YAML with line number",
			files: map[string]string{"applicationsets/web.yaml": strings.Replace(testAppSet, "  template:\n", "  template:\n   oops: [\n", 1)},
			want:  "render: applicationsets/web.yaml:9: invalid YAML: did not find expected ',' or ']'\n",
		},
		{
			name:  "unknown generator",
			files: map[string]string{"applicationsets/web.yaml": strings.Replace(testAppSet, "- clusters: {}", "- cluster: {}", 1)},
			want:  "render: applicationsets/web.yaml:7: unknown generator \"cluster\" in spec.generators[0] (supported: list, clusters, git, matrix, merge)\n",
		},
		{
			name:  "generator that needs a live service",
			files: map[string]string{"applicationsets/web.yaml": strings.Replace(testAppSet, "- clusters: {}", "- pullRequest:\n      github: {owner: acme, repo: web}", 1)},
			want:  "render: applicationsets/web.yaml:7: ApplicationSet \"web\": spec.generators[0].pullRequest is not supported (ApplicationGenerationFromParamsError): the pullRequest generator queries open pull requests at run time, and Flotilla renders without any live service (use list, clusters, git, matrix or merge)\n",
		},
		{
			name: "template syntax error",
			files: map[string]string{"applicationsets/web.yaml": strings.NewReplacer(
				"spec:\n  generators:", "spec:\n  goTemplate: true\n  generators:",
				`"web-{{name}}"`, `"web-{{ .name }"`).Replace(testAppSet)},
			want: "render: applicationsets/web.yaml:11: ApplicationSet \"web\": template failed (RenderTemplateParamsError): failed to parse template web-{{ .name }: template: base:1: unexpected \"}\" in operand\n",
		},
		{
			name: "missing key under missingkey=error",
			files: map[string]string{"applicationsets/web.yaml": strings.NewReplacer(
				"spec:\n  generators:", "spec:\n  goTemplate: true\n  goTemplateOptions: [\"missingkey=error\"]\n  generators:",
				`"web-{{name}}"`, `"web-{{ .nmae }}"`, `"{{server}}"`, `"{{ .server }}"`).Replace(testAppSet)},
			want: "render: applicationsets/web.yaml:12: ApplicationSet \"web\": template failed (RenderTemplateParamsError): failed to execute go template web-{{ .nmae }}: template: base:1:7: executing \"base\" at <.nmae>: map has no entry for key \"nmae\"\n",
		},
		{
			name:  "duplicate Application name",
			files: map[string]string{"applicationsets/web2.yaml": strings.Replace(testAppSet, "name: web\n", "name: web-copy\n", 1)},
			want: "render: applicationsets/web2.yaml:10: duplicate Application name \"web-dev\": generated by ApplicationSet \"web-copy\" (applicationsets/web2.yaml) and generated by ApplicationSet \"web\" (applicationsets/web.yaml)\n" +
				"render: applicationsets/web2.yaml:10: duplicate Application name \"web-prod-eu\": generated by ApplicationSet \"web-copy\" (applicationsets/web2.yaml) and generated by ApplicationSet \"web\" (applicationsets/web.yaml)\n",
		},
		{
			name:  "unknown destination cluster",
			files: map[string]string{"applicationsets/web.yaml": strings.Replace(testAppSet, `server: "{{server}}"`, `server: https://gone.example.com`, 1)},
			want: "render: applicationsets/web.yaml:10: ApplicationSet \"web\": Application \"web-dev\" is invalid (ApplicationValidationError): application destination spec is invalid: unknown destination cluster: no cluster in the inventory has server \"https://gone.example.com\" (known: https://dev.example.com, https://prod-eu.example.com)\n" +
				"render: applicationsets/web.yaml:10: ApplicationSet \"web\": Application \"web-prod-eu\" is invalid (ApplicationValidationError): application destination spec is invalid: unknown destination cluster: no cluster in the inventory has server \"https://gone.example.com\" (known: https://dev.example.com, https://prod-eu.example.com)\n",
		},
		{
			name:  "repos path escaping the fleet",
			files: map[string]string{"flotilla.yaml": "repos:\n  https://example.com/fleet.git: ../elsewhere\n"},
			want:  "render: flotilla.yaml:2: repos[\"https://example.com/fleet.git\"]: path ../elsewhere escapes the fleet root (repos: paths are relative to the fleet root and stay inside it)\n",
		},
		{
			name:  "unknown key in flotilla.yaml",
			files: map[string]string{"flotilla.yaml": "clsuters: [\"clusters/*.yaml\"]\n"},
			want:  "render: flotilla.yaml:1: unknown field \"clsuters\"\n",
		},
		{
			name:  "selector with an invalid operator",
			files: map[string]string{"applicationsets/web.yaml": strings.Replace(testAppSet, "- clusters: {}", "- clusters:\n      selector:\n        matchExpressions:\n        - {key: environment, operator: Equals, values: [production]}", 1)},
			want:  "render: applicationsets/web.yaml:7: ApplicationSet \"web\": generator failed (ApplicationGenerationFromParamsError): error converting label selector: \"Equals\" is not a valid label selector operator (use In, NotIn, Exists or DoesNotExist)\n",
		},
		{
			name:  "empty inventory file",
			files: map[string]string{"clusters/empty.yaml": ""},
			want:  "render: clusters/empty.yaml: empty inventory file: it defines no cluster (add a Cluster document or remove the file)\n",
		},
		{
			name:  "bad shard",
			files: nil,
			want:  "render: usage: --shard \"2/2\" must be i/n with 0 <= i < n (e.g. 0/4)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFleet(t, tt.files)
			args := []string{"--fleet", dir, "--list-apps"}
			if tt.name == "bad shard" {
				args = []string{"--fleet", dir, "--shard", "2/2"}
			}
			code, stdout, stderr := renderCmd(t, args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout not empty:\n%s", stdout)
			}
			if diff := cmp.Diff(tt.want, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderHelp(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := renderCmd(t, "--help")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, flag := range []string{"--fleet", "--list-apps", "--list-clusters", "--shards", "-o FORMAT", "Examples:"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("--help does not explain %s", flag)
		}
	}
}
