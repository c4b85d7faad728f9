package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestDeprecationWarningsNameTheirFile: every deprecated field of every
// kustomization a build loads (the overlay, its bases, a component) is a
// warning naming its file, with Kustomize's own message, once per file
// and message; Applications sharing the build share them; a build reused
// from the cache gives them again; a kustomization without deprecated
// fields gives none.
func TestDeprecationWarningsNameTheirFile(t *testing.T) {
	t.Parallel()
	root := gittest.Files(t, map[string]string{
		"base/kustomization.yaml":    "resources: [deployment.yaml]\ncommonLabels: {tier: web}\npatchesStrategicMerge: [patch.yaml]\n",
		"base/deployment.yaml":       deployment,
		"base/patch.yaml":            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n",
		"overlay/kustomization.yaml": "bases: [../base]\nnamePrefix: prod-\n",
		"clean/kustomization.yaml":   "resources: [deployment.yaml]\nlabels: [{pairs: {tier: web}}]\n",
		"clean/deployment.yaml":      deployment,
	})
	const fix = " Run 'kustomize edit fix' to update your Kustomization automatically."
	want := []Warning{
		{File: "base/kustomization.yaml", Message: "'commonLabels' is deprecated. Please use 'labels' instead." + fix},
		{File: "base/kustomization.yaml", Message: "'patchesStrategicMerge' is deprecated. Please use 'patches' instead." + fix},
		{File: "overlay/kustomization.yaml", Message: "'bases' is deprecated. Please use 'resources' instead." + fix},
	}
	cache := DirCache(t.TempDir())
	for _, run := range []string{"build", "cached"} {
		b := NewBuilder(diskRepo(root), fleet.PolicyConfig{})
		b.Cache = cache
		for _, name := range []string{"web-a", "web-b"} {
			out, err := b.Render(t.Context(), app(name, "overlay", "web", nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			for i := range out.Warnings {
				if out.Warnings[i].RepoURL != "https://example.com/r.git" {
					t.Errorf("warning %d: repoURL %q, want the source's", i, out.Warnings[i].RepoURL)
				}
				out.Warnings[i].RepoURL = ""
			}
			if diff := cmp.Diff(want, out.Warnings); diff != "" {
				t.Errorf("%s, %s: warnings (-want +got):\n%s", run, name, diff)
			}
		}
		if run == "cached" && b.CachedBuilds() != 1 {
			t.Errorf("the second run did not reuse the build")
		}
		out, err := b.Render(t.Context(), app("clean", "clean", "web", nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Warnings) != 0 {
			t.Errorf("%s: a kustomization without deprecated fields warns: %v", run, out.Warnings)
		}
	}
}

// TestKustomizeNotices: the lines Kustomize prints for deprecated fields
// are recognised exactly — each one behind a Warning — and nothing else.
func TestKustomizeNotices(t *testing.T) {
	t.Parallel()
	root := gittest.Files(t, map[string]string{
		"k/kustomization.yaml": "bases: []\ncommonLabels: {}\nimageTags: []\npatchesJson6902: []\npatchesStrategicMerge: []\nvars: []\n",
	})
	rfs, err := newRootedFS(root, &realPaths{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scanKustomizations(rfs, rfs.root+"/k", false); err != nil {
		t.Fatal(err)
	}
	if len(rfs.warnings) != 6 {
		t.Errorf("%d warnings, want one per deprecated field: %v", len(rfs.warnings), rfs.warnings)
	}
	for _, w := range rfs.warnings {
		if !IsKustomizeNotice("# Warning: " + w.Message) {
			t.Errorf("Kustomize's notice for %q is not recognised", w.Message)
		}
	}
	for _, line := range []string{"", "# Warning: something else", "Warning: Sorting order is set both in 'kustomization.yaml'"} {
		if IsKustomizeNotice(line) {
			t.Errorf("%q taken for a deprecation notice", line)
		}
	}
}
