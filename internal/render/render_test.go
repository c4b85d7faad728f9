package render

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
)

type diskRepo string

func (d diskRepo) Checkout(context.Context, string, string) (string, string, error) {
	return string(d), "", nil
}

func app(name, path, ns string, k *fleet.ApplicationSourceKustomize, d *fleet.ApplicationSourceDirectory) *fleet.Application {
	a := &fleet.Application{}
	a.Metadata.Name = name
	a.Spec.Destination.Namespace = ns
	a.Spec.Source = &fleet.ApplicationSource{RepoURL: "https://example.com/r.git", Path: path, Kustomize: k, Directory: d}
	return a
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.0}]}
`

func TestKustomizeOptions(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"base/kustomization.yaml": "resources: [deployment.yaml]\nimages: [{name: other, newTag: '2'}]\n",
		"base/deployment.yaml":    deployment,
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	out, err := b.Render(t.Context(), app("web-prod", "base", "prod", &fleet.ApplicationSourceKustomize{
		NamePrefix: "p-", NameSuffix: "-s", Images: []string{"nginx:1.27"},
		CommonLabels: map[string]string{"team": "a"}, CommonAnnotations: map[string]string{"note": "x"},
		Namespace: "web", Replicas: []fleet.KustomizeReplica{{Name: "web", Count: fleet.IntOrString{IntVal: 4}}},
		Patches: []fleet.KustomizePatch{{Target: &fleet.KustomizeSelector{Kind: "Deployment"},
			Patch: `[{"op": "add", "path": "/spec/minReadySeconds", "value": 5}]`}},
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    flotilla.dev/app: web-prod
    note: x
  labels:
    app: web
    app.kubernetes.io/managed-by: flotilla
    team: a
  name: p-web-s
  namespace: web
spec:
  minReadySeconds: 5
  replicas: 4
  selector:
    matchLabels:
      app: web
      team: a
  template:
    metadata:
      annotations:
        note: x
      labels:
        app: web
        team: a
    spec:
      containers:
      - image: nginx:1.27
        name: web
`
	if diff := cmp.Diff(want, string(out.Manifest)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if before, _ := os.ReadFile(filepath.Join(dir, "base/kustomization.yaml")); strings.Contains(string(before), "p-") {
		t.Error("the build changed the checkout")
	}
}

