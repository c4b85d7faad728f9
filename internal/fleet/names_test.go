package fleet

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

func clusterYAML(name string) string {
	return "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: " + name + "\nspec: {server: https://" + strings.NewReplacer("/", "-", " ", "-").Replace(name) + "}\n"
}

func secretYAML(name string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n  labels: {argocd.argoproj.io/secret-type: cluster}\ndata:\n  server: " +
		base64.StdEncoding.EncodeToString([]byte("https://c")) + "\n  name: " + base64.StdEncoding.EncodeToString([]byte(name)) + "\n"
}

// TestLoadRefusesUnsafeClusterNames attacks the inventory with names that
// would leave render --out's folder, break Git refs or read badly in logs.
func TestLoadRefusesUnsafeClusterNames(t *testing.T) {
	t.Parallel()
	const label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	const fix = " (cluster names become folder and Git branch names: rename the cluster)"
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, file, doc, want string
	}{
		{"dot dot", "clusters/a.yaml", clusterYAML(`".."`),
			`clusters/a.yaml:4: Cluster metadata.name ".." is not a valid cluster name: ` + label + fix},
		{"dot", "clusters/a.yaml", clusterYAML(`"."`),
			`clusters/a.yaml:4: Cluster metadata.name "." is not a valid cluster name: ` + label + fix},
		{"slash", "clusters/a.yaml", clusterYAML("a/b"),
			`clusters/a.yaml:4: Cluster metadata.name "a/b" is not a valid cluster name: ` + label + fix},
		{"leading dash", "clusters/a.yaml", clusterYAML(`"-x"`),
			`clusters/a.yaml:4: Cluster metadata.name "-x" is not a valid cluster name: ` + label + fix},
		{"upper case", "clusters/a.yaml", clusterYAML("A"),
			`clusters/a.yaml:4: Cluster metadata.name "A" is not a valid cluster name: ` + label + fix},
		{"64 characters", "clusters/a.yaml", clusterYAML(long),
			`clusters/a.yaml:4: Cluster metadata.name "` + long + `" is not a valid cluster name: must be no more than 63 characters` + fix},
		{"newline", "clusters/a.yaml", clusterYAML(`"a\nb"`),
			`clusters/a.yaml:4: Cluster metadata.name "a\nb" is not a valid cluster name: ` + label + fix},
		{"Argo CD Secret data.name ..", "clusters/s.yaml", secretYAML(".."),
			`clusters/s.yaml:8: cluster Secret "c": data.name ".." is not a valid cluster name: ` + label + fix},
		{"Argo CD Secret data.name with a slash", "clusters/s.yaml", secretYAML("../../etc"),
			`clusters/s.yaml:8: cluster Secret "c": data.name "../../etc" is not a valid cluster name: ` + label + fix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(gittest.Files(t, map[string]string{"applicationsets/a.yaml": minimalAppSet, tt.file: tt.doc}))
			if err == nil {
				t.Fatal("loaded")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Class != ClassInventory {
				t.Errorf("class: got %+v, want %s", fe, ClassInventory)
			}
		})
	}
}

