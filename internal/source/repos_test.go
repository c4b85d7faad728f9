package source

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@e", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@e", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReposDiskAndGit shows the two ways a mapped repository is read: the
// fleet checkout as it is on disk whatever the revision (a pull request
// renders its own, uncommitted, content), a nested Git repository at the
// requested revision.
func TestReposDiskAndGit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	runGit(t, root, "init", "-q", "-b", "main")
	write(t, filepath.Join(root, "apps/a/k.yaml"), "a")
	runGit(t, root, "add", "-A")
	runGit(t, root, "commit", "-qm", "one")
	write(t, filepath.Join(root, "apps/b/k.yaml"), "uncommitted")

	nested := filepath.Join(root, "vendor-repo")
	write(t, filepath.Join(nested, "x/one.yaml"), "v1")
	runGit(t, nested, "init", "-q", "-b", "main")
	runGit(t, nested, "add", "-A")
	runGit(t, nested, "commit", "-qm", "one")
	runGit(t, nested, "branch", "release")
	write(t, filepath.Join(nested, "x/two.yaml"), "v2")
	runGit(t, nested, "add", "-A")
	runGit(t, nested, "commit", "-qm", "two")
	write(t, filepath.Join(nested, "x/dirty.yaml"), "never read at a revision")

	r, err := New(&fleet.Fleet{Root: root, Config: fleet.Config{Repos: map[string]string{
		"https://example.com/fleet.git":  ".",
		"https://example.com/vendor.git": "./vendor-repo",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	files, err := r.Files(ctx, "https://EXAMPLE.com/fleet", "some-old-tag")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"apps/a/k.yaml", "apps/b/k.yaml", "vendor-repo/x/dirty.yaml", "vendor-repo/x/one.yaml", "vendor-repo/x/two.yaml"}, files); diff != "" {
		t.Errorf("fleet checkout (-want +got):\n%s", diff)
	}
	for rev, want := range map[string][]string{
		"":        {"x/one.yaml", "x/two.yaml"},
		"HEAD":    {"x/one.yaml", "x/two.yaml"},
		"main":    {"x/one.yaml", "x/two.yaml"},
		"release": {"x/one.yaml"},
	} {
		got, err := r.Files(ctx, "https://example.com/vendor.git", rev)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("vendor@%q (-want +got):\n%s", rev, diff)
		}
	}
	b, err := r.ReadFile(ctx, "https://example.com/vendor.git", "release", "x/one.yaml")
	if err != nil || string(b) != "v1" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := r.Files(ctx, "https://example.com/vendor.git", "v9"); err == nil || !strings.Contains(err.Error(), `unable to resolve git revision "v9"`) {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := r.Files(ctx, "https://example.com/other.git", "main"); err == nil || !strings.Contains(err.Error(), "is not mapped") {
		t.Errorf("unmapped: %v", err)
	}
}

// TestReposErrorsHideCredentials gives repository URLs that carry a
// token: no error quotes it, whichever way the URL fails (a bad mapping,
// an unmapped URL, a missing file, an unknown revision).
func TestReposErrorsHideCredentials(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	nested := filepath.Join(root, "vendor-repo")
	write(t, filepath.Join(nested, "x/one.yaml"), "v1")
	runGit(t, nested, "init", "-q", "-b", "main")
	runGit(t, nested, "add", "-A")
	runGit(t, nested, "commit", "-qm", "one")
	fleetURL := "https://x-access-token:ghs_SECRETfleet@example.com/fleet.git"
	vendorURL := "https://example.com/vendor.git?private_token=SECRETvendor"

	_, err := New(&fleet.Fleet{Root: root, Config: fleet.Config{Repos: map[string]string{
		"https://u:SECRETmapping@example.com/x.git": "../outside",
	}}})
	errs := []error{err}
	r, err := New(&fleet.Fleet{Root: root, Config: fleet.Config{Repos: map[string]string{fleetURL: ".", vendorURL: "./vendor-repo"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, err = r.Files(ctx, "https://SECRETunmapped@example.com/other.git", "main")
	errs = append(errs, err)
	_, err = r.ReadFile(ctx, fleetURL, "main", "no/such.yaml")
	errs = append(errs, err)
	_, err = r.Files(ctx, vendorURL, "v9")
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d: nil", i)
		} else if strings.Contains(strings.ToLower(err.Error()), "secret") {
			t.Errorf("error %d quotes a credential: %v", i, err)
		}
	}
}

// TestReposCheckoutKeepsLinks: a Git-mapped repository's checkout at a
// revision writes symbolic links that stay inside it as links (Kustomize
// follows them as git checkout would), not as files holding the target's
// path, and leaves out links that lead outside.
func TestReposCheckoutKeepsLinks(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	runGit(t, root, "init", "-q", "-b", "main")
	write(t, filepath.Join(root, "README"), "fleet")
	runGit(t, root, "add", "-A")
	runGit(t, root, "commit", "-qm", "one")
	nested := filepath.Join(root, "vendor-repo")
	write(t, filepath.Join(nested, "base/cm.yaml"), "kind: ConfigMap\n")
	if err := os.MkdirAll(filepath.Join(nested, "overlay"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"overlay/cm.yaml": "../base/cm.yaml", "overlay/out.yaml": "../../README"} {
		if err := os.Symlink(target, filepath.Join(nested, link)); err != nil {
			t.Fatal(err)
		}
	}
	runGit(t, nested, "init", "-q", "-b", "main")
	runGit(t, nested, "add", "-A")
	runGit(t, nested, "commit", "-qm", "links")
	r, err := New(&fleet.Fleet{Root: root, Config: fleet.Config{Repos: map[string]string{
		"https://example.com/fleet.git":  ".",
		"https://example.com/vendor.git": "./vendor-repo",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	dir, sha, err := r.Checkout(t.Context(), "https://example.com/vendor.git", "main")
	if err != nil || sha == "" {
		t.Fatalf("Checkout: %q %v", sha, err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "overlay/cm.yaml"))
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("overlay/cm.yaml: %v %v, want a symbolic link", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "overlay/cm.yaml")); err != nil || string(b) != "kind: ConfigMap\n" {
		t.Errorf("through the link: %q %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "overlay/out.yaml")); !os.IsNotExist(err) {
		t.Errorf("a link out of the repository was written: %v", err)
	}
}
