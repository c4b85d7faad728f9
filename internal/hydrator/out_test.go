package hydrator

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readTree is every file below dir with its content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
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
	slices.Sort(names)
	if len(names) != 2 || !strings.HasPrefix(names[0], OutNewPrefix) || names[1] != "c1" {
		t.Fatalf("after the kill DIR holds %q, want a half-written %s* folder and c1", names, OutNewPrefix)
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