// TestLoadRefusesBranchCollisions computes collisions on the branch names
// flotilla.yaml configures.
func TestLoadRefusesBranchCollisions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, config string
		clusters     []string
		want         string // "" when the fleet loads
	}{
		{"staging of a is live of a-next", "", []string{"a", "a-next"},
			`clusters/a-next.yaml:1: cluster "a-next": its live branch hydrated/a-next is also the staging branch of cluster "a" (clusters/a.yaml:1), so promotion would mix their manifests (rename one of the clusters, or change hydrated.branch or hydrated.staging in flotilla.yaml)`},
		{"a and a-next apart with other templates", "hydrated: {branch: 'live/{{cluster}}', staging: 'next/{{cluster}}'}\n", []string{"a", "a-next"}, ""},
		{"templates that meet", "hydrated: {branch: 'hydrated/{{cluster}}', staging: 'hydrated/next-{{cluster}}'}\n", []string{"a", "next-a"},
			`clusters/next-a.yaml:1: cluster "next-a": its live branch hydrated/next-a is also the staging branch of cluster "a" (clusters/a.yaml:1), so promotion would mix their manifests (rename one of the clusters, or change hydrated.branch or hydrated.staging in flotilla.yaml)`},
		{"a branch is a folder of its own other branch", "hydrated: {branch: 'hydrated/{{cluster}}', staging: 'hydrated/{{cluster}}/next'}\n", []string{"a"},
			`clusters/a.yaml:1: cluster "a": its branches hydrated/a and hydrated/a/next cannot both exist in Git, one is a folder of the other (change hydrated.branch or hydrated.staging in flotilla.yaml)`},
		{"a branch is a folder of another cluster's", "hydrated: {branch: 'hydrated/{{cluster}}', staging: 'hydrated/next/{{cluster}}'}\n", []string{"a", "next"},
			`clusters/a.yaml:1: cluster "a": its staging branch hydrated/next/a and the live branch hydrated/next of cluster "next" (clusters/next.yaml:1) cannot both exist in Git, one is a folder of the other (rename one of the clusters, or change hydrated.branch or hydrated.staging in flotilla.yaml)`},
		{"a name the template turns invalid", "hydrated: {staging: 'hydrated/x.lo{{cluster}}'}\n", []string{"ck"},
			`clusters/ck.yaml:1: cluster "ck": its staging branch "hydrated/x.lock" (hydrated.staging in flotilla.yaml) is not a valid Git branch name: component "x.lock" ends with ".lock" (rename the cluster or change hydrated.staging)`},
		{"a template invalid for any name", "hydrated: {branch: 'hydrated /{{cluster}}'}\n", []string{"a"},
			`flotilla.yaml: hydrated.branch "hydrated /{{cluster}}" does not make valid Git branch names: contains ' '`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"applicationsets/a.yaml": minimalAppSet}
			if tt.config != "" {
				files[ConfigFile] = tt.config
			}
			for _, c := range tt.clusters {
				files["clusters/"+c+".yaml"] = "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: " + c + "}\nspec: {server: https://" + c + "}\n"
			}
			_, err := Load(gittest.Files(t, files))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckBranchNameAgreesWithGit compares CheckBranchName with
// git check-ref-format on names that probe each of its rules.
func TestCheckBranchNameAgreesWithGit(t *testing.T) {
	t.Parallel()
	names := []string{
		"hydrated/a", "hydrated/a-next", "a", "a.b", "a/b/c", "hydrated/.a", "hydrated/a.lock", "a.lock/b",
		"a..b", "a/", "/a", "a//b", "a.", "a@{b", "a@b", "a b", "a\tb", "a\x7fb", "a~b", "a^b", "a:b",
		"a?b", "a*b", "a[b", "a\\b", "ä", "a/.lock", "x.lockx", "a{b}", "a/-b", ".", "..",
	}
	for _, name := range names {
		err := CheckBranchName(name)
		gitOK := exec.Command("git", "check-ref-format", "--branch", name).Run() == nil
		if (err == nil) != gitOK {
			t.Errorf("CheckBranchName(%q) = %v, git check-ref-format --branch says valid=%t", name, err, gitOK)
		}
	}
	for _, name := range []string{"-a", "HEAD", "@", ""} { // git takes "@" for HEAD, refuses the others as branches elsewhere
		if CheckBranchName(name) == nil {
			t.Errorf("CheckBranchName(%q) accepted", name)
		}
	}
}

// FuzzClusterName: a name CheckClusterName accepts is one plain folder
// under a directory (never the directory, its parent or a subfolder) and
// makes valid branch names with the default templates, by go-git's rules
// and CheckBranchName's.
func FuzzClusterName(f *testing.F) {
	for _, s := range []string{"a", "a-next", "..", ".", "a/b", "-x", "A", strings.Repeat("a", 63), strings.Repeat("a", 64),
		"a.lock", "in-cluster", "a\x00", "a\\b", "con", "0", "a..b", "@", "a@{1}"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, name string) {
		if CheckClusterName(name) != nil {
			return
		}
		p := filepath.Join(dir, name)
		if filepath.Dir(p) != dir || filepath.Base(p) != name || !filepath.IsLocal(name) {
			t.Fatalf("%q is not one segment under %s: %s", name, dir, p)
		}
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatalf("mkdir %q: %v", name, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			found = found || e.Name() == name && e.IsDir()
		}
		if !found {
			t.Fatalf("%q did not become a folder of that name in %s", name, dir)
		}
		var c Config
		c.applyDefaults()
		for _, b := range []string{c.LiveBranch(name), c.StagingBranch(name), name} {
			if err := CheckBranchName(b); err != nil {
				t.Fatalf("branch %q of cluster %q: %v", b, name, err)
			}
			if err := plumbing.NewBranchReferenceName(b).Validate(); err != nil {
				t.Fatalf("branch %q of cluster %q: go-git: %v", b, name, err)
			}
		}
	})
}

// FuzzBranchName: what CheckBranchName accepts, go-git accepts too.
func FuzzBranchName(f *testing.F) {
	for _, s := range []string{"hydrated/a", "a..b", "a.lock", "a/.b", "@", "a@{b", "a b", "-a", "a/", "ä/ö"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckBranchName(name) != nil {
			return
		}
		if err := plumbing.NewBranchReferenceName(name).Validate(); err != nil {
			t.Fatalf("CheckBranchName accepted %q, go-git refuses it: %v", name, err)
		}
	})
}

// TestLoadNamesSymlinkLoops: a loop in the fleet's files is reported as a
// loop naming the link, with the file that reached it.
func TestLoadNamesSymlinkLoops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config string
		link   string // a link to itself
		want   string // the error, %s the link's absolute path
	}{
		{"repos path", "repos: {https://example.com/r.git: ./loop}\n", "loop",
			`flotilla.yaml:1: repos["https://example.com/r.git"]: path ./loop: symbolic link loop at %s (the link leads back to itself: fix or remove it)`},
		{"inventory file", "", "clusters/loop.yaml",
			"clusters/loop.yaml: read: symbolic link loop at %s (the link leads back to itself: fix or remove it)"},
		{"flotilla.yaml", "", "flotilla.yaml",
			"flotilla.yaml: read: symbolic link loop at %s (the link leads back to itself: fix or remove it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"applicationsets/a.yaml": minimalAppSet}
			if tt.config != "" {
				files[ConfigFile] = tt.config
			}
			dir := gittest.Files(t, files)
			link := filepath.Join(dir, filepath.FromSlash(tt.link))
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Base(link), link); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			var loop *SymlinkLoopError
			if !errors.As(err, &loop) {
				t.Fatalf("error is not a symbolic link loop: %v", err)
			}
			if diff := cmp.Diff(fmt.Sprintf(tt.want, link), err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
