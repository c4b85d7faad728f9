package appset_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/source"
)

// BenchmarkGenerateFleet evaluates make bench's matrix ApplicationSet
// (200 clusters × 25 service directories = 5,000 Applications).
func BenchmarkGenerateFleet(b *testing.B) {
	dir := b.TempDir()
	files := map[string]string{
		"flotilla.yaml": "repos:\n  https://git.example.com/fleet.git: .\n",
		"applicationsets/services.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: services}
spec:
  generators:
  - matrix:
      generators:
      - clusters: {}
      - git:
          repoURL: https://git.example.com/fleet.git
          revision: main
          directories: [{path: "services/*"}]
  template:
    metadata: {name: "{{path.basename}}-{{name}}"}
    spec:
      project: default
      source: {repoURL: https://git.example.com/fleet.git, targetRevision: main, path: "{{path}}/overlays/{{metadata.labels.environment}}"}
      destination: {server: "{{server}}", namespace: "{{path.basename}}"}
`,
	}
	envs := []string{"dev", "staging", "production"}
	inv := ""
	for c := range 200 {
		inv += fmt.Sprintf("---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: cluster-%03d, labels: {environment: %s}}\nspec: {server: https://cluster-%03d.example.com}\n", c, envs[c%3], c)
	}
	files["clusters/clusters.yaml"] = inv
	for s := range 25 {
		for _, f := range []string{"base/kustomization.yaml", "base/deployment.yaml", "overlays/dev/kustomization.yaml", "overlays/staging/kustomization.yaml", "overlays/production/kustomization.yaml"} {
			files[fmt.Sprintf("services/svc-%02d/%s", s, f)] = "{}\n"
		}
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := fleet.Load(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	f, err := fleet.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("generate", func(b *testing.B) {
		for b.Loop() {
			repos, err := source.New(f)
			if err != nil {
				b.Fatal(err)
			}
			apps, err := appset.GenerateFleet(b.Context(), f, repos)
			if err != nil || len(apps) != 5000 {
				b.Fatalf("%d apps, %v", len(apps), err)
			}
			repos.Close()
		}
	})
}
