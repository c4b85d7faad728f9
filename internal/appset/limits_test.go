package appset

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// replaceWithin renders tmpl in a fresh renderer, failing the test instead
// of hanging when the bound does not hold.
// A steps bound, when given, replaces MaxTemplateSteps: loops reach it
// sooner, as the race detector makes each step slow.
func replaceWithin(t *testing.T, ctx context.Context, goTemplate bool, tmpl string, params map[string]any, steps ...int) (string, error) {
	t.Helper()
	r, err := NewRenderer(goTemplate, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) > 0 {
		r.maxSteps = steps[0]
	}
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := r.Replace(ctx, tmpl, params)
		done <- result{out, err}
	}()
	select {
	case res := <-done:
		return res.out, res.err
	case <-time.After(60 * time.Second):
		t.Fatalf("%.60s: still running after 60 s", tmpl)
		return "", nil
	}
}

// TestTemplateBombs renders templates that, unbounded, would allocate
// gigabytes or run for ever: each must fail with fleet.ErrLimit and say
// which limit.
func TestTemplateBombs(t *testing.T) {
	t.Parallel()
	laughs := "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	for _, c := range "bcdefghi" {
		prev := string(c - 1)
		laughs += string(c) + ": &" + string(c) + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
	}
	big := strings.Repeat("x", 100000)
	for _, tt := range []struct {
		name, tmpl, want string
		params           map[string]any
	}{
		{"repeat", `{{ repeat 1000000000 "xxxxxxxxxx" }}`, "repeat would give", nil},
		{"until", `{{ range until 1000000000 }}{{ end }}`, "untilStep 0 1000000000 1 would give", nil},
		{"untilStep", `{{ untilStep 0 1000000000000 1 }}`, "would give", nil},
		{"seq", `{{ seq 1000000000 }}`, "would give", nil},
		{"nested range", `{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}`, "steps", nil},
		{"range over an integer", `{{ range 1000000000000 }}{{ end }}`, "steps", nil},
		{"range over a parameter", `{{ range .l }}{{ range $.l }}{{ range $.l }}{{ end }}{{ end }}{{ end }}`, "steps", map[string]any{"l": make([]any, 10000)}},
		{"recursion", `{{ define "x" }}{{ template "x" . }}{{ template "x" . }}{{ end }}{{ template "x" . }}`, "exceeded", nil},
		{"output", `{{ range until 100000 }}{{ "` + strings.Repeat("x", 300) + `" }}{{ end }}`, "write more than 1048576 bytes", nil},
		{"doubling string", `{{ $s := "xx" }}{{ range until 64 }}{{ $s = cat $s $s }}{{ end }}{{ len $s }}`, "of cat is larger", nil},
		{"doubling list", `{{ $a := list 1 }}{{ range until 64 }}{{ $a = list $a $a }}{{ end }}{{ toJson $a }}`, "limit exceeded", nil},
		{"cycle", `{{ $d := dict }}{{ $_ := set $d "a" $d }}{{ toJson $d }}`, "set gives a value larger", nil},
		{"escaping", `{{ $s := "\\" }}{{ range until 64 }}{{ $s = js $s }}{{ end }}{{ len $s }}`, "js gives a value larger", nil},
		{"printf width", `{{ printf "%01000000000d" 1 }}`, "printf width or precision 01000000000", nil},
		{"printf star", `{{ printf "%*d" 1000000000 1 }}`, `printf with "*"`, nil},
		{"indent", `{{ indent 1000000000 "x" }}`, "indent would give", nil},
		{"replace", `{{ replace "" (repeat 1000 "y") .big }}`, "replace would give", map[string]any{"big": big}},
		{"regexReplaceAll", `{{ regexReplaceAll "x" .big (repeat 1000 "${0}") }}`, "regexReplaceAll would give", map[string]any{"big": big}},
		{"join", `{{ join (repeat 100000 "x") (until 100000) }}`, "join would give", nil},
		{"wrapWith", `{{ wrapWith 1 (repeat 10000 "x") (repeat 10000 "y") }}`, "wrapWith would give", nil},
		{"randAlpha", `{{ randAlpha 1000000000 }}`, "randAlpha would give", nil},
		{"uniq", `{{ uniq (until 1000000) }}`, "comparing 1000000 × 1000000", nil},
		{"fromYaml aliases", `{{ fromYaml .laughs }}`, "excessive aliasing", map[string]any{"laughs": laughs}},
		{"parameter too large", `{{ toJson .huge }}`, "an argument of toJson is larger", map[string]any{"huge": strings.Repeat("x", 2<<20)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			steps := MaxTemplateSteps
			if strings.HasPrefix(tt.name, "range") || tt.name == "nested range" || tt.name == "recursion" {
				steps = 1 << 14
			}
			_, err := replaceWithin(t, ctx, true, tt.tmpl, tt.params, steps)
			// text/template's own depth limit may stop a recursion first.
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one saying %q", err, tt.want)
			}
			if tt.name != "fromYaml aliases" && tt.name != "recursion" && !errors.Is(err, fleet.ErrLimit) {
				t.Errorf("error %v is not fleet.ErrLimit", err)
			}
			var te *TemplateError
			if !errors.As(err, &te) || te.Template != tt.tmpl {
				t.Errorf("error %v does not carry the template", err)
			}
		})
	}
}

