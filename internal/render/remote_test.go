package render

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// remoteWorld is what the attacks aim at: an HTTP server that counts every
// connection (a build that reached it would fetch a ConfigMap), a real bare repository a file:// URL would clone, and a
// temporary directory that must stay empty.
type remoteWorld struct {
	host   string // host:port of the server
	origin string // bare repository holding base/kustomization.yaml
	conns  atomic.Int64
}

func newRemoteWorld(t testing.TB) *remoteWorld {
	t.Helper()
	w := &remoteWorld{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprint(rw, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fetched}\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			w.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	w.host = srv.Listener.Addr().String()
	src := gittest.Files(t, map[string]string{
		"base/kustomization.yaml": "resources: [cm.yaml]\n",
		"base/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cloned}\n",
	})
	_, w.origin = gittest.Fleet(t, src)
	return w
}

// urls are the ways to write a remote reference, in the letter cases and
// forms Kustomize accepts: each would be fetched or cloned.
func (w *remoteWorld) urls() map[string]string {
	return map[string]string{
		"http":             "http://" + w.host + "/cm.yaml",
		"HTTP upper":       "HTTP://" + w.host + "/cm.yaml",
		"Https mixed":      "Https://" + w.host + "/cm.yaml",
		"http no slashes":  "http:" + w.host + "/cm.yaml",
		"git over http":    "http://" + w.host + "/org/repo.git//base?ref=main",
		"git:: http":       "git::http://" + w.host + "/org/repo//base",
		"GIT:: upper":      "GIT::HTTP://" + w.host + "/org/repo//base",
		"ssh":              "ssh://git@" + w.host + "/org/repo//base",
		"SSH upper":        "SSH://git@" + w.host + "/org/repo//base",
		"scp-like":         "git@" + w.host + ":org/repo//base",
		"user@host/path":   "deploy@" + w.host + "/org/repo//base",
		"github shorthand": "github.com/org/repo//base?ref=v1",
		"GitHub mixed":     "GitHub.com/org/repo/base",
		"github scp":       "github.com:org/repo//base",
		"file":             "file://" + w.origin + "//base",
		"FILE upper":       "FILE://" + w.origin + "//base",
		"git:: file":       "git::file://" + w.origin + "//base",
	}
}

// remoteField puts a reference in one field of a kustomization: the files
// of a repository whose source is app/, and the file and field the refusal
// must name.
type remoteField struct {
	name  string
	files func(u string) map[string]string
	file  string
	field string
}

func kust(content string) func(string) map[string]string {
	return func(u string) map[string]string {
		return map[string]string{
			"app/kustomization.yaml": strings.ReplaceAll(content, "@URL@", fmt.Sprintf("%q", u)),
			"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		}
	}
}

func with(f func(string) map[string]string, extra map[string]string) func(string) map[string]string {
	return func(u string) map[string]string {
		m := f(u)
		for k, v := range extra {
			m[k] = strings.ReplaceAll(v, "@URL@", fmt.Sprintf("%q", u))
		}
		return m
	}
}

var remoteFields = []remoteField{
	{"resources", kust("resources: [cm.yaml, @URL@]\n"), "app/kustomization.yaml", "resources[1]"},
	{"Resources in another case", kust("RESOURCES: [@URL@]\n"), "app/kustomization.yaml", "resources[0]"},
	{"bases", kust("resources: [cm.yaml]\nbases: [@URL@]\n"), "app/kustomization.yaml", "bases[0]"},
	{"components", kust("resources: [cm.yaml]\ncomponents: [@URL@]\n"), "app/kustomization.yaml", "components[0]"},
	{"crds", kust("resources: [cm.yaml]\ncrds: [@URL@]\n"), "app/kustomization.yaml", "crds[0]"},
	{"configurations", kust("resources: [cm.yaml]\nconfigurations: [@URL@]\n"), "app/kustomization.yaml", "configurations[0]"},
	{"generators", kust("generators: [@URL@]\n"), "app/kustomization.yaml", "generators[0]"},
	{"transformers", kust("resources: [cm.yaml]\ntransformers: [@URL@]\n"), "app/kustomization.yaml", "transformers[0]"},
	{"validators", kust("resources: [cm.yaml]\nvalidators: [@URL@]\n"), "app/kustomization.yaml", "validators[0]"},
	{"openapi.path", kust("resources: [cm.yaml]\nopenapi: {path: @URL@}\n"), "app/kustomization.yaml", "openapi.path"},
	{"patches", kust("resources: [cm.yaml]\npatches: [{path: @URL@}]\n"), "app/kustomization.yaml", "patches[0].path"},
	{"patchesStrategicMerge", kust("resources: [cm.yaml]\npatchesStrategicMerge: [@URL@]\n"), "app/kustomization.yaml", "patchesStrategicMerge[0]"},
	{"patchesJson6902", kust("resources: [cm.yaml]\npatchesJson6902: [{path: @URL@, target: {kind: ConfigMap, name: c}}]\n"), "app/kustomization.yaml", "patchesJson6902[0].path"},
	{"replacements", kust("resources: [cm.yaml]\nreplacements: [{path: @URL@}]\n"), "app/kustomization.yaml", "replacements[0].path"},
	{"configMapGenerator files", kust("configMapGenerator: [{name: g, files: [@URL@]}]\n"), "app/kustomization.yaml", "configMapGenerator[0].files[0]"},
	{"configMapGenerator key=file", func(u string) map[string]string {
		return kust("configMapGenerator: [{name: g, files: [\"key=" + strings.ReplaceAll(u, `"`, `\"`) + "\"]}]\n")("")
	}, "app/kustomization.yaml", "configMapGenerator[0].files[0]"},
	{"configMapGenerator envs", kust("configMapGenerator: [{name: g, envs: [@URL@]}]\n"), "app/kustomization.yaml", "configMapGenerator[0].envs[0]"},
	{"configMapGenerator env", kust("configMapGenerator: [{name: g, env: @URL@}]\n"), "app/kustomization.yaml", "configMapGenerator[0].env"},
	{"secretGenerator files", kust("secretGenerator: [{name: g, files: [@URL@]}]\n"), "app/kustomization.yaml", "secretGenerator[0].files[0]"},
	{"secretGenerator envs", kust("secretGenerator: [{name: g, envs: [@URL@]}]\n"), "app/kustomization.yaml", "secretGenerator[0].envs[0]"},
	{"nested base", with(kust("resources: [../base]\n"), map[string]string{
		"base/kustomization.yaml": "resources: [@URL@]\n",
	}), "base/kustomization.yaml", "resources[0]"},
	{"nested component", with(kust("resources: [cm.yaml]\ncomponents: [../comp]\n"), map[string]string{
		"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches: [{path: @URL@}]\n",
	}), "comp/kustomization.yaml", "patches[0].path"},
	{"PatchTransformer file", with(kust("resources: [cm.yaml]\ntransformers: [t.yaml]\n"), map[string]string{
		"app/t.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: @URL@\n",
	}), "app/t.yaml", "transformers[0] (PatchTransformer p): path"},
	{"PatchTransformer inline", kust("resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  PATH: @URL@\n"),
		"app/kustomization.yaml", "transformers[0] (PatchTransformer p): PATH"},
	{"ReplacementTransformer", with(kust("resources: [cm.yaml]\ntransformers: [r.yaml]\n"), map[string]string{
		"app/r.yaml": "apiVersion: builtin\nkind: ReplacementTransformer\nmetadata: {name: r}\nreplacements: [{path: @URL@}]\n",
	}), "app/r.yaml", "transformers[0] (ReplacementTransformer r): replacements[0].path"},
	{"config List", with(kust("resources: [cm.yaml]\ntransformers: [t.yaml]\n"), map[string]string{
		"app/t.yaml": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: @URL@\n",
	}), "app/t.yaml", "transformers[0] (PatchTransformer p): path"},
	{"generator kustomization", with(kust("generators: [../gen]\n"), map[string]string{
		"gen/kustomization.yaml": "resources: [g.yaml]\n",
		"gen/g.yaml":             "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [@URL@]\n",
	}), "gen/g.yaml", "resources[0] (ConfigMapGenerator g): files[0]"},
}

// TestRemoteContentIsRefused attacks every field Kustomize loads with
// every way of writing a remote reference: each is refused, naming the
// file, the field and the reference; nothing is fetched, cloned or cached,
// and no temporary directory is left.
func TestRemoteContentIsRefused(t *testing.T) {
	w := newRemoteWorld(t)
	base, cacheDir, watch := t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", watch)
	urls := w.urls()
	schemes := make([]string, 0, len(urls))
	for s := range urls {
		schemes = append(schemes, s)
	}
	slices.Sort(schemes)
	n := 0
	for _, f := range remoteFields {
		for _, scheme := range schemes {
			u := urls[scheme]
			t.Run(f.name+"/"+scheme, func(t *testing.T) {
				n++
				root := filepath.Join(base, fmt.Sprint(n))
				writeFiles(t, root, f.files(u))
				b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
				b.Cache = DirCache(cacheDir)
				out, err := b.Render(t.Context(), app("web", "app", "web", nil, nil))
				var re *RemoteError
				if !errors.As(err, &re) || !errors.Is(err, ErrRemote) {
					t.Fatalf("got %v (output %v), want a RemoteError", err, out != nil)
				}
				want := &RemoteError{File: f.file, Field: f.field, URL: redact.URL(u)}
				if diff := cmp.Diff(want, re); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				for _, s := range []string{"application web", f.file, f.field, want.URL, "policy.allowRemoteResources", "vendor"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
			})
		}
	}
	if c := w.conns.Load(); c != 0 {
		t.Errorf("%d connections to the remote server", c)
	}
	assertEmpty(t, watch, "the temporary directory")
	assertEmpty(t, cacheDir, "the build cache")
}

// TestPluginConfigKustomizations: a kustomization that provides plugin
// configurations builds when it only lists them, and is refused when it
// could rewrite what they load: patching a PatchTransformer's path to a
// URL would make Kustomize fetch it.
func TestPluginConfigKustomizations(t *testing.T) {
	t.Parallel()
	w := newRemoteWorld(t)
	root := gittest.Files(t, map[string]string{
		"app/kustomization.yaml":  "resources: [cm.yaml]\ntransformers: [../tf]\n",
		"app/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"app/patch.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {patched: \"yes\"}\n",
		"tf/kustomization.yaml":   "resources: [t.yaml]\n",
		"tf/t.yaml":               "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: patch.yaml\n",
		"app2/kustomization.yaml": "resources: [../app/cm.yaml]\ntransformers: [../tf2]\n",
		"tf2/kustomization.yaml": "resources: [../tf/t.yaml]\npatches:\n- target: {kind: PatchTransformer}\n  patch: |\n    - op: replace\n      path: /path\n" +
			"      value: http://" + w.host + "/p.yaml\n",
	})
	b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
	out, err := b.Render(t.Context(), app("web", "app", "web", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Manifest), "patched: \"yes\"") {
		t.Errorf("the transformer did not run:\n%s", out.Manifest)
	}
	_, err = b.Render(t.Context(), app("web", "app2", "web", nil, nil))
	if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "tf2/kustomization.yaml: patches: a kustomization that provides plugin configurations may not rewrite them") {
		t.Errorf("got %v, want the rewrite refused", err)
	}
	if c := w.conns.Load(); c != 0 {
		t.Errorf("%d connections to the remote server", c)
	}
}

// TestRemoteFromApplicationOptions: components and patches added by the
// Application's source.kustomize are checked like the file's own.
func TestRemoteFromApplicationOptions(t *testing.T) {
	t.Parallel()
	root := gittest.Files(t, map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
	})
	b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
	for _, tt := range []struct {
		opts  *fleet.ApplicationSourceKustomize
		field string
	}{
		{&fleet.ApplicationSourceKustomize{Components: []string{"HTTPS://example.com/org/repo//comp"}}, "components[0]"},
		{&fleet.ApplicationSourceKustomize{Patches: []fleet.KustomizePatch{{Path: "Http://example.com/p.yaml"}}}, "patches[0].path"},
	} {
		_, err := b.Render(t.Context(), app("web", "app", "web", tt.opts, nil))
		var re *RemoteError
		if !errors.As(err, &re) || re.File != "app/kustomization.yaml" || re.Field != tt.field {
			t.Errorf("got %v, want %s refused", err, tt.field)
		}
	}
}

// TestRemoteBaseAllowed: with policy.allowRemoteResources the same
// reference is cloned, built, not cached, and the clone is removed.
func TestRemoteBaseAllowed(t *testing.T) {
	w := newRemoteWorld(t)
	root := gittest.Files(t, map[string]string{"app/kustomization.yaml": "resources:\n- file://" + w.origin + "//base\n"})
	cacheDir, watch := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", watch)
	b := NewBuilder(diskRepo(root), fleet.PolicyConfig{AllowRemoteResources: true})
	b.Cache = DirCache(cacheDir)
	out, err := b.Render(t.Context(), app("web", "app", "", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Manifest), "name: cloned") {
		t.Errorf("manifest %s lacks the cloned ConfigMap", out.Manifest)
	}
	assertEmpty(t, watch, "the temporary directory")
	assertEmpty(t, cacheDir, "the build cache")
}

func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, p, content)
	}
}

