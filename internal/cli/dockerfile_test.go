package cli

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestDockerfileBuilds runs the Dockerfile's own build command (no Docker
// engine is needed) and checks the binaries are static.
func TestDockerfileBuilds(t *testing.T) {
	t.Parallel()
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*)$`).FindStringSubmatch(string(df))
	if m == nil {
		t.Fatal("no go build step in the Dockerfile")
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(m[1], "/out/", out+"/"))
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, b)
	}
	// Every command in cmd/ is in the image (flotilla included).
	cmds, err := os.ReadDir("../../cmd")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cmds {
		if c.IsDir() {
			names = append(names, c.Name())
		}
	}
	if len(names) < 6 {
		t.Fatalf("cmd/ holds %v: expected action, apply, flotilla, promote, render and verify at least", names)
	}
	for _, name := range names {
		f, err := elf.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
	}
	if !regexp.MustCompile(`(?m)^USER [1-9]`).Match(df) || !strings.Contains(string(df), `ENTRYPOINT ["/usr/local/bin/action"]`) {
		t.Error("the image must run as a non-root user with the action entrypoint")
	}
}

// TestActionYAMLMatchesTheCode keeps action.yml's inputs and outputs and
// the code's in step.
func TestActionYAMLMatchesTheCode(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs  map[string]any
		Outputs map[string]any
		Runs    struct{ Using, Image string }
	}
	if err := yaml.Unmarshal(b, &action); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"command": true, "token": true, "kubeconfig-data": true}
	for _, in := range actionOnlyInputs {
		want[in] = true
	}
	for _, inputs := range actionInputs {
		for _, in := range inputs {
			want[in] = true
		}
	}
	for in := range want {
		if _, ok := action.Inputs[in]; !ok {
			t.Errorf("action.yml lacks input %s", in)
		}
	}
	for in := range action.Inputs {
		if !want[in] {
			t.Errorf("action.yml input %s is not read by the code", in)
		}
	}
	src, _ := os.ReadFile("action.go")
	more, _ := os.ReadFile("actionmatrix.go")
	src = append(src, more...)
	for out := range action.Outputs {
		if !strings.Contains(string(src), `"`+out+`"`) {
			t.Errorf("action.yml output %s is never set", out)
		}
	}
	if action.Runs.Using != "docker" || !publishedImage.MatchString(action.Runs.Image) {
		t.Errorf("runs: %+v, want the published image %s", action.Runs, publishedImage)
	}
}

// publishedImage is the form of action.yml's image: the release
// workflow's image at one version.
var publishedImage = regexp.MustCompile(`^docker://ghcr\.io/flotilla-dev/flotilla:(v\d+\.\d+\.\d+)$`)

// TestOneVersionEverywhere: action.yml runs the published image of one
// version, and every reusable workflow and example calls the Action and
// the reusable workflows at that very version — no job rebuilds Go from
// the Dockerfile, no job runs an image that was never published.
func TestOneVersionEverywhere(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  image: (.*)$`).FindSubmatch(b)
	if m == nil || !publishedImage.Match(m[1]) {
		t.Fatalf("action.yml runs.image is not the published image: %q", m)
	}
	version := publishedImage.FindStringSubmatch(string(m[1]))[1]
	files, _ := filepath.Glob("../../.github/workflows/flotilla-*.yml")
	examples, _ := filepath.Glob("../../examples/github/*.yml")
	files = append(files, examples...)
	if len(files) < 6 {
		t.Fatalf("workflows: %v", files)
	}
	uses := regexp.MustCompile(`flotilla-dev/flotilla(/\.github/workflows/[\w.-]+)?@(\S+)`)
	image := regexp.MustCompile(`ghcr\.io/flotilla-dev/flotilla:(\S+)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		refs := 0
		for _, u := range uses.FindAllStringSubmatch(string(b), -1) {
			refs++
			if u[2] != version {
				t.Errorf("%s: %s, want @%s (action.yml's image version)", f, u[0], version)
			}
		}
		for _, u := range image.FindAllStringSubmatch(string(b), -1) {
			if u[1] != version {
				t.Errorf("%s: %s, want :%s", f, u[0], version)
			}
		}
		if strings.Contains(string(b), "image: Dockerfile") {
			t.Errorf("%s builds the image from the Dockerfile", f)
		}
		if refs == 0 {
			t.Errorf("%s does not call flotilla", f)
		}
	}
}

// TestDockerfileCredentialPlugins: the image carries the exec credential
// plugins cloud identity uses — aws-iam-authenticator (EKS) and kubelogin
// (AKS) — each built static from its Go module at a pinned version and
// copied next to the commands, and the cloud examples call them by those
// names.
func TestDockerfileCredentialPlugins(t *testing.T) {
	t.Parallel()
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for bin, module := range map[string]string{"aws-iam-authenticator": `sigs\.k8s\.io/aws-iam-authenticator/cmd/aws-iam-authenticator`, "kubelogin": `github\.com/Azure/kubelogin`} {
		if !regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" ` + module + `@v\d+\.\d+\.\d+$`).Match(df) {
			t.Errorf("the Dockerfile does not build %s static at a pinned version", bin)
		}
		example := map[string]string{"aws-iam-authenticator": "eks.yml", "kubelogin": "aks.yml"}[bin]
		b, err := os.ReadFile("../../examples/github/" + example)
		if err != nil || !strings.Contains(string(b), "command: "+bin) {
			t.Errorf("examples/github/%s does not use %s (%v)", example, bin, err)
		}
	}
	if !strings.Contains(string(df), "COPY --from=plugins /out/ /usr/local/bin/") {
		t.Error("the plugins are not copied into the image")
	}
}
