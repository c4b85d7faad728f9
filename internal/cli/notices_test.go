package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDropKustomizeNotices: while a command runs under Main, what is
// written to os.Stderr reaches the real stderr, all but Kustomize's
// deprecation notices — render's own warnings say them once, with their
// file. Not parallel: it points os.Stderr elsewhere.
func TestDropKustomizeNotices(t *testing.T) {
	real := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(real)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	defer func() { os.Stderr = saved }()

	restore := dropKustomizeNotices()
	checkout, _ := parityFleet(t, map[string]string{
		"web/kustomization.yaml": "resources: [configmap.yaml]\ncommonLabels: {tier: web}\n",
	})
	code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push")
	os.Stderr.WriteString("a library's line\n# Warning: 'bases' is deprecated. Please use 'resources' instead. Run 'kustomize edit fix' to update your Kustomization automatically.\nno newline")
	restore()
	if os.Stderr != f {
		t.Error("os.Stderr was not restored")
	}
	f.Close()
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a library's line\nno newline"; string(got) != want {
		t.Errorf("the real stderr got:\n%q\nwant:\n%q", got, want)
	}
}
