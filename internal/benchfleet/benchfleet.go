// Package benchfleet writes the fleet make bench renders, for the bench
// and for benchmarks of the packages on its path.
package benchfleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Overlays are the services' overlays, one per environment; cluster i is
// in environment Overlays[i%3].
var Overlays = []string{"dev", "staging", "production"}

// Write writes the fleet into dir: nClusters clusters cycling through the
// environments, nServices services of a base and an overlay per
// environment, and the seed's matrix ApplicationSet over services/*.
func Write(dir string, nClusters, nServices int) error {
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
	var inv strings.Builder
	for c := range nClusters {
		fmt.Fprintf(&inv, "---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: cluster-%03d, labels: {environment: %s}}\nspec: {server: https://cluster-%03d.example.com}\n",
			c, Overlays[c%len(Overlays)], c)
	}
	files["clusters/clusters.yaml"] = inv.String()
	for s := range nServices {
		name := fmt.Sprintf("svc-%02d", s)
		base := "services/" + name + "/base/"
		files[base+"kustomization.yaml"] = "resources: [deployment.yaml, service.yaml]\nlabels:\n- pairs: {app.kubernetes.io/name: " + name + "}\n  includeSelectors: true\n"
		files[base+"deployment.yaml"] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/example/%s:1.0.0\n        ports: [{containerPort: 8080}]\n        resources: {requests: {cpu: 100m, memory: 64Mi}}\n", name, name, name, name)
		files[base+"service.yaml"] = fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: %s}\n  ports: [{port: 80, targetPort: 8080}]\n", name, name)
		for i, o := range Overlays {
			files["services/"+name+"/overlays/"+o+"/kustomization.yaml"] = fmt.Sprintf(
				"resources: [../../base]\nreplicas:\n- name: %s\n  count: %d\nimages:\n- name: ghcr.io/example/%s\n  newTag: \"1.%d.0\"\nconfigMapGenerator:\n- name: %s-config\n  literals: [ENV=%s]\n", name, i+1, name, i, name, o)
		}
	}
	for p, c := range files {
		if err := write(filepath.Join(dir, p), c); err != nil {
			return err
		}
	}
	return nil
}

func write(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
