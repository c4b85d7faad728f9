package appset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

func TestFastReplace(t *testing.T) {
	t.Parallel()
	params := map[string]any{"app": "web", "n": 3, "path[0]": "apps"}
	tests := []struct{ in, want, err string }{
		{in: "{{app}}", want: "web"},
		{in: "{{ app }}-x", want: "web-x"},
		{in: "{{  unknown  }}", want: "{{  unknown  }}"},
		{in: "{{n}}", want: "{{n}}"}, // only string parameters substitute
		{in: "{{}} {{ .app }}", want: "{{}} {{ .app }}"},
		{in: "{{path[0]}}", want: "apps"},
		{in: "{{oops", want: "{{oops"}, // no complete tag: left alone
		{in: "{{app}}\n}}", want: "web\n}}"},
		{in: "{{\napp}}", want: "{{\napp}}"}, // "." does not cross a newline
		{in: "{{app}} and {{oops", err: `invalid template: Cannot find end tag="}}" in the template="{{app}} and {{oops" starting from "oops"`},
	}
	for _, tt := range tests {
		got, err := fastReplace(tt.in, params, MaxTemplateOutput)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("fastReplace(%q) error = %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("fastReplace(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestGoTemplateFunctions(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(true, []string{"missingkey=error"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{`{{ normalize "Prod_EU.Main" }}`, "prod-eu.main"},
		{`{{ slugify "Prod_EU.Main" }}`, "prod-eu-main"},
		{`{{ slugify 10 true "hello wonderful world" }}`, "hello"},
		{`{{ slugify 10 false "hello wonderful world" }}`, "hello-wond"},
		{`{{ .m | toYaml }}`, "a: b"},
		{`{{ (fromYaml "a: 1").a }}`, "1"},
		{`{{ upper .name }}`, "WEB"},
	}
	for _, tt := range tests {
		got, err := r.Replace(t.Context(), tt.in, map[string]any{"name": "web", "m": map[string]any{"a": "b"}})
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, removed := range []string{"env", "expandenv", "getHostByName"} {
		if _, err := r.Replace(t.Context(), "{{ "+removed+` "X" }}`, nil); err == nil || !strings.Contains(err.Error(), "not defined") {
			t.Errorf("%s should not be defined: %v", removed, err)
		}
	}
	if _, err := NewRenderer(true, []string{"missingkey=bogus"}); err == nil {
		t.Error("an unknown goTemplateOptions value must be refused, not panic")
	}
}

func TestMatchPathspec(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		spec, name string
		want       bool
	}{
		{"clusters/*/config.yaml", "clusters/a/config.yaml", true},
		{"clusters/*/config.yaml", "clusters/legacy/dc1/config.yaml", true}, // "*" crosses "/"
		{"clusters/*.json", "clusters/x/y.json", true},
		{"clusters", "clusters/a/b.yaml", true},
		{"clusters/a.yaml", "clusters/a.yaml", true},
		{"clusters/a.yaml", "clusters/a.yaml.bak", false},
		{"c?/[ab].y*", "c1/a.yaml", true},
		{"c?/[!ab].y*", "c1/a.yaml", false},
	} {
		if got := matchPathspec(tt.spec, tt.name); got != tt.want {
			t.Errorf("matchPathspec(%q, %q) = %v, want %v", tt.spec, tt.name, got, tt.want)
		}
	}
}

// FuzzRender feeds arbitrary templates to both modes: they must render or
// fail with an error, never panic, hang or give more than the output
// bound. The seeds include the bombs of TestTemplateBombs.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"{{app}}", "{{ .app }}", "{{app}} {{oops", "{{ index .m \"k\" }}", "{{ slugify 3 .app }}", "{{{{}}}}", "{{ template \"base\" }}",
		`{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}`,
		`{{ define "x" }}{{ template "x" . }}{{ template "x" . }}{{ end }}{{ template "x" . }}`,
		`{{ $s := "xx" }}{{ range until 64 }}{{ $s = cat $s $s }}{{ end }}{{ len $s }}`,
		`{{ $a := list 1 }}{{ range until 64 }}{{ $a = list $a $a }}{{ end }}{{ toJson $a }}`,
		`{{ $d := dict }}{{ $_ := set $d "a" $d }}{{ toJson $d }}`,
		`{{ repeat 1000000000 "x" }}`, `{{ printf "%0999999999d" 1 }}`, `{{ seq 1000000000 }}`,
		`{{ range 1000000000000 }}x{{ end }}`, `{{ indent 1000000000 "x" }}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, tmpl string, goTemplate bool) {
		r, err := NewRenderer(goTemplate, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := r.Replace(ctx, tmpl, map[string]any{"app": "web", "m": map[string]any{"k": "v"}})
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%q ran for a minute", tmpl)
		}
		if len(out) > MaxTemplateOutput {
			t.Fatalf("%q gave %d bytes", tmpl, len(out))
		}
	})
}

// TestRenderAllReportsTheFirstFailure renders enough parameter sets to
// share them out among workers: the error is the first failing set's, as
// rendering in order would give, whichever worker fails first.
func TestRenderAllReportsTheFirstFailure(t *testing.T) {
	t.Parallel()
	docs, err := fleet.SplitDocuments("set.yaml", []byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: many}
spec:
  goTemplate: true
  generators: [{list: {elements: []}}]
  template:
    metadata: {name: '{{ if has .name (list "e0127" "e0128") }}{{ fail (printf "bad %s" .name) }}{{ end }}{{ .name }}'}
    spec:
      project: default
      source: {repoURL: https://example.com/r.git, path: apps}
      destination: {server: https://kubernetes.default.svc, namespace: x}
`))
	if err != nil {
		t.Fatal(err)
	}
	var set fleet.ApplicationSet
	if err := docs[0].Decode(&set); err != nil {
		t.Fatal(err)
	}
	var params []Params
	for i := range 600 {
		params = append(params, Params{"name": fmt.Sprintf("e%04d", i)})
	}
	tmpl := applicationFromTemplate(set.Spec.Template)
	for range 20 {
		_, err := renderAll(t.Context(), &set, tmpl, params)
		if err == nil || !strings.Contains(err.Error(), "bad e0127") {
			t.Fatalf("renderAll error = %v, want the failure of e0127 (e0128 fails first in time)", err)
		}
	}
	apps, err := renderAll(t.Context(), &set, tmpl, params[:127])
	if err != nil || len(apps) != 127 || apps[126].Metadata.Name != "e0126" {
		t.Fatalf("renderAll of the good sets: %d apps, %v", len(apps), err)
	}
}