func assertEmpty(t *testing.T, dir, what string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s holds %s", what, e.Name())
	}
}

// TestIsRemoteCoversKustomize: every remote form in Kustomize's own
// RepoSpec and loader tests is remote; local paths are not.
func TestIsRemoteCoversKustomize(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somedir",
		"https://fabrikops2.visualstudio.com/someorg/somerepo?ref=master",
		"http://github.com/someorg/somerepo/somedir",
		"git@github.com:someorg/somerepo/somedir",
		"git@gitlab2.sqtools.ru:10022/infra/kubernetes/thanos-base.git?ref=v0.1.0",
		"git@bitbucket.org:company/project.git//path?ref=branch",
		"https://itfs.mycompany.com/collection/project/_git/somerepos",
		"git::https://itfs.mycompany.com/collection/project/_git/somerepos",
		"ssh://git@github.com/kubernetes-sigs/kustomize//examples/multibases?ref=v3.3.1",
		"org-12345@github.com:kubernetes-sigs/kustomize",
		"file:///a/b/c/someRepo.git/somepath?ref=someBranch",
		"file://a/b/c/someRepo//somepath",
		"github.com/kubernetes-sigs/kustomize",
		"GITHUB.COM/kubernetes-sigs/kustomize",
		"Git::Ssh://Git@GitHub.com/org/repo",
		"https://raw.githubusercontent.com/org/repo/main/cm.yaml",
		"HtTpS://example.com/x",
		" https://example.com/x",
	} {
		if !isRemote(s) {
			t.Errorf("isRemote(%q) = false", s)
		}
	}
	for _, s := range []string{"cm.yaml", "../base", "overlays/prod", "a:b.yaml", "github.com.yaml", "x/https://y", "kind: ConfigMap"} {
		if isRemote(s) {
			t.Errorf("isRemote(%q) = true", s)
		}
	}
}

