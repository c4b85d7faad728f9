package appset

import (
	"context"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestErrorsDoNotDependOnMapOrder runs sets whose several parts fail, or
// whose two keys render to one, many times: the error named, and the
// value kept, must be the same every time (map order is random in Go).
func TestErrorsDoNotDependOnMapOrder(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]string{
		// Two list values that are not strings: the first by key is named.
		"list values": `generators: [{list: {elements: [{cluster: a, values: {b: 1, a: 2, c: 3, d: 4}}]}}]
  template:
    metadata: {name: 'x-{{cluster}}'}
    spec: {project: default, destination: {server: 'https://kubernetes.default.svc'}}`,
		// Two generator values whose templates fail.
		"generator values": `goTemplate: true
  generators: [{clusters: {values: {b: '{{ fail "b" }}', a: '{{ fail "a" }}', c: '{{ fail "c" }}'}}}]
  template:
    metadata: {name: 'x-{{.name}}'}
    spec: {project: default, destination: {server: 'https://kubernetes.default.svc'}}`,
		// Two labels rendering to the same key: one value is kept.
		"colliding keys": `generators: [{list: {elements: [{cluster: a, k: same}]}}]
  template:
    metadata:
      name: 'x-{{cluster}}'
      labels: {'{{k}}': one, same: two, '{{cluster}}': three, b: '{{ k }}', c: '{{cluster}}'}
    spec: {project: default, destination: {server: 'https://kubernetes.default.svc'}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := gittest.Files(t, map[string]string{"flotilla.yaml": "argoCD: {inCluster: true}\n", "applicationsets/s.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\nspec:\n  " + set + "\n"})
			f, err := fleet.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			first := ""
			for i := range 30 {
				apps, err := GenerateFleet(context.Background(), f, nil)
				got := ""
				if err != nil {
					got = err.Error()
				} else {
					for _, a := range apps {
						got += a.App.Metadata.Name + " " + a.App.Metadata.Labels["same"] + ";"
					}
				}
				if i == 0 {
					first = got
					t.Log(got)
				} else if got != first {
					t.Fatalf("run %d: %q, first run: %q", i, got, first)
				}
			}
		})
	}
}
