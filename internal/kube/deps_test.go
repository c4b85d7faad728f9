package kube

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the cluster client off the renderer: internal/kube
// links neither Kustomize nor internal/render (apply ordering lives in
// kube/order), and its pure rule packages link no API client either, so
// their tests run without an apiserver.
func TestDependencies(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	const mod = "github.com/flotilla-dev/flotilla/internal/"
	renderer := []string{"sigs.k8s.io/kustomize/", mod + "render"}
	client := append([]string{"k8s.io/client-go/", mod + "kube\n"}, renderer...)
	for _, tt := range []struct {
		pkg       string
		forbidden []string
	}{
		{"kube", renderer},
		{"kube/order", client},
		{"kube/health", client},
		{"kube/normalize", client},
		{"kube/immutable", client},
		{"kube/drift", client},
		{"kube/syncplan", client},
	} {
		out, err := exec.Command(goBin, "list", "-deps", mod+tt.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", tt.pkg, err, out)
		}
		deps := string(out)
		for _, f := range tt.forbidden {
			for _, line := range strings.Split(deps, "\n") {
				if strings.HasPrefix(line+"\n", f) {
					t.Errorf("internal/%s links %s", tt.pkg, line)
				}
			}
		}
	}
}