// TestKustomizationFieldsAreClassified fails when Kustomize adds a field
// the remote scan does not know: each must be scanned (it names content
// to load) or known to load nothing.
func TestKustomizationFieldsAreClassified(t *testing.T) {
	t.Parallel()
	scanned := []string{
		"resources", "bases", "components", "crds", "configurations", "generators", "transformers", "validators",
		"openapi", "patches", "patchesStrategicMerge", "patchesJson6902", "replacements",
		"configMapGenerator", "secretGenerator", "helmGlobals", "helmCharts", "helmChartInflationGenerator",
	}
	loadNothing := []string{
		"kind", "apiVersion", "metadata", "namePrefix", "nameSuffix", "namespace", "commonLabels", "labels",
		"commonAnnotations", "images", "imageTags", "replicas", "vars", "sortOptions", "generatorOptions", "buildMetadata",
	}
	want := append(append([]string{}, scanned...), loadNothing...)
	slices.Sort(want)
	for typ, known := range map[reflect.Type][]string{
		reflect.TypeOf(types.Kustomization{}):    want,
		reflect.TypeOf(types.Patch{}):            {"options", "patch", "path", "target"},
		reflect.TypeOf(types.ReplacementField{}): {"path", "source", "sourceValue", "targets"},
		reflect.TypeOf(types.ConfigMapArgs{}):    {"behavior", "env", "envs", "files", "literals", "name", "namespace", "options"},
		reflect.TypeOf(types.SecretArgs{}):       {"behavior", "env", "envs", "files", "literals", "name", "namespace", "options", "type"},
		reflect.TypeOf(types.HelmGlobals{}):      {"chartHome", "configHome"},
	} {
		if diff := cmp.Diff(known, jsonFields(typ)); diff != "" {
			t.Errorf("%s fields changed: classify them in remote.go (-known +now):\n%s", typ, diff)
		}
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// outsideMarker is in a file outside the repository: output holding it
// means the build read outside the checkout.
const outsideMarker = "outside-the-repository-4b1d"

// FuzzKustomization: whatever an app's kustomization.yaml says, the build
// either succeeds within the repository or fails with an error. It never
// panics, never reads outside the checkout (directly, through a symbolic
// link, a file:// clone or an absolute path), never connects to the
// network and never leaves a temporary directory.
func FuzzKustomization(f *testing.F) {
	w := newRemoteWorld(f)
	base := f.TempDir()
	root, outside := filepath.Join(base, "repo"), filepath.Join(base, "outside")
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n"
	writeFiles(f, base, map[string]string{
		"repo/app/cm.yaml":             cm,
		"repo/app/patch.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {p: q}\n",
		"repo/app/t.yaml":              "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: t}\npath: patch.yaml\n",
		"repo/app/app.env":             "A=1\n",
		"repo/base/kustomization.yaml": "resources: [deployment.yaml]\n",
		"repo/base/deployment.yaml":    deployment,
		"repo/comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnamePrefix: c-\n",
		"outside/kustomization.yaml":   "resources: [cm.yaml]\n",
		"outside/cm.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + outsideMarker + "}\ndata: {k: " + outsideMarker + "}\n",
		"outside/outside.env":          "K=" + outsideMarker + "\n",
	})
	for link, target := range map[string]string{"repo/app/linkdir": "../../outside", "repo/app/link.yaml": "../../outside/cm.yaml"} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			f.Fatal(err)
		}
	}
	_, origin := gittest.Fleet(f, outside)
	watch := f.TempDir()
	f.Setenv("TMPDIR", watch)

	for _, seed := range []string{
		"resources: [cm.yaml]\n",
		"resources: [../base, cm.yaml]\ncomponents: [../comp]\nnamePrefix: p-\n",
		"resources: [cm.yaml]\npatches: [{path: patch.yaml}]\ntransformers: [t.yaml]\n",
		"configMapGenerator: [{name: g, envs: [app.env], files: [cm.yaml]}]\n",
		"resources: [../../outside]\n",
		"resources: [linkdir]\n",
		"resources: [link.yaml]\n",
		"resources: [" + outside + "/cm.yaml]\n",
		"configMapGenerator: [{name: g, files: [../../outside/cm.yaml]}]\n",
		"configMapGenerator: [{name: g, envs: [" + outside + "/outside.env]}]\n",
		"resources: [\"file://" + origin + "\"]\n",
		"resources: [\"FILE://" + origin + "//.\"]\n",
		"resources: [\"git::file://" + origin + "\"]\n",
		"resources: [\"HTTP://" + w.host + "/cm.yaml\"]\n",
		"transformers: [\"apiVersion: builtin\\nkind: PatchTransformer\\nmetadata: {name: t}\\npath: HTTPS://" + w.host + "/p.yaml\\n\"]\n",
		"openapi: {path: \"http://" + w.host + "/schema.json\"}\n",
		"openapi: {version: v1.21.2}\nresources: [cm.yaml]\n",
		"crds: [../../outside/cm.yaml]\n",
		"resources: [cm.yaml]\nreplacements: [{path: ../../outside/cm.yaml}]\n",
		"helmCharts: [{name: c, repo: \"oci://" + w.host + "/c\"}]\n",
		"helmCharts: [{name: c, repo: \"http://" + w.host + "/c\", valuesFile: ../../outside/cm.yaml}]\n",
		"helmCharts: [{name: c, additionalValuesFiles: [link.yaml, \"http://" + w.host + "/v.yaml\"]}]\n",
		"helmGlobals: {chartHome: .}\nhelmCharts: [{name: linkdir}]\n",
		"kind: Component\n",
		// 9^9 nodes held in a string: refused before Kustomize or the
		// scan parses it.
		"resources: [cm.yaml]\ntransformers:\n- |\n" + indent("apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: t}\npatch: |\n"+indent(strings.Replace(laughs(), "kind: Bomb\nmetadata: {name: b}", "kind: ConfigMap\nmetadata: {name: c}", 1), 2), 2),
		"{]\n",
		"",
	} {
		f.Add(seed)
	}
	kfile := filepath.Join(root, "app", "kustomization.yaml")
	f.Fuzz(func(t *testing.T, content string) {
		write(t, kfile, content)
		b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
		// Charts of helmCharts come through the Fetcher, not Kustomize:
		// this one may fetch from nowhere.
		b.Charts.Allow = []string{"https://charts.invalid"}
		out, err := b.Render(t.Context(), app("web", "app", "web", nil, nil))
		switch {
		case strings.Contains(content, outsideMarker):
			// The kustomization itself says it: proves nothing.
		case err != nil && strings.Contains(err.Error(), outsideMarker):
			t.Errorf("the error quotes a file outside the repository: %v", err)
		case err == nil && strings.Contains(string(out.Manifest), outsideMarker):
			t.Errorf("the output holds a file outside the repository:\n%s", out.Manifest)
		}
		if c := w.conns.Load(); c != 0 {
			t.Fatalf("%d connections to the network", c)
		}
		entries, _ := os.ReadDir(watch)
		for _, e := range entries {
			t.Fatalf("the build left %s in the temporary directory", e.Name())
		}
	})
}

