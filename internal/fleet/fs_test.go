package fleet

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestLoadFSMatchesLoad: the example fleet read from disk and read
// through os.DirFS is the same Fleet (but for Root, which only Load has).
func TestLoadFSMatchesLoad(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "testdata", "fleet")
	want, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadFS(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != "" {
		t.Errorf("LoadFS: Root = %q, want \"\"", got.Root)
	}
	got.Root = want.Root
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load and LoadFS differ (-Load +LoadFS):\n%s", diff)
	}
	if len(want.Clusters) == 0 || len(want.ApplicationSets) == 0 {
		t.Fatalf("the example fleet loaded empty: %d clusters, %d sets", len(want.Clusters), len(want.ApplicationSets))
	}
}

// TestLoadFSErrors: every loader error LoadFS reports over a map is the
// one Load reports over the same files on disk, file, line, message and
// class.
func TestLoadFSErrors(t *testing.T) {
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
			`clusters/b.yaml:1: cluster "c1" is defined twice (also at clusters/a.yaml:1)`, ClassInventory},
		{"wrong kind in inventory", map[string]string{"clusters/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
			`clusters/a.yaml:1: ConfigMap "x" is not inventory: expected kind Cluster (flotilla.dev/v1alpha1) or an Argo CD cluster Secret`, ClassInventory},
		{"missing template spec", map[string]string{"applicationsets/a.yaml": strings.Replace(minimalAppSet, "    spec: {project: default, destination: {}}\n", "", 1)},
			`applicationsets/a.yaml:7: ApplicationSet "a" is invalid: spec.template.spec: Required value`, ClassCRDValidation},
		{"duplicate set", map[string]string{"applicationsets/b/b.yaml": minimalAppSet},
			`applicationsets/b/b.yaml:1: ApplicationSet "a" is defined twice (also at applicationsets/a.yaml:1)`, ClassConfig},
		{"not a set", map[string]string{"applicationsets/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
			`applicationsets/cm.yaml:1: ConfigMap "x" is not an ApplicationSet: the file matches "applicationsets/**/*.yaml" of the default applicationSets globs, whose files must hold only ApplicationSet, Application or AppProject documents; narrow the glob so it leaves out applicationsets/cm.yaml (for example list the ApplicationSet files), or move the file`, ClassConfig},
		{"no applicationsets", map[string]string{"applicationsets/a.yaml": ""},
			"no ApplicationSet or Application found in applicationsets/**/*.yaml, applicationsets/**/*.yml (set applicationSets: or applications: in flotilla.yaml)", ClassConfig},
		{"two config documents", map[string]string{"flotilla.yaml": "hydrated: {}\n---\nhydrated: {}\n"},
			"flotilla.yaml:3: expected one YAML document, found 2", ClassConfig},
		{"repos path escapes", map[string]string{"flotilla.yaml": "repos: {\"https://x:SECRET@example.com/r.git\": ../outside}\n"},
			`flotilla.yaml:1: repos["https://***@example.com/r.git"]: path ../outside escapes the fleet root (repos: paths are relative to the fleet root and stay inside it)`, ClassConfig},
		{"repos path missing", map[string]string{"flotilla.yaml": "repos: {\"https://example.com/r.git\": charts}\n"},
			`flotilla.yaml:1: repos["https://example.com/r.git"]: path charts does not exist`, ClassConfig},
		{"repos path is a file", map[string]string{"flotilla.yaml": "repos: {\"https://example.com/r.git\": clusters/c.yaml}\n", "clusters/c.yaml": cluster},
			`flotilla.yaml:1: repos["https://example.com/r.git"]: path clusters/c.yaml is not a directory`, ClassConfig},
		{"branch template", map[string]string{"flotilla.yaml": "hydrated: {branch: live}\n"},
			`flotilla.yaml: hydrated.branch "live" must contain {{cluster}}`, ClassConfig},
		{"health check without current", map[string]string{"flotilla.yaml": "healthCheckExprs:\n- apiVersion: example.com/v1\n  kind: Database\n"},
			"flotilla.yaml:2: healthCheckExprs[0].current: required", ClassConfig},
		{"alias bomb", map[string]string{"clusters/c.yaml": laughs("")},
			"", ClassStrictDecoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"applicationsets/a.yaml": minimalAppSet}
			m := fstest.MapFS{}
			for k, v := range tt.files {
				files[k] = v
			}
			for k, v := range files {
				m[k] = &fstest.MapFile{Data: []byte(v)}
			}
			_, diskErr := Load(gittest.Files(t, files))
			_, err := LoadFS(m)
			if err == nil || diskErr == nil {
				t.Fatalf("no error: Load %v, LoadFS %v", diskErr, err)
			}
			if tt.want != "" {
				if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
					t.Errorf("LoadFS (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(diskErr.Error(), err.Error()); diff != "" {
				t.Errorf("Load and LoadFS report differently (-Load +LoadFS):\n%s", diff)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Class != tt.class {
				t.Errorf("class: got %+v, want %s", fe, tt.class)
			}
		})
	}
}

