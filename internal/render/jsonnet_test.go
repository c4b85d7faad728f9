package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestJsonnetDirectory renders a directory holding YAML and Jsonnet with
// every directory.jsonnet option and compares with hand-checked YAML:
// extVars and tlas as strings and as code, a lib (relative to the
// repository root), an import next to the file winning over the libs, a
// lib winning over the application directory, an array output holding a
// List, a single object, recurse and exclude, and *.libsonnet not
// evaluated.
func TestJsonnetDirectory(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"lib/k.libsonnet":      "{ cm(name, data):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name }, data: data } }\n",
		"lib/shared.libsonnet": "'from-lib'\n",
		// Next to main.jsonnet: wins over lib/shared.libsonnet.
		"apps/web/shared.libsonnet": "'from-app-dir'\n",
		"apps/web/helper.libsonnet": `{ list: { apiVersion: 'v1', kind: 'List', items: [
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-list' } },
] } }
`,
		"apps/web/main.jsonnet": `local k = import 'k.libsonnet';
local helper = import 'helper.libsonnet';
function(replicas, suffix) [
  k.cm('settings-' + suffix, {
    env: std.extVar('env'),
    next: std.toString(replicas + 1),
    debug: if std.extVar('debug') then 'on' else 'off',
    shared: import 'shared.libsonnet',
  }),
  helper.list,
]
`,
		// Not a function: the tlas do not apply.
		"apps/web/single.jsonnet": "{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } }\n",
		// In a subdirectory the app directory and the lib both hold
		// shared.libsonnet: the lib is searched first.
		"apps/web/sub/nested.jsonnet": "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nested' }, data: { shared: import 'shared.libsonnet' } }\n",
		"apps/web/skip.jsonnet":       "error 'excluded files are not evaluated'\n",
		"apps/web/broken.libsonnet":   "error 'libsonnet files are not evaluated'\n",
		"apps/web/plain.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	out, err := b.Render(t.Context(), app("web-prod", "apps/web", "prod", nil, &fleet.ApplicationSourceDirectory{
		Recurse: true, Exclude: "skip.jsonnet",
		Jsonnet: fleet.ApplicationSourceJsonnet{
			ExtVars: []fleet.JsonnetVar{{Name: "env", Value: "prod"}, {Name: "debug", Value: "true", Code: true}},
			TLAs:    []fleet.JsonnetVar{{Name: "replicas", Value: "3", Code: true}, {Name: "suffix", Value: "a"}},
			Libs:    []string{"lib"},
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	meta := `  annotations:
    flotilla.dev/app: web-prod
  labels:
    app.kubernetes.io/managed-by: flotilla
`
	want := `apiVersion: v1
kind: ConfigMap
metadata:
` + meta + `  name: from-list
  namespace: prod
---
apiVersion: v1
data:
  shared: from-lib
kind: ConfigMap
metadata:
` + meta + `  name: nested
  namespace: prod
---
apiVersion: v1
kind: ConfigMap
metadata:
` + meta + `  name: plain
  namespace: prod
---
apiVersion: v1
data:
  debug: "on"
  env: prod
  next: "4"
  shared: from-app-dir
kind: ConfigMap
metadata:
` + meta + `  name: settings-a
  namespace: prod
---
apiVersion: v1
kind: Service
metadata:
` + meta + `  name: web
  namespace: prod
spec:
  ports:
  - port: 80
`
	if diff := cmp.Diff(want, string(out.Manifest)); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
}

// TestJsonnetStringsAreNotCode: without code: true a value is a string
// (tla "3" + 1 is "31"; an extVar "true" is no boolean).
func TestJsonnetStringsAreNotCode(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"a/main.jsonnet": "function(n) { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { num: n + 1, t: std.type(std.extVar('t')) } }\n",
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	out, err := b.Render(t.Context(), app("a", "a", "", nil, &fleet.ApplicationSourceDirectory{Jsonnet: fleet.ApplicationSourceJsonnet{
		ExtVars: []fleet.JsonnetVar{{Name: "t", Value: "true"}},
		TLAs:    []fleet.JsonnetVar{{Name: "n", Value: "3"}},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if m := string(out.Manifest); !strings.Contains(m, `num: "31"`) || !strings.Contains(m, "t: string") {
		t.Errorf("string values were read as code:\n%s", m)
	}
}

// TestJsonnetRefusals attacks the repository boundary and the output
// shapes: every escape is ErrEscape, and each error names the application
// and the file (with its line for Jsonnet errors).
func TestJsonnetRefusals(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.libsonnet")
	if err := os.WriteFile(secret, []byte("'stolen'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := func(data string) string {
		return "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { x: " + data + " } }\n"
	}
	dir := gittest.Files(t, map[string]string{
		"up/main.jsonnet":      obj("import '../../../../../../../../" + strings.TrimPrefix(secret, "/") + "'"),
		"upstr/main.jsonnet":   obj("importstr '../../x'"),
		"abs/main.jsonnet":     obj("import '" + secret + "'"),
		"link/main.jsonnet":    obj("import 'secret.libsonnet'"),
		"linkdir/main.jsonnet": obj("import 'out/secret.libsonnet'"),
		"libs/main.jsonnet":    obj("1"),
		"rec/main.jsonnet":     "local f(x) = f(x + 1) + 1;\n" + obj("f(0)"),
		"err/main.jsonnet":     "{\n  a: error 'boom',\n}\n",
		"str/main.jsonnet":     "'just a string'\n",
		"nokind/main.jsonnet":  "[{ metadata: { name: 'x' } }]\n",
		"missing/main.jsonnet": obj("import 'nowhere.libsonnet'"),
	})
	for link, target := range map[string]string{"link/secret.libsonnet": secret, "linkdir/out": outside} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	for _, tt := range []struct {
		path   string
		libs   []string
		escape bool
		want   string
	}{
		{"up", nil, true, "up/main.jsonnet"},
		{"upstr", nil, true, `import "../../x"`},
		{"abs", nil, true, "import paths are relative to the file or to directory.jsonnet.libs"},
		{"link", nil, true, "link/secret.libsonnet: path leaves the repository"},
		{"linkdir", nil, true, "linkdir/out/secret.libsonnet: path leaves the repository"},
		{"libs", []string{"../outside"}, true, `directory.jsonnet.libs "../outside"`},
		{"libs", []string{"linkdir/out"}, true, `directory.jsonnet.libs "linkdir/out"`},
		{"rec", nil, false, "max stack frames exceeded"},
		{"err", nil, false, "evaluate jsonnet err/main.jsonnet: RUNTIME ERROR: boom\n\terr/main.jsonnet:2:6-18"},
		{"str", nil, false, "str/main.jsonnet: its output is not an object"},
		{"nokind", nil, false, "nokind/main.jsonnet: element 0 of its output is not a Kubernetes object"},
		{"missing", nil, false, `couldn't open import "nowhere.libsonnet"`},
	} {
		_, err := b.Render(t.Context(), app("app-"+tt.path, tt.path, "", nil,
			&fleet.ApplicationSourceDirectory{Jsonnet: fleet.ApplicationSourceJsonnet{Libs: tt.libs}}))
		if err == nil {
			t.Errorf("%s %v: rendered", tt.path, tt.libs)
			continue
		}
		if errors.Is(err, ErrEscape) != tt.escape {
			t.Errorf("%s %v: errors.Is(err, ErrEscape) = %v: %v", tt.path, tt.libs, !tt.escape, err)
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "application app-"+tt.path+":") {
			t.Errorf("%s %v: got\n%v\nwant it to name the app and hold %q", tt.path, tt.libs, err, tt.want)
		}
		if strings.Contains(err.Error(), "stolen") {
			t.Errorf("%s: the outside file was read: %v", tt.path, err)
		}
	}
	// Argo CD expands build environment variables in values; Flotilla
	// refuses rather than render the text.
	_, err := b.Render(t.Context(), app("env", "libs", "", nil, &fleet.ApplicationSourceDirectory{Jsonnet: fleet.ApplicationSourceJsonnet{
		TLAs: []fleet.JsonnetVar{{Name: "name", Value: "${ARGOCD_APP_NAME}"}}}}))
	if err == nil || !strings.Contains(err.Error(), `directory.jsonnet.tlas name: the value holds "$"`) {
		t.Errorf("build environment variable: %v", err)
	}
}

// TestJsonnetLimits lowers the limits (not parallel: they are shared) and
// checks that a huge output and a long evaluation are refused as
// ErrJsonnetLimit.
func TestJsonnetLimits(t *testing.T) {
	saved := jsonnetLimits
	t.Cleanup(func() { jsonnetLimits = saved })
	dir := gittest.Files(t, map[string]string{
		"huge/main.jsonnet": "[{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' + i }, data: { x: std.repeat('x', 1000) } } for i in std.range(1, 100)]\n",
		"slow/main.jsonnet": "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { x: std.toString(std.foldl(function(a, b) a + b, std.range(1, 300000), 0)) } }\n",
	})
	for _, tt := range []struct {
		path, want string
		set        func()
	}{
		{"huge", "more than 50000", func() { jsonnetLimits.MaxOutput = 50000 }},
		{"slow", "still running after 10ms", func() { jsonnetLimits.Timeout = 10 * time.Millisecond }},
	} {
		jsonnetLimits = saved
		tt.set()
		b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
		_, err := b.Render(t.Context(), app("a", tt.path, "", nil, nil))
		if !errors.Is(err, ErrJsonnetLimit) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path+"/main.jsonnet") {
			t.Errorf("%s: got %v, want ErrJsonnetLimit naming %s/main.jsonnet and %q", tt.path, err, tt.path, tt.want)
		}
	}
	// Within the default limits both render.
	jsonnetLimits = saved
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	if _, err := b.Render(t.Context(), app("a", "huge", "", nil, nil)); err != nil {
		t.Errorf("huge within the default limit: %v", err)
	}
}

// FuzzJsonnetImport: whatever a Jsonnet file imports, from wherever, the
// importer never reads outside the repository (a file beside it, or one
// reached through a link), and what it finds is named inside it.
func FuzzJsonnetImport(f *testing.F) {
	for _, seed := range [][2]string{
		{"apps/a/main.jsonnet", "lib.libsonnet"},
		{"apps/a/main.jsonnet", "../../../outside/secret.libsonnet"},
		{"", "../outside/secret.libsonnet"},
		{"apps/a/main.jsonnet", "link/secret.libsonnet"},
		{"apps/a/main.jsonnet", "/etc/hostname"},
		{"../x", "secret.libsonnet"},
		{"apps/a/main.jsonnet", "./../a/../../apps/a/lib.libsonnet"},
	} {
		f.Add(seed[0], seed[1])
	}
	parent := f.TempDir()
	root := filepath.Join(parent, "repo")
	outside := filepath.Join(parent, "outside")
	for _, d := range []string{filepath.Join(root, "apps", "a"), filepath.Join(root, "lib"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	for p, data := range map[string]string{
		filepath.Join(root, "apps", "a", "lib.libsonnet"): "'inside'",
		filepath.Join(root, "lib", "lib2.libsonnet"):      "'inside'",
		filepath.Join(outside, "secret.libsonnet"):        "'stolen'",
		filepath.Join(parent, "secret.libsonnet"):         "'stolen'",
	} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "apps", "a", "link")); err != nil {
		f.Fatal(err)
	}
	var paths realPaths
	rfs, err := newRootedFS(root, &paths)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, from, imported string) {
		im := &jsonnetImporter{rfs: rfs, jpaths: []string{"apps/a", "lib"}, files: map[string]jsonnetFile{}}
		contents, foundAt, err := im.Import(from, imported)
		if err != nil {
			return
		}
		if strings.Contains(contents.String(), "stolen") {
			t.Fatalf("Import(%q, %q) read outside the repository (found at %q)", from, imported, foundAt)
		}
		if filepath.IsAbs(foundAt) || foundAt == ".." || strings.HasPrefix(foundAt, "../") {
			t.Fatalf("Import(%q, %q) found %q, outside the repository", from, imported, foundAt)
		}
	})
}
