package appset

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestUnsafeApplicationNamesAreRefused: an Application name becomes the
// folder <app>/ of a hydrated tree and a word in logs. Names that are not
// DNS-1123 subdomains (Argo CD's rule, from the API server) never reach
// the output: each is reported at the ApplicationSet's file and line.
func TestUnsafeApplicationNamesAreRefused(t *testing.T) {
	t.Parallel()
	bad := []string{"..", ".", "a/b", "../../etc", "A", "-x", "x-", "a\nb", "a b", "a%b", `a\b`, ".hidden", strings.Repeat("a", 254)}
	var elements []map[string]string
	for _, n := range append([]string{"ok", "a.b"}, bad...) {
		elements = append(elements, map[string]string{"name": n})
	}
	els, err := json.Marshal(elements)
	if err != nil {
		t.Fatal(err)
	}
	dir := gittest.Files(t, map[string]string{
		"clusters/c.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {server: https://c1}\n",
		"applicationsets/a.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: names}
spec:
  goTemplate: true
  generators:
  - list:
      elements: ` + string(els) + `
  template:
    metadata:
      name: '{{.name}}'
    spec:
      project: default
      source: {repoURL: https://example.com/r.git, path: app}
      destination: {server: https://c1, namespace: x}
`,
	})
	f, err := fleet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := GenerateFleet(t.Context(), f, nil)
	var got []string
	for _, g := range gen {
		got = append(got, g.App.Metadata.Name)
	}
	if diff := cmp.Diff([]string{"a.b", "ok"}, got); diff != "" {
		t.Errorf("accepted Applications (-want +got):\n%s", diff)
	}
	refused := map[string]bool{}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *fleet.FileError
		if !errors.As(e, &fe) || fe.File != "applicationsets/a.yaml" || fe.Line != 11 || fe.Class != fleet.ClassUpdateApplication {
			t.Errorf("error without the set's file, line and class: %#v", e)
			continue
		}
		for _, n := range bad {
			if strings.HasPrefix(fe.Msg, `ApplicationSet "names": Application `+strconv.Quote(n)+" ") {
				refused[n] = true
			}
		}
	}
	for _, n := range bad {
		if !refused[n] {
			t.Errorf("Application name %q was not refused", n)
		}
	}
}