// TestLoadFSSymlinks: links of an fs.FS are followed inside it; one that
// loops or leads out is an error naming the link (never a stack
// overflow, which fstest.MapFS's own Open would hit on a loop).
func TestLoadFSSymlinks(t *testing.T) {
	t.Parallel()
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
	}
	cluster := "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {server: https://c1}\n"
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string // "" when the fleet loads
		err   any    // the error type errors.As finds
	}{
		{"file link inside", fstest.MapFS{"shared/c.yaml": {Data: []byte(cluster)}, "clusters/c.yaml": link("../shared/c.yaml")}, "", nil},
		{"directory link inside (a repos: path; never listed, as on disk)", fstest.MapFS{"shared/c.yaml": {Data: []byte(cluster)}, "clusters/c.yaml": {Data: []byte(cluster)}, "clusters/x": link("../shared"),
			"flotilla.yaml": {Data: []byte("repos: {https://example.com/r.git: clusters/x}\n")}}, "", nil},
		{"loop", fstest.MapFS{"clusters/loop.yaml": link("loop.yaml")},
			"clusters/loop.yaml: read: symbolic link loop at clusters/loop.yaml (the link leads back to itself: fix or remove it)", new(*SymlinkLoopError)},
		{"loop of two", fstest.MapFS{"clusters/a.yaml": link("b.yaml"), "clusters/b.yaml": link("a.yaml")},
			"clusters/a.yaml: read: symbolic link loop at clusters/a.yaml (the link leads back to itself: fix or remove it)", new(*SymlinkLoopError)},
		{"config loop", fstest.MapFS{"flotilla.yaml": link("flotilla.yaml")},
			"flotilla.yaml: read: symbolic link loop at flotilla.yaml (the link leads back to itself: fix or remove it)", new(*SymlinkLoopError)},
		{"climbs out", fstest.MapFS{"clusters/c.yaml": link("../../etc/c.yaml")},
			"clusters/c.yaml: read: symbolic link clusters/c.yaml points to ../../etc/c.yaml, outside the tree (a link is followed only inside it: make it relative and keep it inside)", new(*SymlinkEscapeError)},
		{"absolute", fstest.MapFS{"clusters/c.yaml": link("/etc/passwd")},
			"clusters/c.yaml: read: symbolic link clusters/c.yaml points to /etc/passwd, outside the tree (a link is followed only inside it: make it relative and keep it inside)", new(*SymlinkEscapeError)},
		{"repos path loop", fstest.MapFS{"loop": link("loop"), "flotilla.yaml": {Data: []byte("repos: {https://example.com/r.git: ./loop}\n")}},
			`flotilla.yaml:1: repos["https://example.com/r.git"]: path ./loop: symbolic link loop at loop (the link leads back to itself: fix or remove it)`, new(*SymlinkLoopError)},
		{"repos path escapes through a link", fstest.MapFS{"sneaky": link("../elsewhere"), "flotilla.yaml": {Data: []byte("repos: {https://example.com/r.git: sneaky}\n")}},
			`flotilla.yaml:1: repos["https://example.com/r.git"]: path sneaky escapes the fleet root through a symbolic link: symbolic link sneaky points to ../elsewhere, outside the tree (a link is followed only inside it: make it relative and keep it inside)`, new(*SymlinkEscapeError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.files["applicationsets/a.yaml"] = &fstest.MapFile{Data: []byte(minimalAppSet)}
			f, err := LoadFS(tt.files)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Clusters) != 1 || f.Clusters[0].Name != "c1" {
					t.Errorf("clusters: %+v", f.Clusters)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !errors.As(err, tt.err) {
				t.Errorf("error %T does not match %T", err, tt.err)
			}
		})
	}
}

