package cli

import (
	"bytes"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

func flotillaCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Flotilla(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// TestFlotillaDispatches: flotilla --help lists every command with its
// one-line summary; flotilla <command> --help is the command's own help
// (the same text the thin mains print); an unknown command or none is a
// usage error.
func TestFlotillaDispatches(t *testing.T) {
	t.Parallel()
	code, out, _ := flotillaCmd(t, "--help")
	if code != ExitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name+" ") || !strings.Contains(out, c.summary+"\n") {
			t.Errorf("--help does not list %s with its summary:\n%s", c.name, out)
		}
		if c.summary == "" || strings.Contains(c.summary, "\n") {
			t.Errorf("%s: the summary must be one line", c.name)
		}
	}
	for _, tt := range []struct {
		name string
		run  func(*testing.T, ...string) (int, string, string)
	}{
		{"render", renderCmd}, {"apply", applyCmd}, {"verify", verifyCmd},
		{"promote", func(t *testing.T, args ...string) (int, string, string) { return promoteCmd(t, nil, args...) }},
	} {
		_, own, _ := tt.run(t, "--help")
		if !strings.HasPrefix(own, "Usage: "+tt.name+" ") {
			t.Errorf("%s --help does not begin with Usage: %s:\n%s", tt.name, tt.name, own)
		}
		// Under the flotilla binary the usage names it as it is run.
		want := "Usage: flotilla " + strings.TrimPrefix(own, "Usage: ")
		if code, got, _ := flotillaCmd(t, tt.name, "--help"); code != ExitOK || got != want {
			t.Errorf("flotilla %s --help: exit %d\n%s\nwant the command's help as flotilla %s:\n%s", tt.name, code, got, tt.name, want)
		}
		if _, got, _ := flotillaCmd(t, "help", tt.name); got != want {
			t.Errorf("flotilla help %s:\n%s", tt.name, got)
		}
	}
	if code, _, stderr := flotillaCmd(t, "deploy"); code != ExitUsage || stderr != "flotilla: usage: unknown command \"deploy\" (see flotilla --help)\n" {
		t.Errorf("an unknown command: exit %d, %q", code, stderr)
	}
	if code, out, stderr := flotillaCmd(t); code != ExitUsage || out != "" || !strings.HasPrefix(stderr, "Usage: flotilla <command>") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	_, v1, _ := flotillaCmd(t, "--version")
	_, v2, _ := flotillaCmd(t, "version")
	if v1 != v2 || !strings.HasPrefix(v1, "flotilla "+Version+"\n") {
		t.Errorf("--version %q, version %q", v1, v2)
	}
}

// TestVersionFromBuildInfo: the version command reports the release, the
// module version, the VCS revision with the dirty flag, the revision's
// time and the Go version from the build information, as text with
// labels and as camelCase JSON; a binary without build information says
// so rather than failing.
func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/flotilla-dev/flotilla", Version: "v0.1.1-0.20261202031500-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-02T03:15:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	var b bytes.Buffer
	writeVersion(&b, versionOf(bi, true))
	want := "flotilla " + Version + `
  revision:      0123456789abcdef0123456789abcdef01234567 (modified)
  revision time: 2026-12-02T03:15:00Z
  module:        github.com/flotilla-dev/flotilla v0.1.1-0.20261202031500-0123456789ab+dirty
  go:            go1.26.8
`
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := writeJSON(&b, versionOf(bi, true)); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{
  "version": "` + Version + `",
  "module": "github.com/flotilla-dev/flotilla",
  "moduleVersion": "v0.1.1-0.20261202031500-0123456789ab+dirty",
  "revision": "0123456789abcdef0123456789abcdef01234567",
  "modified": true,
  "time": "2026-12-02T03:15:00Z",
  "goVersion": "go1.26.8"
}
`
	if b.String() != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), wantJSON)
	}
	if v := versionOf(nil, false); v.Version != Version || v.ModuleVersion != "unknown" || v.Revision != "" {
		t.Errorf("no build information: %+v", v)
	}
	b.Reset()
	writeVersion(&b, versionOf(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/flotilla-dev/flotilla", Version: "(devel)"}}, true))
	if !strings.Contains(b.String(), "  revision:      unknown (built without VCS information: -buildvcs=false or outside a Git checkout)\n  revision time: unknown\n") {
		t.Errorf("text without VCS information:\n%s", b.String())
	}
	if code, out, _ := flotillaCmd(t, "version", "-o", "json"); code != ExitOK || !strings.Contains(out, `"goVersion": "go1.`) {
		t.Errorf("version -o json: exit %d\n%s", code, out)
	}
	if code, _, stderr := flotillaCmd(t, "version", "-o", "xml"); code != ExitUsage || !strings.Contains(stderr, `-o "xml" is not one of text, json, yaml`) {
		t.Errorf("version -o xml: exit %d, %q", code, stderr)
	}
}

