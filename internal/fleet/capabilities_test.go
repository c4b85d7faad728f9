package fleet

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestLoadCapabilities reads a Cluster's spec.kubeVersion and
// spec.apiVersions and the fleet default, and refuses a version Helm
// could not parse at load time, naming the file.
func TestLoadCapabilities(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"flotilla.yaml":          "helm: {kubeVersion: v1.30.0, apiVersions: [a.example.com/v1]}\n",
		"applicationsets/a.yaml": minimalAppSet,
		"clusters/c.yaml": `apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {server: https://c1, kubeVersion: v1.34.1-gke.100, apiVersions: [monitoring.coreos.com/v1]}
---
apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: c2}
spec: {server: https://c2}
`,
	})
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	def := f.Config.Helm.Capabilities()
	got := map[string]Capabilities{}
	for _, c := range f.Clusters {
		got[c.Name] = c.Capabilities.Or(def)
	}
	want := map[string]Capabilities{
		"c1": {KubeVersion: "v1.34.1-gke.100", APIVersions: []string{"monitoring.coreos.com/v1"}},
		"c2": {KubeVersion: "v1.30.0", APIVersions: []string{"a.example.com/v1"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	bad := gittest.Files(t, map[string]string{
		"applicationsets/a.yaml": minimalAppSet,
		"clusters/c.yaml":        "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {server: https://c1, kubeVersion: latest}\n",
	})
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "clusters/c.yaml") || !strings.Contains(err.Error(), `spec.kubeVersion "latest"`) {
		t.Errorf("bad kubeVersion: %v", err)
	}
}