func TestNamespaceDefaultingAndOrder(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"app/all.yaml": `apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
apiVersion: unknown.io/v1
kind: Gadget
metadata: {name: g}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}, versions: []}
---
apiVersion: v1
kind: Namespace
metadata: {name: team}
`})
	out, err := NewBuilder(diskRepo(dir), fleet.PolicyConfig{}).Render(t.Context(), app("a", "app", "team", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range out.Objects() {
		got = append(got, order.ID(o))
	}
	want := []string{
		"CustomResourceDefinition/widgets.example.com", "Namespace/team", "ClusterRole/r",
		"ConfigMap/team/c", "Widget/team/w", // namespaced through the CRD in the same render
		"Gadget/g", // unknown kind: left as it is
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDirectoryRecurseIncludeExclude(t *testing.T) {
	t.Parallel()
	cm := func(n string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + n + "}\n" }
	dir := gittest.Files(t, map[string]string{
		"d/a.yaml": cm("a"), "d/b.yml": cm("b"), "d/c.json": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`,
		"d/notes.txt": "not yaml", "d/sub/d.yaml": cm("d"), "d/sub/skip.yaml": cm("skip"),
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	names := func(d *fleet.ApplicationSourceDirectory) []string {
		out, err := b.Render(t.Context(), app("a", "d", "ns", nil, d))
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, o := range out.Objects() {
			n = append(n, o.GetName())
		}
		return n
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, names(nil)); diff != "" {
		t.Errorf("flat (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, names(&fleet.ApplicationSourceDirectory{Recurse: true, Exclude: "*skip*"})); diff != "" {
		t.Errorf("recurse+exclude (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "d"}, names(&fleet.ApplicationSourceDirectory{Recurse: true, Include: "{a.yaml,sub/d.yaml}"})); diff != "" {
		t.Errorf("include (-want +got):\n%s", diff)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"remote/kustomization.yaml": "resources:\n- https://github.com/example/repo//base?ref=v1\n",
		"ok/cm.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"dup/a.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	b.Charts.Allow = []string{"https://charts.example.com"} // nothing is fetched
	helm := app("h", "ok", "", nil, nil)
	helm.Spec.Source.Chart, helm.Spec.Source.TargetRevision = "nginx", "1.0.0"
	for _, tt := range []struct {
		app  *fleet.Application
		want string
	}{
		{app("r", "remote", "", nil, nil), `remote/kustomization.yaml: resources[0]: remote "https://github.com/example/repo//base?ref=v1" is not allowed`},
		{helm, "chart repository not allowed: https://example.com/r.git"},
		{app("m", "missing", "", nil, nil), `path "missing" does not exist in the repository`},
		{app("e", "../x", "", nil, nil), "path leaves the repository"},
		{app("d", "dup", "ns", nil, nil), "ConfigMap/ns/c appears more than once"},
		{app("k", "ok", "", &fleet.ApplicationSourceKustomize{NamePrefix: "x"}, nil), `source.kustomize is set but "ok" has no kustomization file`},
	} {
		_, err := b.Render(t.Context(), tt.app)
		var re *Error
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &re) || re.App != tt.app.Metadata.Name {
			t.Errorf("%s: got %v, want %q", tt.app.Metadata.Name, err, tt.want)
		}
	}
}

// TestIdenticalBuildsRunOnce renders one source for many apps at once.
func TestIdenticalBuildsRunOnce(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{"base/kustomization.yaml": "resources: [deployment.yaml]\n", "base/deployment.yaml": deployment})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := b.Render(t.Context(), app("web-"+string(rune('a'+i)), "base", "ns", nil, nil))
			if err != nil || out.Objects()[0].GetAnnotations()[AppAnnotation] != "web-"+string(rune('a'+i)) {
				t.Errorf("render %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if n := b.Builds(); n != 1 {
		t.Errorf("%d builds for 20 apps of one source, want 1", n)
	}
}

// TestEncodeMatchesSigsYAML pins Encode (yaml.v2 directly) to the output of
// sigs.k8s.io/yaml, which kubectl uses, on values where YAML is tricky.
func TestEncodeMatchesSigsYAML(t *testing.T) {
	t.Parallel()
	objs, err := Decode("x.json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"a":"true","b":"1.0","c":"0x10","d":"~","e":"","f":"yes","g":"2026-01-01"}},
		"data":{"multi":"line one\nline two\n","colon":"a: b","hash":"# no","lead":" space","quote":"'q'","dq":"\"d\"","uni":"héllo ☃","num":"007"},
		"spec":{"int":3,"big":9007199254740993,"neg":-1,"float":0.5,"exp":1.5e-7,"t":true,"n":null,"empty":{},"list":[],"nested":[{"k":[1,"2",{"x":null}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Encode(objs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sigsyaml.Marshal(objs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("(-sigs.k8s.io/yaml +Encode):\n%s", diff)
	}
}

// TestSharedOutputEqualsOwnOutput checks that Applications served from the
// shared output (one encoding per build and namespace, the name put in
// afterwards) get exactly the bytes and objects of their own post-processing,
// including names YAML would quote and sources holding the placeholder.
func TestSharedOutputEqualsOwnOutput(t *testing.T) {
	t.Parallel()
	configMap := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {note: " + placeholder + "}\n"
	dir := gittest.Files(t, map[string]string{
		"base/kustomization.yaml":  "resources: [deployment.yaml]\n",
		"base/deployment.yaml":     deployment,
		"odd/kustomization.yaml":   "resources: [deployment.yaml, cm.yaml]\n",
		"odd/deployment.yaml":      deployment,
		"odd/cm.yaml":              configMap,
		"multi/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: m-\n",
		"multi/cm.yaml":            strings.Replace(configMap, placeholder, "x", 1),
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	shared := 0
	for _, path := range []string{"base", "odd", "multi"} {
		for _, name := range []string{"web-a", "web.b", "true", "123", "1e3", "null", "web-c"} {
			a := app(name, path, "ns", nil, nil)
			if path == "multi" {
				a.Spec.Sources = []fleet.ApplicationSource{*a.Spec.Source, {RepoURL: "https://example.com/r.git", Path: "base"}}
				a.Spec.Source = nil
			}
			out, err := b.Render(t.Context(), a)
			if err != nil {
				t.Fatalf("%s/%s: %v", path, name, err)
			}
			var built [][]*unstructured.Unstructured
			for _, s := range a.Spec.AllSources() {
				objs, _, err := b.build(dir, "", s, helmInputs{})
				if err != nil {
					t.Fatal(err)
				}
				built = append(built, objs)
			}
			objs, manifest, err := b.finishAll("ns", name, built)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(manifest), string(out.Manifest)); diff != "" {
				t.Errorf("%s/%s manifest (-own +shared):\n%s", path, name, diff)
			}
			got := out.Objects()
			if len(objs) != len(got) || out.Len() != len(got) {
				t.Fatalf("%s/%s: %d objects (Len %d), want %d", path, name, len(got), out.Len(), len(objs))
			}
			for i := range objs {
				if diff := cmp.Diff(objs[i].Object, got[i].Object); diff != "" {
					t.Errorf("%s/%s object %d (-own +shared):\n%s", path, name, i, diff)
				}
			}
		}
	}
	b.mu.Lock()
	for _, f := range b.outputs {
		if f.err == nil {
			shared++
		}
	}
	b.mu.Unlock()
	// base and multi are shared; odd holds the placeholder and is not.
	if shared != 2 {
		t.Errorf("%d shared outputs, want 2 (base, multi)", shared)
	}
}

// TestDashedNamesArePlainScalars: the fast path of plainScalar agrees
// with the YAML encoder on every name it accepts, tricky ones included.
func TestDashedNamesArePlainScalars(t *testing.T) {
	names := []string{"web-prod", "a-", "a--b", "x-1", "e-3", "n-o", "y-es", "on-off", "null-", "nan-", "inf-",
		"svc-07-cluster-199", "a-" + strings.Repeat("b", 250), "1-a", "-a", "web", "true", "Web-a", "web_a", "web.a", "a-b:c", "a- b"}
	fast := 0
	for _, n := range names {
		if dashedName(n) {
			fast++
			if !yamlPlain(n) {
				t.Errorf("%q: the fast path says plain, the YAML encoder quotes it", n)
			}
		}
	}
	if fast < 10 {
		t.Errorf("the fast path accepted %d names, want the dashed ones", fast)
	}
}

func FuzzDashedName(f *testing.F) {
	for _, s := range []string{"web-prod", "a-", "e-3", "true", "1-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dashedName(s) && !yamlPlain(s) {
			t.Errorf("%q: the fast path says plain, the YAML encoder quotes it", s)
		}
	})
}

// TestResourceJSONMatchesKyaml pins resourceJSON (decoding the node) to
// kyaml's RNode.MarshalJSON (writing YAML text and parsing it again) on
// values where YAML is tricky.
func TestResourceJSONMatchesKyaml(t *testing.T) {
	t.Parallel()
	fs := filesys.MakeFsInMemory()
	files := map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\nlabels: [{pairs: {team: \"007\"}}]\n",
		"cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: tricky
  annotations: {a: "yes", b: "0x10", c: "1e3", d: "~", e: "", f: "true", g: "2026-01-01", h: "null"}
data:
  block: |
    line one
      indented
  folded: >
    folded
    text
  quoted: "say \"hi\" <&>"
  unicode: héllo ☃
base: &base {x: 1, y: [a, b]}
copy: *base
merged:
  <<: *base
  z: 3
numbers: [0x10, 0o17, 1e3, 1.5, -0, 9007199254740993, 010, 1_000]
scalars: [yes, no, on, off, ~, null, true, False, "", '']
---
apiVersion: v1
kind: List
items: []
`,
	}
	for name, content := range files {
		if err := fs.WriteFile(name, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources() {
		want, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := resourceJSON(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\nresourceJSON %s\nMarshalJSON  %s", r.CurId(), got, want)
		}
	}
}

// TestRefusesUnnamedAndPathLikeNames: objects the API server could not
// address are refused with the app, the source and the kind, in both
// build paths.
func TestRefusesUnnamedAndPathLikeNames(t *testing.T) {
	t.Parallel()
	cm := func(meta string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata: " + meta + "\n" }
	tests := []struct {
		name, meta, want string
	}{
		{"no name", "{namespace: web}", "application web-prod: source https://example.com/r/app: invalid object name: an object of kind ConfigMap in namespace web has neither metadata.name nor metadata.generateName (name the object)"},
		{"dot dot", "{name: '..'}", `application web-prod: source https://example.com/r/app: invalid object name: ConfigMap/..: metadata.name ".." may not be '..': it is a path segment of the object's API URL (rename the object)`},
		{"dot", "{name: '.'}", `application web-prod: source https://example.com/r/app: invalid object name: ConfigMap/.: metadata.name "." may not be '.': it is a path segment of the object's API URL (rename the object)`},
		{"slash", "{name: a/b}", `application web-prod: source https://example.com/r/app: invalid object name: ConfigMap/a/b: metadata.name "a/b" may not contain '/': it is a path segment of the object's API URL (rename the object)`},
		{"percent", "{name: a%b}", `application web-prod: source https://example.com/r/app: invalid object name: ConfigMap/a%b: metadata.name "a%b" may not contain '%': it is a path segment of the object's API URL (rename the object)`},
		{"generateName with a slash", "{generateName: a/}", `application web-prod: source https://example.com/r/app: invalid object name: an object of kind ConfigMap has metadata.generateName "a/", which may not contain '/' (rename the object)`},
		{"generateName without a hook", "{generateName: job-}", `application web-prod: source https://example.com/r/app: invalid object name: an object of kind ConfigMap with metadata.generateName "job-": cannot use generate name with apply (only hooks may: set metadata.name, or make it a hook with the argocd.argoproj.io/hook annotation)`},
		{"generateName of a Skip", "{generateName: job-, annotations: {argocd.argoproj.io/hook: Skip}}", `application web-prod: source https://example.com/r/app: invalid object name: an object of kind ConfigMap with metadata.generateName "job-": cannot use generate name with apply (only hooks may: set metadata.name, or make it a hook with the argocd.argoproj.io/hook annotation)`},
		{"generateName of a Helm CRD", "{generateName: job-, annotations: {helm.sh/hook: crd-install}}", `application web-prod: source https://example.com/r/app: invalid object name: an object of kind ConfigMap with metadata.generateName "job-": cannot use generate name with apply (only hooks may: set metadata.name, or make it a hook with the argocd.argoproj.io/hook annotation)`},
		{"generateName of a hook", "{generateName: job-, annotations: {argocd.argoproj.io/hook: PreSync}}", ""},
		{"generateName of a Helm hook", "{generateName: job-, annotations: {helm.sh/hook: pre-install}}", ""},
	}
	for _, tt := range tests {
		for _, kustomize := range []bool{false, true} {
			if kustomize && tt.meta != "{name: '..'}" && tt.meta != "{name: a%b}" {
				continue // Kustomize refuses objects without a name itself
			}
			t.Run(fmt.Sprintf("%s/kustomize=%t", tt.name, kustomize), func(t *testing.T) {
				t.Parallel()
				files := map[string]string{"app/cm.yaml": cm(tt.meta)}
				if kustomize {
					files["app/kustomization.yaml"] = "resources: [cm.yaml]\n"
				}
				b := NewBuilder(diskRepo(gittest.Files(t, files)), fleet.PolicyConfig{})
				_, err := b.Render(t.Context(), app("web-prod", "app", "prod", nil, nil))
				got := ""
				if err != nil {
					got = err.Error()
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				if tt.want != "" && !errors.Is(err, ErrObjectName) {
					t.Errorf("error is not ErrObjectName: %v", err)
				}
			})
		}
	}
}

// TestSymlinkLoopsAreNamed: a symbolic link loop anywhere a build looks is
// reported as a loop naming the link, not as a missing file, an escape or
// "too many links".
func TestSymlinkLoopsAreNamed(t *testing.T) {
	t.Parallel()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
	tests := []struct {
		name  string
		files map[string]string
		links map[string]string // link -> target
		path  string            // the app's source path
		loop  string            // the link the error must name
	}{
		{"kustomize resource links to itself", map[string]string{"app/kustomization.yaml": "resources: [cm.yaml, loop]\n", "app/cm.yaml": cm},
			map[string]string{"app/loop": "loop"}, "app", "app/loop"},
		{"kustomize resource through two links", map[string]string{"app/kustomization.yaml": "resources: [a/x.yaml]\n"},
			map[string]string{"app/a": "b", "app/b": "a"}, "app", "app/a"},
		{"kustomization file is a loop", map[string]string{"app/cm.yaml": cm},
			map[string]string{"app/kustomization.yaml": "kustomization.yaml"}, "app", "app/kustomization.yaml"},
		{"kustomize patch file is a loop", map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\npatches: [{path: p.yaml}]\n", "app/cm.yaml": cm},
			map[string]string{"app/p.yaml": "p.yaml"}, "app", "app/p.yaml"},
		{"source path is a loop", nil, map[string]string{"app": "app"}, "app", "app"},
		{"directory file is a loop", map[string]string{"app/cm.yaml": cm},
			map[string]string{"app/x.yaml": "x.yaml"}, "app", "app/x.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := gittest.Files(t, tt.files)
			for link, target := range tt.links {
				p := filepath.Join(dir, filepath.FromSlash(link))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, p); err != nil {
					t.Fatal(err)
				}
			}
			b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
			_, err := b.Render(t.Context(), app("web", tt.path, "prod", nil, nil))
			var loop *fleet.SymlinkLoopError
			if !errors.As(err, &loop) {
				t.Fatalf("error is not a symbolic link loop: %v", err)
			}
			want := "symbolic link loop at " + filepath.Join(dir, filepath.FromSlash(tt.loop)) + " (the link leads back to itself: fix or remove it)"
			if !strings.HasSuffix(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to end with:\n%s", err, want)
			}
		})
	}
}

// TestOutputWithout: dropping objects from an output shared by several
// Applications gives each its own manifest, with its own name, as if the
// dropped objects had never been built.
func TestOutputWithout(t *testing.T) {
	t.Parallel()
	child := "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: child}\nspec: {project: default}\n"
	dir := gittest.Files(t, map[string]string{
		"with/deployment.yaml": deployment,
		"with/child.yaml":      child,
		"without/d.yaml":       deployment,
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	isApp := func(u *unstructured.Unstructured) bool { return u.GetKind() == "Application" }
	for _, name := range []string{"web-a", "web-b"} {
		out, err := b.Render(t.Context(), app(name, "with", "ns", nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if out.Shared == nil && name == "web-b" {
			t.Fatal("the output is not shared: the test does not test sharing")
		}
		got, err := out.Without(isApp)
		if err != nil {
			t.Fatal(err)
		}
		want, err := b.Render(t.Context(), app(name, "without", "ns", nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want.Manifest), string(got.Manifest)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		if got.Len() != 1 || got.Shared != nil || len(got.Objects()) != 1 {
			t.Errorf("%s: %d objects, shared %v", name, got.Len(), got.Shared != nil)
		}
		if same, _ := out.Without(func(*unstructured.Unstructured) bool { return false }); same != out {
			t.Errorf("%s: dropping nothing made a new output", name)
		}
	}
}
