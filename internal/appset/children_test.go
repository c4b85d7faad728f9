package appset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// noRepos answers no repository (the children below need none).
type noRepos struct{}

func (noRepos) Files(context.Context, string, string) ([]string, error) {
	return nil, errors.New("no repository")
}

func (noRepos) ReadFile(context.Context, string, string, string) ([]byte, error) {
	return nil, errors.New("no repository")
}

func childrenFleet() *fleet.Fleet {
	f := &fleet.Fleet{Clusters: []fleet.Cluster{
		{Name: "dev", Server: "https://dev"},
		{Name: "prod", Server: "https://prod", Labels: map[string]string{"env": "prod"}},
	}}
	f.Config.ArgoCD.Namespace = "argocd"
	return f
}

// objects decodes a YAML stream of objects.
func objects(t testing.TB, stream string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(stream, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m == nil {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func childApp(name, dest string) string {
	return fmt.Sprintf("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: %s}\nspec:\n  project: default\n  source: {repoURL: https://r, path: p}\n  destination: {name: %s, namespace: ns}\n", name, dest)
}

// TestChildren: Applications and the Applications of ApplicationSets
// among a parent's objects become children in name order, with the
// parent chain, the parent's definition, and the namespace rule; other
// kinds are ignored; known grows with them.
func TestChildren(t *testing.T) {
	t.Parallel()
	f := childrenFleet()
	parent := &Generated{App: fleet.Application{Metadata: fleet.ObjectMeta{Name: "root"}, Spec: fleet.ApplicationSpec{Destination: fleet.ApplicationDestination{Name: "dev", Namespace: "apps"}}},
		File: "apps/root.yaml", Line: 3, Parents: []string{"top"}}
	stream := childApp("b", "prod") + "---\n" + `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: set}
spec:
  generators:
  - clusters: {selector: {matchLabels: {env: prod}}}
  template:
    metadata: {name: "s-{{name}}"}
    spec:
      project: default
      source: {repoURL: https://r, path: p}
      destination: {server: "{{server}}", namespace: ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: p}
---
` + strings.Replace(childApp("a", "dev"), "metadata: {name: a}", "metadata: {name: a, namespace: other}", 1)
	known := map[string]*Generated{"top": {}, "root": parent}
	got, err := Children(t.Context(), f, noRepos{}, parent, objects(t, stream), known)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Name, Namespace, Set, File string }
	var rows []row
	for _, g := range got {
		rows = append(rows, row{g.App.Metadata.Name, g.App.Metadata.Namespace, g.SetName(), fmt.Sprintf("%s:%d %v", g.File, g.Line, g.Parents)})
		if known[g.App.Metadata.Name] == nil {
			t.Errorf("%s is not in known", g.App.Metadata.Name)
		}
	}
	want := []row{
		{"a", "other", "", "apps/root.yaml:3 [top root]"},
		{"b", "apps", "", "apps/root.yaml:3 [top root]"},
		{"s-prod", "apps", "set", "apps/root.yaml:3 [top root]"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestChildrenRefusals: a cycle through any ancestor, a child too deep,
// a child named like a known Application are refused as ErrAppOfApps;
// the other children are still returned.
func TestChildrenRefusals(t *testing.T) {
	t.Parallel()
	f := childrenFleet()
	deep := make([]string, fleet.MaxAppOfAppsDepth)
	for i := range deep {
		deep[i] = fmt.Sprintf("l%d", i)
	}
	tests := []struct {
		name    string
		parents []string
		child   string
		want    string
	}{
		{"cycle through an ancestor", []string{"a", "b"}, "b", `application a → b → p renders Application "b": app of apps: cycle b → p → b`},
		{"self", nil, "p", `application p renders Application "p": app of apps: cycle p → p`},
		{"duplicate", nil, "other", `application p renders Application "other": app of apps: duplicate Application name "other": also defined at other.yaml:7`},
		{"too deep", deep, "x", `app of apps: l0 → l1 → l2 → l3 → l4 → p → x is deeper than 5 levels of children (the limit)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := &Generated{App: fleet.Application{Metadata: fleet.ObjectMeta{Name: "p"}}, File: "p.yaml", Line: 1, Parents: tt.parents}
			known := map[string]*Generated{"other": {File: "other.yaml", Line: 7}}
			got, err := Children(t.Context(), f, noRepos{}, parent, objects(t, childApp(tt.child, "dev")+"---\n"+childApp("fine", "dev")), known)
			if !errors.Is(err, ErrAppOfApps) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to say %q", err, tt.want)
			}
			want := []string{"fine"}
			if len(tt.parents) == len(deep) {
				want = nil // every child is too deep
			}
			var names []string
			for _, g := range got {
				names = append(names, g.App.Metadata.Name)
			}
			if !cmp.Equal(want, names) {
				t.Errorf("children %v, want %v", names, want)
			}
		})
	}
	// Deep but within the limit.
	parent := &Generated{App: fleet.Application{Metadata: fleet.ObjectMeta{Name: "p"}}, Parents: deep[:len(deep)-1]}
	if _, err := Children(t.Context(), f, noRepos{}, parent, objects(t, childApp("x", "dev")), map[string]*Generated{}); err != nil {
		t.Errorf("depth %d: %v", fleet.MaxAppOfAppsDepth, err)
	}
}

// FuzzChildren: whatever objects a parent renders, Children does not
// panic, answers the same twice, and never accepts a child named like
// the parent, an ancestor or a known Application, nor one past the depth
// limit.
func FuzzChildren(f *testing.F) {
	f.Add(childApp("a", "dev"), 0)
	f.Add(childApp("p", "dev")+"---\n"+childApp("q", "prod"), 4)
	f.Add("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\nspec:\n  generators: [{list: {elements: [{n: a}, {n: b}]}}]\n  template:\n    metadata: {name: '{{n}}'}\n    spec: {project: default, source: {repoURL: r, path: p}, destination: {name: dev}}\n", 1)
	f.Add("apiVersion: argoproj.io/v1\nkind: Application\nmetadata: {name: 1}\nspec: {}\n", 2)
	fl := childrenFleet()
	f.Fuzz(func(t *testing.T, stream string, depth int) {
		if depth < 0 || depth > 8 || len(stream) > 4096 || strings.Contains(stream, "&") {
			return // rendered objects hold no YAML aliases: the harness's decoder would expand them
		}
		objs := objects(t, stream)
		parents := make([]string, depth)
		for i := range parents {
			parents[i] = fmt.Sprintf("a%d", i)
		}
		parent := &Generated{App: fleet.Application{Metadata: fleet.ObjectMeta{Name: "p"}}, Parents: parents}
		run := func() ([]Generated, string) {
			known := map[string]*Generated{"taken": {}}
			got, err := Children(context.Background(), fl, noRepos{}, parent, objs, known)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			return got, msg
		}
		got, msg := run()
		again, msg2 := run()
		if msg != msg2 || len(got) != len(again) {
			t.Fatalf("not deterministic: %q vs %q", msg, msg2)
		}
		for i, g := range got {
			name := g.App.Metadata.Name
			if name == "p" || name == "taken" || strings.HasPrefix(name, "a") && len(name) == 2 && int(name[1]-'0') < depth {
				t.Fatalf("accepted %q", name)
			}
			if len(g.Parents) != depth+1 || depth+1 > fleet.MaxAppOfAppsDepth {
				t.Fatalf("child %q at depth %d", name, len(g.Parents))
			}
			if again[i].App.Metadata.Name != name {
				t.Fatalf("order differs: %q vs %q", name, again[i].App.Metadata.Name)
			}
		}
	})
}