// TestCompletionCoversEveryFlag: the completion scripts hold every flag
// each command defines (read from the command's own flag set), and each
// flag is documented in the command's usage text, which supplies the
// descriptions: a flag added to a command reaches completion without a
// list to keep in step, and an undocumented one fails here.
func TestCompletionCoversEveryFlag(t *testing.T) {
	t.Parallel()
	specs := commandSpecs(t.Context())
	if len(specs) != len(commands()) {
		t.Fatalf("%d specs for %d commands", len(specs), len(commands()))
	}
	byName := map[string]commandSpec{}
	for _, s := range specs {
		byName[s.name] = s
		for _, f := range s.flags {
			if f.description == "" && f.placeholder == "" && f.values == nil {
				t.Errorf("%s %s is not documented in its --help", s.name, f.dashed())
			}
		}
	}
	// Spot checks that the spy saw the real flag sets.
	for cmd, flags := range map[string][]string{
		"render":  {"--fleet", "--remote", "--no-push", "--shard", "-o"},
		"promote": {"--forge", "--approve", "--dry-run", "--repo"},
		"apply":   {"--cluster", "--kubeconfig", "--prune", "--dry-run"},
		"verify":  {"--wait", "--heal", "--forge", "--summary"},
		"status":  {"--fleet", "--forge", "--html", "-o"},
		"version": {"-o"},
	} {
		have := map[string]bool{}
		for _, f := range byName[cmd].flags {
			have[f.dashed()] = true
		}
		for _, f := range flags {
			if !have[f] {
				t.Errorf("%s: %s missing from %v", cmd, f, byName[cmd].flags)
			}
		}
	}
	// Descriptions: the flag's text up to its first sentence, lines
	// joined, long ones cut between words.
	descs := map[string]string{}
	for _, s := range specs {
		for _, f := range s.flags {
			descs[s.name+" "+f.dashed()] = f.description
		}
	}
	for flag, want := range map[string]string{
		"promote --fleet":         `the fleet checkout (default ".")`,
		"verify --forge":          "where statuses go: local writes git notes under refs/notes/flotilla in…",
		"render --no-build-cache": "build every kustomization afresh",
		"status --html":           "also write the status as one static HTML page (no script, no external…",
	} {
		if descs[flag] != want {
			t.Errorf("%s: %q, want %q", flag, descs[flag], want)
		}
	}
	for _, shell := range completionShells {
		code, script, stderr := flotillaCmd(t, "completion", shell)
		if code != ExitOK {
			t.Fatalf("completion %s: exit %d: %s", shell, code, stderr)
		}
		for _, s := range specs {
			if !strings.Contains(script, s.name) {
				t.Errorf("%s: command %s missing", shell, s.name)
			}
			for _, f := range s.flags {
				var want string
				switch shell {
				case "bash":
					want = " " + f.dashed() + " "
					if !strings.Contains(script, want) && !strings.Contains(script, "\""+f.dashed()+" ") {
						t.Errorf("bash: %s %s missing", s.name, f.dashed())
					}
					continue
				case "zsh":
					want = "'" + f.dashed() + "["
					if f.takesValue {
						want = "'*" + f.dashed() + "=["
					}
				case "fish":
					want = "__fish_seen_subcommand_from " + s.name + "' -l " + f.name
					if len(f.name) == 1 {
						want = "__fish_seen_subcommand_from " + s.name + "' -s " + f.name
					}
				}
				if !strings.Contains(script, want) {
					t.Errorf("%s: %s %s missing (%q)", shell, s.name, f.dashed(), want)
				}
			}
		}
	}
	if code, _, stderr := flotillaCmd(t, "completion", "powershell"); code != ExitUsage || !strings.Contains(stderr, `shell "powershell" is not bash, zsh or fish`) {
		t.Errorf("completion powershell: exit %d, %q", code, stderr)
	}
	if code, _, _ := flotillaCmd(t, "completion"); code != ExitUsage {
		t.Errorf("completion without a shell: exit %d", code)
	}
}

// TestBashCompletionCompletes runs the bash script in bash: the words it
// offers for a command, a flag's prefix and a flag's value.
func TestBashCompletionCompletes(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	_, script, _ := flotillaCmd(t, "completion", "bash")
	for _, tt := range []struct{ words, want string }{
		{"flotilla st", "status"},
		{"flotilla promote --for", "--forge"},
		{"flotilla promote --forge ''", "local github"},
		{"flotilla verify --forge ''", "local github none"},
		{"flotilla status --dry", ""},
		{"flotilla apply --prune-r", "--prune-removed"},
		{"flotilla completion ''", "bash zsh fish"},
		{"flotilla version -", "-o --help"},
	} {
		prog := script + "\nCOMP_WORDS=(" + tt.words + ")\nCOMP_CWORD=$((${#COMP_WORDS[@]}-1))\n_flotilla\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tt.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.words, got, tt.want)
		}
	}
	if out, err := exec.Command(bash, "-n", "-c", script).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
}
