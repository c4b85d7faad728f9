package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

const minimalAppSet = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: a}
spec:
  generators: [{list: {elements: []}}]
  template:
    metadata: {name: x}
    spec: {project: default, destination: {}}
`

func TestLoadInventory(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"applicationsets/a.yaml": minimalAppSet,
		"clusters/nested/deep/c.yaml": `apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: c1, labels: {tier: canary}}
spec: {server: https://c1}
`,
		"clusters/secrets.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: cluster-b
  labels: {argocd.argoproj.io/secret-type: cluster}
data:
  name: YjE=          # b1
  server: aHR0cHM6Ly9iMQ==
stringData:
  name: b1-string     # stringData wins over data
---
apiVersion: v1
kind: Secret
metadata:
  name: elsewhere
  namespace: other
  labels: {argocd.argoproj.io/secret-type: cluster}
stringData: {name: ignored, server: https://ignored}
---
apiVersion: v1
kind: Secret
metadata:
  name: repo-creds
  labels: {argocd.argoproj.io/secret-type: repository}
stringData: {url: https://example.com}
`,
	})
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.Clusters {
		got = append(got, c.Name+" "+c.Server+" "+c.File)
	}
	want := []string{"b1-string https://b1 clusters/secrets.yaml", "c1 https://c1 clusters/nested/deep/c.yaml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if f.Config.LiveBranch("c1") != "hydrated/c1" || f.Config.StagingBranch("c1") != "hydrated/c1-next" {
		t.Errorf("default branches: %s %s", f.Config.LiveBranch("c1"), f.Config.StagingBranch("c1"))
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cluster := "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {server: https://c1}\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string
		class Class
	}{
		{"scanner error line", map[string]string{"clusters/c.yaml": "apiVersion: v1\nkind: Cluster\nmetadata:\n  name: a: b\n"},
			"clusters/c.yaml:4: invalid YAML: mapping values are not allowed in this context", ClassStrictDecoding},
		{"duplicate cluster", map[string]string{"clusters/a.yaml": cluster, "clusters/b.yaml": cluster},
			"clusters/b.yaml:1: cluster \"c1\" is defined twice (also at clusters/a.yaml:1)", ClassInventory},
		{"wrong kind in inventory", map[string]string{"clusters/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
			"clusters/a.yaml:1: ConfigMap \"x\" is not inventory: expected kind Cluster (flotilla.dev/v1alpha1) or an Argo CD cluster Secret", ClassInventory},
		{"cluster without server", map[string]string{"clusters/a.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {}\n"},
			"clusters/a.yaml:1: Cluster \"c1\" has no spec.server", ClassInventory},
		{"wrong type", map[string]string{"applicationsets/a.yaml": strings.Replace(minimalAppSet, "generators:", "goTemplate: \"yes\"\n  generators:", 1)},
			"applicationsets/a.yaml:5: spec.goTemplate: expected true or false, got a string", ClassStrictDecoding},
		{"missing template spec", map[string]string{"applicationsets/a.yaml": strings.Replace(minimalAppSet, "    spec: {project: default, destination: {}}\n", "", 1)},
			"applicationsets/a.yaml:7: ApplicationSet \"a\" is invalid: spec.template.spec: Required value", ClassCRDValidation},
		{"no applicationsets", map[string]string{"applicationsets/a.yaml": ""},
			"no ApplicationSet or Application found in applicationsets/**/*.yaml, applicationsets/**/*.yml (set applicationSets: or applications: in flotilla.yaml)", ClassConfig},
		{"repos key with credentials", map[string]string{"flotilla.yaml": "repos: {\"https://x:SECRET@example.com/r.git\": ../outside}\n"},
			`flotilla.yaml:1: repos["https://***@example.com/r.git"]: path ../outside escapes the fleet root (repos: paths are relative to the fleet root and stay inside it)`, ClassConfig},
		{"one repository twice", map[string]string{"flotilla.yaml": "repos:\n  https://example.com/Org/Apps.git: .\n  https://example.com/org/apps/: .\n  https://example.com/other: .\n"},
			`flotilla.yaml:3: repos["https://example.com/Org/Apps.git"] and repos["https://example.com/org/apps/"] are one repository (case, a trailing / and .git do not count): keep one`, ClassConfig},
		{"branch template", map[string]string{"flotilla.yaml": "hydrated: {branch: live}\n"},
			"flotilla.yaml: hydrated.branch \"live\" must contain {{cluster}}", ClassConfig},
		{"health expression", map[string]string{"flotilla.yaml": "healthCheckExprs:\n- apiVersion: example.com/v1\n  kind: Database\n  current: status.phase == 'Ready'\n- apiVersion: example.com/v1\n  kind: Pool\n  current: 'true'\n  failed: status.ready <\n"},
			"flotilla.yaml:8: healthCheckExprs[1].failed \"status.ready <\": ERROR: <input>:1:15: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n | status.ready <\n | ..............^", ClassConfig},
		{"health check without current", map[string]string{"flotilla.yaml": "healthCheckExprs:\n- apiVersion: example.com/v1\n  kind: Database\n"},
			"flotilla.yaml:2: healthCheckExprs[0].current: required", ClassConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"applicationsets/a.yaml": minimalAppSet}
			for k, v := range tt.files {
				files[k] = v
			}
			_, err := Load(gittest.Files(t, files))
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Class != tt.class {
				t.Errorf("class: got %+v, want %s", fe, tt.class)
			}
		})
	}
}