// TestScanStopsAtLinkCycles: a link back up the tree is scanned once.
func TestScanStopsAtLinkCycles(t *testing.T) {
	t.Parallel()
	root := gittest.Files(t, map[string]string{"app/kustomization.yaml": "resources: [loop]\n"})
	if err := os.Symlink(".", filepath.Join(root, "app", "loop")); err != nil {
		t.Fatal(err)
	}
	rfs, err := newRootedFS(root, &realPaths{})
	if err != nil {
		t.Fatal(err)
	}
	s := &kustScan{fs: rfs, seen: map[string]bool{}}
	if err := s.dir(filepath.Join(root, "app"), false); err != nil {
		t.Fatal(err)
	}
	if len(s.seen) != 1 {
		t.Errorf("scanned %d directories, want 1", len(s.seen))
	}
}

// TestRemoteErrorHidesCredentials refuses a remote reference that carries
// a token: the error, and its URL field carried into results and
// annotations, show the reference with the token hidden.
func TestRemoteErrorHidesCredentials(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	u := "https://x-access-token:ghs_SECRET@example.com/org/repo.git//base?ref=main&private_token=SECRET2"
	writeFiles(t, root, kust("resources: [@URL@]\n")(u))
	_, err := NewBuilder(diskRepo(root), fleet.PolicyConfig{}).Render(t.Context(), app("web", "app", "web", nil, nil))
	var re *RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a RemoteError", err)
	}
	if want := "https://***@example.com/org/repo.git//base?ref=main&private_token=***"; re.URL != want {
		t.Errorf("URL = %q, want %q", re.URL, want)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error quotes a credential: %v", err)
	}
}
