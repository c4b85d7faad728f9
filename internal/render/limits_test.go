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

// aliasBomb is YAML whose aliases expand to levels lists of 11 (11^6 is
// 1.77M nodes, past fleet.MaxAliasNodes), each line indented by indent.
func aliasBomb(indent string, levels int) string {
	s := indent + "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	for c := 'b'; c < 'a'+rune(levels); c++ {
		p := "*" + string(c-1)
		s += indent + string(c) + ": &" + string(c) + " [" + strings.Repeat(p+",", 10) + p + "]\n"
	}
	return s
}

// indent indents every line of s by n spaces.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+pad) + "\n"
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
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
	cmBomb := cm + "spec:\n" + aliasBomb("  ", 6)  // 1.77M nodes
	cmSmall := cm + "spec:\n" + aliasBomb("  ", 5) // 160k nodes: 7 copies are past the bound
	jsonBomb := "- op: add\n  path: /spec\n  value:\n" + aliasBomb("    ", 6)
	manyPatches := "resources: [cm.yaml]\npatches:\n- patch: &p |-\n" + indent(cmSmall, 4) + strings.Repeat("- patch: *p\n", 7)
	var appPatches []fleet.KustomizePatch
	for range 7 {
		appPatches = append(appPatches, fleet.KustomizePatch{Patch: cmSmall})
	}
	files := map[string]string{
		// YAML held in the strings of a kustomization or plugin
		// configuration, which Kustomize parses, aliases expanded.
		"ipatch/kustomization.yaml":   "resources: [cm.yaml]\npatches:\n- patch: |-\n" + indent(cmBomb, 4),
		"ismp/kustomization.yaml":     "resources: [cm.yaml]\npatchesStrategicMerge:\n- |-\n" + indent(cmBomb, 2),
		"ijson/kustomization.yaml":    "resources: [cm.yaml]\npatchesJson6902:\n- target: {version: v1, kind: ConfigMap, name: c}\n  patch: |-\n" + indent(jsonBomb, 4),
		"igen/kustomization.yaml":     "generators:\n- |-\n" + indent("apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nspec:\n"+aliasBomb("  ", 6), 2),
		"itrans/kustomization.yaml":   "resources: [cm.yaml]\ntransformers:\n- |-\n" + indent("apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: t}\npatch: |-\n"+indent(cmBomb, 2), 2),
		"ival/kustomization.yaml":     "resources: [cm.yaml]\nvalidators:\n- |-\n" + indent("apiVersion: builtin\nkind: ReplacementTransformer\nmetadata: {name: v}\nreplacements:\n"+aliasBomb("  ", 6), 2),
		"ifile/kustomization.yaml":    "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
		"ifile/t.yaml":                "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: t}\npatch: |-\n" + indent(cmBomb, 2),
		"imany/kustomization.yaml":    manyPatches,
		"iapp/kustomization.yaml":     "resources: [cm.yaml]\n",
		"iappmany/kustomization.yaml": "resources: [cm.yaml]\n",

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
	for _, d := range []string{"ipatch", "ismp", "ijson", "itrans", "ival", "ifile", "imany", "iapp", "iappmany"} {
		files[d+"/cm.yaml"] = cm
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
		{app("ipatch", "ipatch", "", nil, nil), "ipatch/kustomization.yaml:3: patches[0].patch: YAML aliases expand to more than 1048576 nodes"},
		{app("ismp", "ismp", "", nil, nil), "ismp/kustomization.yaml:3: patchesStrategicMerge[0]: YAML aliases expand"},
		{app("ijson", "ijson", "", nil, nil), "ijson/kustomization.yaml:4: patchesJson6902[0].patch: YAML aliases expand"},
		{app("igen", "igen", "", nil, nil), "igen/kustomization.yaml:2: generators[0]: YAML aliases expand"},
		{app("itrans", "itrans", "", nil, nil), "itrans/kustomization.yaml:3: transformers[0]: YAML aliases expand"},
		{app("ival", "ival", "", nil, nil), "ival/kustomization.yaml:3: validators[0]: YAML aliases expand"},
		{app("ifile", "ifile", "", nil, nil), "ifile/t.yaml:4: patch: YAML aliases expand"},
		{app("imany", "imany", "", nil, nil), "imany/kustomization.yaml:13: YAML aliases expand to more than 1048576 nodes (alias *p expands to"},
		{app("iapp", "iapp", "", &fleet.ApplicationSourceKustomize{Patches: []fleet.KustomizePatch{{Patch: cm}, {Patch: cmBomb}}}, nil),
			"spec.source.kustomize.patches[1].patch:10: YAML aliases expand"},
		{app("iappmany", "iappmany", "", &fleet.ApplicationSourceKustomize{Patches: appPatches}, nil),
			"iappmany/kustomization.yaml (with the Application's kustomize options):"},
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
