package hydrator

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// smallFleet is a checkout of one cluster and one plain-directory
// Application.
func smallFleet(t *testing.T, config string) string {
	t.Helper()
	checkout, _ := gittest.Fleet(t, smallFiles(t, config))
	return checkout
}

// smallFiles is smallFleet's folder, outside Git.
func smallFiles(t *testing.T, config string) string {
	return gittest.Files(t, map[string]string{
		"flotilla.yaml": "clusters: [clusters.yaml]\napplicationSets: [appsets.yaml]\nrepos: {\"https://github.com/example/fleet\": .}\n" + config,
		"clusters.yaml": "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {server: https://c1}\n",
		"appsets.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: web, namespace: argocd}
spec:
  generators: [{clusters: {}}]
  template:
    metadata: {name: "web-{{name}}"}
    spec:
      project: default
      source: {repoURL: "https://github.com/example/fleet", path: apps/web}
      destination: {server: "{{server}}", namespace: web}
`,
		"apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {k: v}\n",
	})
}

// TestRunResultIsData: Run returns what it did as data and tells each
// phase to Progress, in order, with the times it records.
func TestRunResultIsData(t *testing.T) {
	t.Parallel()
	checkout := smallFleet(t, "")
	out := t.TempDir()
	var phases []string
	res, err := Run(t.Context(), Options{Fleet: checkout, Out: out, Progress: func(phase string, took time.Duration) {
		phases = append(phases, phase)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"generate", "load", "render", "policy", "publish"}; !slices.Equal(phases, want) {
		t.Errorf("phases %q, want %q", phases, want)
	}
	for _, ph := range phases {
		if _, ok := res.Timings[ph]; !ok {
			t.Errorf("no timing for %s: %v", ph, res.Timings)
		}
	}
	if res.Mode != ModeOut || res.Target != out || res.Apps != 1 || len(res.Clusters) != 1 || !res.Clusters[0].Updated || len(res.DrySHA) != 40 {
		t.Errorf("result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(out, "c1", "web-c1", "manifest.yaml")); err != nil {
		t.Error(err)
	}
}

// TestRunErrorClasses: Run marks its errors where they arise, so every
// caller gets the same exit code from failure.ExitCode.
func TestRunErrorClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		config string
		opts   func(checkout string) Options
		class  failure.Class
		text   string
	}{
		{"helm credentials", "", func(c string) Options {
			return Options{Fleet: c, Out: t.TempDir(), HelmCredentials: []byte("{not a list")}
		}, failure.Input, "helm credentials"},
		{"policiesDir outside", "policy: {policiesDir: ../elsewhere}\n", func(c string) Options {
			return Options{Fleet: c, Out: t.TempDir()}
		}, failure.Input, "policy.policiesDir"},
		{"no such diff base", "", func(c string) Options {
			return Options{Fleet: c, DiffBase: "no-such-ref"}
		}, failure.Usage, "no such revision"},
		{"not in git", "", func(string) Options {
			return Options{Fleet: smallFiles(t, ""), NoPush: true}
		}, failure.Usage, "not in a Git repository"},
		{"unreachable remote", "", func(c string) Options {
			return Options{Fleet: c, Remote: "http://127.0.0.1:1/x.git"}
		}, failure.Remote, "http://127.0.0.1:1/x.git"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Run(t.Context(), tc.opts(smallFleet(t, tc.config)))
			if err == nil || failure.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v (class %v), want a %v error naming %q", err, failure.ClassOf(err), tc.class, tc.text)
			}
		})
	}
}

// TestRunPolicyDeniedReturnsTheReport: a denial stops the run before
// anything is written, with the report in the Result.
func TestRunPolicyDeniedReturnsTheReport(t *testing.T) {
	t.Parallel()
	checkout := smallFleet(t, "")
	policy := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-configmaps}
spec:
  matchConstraints: {resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}]}
  validations: [{expression: "false", message: no ConfigMaps}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-configmaps}
spec: {policyName: no-configmaps, validationActions: [Deny]}
`
	if err := os.WriteFile(filepath.Join(checkout, "apps/web/policy.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "policy")
	out := t.TempDir()
	res, err := Run(t.Context(), Options{Fleet: checkout, Out: out})
	if !errors.Is(err, ErrPolicyDenied) || failure.ExitCode(err) != failure.ExitFailed {
		t.Fatalf("err = %v, want a policy denial (exit 1)", err)
	}
	if res == nil || res.Policy == nil || res.Policy.Denied != 1 || res.Clusters != nil {
		t.Fatalf("result %+v, want the report and no cluster written", res)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("--out holds %d entries after a denial", len(entries))
	}
}

// TestPackageReadsNoEnvironment: the pipeline takes everything through
// Options. No file of the package reads the environment, and none names a
// GITHUB_* variable: the Action's files and token are the caller's.
func TestPackageReadsNoEnvironment(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "os" && slices.Contains([]string{"Getenv", "LookupEnv", "Environ", "Setenv"}, n.Sel.Name) {
					t.Errorf("%s: os.%s", fset.Position(n.Pos()), n.Sel.Name)
				}
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && strings.Contains(s, "GITHUB_") {
					t.Errorf("%s: names %q", fset.Position(n.Pos()), s)
				}
			}
			return true
		})
	}
}

// TestRenderIntoACloneTakenDuringAPush: a fleet checkout cloned while a
// render's push was landing on the remote holds a copy of that push's
// receive-pack quarantine (a local clone copies the objects folder), with
// the hydrated commit in it. Git does not count it as the checkout's;
// render's publisher must not either: it fetches the remote's hydrated
// head before building on it, so the checkout passes git fsck.
func TestRenderIntoACloneTakenDuringAPush(t *testing.T) {
	t.Parallel()
	first, origin := gittest.Fleet(t, smallFiles(t, ""))
	clone := filepath.Join(t.TempDir(), "clone")
	// The pre-receive hook runs while the pushed objects are in quarantine.
	hook := "#!/bin/sh\n[ -e " + clone + " ] || env -u GIT_DIR -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git clone -q \"$(pwd)\" " + clone + " >&2\n"
	if err := os.WriteFile(filepath.Join(origin, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), Options{Fleet: first, Remote: origin}); err != nil {
		t.Fatal(err)
	}
	gittest.Fsck(t, clone)
	branch := strings.TrimSpace(gittest.Git(t, origin, "for-each-ref", "--format=%(refname)", "refs/heads/hydrated/"))
	if strings.Contains(branch, "\n") || branch == "" {
		t.Fatalf("hydrated branches on the remote: %q, want one", branch)
	}
	theirs := gittest.Git(t, origin, "rev-parse", branch)
	if q, _ := filepath.Glob(filepath.Join(clone, ".git", "objects", "tmp_objdir-incoming-*", theirs[:2], theirs[2:])); len(q) != 1 {
		t.Fatalf("the clone has no quarantined %s (git changed how it clones?)", theirs)
	}

	if err := os.WriteFile(filepath.Join(clone, "apps", "web", "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {k: changed}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, clone, "2026-01-02T00:00:00Z", "change web")
	if _, err := Run(t.Context(), Options{Fleet: clone, Remote: origin}); err != nil {
		t.Fatal(err)
	}
	ours := gittest.Git(t, origin, "rev-parse", branch)
	if parent := gittest.Git(t, origin, "rev-parse", ours+"^"); parent != theirs {
		t.Errorf("the clone's render built %s on %s, want on %s", ours, parent, theirs)
	}
	gittest.Git(t, clone, "cat-file", "-e", theirs+"^{commit}")
	gittest.Git(t, clone, "fsck", "--strict", "--no-dangling", "--no-progress")
}