func TestResolveRepoPathRefusesSymlinkEscape(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "sneaky")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveRepoPath(root, "inside"); err != nil {
		t.Errorf("inside: %v", err)
	}
	_, err := ResolveRepoPath(root, "sneaky")
	if err == nil || !strings.Contains(err.Error(), "escapes the fleet root through a symbolic link") {
		t.Errorf("sneaky: %v", err)
	}
	for _, p := range []string{"../x", "/etc", "a/../../x"} {
		if _, err := ResolveRepoPath(root, p); err == nil || !strings.Contains(err.Error(), "fleet root") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		glob, name string
		want       bool
	}{
		{"clusters/**/*.yaml", "clusters/a.yaml", true},
		{"clusters/**/*.yaml", "clusters/x/y/a.yaml", true},
		{"clusters/**/*.yaml", "clusters/a.yml", false},
		{"clusters/*.yaml", "clusters/x/a.yaml", false},
		{"**", "a/b/c", true},
		{"appset.yaml", "appset.yaml", true},
	} {
		if got := MatchGlob(tt.glob, tt.name); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.glob, tt.name, got, tt.want)
		}
	}
}

// FuzzDecodeApplicationSet feeds arbitrary YAML to the ApplicationSet
// parser: it must return a document or an error, never panic.
func FuzzDecodeApplicationSet(f *testing.F) {
	f.Add([]byte(minimalAppSet))
	f.Add([]byte("spec:\n  generators:\n  - matrix: {generators: [{list: {elements: [{a: 1}]}}]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("--- \n- 1\n---\n{]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := SplitDocuments("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, d := range docs {
			var set ApplicationSet
			_ = d.Decode(&set)
			ls := &LoadedApplicationSet{File: "fuzz.yaml", Doc: d, Set: set}
			_ = checkRequired(ls)
		}
	})
}

// TestLoadApplications: Application documents are read from the files
// the applicationSets and applications globs match (a file both match is
// read once), in the Argo CD namespace unless they name one, without the
// status a copy from a cluster carries.
func TestLoadApplications(t *testing.T) {
	t.Parallel()
	app := func(name, extra string) string {
		return "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: " + name + extra + "}\nspec: {project: default, destination: {name: c1}}\n"
	}
	f, err := Load(gittest.Files(t, map[string]string{
		ConfigFile:               "applications: ['apps/**/*.yaml', 'applicationsets/*.yaml']\n",
		"applicationsets/a.yaml": minimalAppSet + "---\n" + app("in-sets", ""),
		"apps/team/b.yaml":       app("in-apps", ", namespace: team") + "status: {sync: {status: Synced}}\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, la := range f.Applications {
		got = append(got, fmt.Sprintf("%s %s/%s %v", location(la.File, la.Line), la.App.Metadata.Namespace, la.App.Metadata.Name, la.App.Status))
	}
	want := []string{"applicationsets/a.yaml:10 argocd/in-sets <nil>", "apps/team/b.yaml:1 team/in-apps <nil>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
