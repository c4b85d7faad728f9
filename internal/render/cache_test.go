package render

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// cacheFleet is an overlay on a base whose ConfigMap is generated from a
// file: the overlay's build reads files in two directories.
func cacheFleet(t *testing.T) string {
	t.Helper()
	return gittest.Files(t, map[string]string{
		"base/kustomization.yaml":    "resources: [deployment.yaml]\nconfigMapGenerator: [{name: web, files: [app.properties]}]\n",
		"base/deployment.yaml":       deployment,
		"base/app.properties":        "color=blue\n",
		"overlay/kustomization.yaml": "resources: [../base]\nnamePrefix: prod-\n",
	})
}

// renderOnce renders the overlay with a new Builder on cache and returns
// the manifest and whether the build was reused.
func renderOnce(t *testing.T, root string, cache BuildCache, k *fleet.ApplicationSourceKustomize) (string, bool, error) {
	t.Helper()
	b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
	b.Cache = cache
	out, err := b.Render(t.Context(), app("web", "overlay", "web", k, nil))
	if err != nil {
		return "", false, err
	}
	return string(out.Manifest), b.CachedBuilds() == 1, nil
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBuildCacheReusesOnlyUnchangedBuilds: a build is reused exactly when
// every file and directory it read is as it was, and what it reuses is
// byte for byte what the build makes.
func TestBuildCacheReusesOnlyUnchangedBuilds(t *testing.T) {
	t.Parallel()
	root := cacheFleet(t)
	cache := DirCache(t.TempDir())
	fresh := func() string {
		t.Helper()
		m, _, err := renderOnce(t, root, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	step := func(what string, wantReused bool) {
		t.Helper()
		got, reused, err := renderOnce(t, root, cache, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if reused != wantReused {
			t.Errorf("%s: reused %v, want %v", what, reused, wantReused)
		}
		if want := fresh(); got != want {
			t.Errorf("%s: the cached render differs from a fresh build:\n%s\nwant:\n%s", what, got, want)
		}
	}
	step("first run", false)
	step("nothing changed", true)

	write(t, filepath.Join(root, "base/app.properties"), "color=green\n")
	step("a generator's input file in the base changed", false)
	step("and again unchanged", true)

	write(t, filepath.Join(root, "overlay/kustomization.yaml"), "resources: [../base]\nnamePrefix: staging-\n")
	step("the overlay changed", false)

	// A file the build only looked for: Kustomize now refuses the base.
	write(t, filepath.Join(root, "base/kustomization.yml"), "resources: []\n")
	if _, reused, err := renderOnce(t, root, cache, nil); reused || err == nil || !strings.Contains(err.Error(), "multiple kustomization files") {
		t.Errorf("a second kustomization file next to the base's: reused %v, err %v", reused, err)
	}
	if err := os.Remove(filepath.Join(root, "base/kustomization.yml")); err != nil {
		t.Fatal(err)
	}
	step("the extra file removed", true)

	// Different options are a different build.
	m, reused, err := renderOnce(t, root, cache, &fleet.ApplicationSourceKustomize{NameSuffix: "-x"})
	if err != nil || reused || !strings.Contains(m, "name: staging-web-x") {
		t.Errorf("new options: reused %v, err %v:\n%s", reused, err, m)
	}
}

// TestBuildCacheRechecksEscapes: a file the cached build read becomes a
// link out of the repository. The cache must not hide the escape.
func TestBuildCacheRechecksEscapes(t *testing.T) {
	t.Parallel()
	root := cacheFleet(t)
	cache := DirCache(t.TempDir())
	if _, _, err := renderOnce(t, root, cache, nil); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "app.properties")
	write(t, outside, "color=blue\n") // the same bytes
	prop := filepath.Join(root, "base/app.properties")
	if err := os.Remove(prop); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, prop); err != nil {
		t.Fatal(err)
	}
	_, reused, err := renderOnce(t, root, cache, nil)
	if reused || !errors.Is(err, ErrEscape) {
		t.Errorf("reused %v, err %v; want the escape refused", reused, err)
	}
}

// TestBuildCacheIgnoresBadRecords: a damaged record is a miss, and a
// policy that lets builds read beyond the checkout records nothing.
func TestBuildCacheIgnoresBadRecords(t *testing.T) {
	t.Parallel()
	root := cacheFleet(t)
	dir := t.TempDir()
	if _, _, err := renderOnce(t, root, DirCache(dir), nil); err != nil {
		t.Fatal(err)
	}
	records, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(records) != 1 {
		t.Fatalf("%d records, want 1", len(records))
	}
	write(t, records[0], `{"questions": [`)
	if _, reused, err := renderOnce(t, root, DirCache(dir), nil); err != nil || reused {
		t.Errorf("damaged record: reused %v, err %v", reused, err)
	}

	remote := t.TempDir()
	b := NewBuilder(diskRepo(root), fleet.PolicyConfig{AllowRemoteResources: true})
	b.Cache = DirCache(remote)
	if _, err := b.Render(t.Context(), app("web", "overlay", "web", nil, nil)); err != nil {
		t.Fatal(err)
	}
	if got, _ := filepath.Glob(filepath.Join(remote, "*")); len(got) != 0 {
		t.Errorf("with remote resources allowed, the cache holds %v", got)
	}
}

// TestOpenDirCacheKeepsOnlyThisProgram: records of other programs (older
// versions) are deleted; this program's are kept.
func TestOpenDirCacheKeepsOnlyThisProgram(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "0123456789abcdef"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := OpenDirCache(dir)
	if err := c.Put("k", &CachedBuild{Objects: []byte("[]")}); err != nil {
		t.Fatal(err)
	}
	again := OpenDirCache(dir)
	if _, ok := again.Get("k"); !ok {
		t.Error("this program's record is gone")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d program directories, want only this program's", len(entries))
	}
}

// TestGoBuildIDIsGos: the build ID read from this test binary is the one
// go tool buildid prints, so a rebuilt program never reuses the records of
// another.
func TestGoBuildIDIsGos(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got := goBuildID(exe)
	if runtime.GOOS != "linux" {
		t.Skipf("build IDs are read from ELF executables only (got %q)", got)
	}
	out, err := exec.Command("go", "tool", "buildid", exe).Output()
	if err != nil {
		t.Fatalf("go tool buildid: %v", err)
	}
	if want := strings.TrimSpace(string(out)); got == "" || got != want {
		t.Errorf("goBuildID = %q, want %q", got, want)
	}
	if !strings.HasSuffix(programID(), " "+got) {
		t.Errorf("programID %q does not end with the build ID", programID())
	}
}
