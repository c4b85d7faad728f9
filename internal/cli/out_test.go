package cli

import (
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
)

// listing is every path below dir (folders end in "/") with file contents.
func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRenderOutRefusesUnsafeClusterName: an Argo CD cluster Secret named
// ".." used to make render --out DIR delete and rewrite DIR's parent.
func TestRenderOutRefusesUnsafeClusterName(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, name := range []string{"..", ".", "../escape", "a/b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fleetDir := writeFleet(t, map[string]string{"clusters/argocd.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: evil\n  labels: {argocd.argoproj.io/secret-type: cluster}\ndata:\n  name: " + b64(name) + "\n  server: " + b64("https://evil.example.com") + "\n"})
			parent := t.TempDir()
			writeFiles(t, parent, map[string]string{"keep.txt": "mine", "out/dev/README.md": "old tree", "escape/x": "sibling"})
			before := listing(t, parent)
			code, stdout, stderr := renderCmd(t, "--fleet", fleetDir, "--out", filepath.Join(parent, "out"))
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, ExitUsage, stdout, stderr)
			}
			if want := `render: clusters/argocd.yaml:7: cluster Secret "evil": data.name "` + name + `" is not a valid cluster name: `; !strings.HasPrefix(stderr, want) {
				t.Errorf("stderr:\n%s\nwant it to start with:\n%s", stderr, want)
			}
			if diff := cmp.Diff(before, listing(t, parent)); diff != "" {
				t.Errorf("DIR's parent changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestRenderOutRecoversFromKilledRun: folders a killed run left in DIR are
// cleaned (a half-written tree) or put back (an old tree moved aside and
// not replaced), and DIR ends up holding exactly the cluster trees.
func TestRenderOutRecoversFromKilledRun(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	out := t.TempDir()
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--out", out); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	want := listing(t, out)
	// A run killed while writing prod-eu, and one killed between moving
	// dev-us's old tree aside and moving its new one in.
	writeFiles(t, out, map[string]string{hydrator.OutNewPrefix + "123." + "prod-eu/README.md": "half"})
	if err := os.Rename(filepath.Join(out, "dev-us"), filepath.Join(out, hydrator.OutOldPrefix+"456.dev-us")); err != nil {
		t.Fatal(err)
	}
	res, code, stderr := renderJSON(t, "--fleet", checkout, "--out", out)
	if code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	for _, c := range res.Clusters {
		if c.Updated {
			t.Errorf("cluster %s updated: the old tree was not put back", c.Cluster)
		}
	}
	if diff := cmp.Diff(want, listing(t, out)); diff != "" {
		t.Errorf("DIR after recovery (-want +got):\n%s", diff)
	}
}

// TestRenderBranchCollisionWritesNoRef: clusters a and a-next share the
// branch hydrated/a-next with the default templates. render refuses the
// fleet at load, before any local ref is written (it used to fail only
// at the push, or move one cluster's manifests into the other's branch).
func TestRenderBranchCollisionWritesNoRef(t *testing.T) {
	t.Parallel()
	cluster := func(name string) string {
		return "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: " + name + "}\nspec: {server: https://" + name + ".example.com}\n"
	}
	src := writeFleet(t, map[string]string{"clusters/a.yaml": cluster("a"), "clusters/b.yaml": cluster("a-next")})
	checkout, origin := gittest.Fleet(t, src)
	for _, args := range [][]string{{"--no-push"}, {}} {
		code, _, stderr := renderCmd(t, append([]string{"--fleet", checkout}, args...)...)
		want := `render: clusters/b.yaml:1: cluster "a-next": its live branch hydrated/a-next is also the staging branch of cluster "a" (clusters/a.yaml:1), so promotion would mix their manifests (rename one of the clusters, or change hydrated.branch or hydrated.staging in flotilla.yaml)` + "\n"
		if code != ExitUsage || stderr != want {
			t.Errorf("render %v: exit %d, stderr:\n%s\nwant exit %d and:\n%s", args, code, stderr, ExitUsage, want)
		}
	}
	for _, repo := range []string{checkout, origin} {
		if refs := gittest.Refs(t, repo, "refs/"); strings.Contains(refs, "hydrated") || strings.Contains(refs, "flotilla") {
			t.Errorf("refs written in %s:\n%s", repo, refs)
		}
	}
}