// TestLoadFSIsBounded: a fleet file of fsys is read up to MaxFileSize.
func TestLoadFSIsBounded(t *testing.T) {
	t.Parallel()
	m := fstest.MapFS{
		"applicationsets/a.yaml": {Data: []byte(minimalAppSet)},
		"clusters/big.yaml":      {Data: make([]byte, MaxFileSize+1)},
	}
	_, err := LoadFS(m)
	if !errors.Is(err, ErrLimit) || err.Error() != "limit exceeded: clusters/big.yaml is larger than 16 MiB" {
		t.Fatalf("LoadFS of a 16 MiB + 1 file = %v, want ErrLimit", err)
	}
}

// FuzzResolveLinks: over a map with links to anything, ResolveLinks never
// panics or loops; what it resolves is inside the map, has no link on
// its way, and reads as fstest.MapFS reads the name.
func FuzzResolveLinks(f *testing.F) {
	f.Add("l1/f.yaml", "a", "../b", "g.yaml")
	f.Add("a/l2/g.yaml", "l1", "../l1", "../a/l2")
	f.Add("b/l3", "/etc", "../../x", "..")
	f.Add("l1", "l1", ".", "./l3")
	f.Fuzz(func(t *testing.T, name, t1, t2, t3 string) {
		m := fstest.MapFS{
			"a/f.yaml": {Data: []byte("A")},
			"b/g.yaml": {Data: []byte("B")},
			"l1":       {Data: []byte(t1), Mode: fs.ModeSymlink},
			"a/l2":     {Data: []byte(t2), Mode: fs.ModeSymlink},
			"b/l3":     {Data: []byte(t3), Mode: fs.ModeSymlink},
		}
		real, err := ResolveLinks(m, name)
		if err != nil {
			return
		}
		if !fs.ValidPath(real) {
			t.Fatalf("ResolveLinks(%q) = %q, not a valid path", name, real)
		}
		for p := real; p != "."; p = filepath.ToSlash(filepath.Dir(p)) {
			if st, err := m.Lstat(p); err != nil || st.Mode()&fs.ModeSymlink != 0 {
				t.Fatalf("ResolveLinks(%q) = %q: %s is a link or missing (%v)", name, real, p, err)
			}
		}
		want, werr := fs.ReadFile(m, name)
		got, gerr := fs.ReadFile(m, real)
		if (werr == nil) != (gerr == nil) || string(want) != string(got) {
			t.Fatalf("ResolveLinks(%q) = %q reads %q (%v), MapFS reads %q (%v)", name, real, got, gerr, want, werr)
		}
	})
}

// FuzzLoadFSMatchesLoad: for any flotilla.yaml, inventory and
// ApplicationSet file, LoadFS over a map and Load over the same files on
// disk agree: the same error, or the same Fleet.
func FuzzLoadFSMatchesLoad(f *testing.F) {
	f.Add("", "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {server: https://c1}\n", minimalAppSet)
	f.Add("repos: {https://example.com/r.git: clusters}\n", "kind: Cluster\n", "a: [")
	f.Add("repos: {https://example.com/r.git: ../x}\nclusters: [\"**/*.yaml\"]\n", "", minimalAppSet+"---\n"+minimalAppSet)
	f.Add("hydrated: {branch: x}\n---\n", "a: &x [1]\nb: *x\n", "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: p}\n")
	f.Fuzz(func(t *testing.T, config, inventory, sets string) {
		files := map[string]string{"clusters/c.yaml": inventory, "applicationsets/a.yaml": sets}
		if config != "" {
			files[ConfigFile] = config
		}
		m := fstest.MapFS{}
		for k, v := range files {
			m[k] = &fstest.MapFile{Data: []byte(v)}
		}
		want, werr := Load(gittest.Files(t, files))
		got, gerr := LoadFS(m)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("Load: %v; LoadFS: %v", werr, gerr)
		}
		if werr != nil {
			if werr.Error() != gerr.Error() {
				t.Fatalf("Load and LoadFS report differently:\n%v\n%v", werr, gerr)
			}
			return
		}
		got.Root = want.Root
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("(-Load +LoadFS):\n%s", diff)
		}
	})
}
