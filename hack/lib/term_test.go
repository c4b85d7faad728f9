// Package lib tests term.sh, the terminal rules of the project's scripts,
// and its main user, hack/tools/build.sh (make tools), without building
// anything: the tools are fakes already in place (cached), and term_build
// runs a command that only sleeps or fails.
package lib

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// versions reads build.sh's pinned versions.
func versions(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../tools/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z0-9]+)_VERSION=(\S+)$`).FindAllStringSubmatch(string(data), -1) {
		v[m[1]] = m[2]
	}
	for _, k := range []string{"K8S", "ETCD", "KWOK", "HELM"} {
		if v[k] == "" {
			t.Fatalf("build.sh: no %s_VERSION=", k)
		}
	}
	return v
}

// cachedBin makes a bin directory where every tool build.sh builds is
// already there (an executable that does nothing), so a run builds nothing.
func cachedBin(t *testing.T) string {
	t.Helper()
	v := versions(t)
	bin := t.TempDir()
	var files []string
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		files = append(files, filepath.Join("k8s-"+v["K8S"], c))
	}
	files = append(files, filepath.Join("etcd-"+v["ETCD"], "etcd"), filepath.Join("kwok-"+v["KWOK"], "kwok"), filepath.Join("helm-"+v["HELM"], "helm"))
	for _, f := range files {
		p := filepath.Join(bin, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// run runs a bash command line in this folder, with stderr a terminal
// (through script(1)) or a pipe, and returns its stderr (on a terminal,
// the terminal's output with line ends as written, \r\n made \n).
func run(t *testing.T, terminal bool, env []string, command string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	var out bytes.Buffer
	if terminal {
		if _, err := exec.LookPath("script"); err != nil {
			t.Skip("script (util-linux) is not on PATH: it gives the command a terminal")
		}
		// Only stderr reaches the output: stdout goes to /dev/null.
		cmd = exec.CommandContext(ctx, "script", "-qec", "bash -c '"+command+"' >/dev/null", "/dev/null")
		cmd.Stdout = &out
	} else {
		cmd = exec.CommandContext(ctx, "bash", "-c", command)
		cmd.Stderr = &out
	}
	cmd.Stdin = nil
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	return strings.ReplaceAll(out.String(), "\r\n", "\n"), err
}

// TestBuildInALog: with stderr a pipe (CI), a run where every tool is
// cached prints no line per tool, only the stages it wrote and the
// summary; and the stable names point at the versioned binaries.
func TestBuildInALog(t *testing.T) {
	bin := cachedBin(t)
	for i, want := range []string{
		"tools: writing kwok stages\ntools: ready in " + bin + " (0 built, 7 cached)\n",
		"tools: ready in " + bin + " (0 built, 7 cached)\n",
	} {
		out, err := run(t, false, nil, "../tools/build.sh "+bin)
		if err != nil {
			t.Fatalf("run %d: build.sh: %v\n%s", i+1, err, out)
		}
		if out != want {
			t.Errorf("run %d: stderr:\n%q\nwant:\n%q", i+1, out, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(bin, "kube-apiserver")); err != nil || !strings.HasPrefix(target, "k8s-") {
		t.Errorf("bin/kube-apiserver: %q, %v; want a link into k8s-<version>/", target, err)
	}
}

// TestBuildOnATerminal: with stderr a terminal, each cached tool says so,
// numbered, in build order.
func TestBuildOnATerminal(t *testing.T) {
	v := versions(t)
	bin := cachedBin(t)
	out, err := run(t, true, nil, "../tools/build.sh "+bin)
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	want := "tools: kube-apiserver " + v["K8S"] + " (1/7): cached\n" +
		"tools: kube-controller-manager " + v["K8S"] + " (2/7): cached\n" +
		"tools: kube-scheduler " + v["K8S"] + " (3/7): cached\n" +
		"tools: kubectl " + v["K8S"] + " (4/7): cached\n" +
		"tools: etcd " + v["ETCD"] + " (5/7): cached\n" +
		"tools: kwok " + v["KWOK"] + " (6/7): cached\n" +
		"tools: writing kwok stages\n" +
		"tools: helm " + v["HELM"] + " (7/7): cached\n" +
		"tools: ready in " + bin + " (0 built, 7 cached)\n"
	if out != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", out, want)
	}
}

// termBuild runs term_build from hack/lib/term.sh on a shell command.
func termBuild(t *testing.T, terminal bool, what, command string) (string, error) {
	return run(t, terminal, nil, `source term.sh; TERM_PREFIX="tools: "; term_build "`+what+`" sh -c "`+command+`"`)
}

// TestTermBuildOnATerminal: a build that takes two seconds counts them on
// one line and ends it with the time it took.
func TestTermBuildOnATerminal(t *testing.T) {
	out, err := termBuild(t, true, "x v1 (1/2)", "sleep 2")
	if err != nil {
		t.Fatalf("term_build: %v\n%s", err, out)
	}
	for _, want := range []string{"\rtools: building x v1 (1/2)… 0s", "\rtools: building x v1 (1/2)… 1s", "\rtools: built x v1 (1/2) in "} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("output %q: want one line, rewritten in place", out)
	}
}

// TestTermBuildFailsOnATerminal: a failed build keeps its status and shows
// what it printed, which the counting line hid.
func TestTermBuildFailsOnATerminal(t *testing.T) {
	out, err := termBuild(t, true, "y v2 (2/2)", "echo boom >&2; exit 3")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("term_build: %v, want exit status 3\n%s", err, out)
	}
	if !regexp.MustCompile(`\rtools: building y v2 \(2/2\) failed after \ds \(exit 3\):\nboom\n$`).MatchString(out) {
		t.Errorf("output %q: want the failure and the command's stderr", out)
	}
}

// TestTermBuildInALog: one line before the build, then the command's own
// output as it comes; the status is kept.
func TestTermBuildInALog(t *testing.T) {
	out, err := termBuild(t, false, "y v2 (2/2)", "echo boom >&2; exit 3")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("term_build: %v, want exit status 3\n%s", err, out)
	}
	if want := "tools: building y v2 (2/2)\nboom\n"; out != want {
		t.Errorf("stderr %q, want %q", out, want)
	}
}

// TestTermColour: colour only on a terminal, never with NO_COLOR set or
// TERM=dumb — the rule of the commands' useColour.
func TestTermColour(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		env      []string
		want     string
	}{
		{"terminal", true, []string{"NO_COLOR=", "TERM=xterm"}, "colour"},
		{"NO_COLOR", true, []string{"NO_COLOR=1", "TERM=xterm"}, "plain"},
		{"TERM=dumb", true, []string{"NO_COLOR=", "TERM=dumb"}, "plain"},
		{"a pipe", false, []string{"NO_COLOR=", "TERM=xterm"}, "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The answer goes to stderr, which run returns; the question
			// is about stderr (fd 2), the stream run makes a terminal.
			out, err := run(t, tc.terminal, tc.env, `source term.sh; if term_colour 2; then echo colour >&2; else echo plain >&2; fi`)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got := strings.TrimSpace(out); got != tc.want {
				t.Errorf("term_colour: %q, want %q", got, tc.want)
			}
		})
	}
}