// TestDefaultModeOutputIsBounded substitutes a large parameter many times
// in default (fasttemplate) mode.
func TestDefaultModeOutputIsBounded(t *testing.T) {
	t.Parallel()
	tmpl := strings.Repeat("{{big}}", 1000)
	_, err := replaceWithin(t, t.Context(), false, tmpl, map[string]any{"big": strings.Repeat("x", 100000)})
	if !errors.Is(err, fleet.ErrLimit) {
		t.Fatalf("error = %v, want fleet.ErrLimit", err)
	}
}

// TestBoundedFunctionsKeepSprigsResults checks the functions that were
// replaced or guarded against Sprig's answers on ordinary inputs.
func TestBoundedFunctionsKeepSprigsResults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`{{ until 3 }}`, "[0 1 2]"},
		{`{{ until -3 }}`, "[0 -1 -2]"},
		{`{{ untilStep 0 10 3 }}`, "[0 3 6 9]"},
		{`{{ untilStep 10 0 -4 }}`, "[10 6 2]"},
		{`{{ untilStep 0 10 0 }}`, "[]"},
		{`{{ untilStep 0 10 -1 }}`, "[]"},
		{`{{ untilStep 9223372036854775806 9223372036854775807 2 }}`, "[9223372036854775806]"}, // Sprig's loop never ends
		{`{{ seq 3 }}`, "1 2 3"},
		{`{{ seq -2 }}`, "1 0 -1 -2"},
		{`{{ seq 2 5 }}`, "2 3 4 5"},
		{`{{ seq 5 2 }}`, "5 4 3 2"},
		{`{{ seq 0 3 10 }}`, "0 3 6 9"},
		{`{{ seq 10 -3 0 }}`, "10 7 4 1"},
		{`{{ seq 10 3 0 }}`, ""},
		{`{{ seq }}`, ""},
		{`{{ repeat 3 "ab" }}`, "ababab"},
		{`{{ indent 2 "a\nb" }}`, "  a\n  b"},
		{`{{ printf "%05d|%-4s|%.2f|%[1]d" 42 "x" 3.14159 }}`, "00042|x   |3.14|42"},
		{`{{ printf "%*d" 4 7 }}`, "   7"},
		{`{{ print 1 "a" }}`, "1a"},
		{`{{ html "<a>" }}`, "&lt;a&gt;"},
		{`{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}`, "-W-xxW-"},
		{`{{ replace "a" "bb" "aXa" }}`, "bbXbb"},
		{`{{ join "," (list 1 2) }}`, "1,2"},
		{`{{ uniq (list 1 1 2) }}`, "[1 2]"},
		{`{{ range $i := until 3 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}`, "02"},
		{`{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" "x" }}`, "[x]"},
	} {
		got, err := replaceWithin(t, t.Context(), true, tt.in, nil)
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

type stopper struct{ cancel context.CancelFunc }

// Stop is called by the template under test.
func (s stopper) Stop() string { s.cancel(); return "" }

// TestTemplateStopsOnCancel cancels the context from inside a long
// template (as SIGTERM does from outside): it stops at the next step.
func TestTemplateStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := replaceWithin(t, ctx, true, `{{ .s.Stop }}{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}`, map[string]any{"s": stopper{cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	// A context already done stops before anything runs, in both modes.
	for _, goTemplate := range []bool{true, false} {
		if _, err := replaceWithin(t, ctx, goTemplate, "{{ x }}", map[string]any{"x": "y"}); !errors.Is(err, context.Canceled) {
			t.Errorf("goTemplate=%v: error = %v, want context.Canceled", goTemplate, err)
		}
	}
}

// TestFleetTemplateBombNamesFileAndLine evaluates a fleet whose
// ApplicationSet holds a template bomb: the error is a
// fleet.FileError at the template's line, and fleet.ErrLimit.
func TestFleetTemplateBombNamesFileAndLine(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{"applicationsets/bomb.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: bomb}
spec:
  goTemplate: true
  generators: [{list: {elements: [{n: "1"}]}}]
  template:
    metadata:
      name: '{{ repeat 1000000000 "x" }}'
    spec: {project: default, destination: {}}
`})
	f, err := fleet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	_, err = GenerateFleet(ctx, f, nil)
	var fe *fleet.FileError
	if !errors.As(err, &fe) || fe.File != "applicationsets/bomb.yaml" || fe.Line != 9 {
		t.Fatalf("error = %v, want a FileError at applicationsets/bomb.yaml:9", err)
	}
	if !errors.Is(err, fleet.ErrLimit) || !strings.Contains(err.Error(), `ApplicationSet "bomb"`) {
		t.Fatalf("error = %v, want fleet.ErrLimit naming the ApplicationSet", err)
	}
	t.Log(err)
}

// TestMatrixProductIsBounded crosses two lists whose product would be
// 10^8 parameter sets.
func TestMatrixProductIsBounded(t *testing.T) {
	t.Parallel()
	elements := strings.TrimSuffix(strings.Repeat(`{a: "1"}, `, 10000), ", ")
	dir := gittest.Files(t, map[string]string{"applicationsets/m.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: m}
spec:
  generators:
  - matrix:
      generators:
      - list: {elements: [` + elements + `]}
      - list: {elements: [` + strings.ReplaceAll(elements, "a:", "b:") + `]}
  template:
    metadata: {name: x}
    spec: {project: default, destination: {}}
`})
	f, err := fleet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = GenerateFleet(t.Context(), f, nil)
	var fe *fleet.FileError
	if !errors.Is(err, fleet.ErrLimit) || !errors.As(err, &fe) || fe.Line != 6 || !strings.Contains(err.Error(), "more than 100000 parameter sets") {
		t.Fatalf("error = %v, want fleet.ErrLimit at m.yaml:6", err)
	}
}
