package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestOutputYAML: every command takes -o yaml, and its YAML is its JSON
// (the same keys, camelCase, the same values): render (rendering and the
// lists), promote, status and version compared here; apply and verify
// take the flag (they fail later, on the missing branch, not on -o).
func TestOutputYAML(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	same := func(name string, run func(format string) (int, string, string)) {
		t.Helper()
		codeJ, j, errJ := run("json")
		codeY, y, errY := run("yaml")
		if codeJ != ExitOK || codeY != ExitOK {
			t.Fatalf("%s: exit %d / %d:\n%s\n%s", name, codeJ, codeY, errJ, errY)
		}
		var fromJSON, fromYAML any
		if err := json.Unmarshal([]byte(j), &fromJSON); err != nil {
			t.Fatalf("%s -o json: %v", name, err)
		}
		if err := yaml.Unmarshal([]byte(y), &fromYAML); err != nil {
			t.Fatalf("%s -o yaml: %v\n%s", name, err, y)
		}
		if strings.HasPrefix(strings.TrimSpace(y), "{") {
			t.Errorf("%s -o yaml wrote JSON:\n%.200s", name, y)
		}
		// What differs between two runs (durations, ages) is not the
		// format's: left out.
		fromJSON, fromYAML = withoutVolatile(fromJSON), withoutVolatile(fromYAML)
		if !reflect.DeepEqual(fromJSON, fromYAML) {
			t.Errorf("%s: -o yaml differs from -o json:\n%.500s\n---\n%.500s", name, y, j)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	same("render", func(f string) (int, string, string) {
		if err := os.RemoveAll(out); err != nil {
			t.Fatal(err)
		}
		return renderCmd(t, "--fleet", checkout, "--out", out, "-o", f)
	})
	same("render --list-clusters", func(f string) (int, string, string) {
		return renderCmd(t, "--fleet", checkout, "--list-clusters", "-o", f)
	})
	same("promote --dry-run", func(f string) (int, string, string) {
		return promoteCmd(t, nil, "--fleet", checkout, "--forge", "local", "--dry-run", "-o", f)
	})
	same("status", func(f string) (int, string, string) {
		return statusCmd(t, nil, "--fleet", checkout, "--forge", "local", "-o", f)
	})
	same("version", func(f string) (int, string, string) { return flotillaCmd(t, "version", "-o", f) })
	missing := filepath.Join(t.TempDir(), "missing")
	for name, cmd := range map[string]func(*testing.T, ...string) (int, string, string){"apply": applyCmd, "verify": verifyCmd} {
		code, _, stderr := cmd(t, "--repo", checkout, "--cluster", "prod-eu", "--kubeconfig", missing, "-o", "yaml")
		if code != ExitUsage || strings.Contains(stderr, "is not one of") {
			t.Errorf("%s -o yaml: exit %d: %s", name, code, stderr)
		}
	}
}

// withoutVolatile drops the keys whose values differ between two runs of
// the same command: timings, ages, times.
func withoutVolatile(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			switch k {
			case "timings", "ageSeconds", "generatedAt", "time", "now":
				continue
			}
			out[k] = withoutVolatile(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutVolatile(e)
		}
		return out
	}
	return v
}

// TestFleetDiffOnATerminalIsText: render --diff-base prints the fleet
// diff as plain text (no Markdown heading, table or <details>); under
// GitHub Actions the Markdown goes to the job summary.
func TestFleetDiffOnATerminalIsText(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	replaceIn(t, filepath.Join(checkout, "services/api-gateway/overlays/production/kustomization.yaml"), "count: 3", "count: 4")
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "scale api-gateway")
	summary := filepath.Join(t.TempDir(), "summary.md")
	var out, errb bytes.Buffer
	code := Render(t.Context(), []string{"--fleet", checkout, "--diff-base", "HEAD~1"}, Env{Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return map[string]string{"GITHUB_STEP_SUMMARY": summary}[k] }})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	text := out.String()
	if !strings.HasPrefix(text, "Fleet diff: 3/") || !strings.Contains(text, "=== prod-eu / api-gateway-prod-eu: 0 added, 1 changed, 0 removed\n") {
		t.Errorf("text:\n%s", text)
	}
	for _, bad := range []string{"###", "|---", "<details>", "<summary>"} {
		if strings.Contains(text, bad) {
			t.Errorf("the terminal output holds %q:\n%s", bad, text)
		}
	}
	md, err := os.ReadFile(summary)
	if err != nil || !strings.Contains(string(md), "### Fleet diff: 3/") || !strings.Contains(string(md), "<details><summary>prod-eu / api-gateway-prod-eu") {
		t.Errorf("job summary (%v):\n%s", err, md)
	}
}
