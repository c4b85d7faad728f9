package cli

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
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
	writeFiles(t, out, map[string]string{outNewPrefix + "123." + "prod-eu/README.md": "half"})
	if err := os.Rename(filepath.Join(out, "dev-us"), filepath.Join(out, outOldPrefix+"456.dev-us")); err != nil {
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

var (
	oldTree = map[string][]byte{"README.md": []byte("old"), "web/manifest.yaml": []byte("old: 1\n")}
	newTree = map[string][]byte{"README.md": []byte("new"), "api/manifest.yaml": []byte("new: 1\n"), "web/manifest.yaml": []byte("new: 2\n")}
)

func treeOf(files map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = string(v)
	}
	return out
}

// TestReplaceTreeKeepsOldOnFailedWrite: a write that fails halfway leaves
// the old tree as it was and nothing else in DIR.
func TestReplaceTreeKeepsOldOnFailedWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := replaceTree(dir, "c1", oldTree, os.WriteFile); err != nil {
		t.Fatal(err)
	}
	n := 0
	failSecond := func(name string, data []byte, perm fs.FileMode) error {
		if n++; n == 2 {
			return &fs.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
		}
		return os.WriteFile(name, data, perm)
	}
	err := replaceTree(dir, "c1", newTree, failSecond)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "write the tree of cluster c1 to "+filepath.Join(dir, "c1")+" (left as it was): ") {
		t.Errorf("error does not say what happened: %v", err)
	}
	if diff := cmp.Diff(treeOf(oldTree), readTree(t, filepath.Join(dir, "c1"))); diff != "" {
		t.Errorf("c1 after the failed write (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("DIR holds %d entries, want only c1", len(entries))
	}
}

// TestReplaceTreeKilled kills a real process in the middle of writing a
// tree: the old tree stays whole, and the next run replaces it cleanly.
func TestReplaceTreeKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := replaceTree(dir, "c1", oldTree, os.WriteFile); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "writing")
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplaceTreeKilledHelper$")
	cmd.Env = append(os.Environ(), "FLOTILLA_TEST_OUT_DIR="+dir, "FLOTILLA_TEST_OUT_MARKER="+marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the helper never started writing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 2 || !strings.HasPrefix(names[0], outNewPrefix) || names[1] != "c1" {
		t.Fatalf("after the kill DIR holds %q, want a half-written %s* folder and c1", names, outNewPrefix)
	}
	if diff := cmp.Diff(treeOf(oldTree), readTree(t, filepath.Join(dir, "c1"))); diff != "" {
		t.Errorf("c1 after the kill (-want +got):\n%s", diff)
	}
	if err := recoverOut(dir); err != nil {
		t.Fatal(err)
	}
	if err := replaceTree(dir, "c1", newTree, os.WriteFile); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for k, v := range newTree {
		want["c1/"+k] = string(v)
	}
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Errorf("DIR after the next run (-want +got):\n%s", diff)
	}
}

// TestReplaceTreeKilledHelper is TestReplaceTreeKilled's process to kill:
// it writes one file of the new tree, says so, and hangs on the second.
func TestReplaceTreeKilledHelper(t *testing.T) {
	dir, marker := os.Getenv("FLOTILLA_TEST_OUT_DIR"), os.Getenv("FLOTILLA_TEST_OUT_MARKER")
	if dir == "" {
		t.Skip("run by TestReplaceTreeKilled")
	}
	n := 0
	hang := func(name string, data []byte, perm fs.FileMode) error {
		if n++; n == 2 {
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				return err
			}
			select {} // killed here
		}
		return os.WriteFile(name, data, perm)
	}
	_ = replaceTree(dir, "c1", newTree, hang)
	t.Fatal("not killed")
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
