package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// laughs is an object whose spec is "billion laughs": 9^9 strings once
// its aliases are expanded (Kustomize's DeAnchor copies them in place).
func laughs() string {
	s := "apiVersion: example.com/v1\nkind: Bomb\nmetadata: {name: b}\nspec:\n  a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	for c := 'b'; c <= 'i'; c++ {
		p := "*" + string(c-1)
		s += "  " + string(c) + ": &" + string(c) + " [" + strings.Repeat(p+",", 8) + p + "]\n"
	}
	return s
}

// TestBuildBounds feeds builds inputs that, unbounded, expand to billions
// of nodes or objects: each fails with fleet.ErrLimit, naming the
// Application and the file or limit.
func TestBuildBounds(t *testing.T) {
	t.Parallel()
	var many strings.Builder
	for i := range MaxObjects + 1 {
		fmt.Fprintf(&many, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\n", i)
	}
	files := map[string]string{
		"kbomb/kustomization.yaml":   "resources: [bomb.yaml]\n",
		"kbomb/bomb.yaml":            laughs(),
		"kfile/kustomization.yaml":   laughs() + "resources: []\n",
		"dbomb/bomb.yaml":            laughs(),
		"many/cms.yaml":              many.String(),
		"kbig/kustomization.yaml":    "resources: [big.yaml]\n",
		"dbig/big.yaml":              "",
		"kglob/kustomization.yaml":   "resources: []\n",
		"dglob/a.yaml":               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"patched/kustomization.yaml": "resources: [cm.yaml]\npatches: [{path: bomb.yaml}]\n",
		"patched/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"patched/bomb.yaml":          strings.Replace(laughs(), "kind: Bomb\nmetadata: {name: b}", "kind: ConfigMap\nmetadata: {name: c}", 1),
		"kbig/big.yaml":              "",
	}
	dir := gittest.Files(t, files)
	for _, p := range []string{"kbig/big.yaml", "dbig/big.yaml"} {
		if err := os.Truncate(filepath.Join(dir, p), fleet.MaxFileSize+1); err != nil {
			t.Fatal(err)
		}
	}
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	glob := &fleet.ApplicationSourceDirectory{Include: strings.Repeat("{a,b}", 30)}
	for _, tt := range []struct {
		app  *fleet.Application
		want string
	}{
		{app("kbomb", "kbomb", "", nil, nil), "bomb.yaml:12: YAML aliases expand to more than 1048576 nodes"},
		{app("kfile", "kfile", "", nil, nil), "kustomization.yaml:12: YAML aliases expand"},
		{app("patched", "patched", "", nil, nil), "bomb.yaml:12: YAML aliases expand"},
		{app("dbomb", "dbomb", "", nil, nil), "bomb.yaml:12: YAML aliases expand"},
		{app("many", "many", "", nil, nil), "10001 objects, more than 10000"},
		{app("kbig", "kbig", "", nil, nil), ": kbig/big.yaml is larger than 16 MiB"},
		{app("dbig", "dbig", "", nil, nil), ": dbig/big.yaml is larger than 16 MiB"},
		{app("dglob", "dglob", "", nil, glob), "directory.include"},
	} {
		t.Run(tt.app.Metadata.Name, func(t *testing.T) {
			t.Parallel()
			done := make(chan error, 1)
			go func() {
				_, err := b.Render(t.Context(), tt.app)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("still building after 2 minutes")
			}
			var re *Error
			if !errors.Is(err, fleet.ErrLimit) || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &re) || re.App != tt.app.Metadata.Name {
				t.Fatalf("got %v, want fleet.ErrLimit and %q", err, tt.want)
			}
		})
	}
}

// TestBuildReadsAreBounded reads one file through a build's filesystem
// more often than a build may: a base included from many places (8 copies
// of 8 copies of … ) is read once per inclusion, so the count grows as
// the objects do.
func TestBuildReadsAreBounded(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
	rfs, err := newRootedFS(dir, &realPaths{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cm.yaml")
	for range MaxBuildReads {
		if _, err := rfs.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rfs.ReadFile(p); !errors.Is(err, fleet.ErrLimit) || !strings.Contains(err.Error(), "reads more than 20000 files") || rfs.limit == nil {
		t.Fatalf("read %d: %v, want fleet.ErrLimit, kept for the report", MaxBuildReads+1, err)
	}
}

// TestOrdinaryErrorsAreNotLimits: a build that fails for another reason
// (here a missing resource) is not reported as a limit.
func TestOrdinaryErrorsAreNotLimits(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{"k/kustomization.yaml": "resources: [missing.yaml]\n"})
	_, err := NewBuilder(diskRepo(dir), fleet.PolicyConfig{}).Render(t.Context(), app("k", "k", "", nil, nil))
	if err == nil || errors.Is(err, fleet.ErrLimit) {
		t.Fatalf("error = %v, want a build error that is not fleet.ErrLimit", err)
	}
}
