package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/source"
)

// generate evaluates a loaded fleet's ApplicationSets as render does
// (the hydrator's first step); any problem is an error.
func generate(ctx context.Context, f *fleet.Fleet) ([]appset.Generated, error) {
	repos, err := source.New(f)
	if err != nil {
		return nil, err
	}
	defer repos.Close()
	return appset.GenerateFleet(ctx, f, repos)
}

const corpus = "../../testdata/conformance/appset"

// TestConformance runs every case of the Argo CD conformance corpus through
// the same code path as `render --list-apps -o json` and compares the result
// with what Argo CD's own controller produced.
func TestConformance(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runCase(t, filepath.Join(corpus, name))
		})
	}
	if n < 90 {
		t.Fatalf("found %d cases in %s, want the whole corpus", n, corpus)
	}
}

func runCase(t *testing.T, src string) {
	dir := setupCase(t, src)
	var stdout, stderr bytes.Buffer
	code := Render(t.Context(), []string{"--fleet", dir, "--list-apps", "--no-expand", "-o", "json"}, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})

	if bad := invalidClusterName(t, dir); bad != "" {
		// Argo CD takes any cluster name; Flotilla refuses, by design, one
		// that is not a DNS-1123 label (it becomes a folder and branch
		// names), whatever Argo CD made of the case.
		if code != ExitUsage || !strings.Contains(stderr.String(), fmt.Sprintf("%q is not a valid cluster name", bad)) {
			t.Fatalf("cluster %q: exit %d, want %d and the name refused; stderr:\n%s", bad, code, ExitUsage, stderr.String())
		}
		checkClass(t, dir, string(fleet.ClassInventory))
		return
	}
	if want, err := os.ReadFile(filepath.Join(src, "expected.json")); err == nil {
		if code != ExitOK {
			t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr.String())
		}
		if diff := cmp.Diff(canonical(t, want), canonical(t, stdout.Bytes())); diff != "" {
			t.Fatalf("Applications differ from Argo CD's (-want +got):\n%s", diff)
		}
		return
	}
	wantErr, err := os.ReadFile(filepath.Join(src, "expected-error.txt"))
	if err != nil {
		t.Fatal("case has neither expected.json nor expected-error.txt")
	}
	class, _, _ := strings.Cut(strings.TrimSpace(string(wantErr)), ":")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d (Argo CD: %s); stdout:\n%s", code, ExitUsage, wantErr, stdout.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout is not empty on error:\n%s", stdout.String())
	}
	if !strings.HasPrefix(stderr.String(), "render: appset.yaml:") {
		t.Errorf("stderr does not start with the file and line of the problem:\n%s", stderr.String())
	}
	checkClass(t, dir, class)
	if partial, err := os.ReadFile(filepath.Join(src, "expected-partial.json")); err == nil {
		f, err := fleet.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		apps, _ := generate(t.Context(), f)
		var got bytes.Buffer
		if err := writeApps(&got, apps, "json", f.Clusters); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(canonical(t, partial), canonical(t, got.Bytes())); diff != "" {
			t.Fatalf("Applications created despite the error differ (-want +got):\n%s", diff)
		}
	}
}

// invalidClusterName returns the first cluster name of a case's inventory
// that Flotilla refuses, or "".
func invalidClusterName(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "clusters.yaml"))
	if err != nil {
		return ""
	}
	docs, err := fleet.SplitDocuments("clusters.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		var s struct {
			Metadata   struct{ Name string }
			Data       map[string]string
			StringData map[string]string `yaml:"stringData"`
		}
		if err := d.Node.Decode(&s); err != nil {
			t.Fatal(err)
		}
		name := s.Metadata.Name
		if _, kind := d.Kind(); kind == "Secret" {
			name = s.StringData["name"]
			if n, ok := s.Data["name"]; ok && name == "" {
				b, _ := base64.StdEncoding.DecodeString(n)
				name = string(b)
			}
		}
		if fleet.CheckClusterName(name) != nil {
			return name
		}
	}
	return ""
}

// checkClass asserts the class through the typed error, not only the text.
func checkClass(t *testing.T, dir, class string) {
	t.Helper()
	f, err := fleet.Load(dir)
	if err == nil {
		_, err = generate(t.Context(), f)
	}
	if err == nil {
		t.Fatalf("no error, want %s", class)
	}
	for _, e := range flattenErrors(err) {
		if fe, ok := e.(*fleet.FileError); ok && string(fe.Class) == class {
			return
		}
	}
	t.Fatalf("no error of class %s in: %v", class, err)
}

func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func canonical(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	return v
}

var (
	revisionRe = regexp.MustCompile(`(?m)^\s*revision:\s*"?([^"\s#]+)"?`)
	projectRe  = regexp.MustCompile(`(?m)^\s*project:\s*"?([^"\s#]*)"?\s*$`)
)

// setupCase turns a corpus case into a fleet, as the corpus README says:
// clusters.yaml is the inventory, appset.yaml the ApplicationSet, each
// repos.yaml entry maps to ./repos/<folder>, made a Git repository whose
// branches (main plus the ones asked for) all point at one commit.
func setupCase(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	appsetYAML, err := os.ReadFile(filepath.Join(dir, "appset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var repos map[string]string
	reposYAML, err := os.ReadFile(filepath.Join(dir, "repos.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(reposYAML, &repos); err != nil {
		t.Fatal(err)
	}
	var revisions []string
	for _, m := range revisionRe.FindAllStringSubmatch(string(appsetYAML), -1) {
		if !strings.Contains(m[1], "{{") && m[1] != "HEAD" {
			revisions = append(revisions, m[1])
		}
	}
	cfg := map[string]any{"applicationSets": []string{"appset.yaml"}}
	mapping := map[string]string{}
	made := map[string]bool{}
	for url, spec := range repos {
		folder, branchList, hasBranches := strings.Cut(spec, "#")
		repoDir := filepath.Join(dir, "repos", folder)
		if _, err := os.Stat(repoDir); err != nil {
			continue // only a template's source points at it
		}
		mapping[url] = "./repos/" + folder
		if made[folder] {
			continue
		}
		made[folder] = true
		branches := revisions
		if hasBranches {
			branches = strings.Split(branchList, ",")
		}
		makeGitRepo(t, repoDir, branches)
	}
	if len(mapping) > 0 {
		cfg["repos"] = mapping
	}
	if st, err := os.Stat(filepath.Join(dir, "clusters.yaml")); err == nil && st.Size() > 0 {
		cfg["clusters"] = []string{"clusters.yaml"}
	} else {
		cfg["clusters"] = []string{} // an empty file is no inventory
	}
	projects := []string{"default"}
	if b, err := os.ReadFile(filepath.Join(dir, "projects.yaml")); err == nil {
		projects = nil
		docs, err := fleet.SplitDocuments("projects.yaml", b)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			projects = append(projects, d.Name())
		}
	} else {
		for _, m := range projectRe.FindAllStringSubmatch(string(appsetYAML), -1) {
			if m[1] != "" && !strings.Contains(m[1], "{{") {
				projects = append(projects, m[1])
			}
		}
	}
	slices.Sort(projects)
	cfg["argoCD"] = map[string]any{"inCluster": true, "projects": projects}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fleet.ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func makeGitRepo(t *testing.T, dir string, branches []string) {
	t.Helper()
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "--allow-empty", "-m", "case content")
	for _, b := range branches {
		if b != "main" {
			git("branch", "-f", b)
		}
	}
}
