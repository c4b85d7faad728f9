package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// TestRenderProgressOnlyOnATerminal: a render reports each phase on
// stderr when stderr is a terminal (progressTo), and nothing otherwise (a
// log, a pipe, a test's buffer).
func TestRenderProgressOnlyOnATerminal(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	var out, errb, tty bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, progressTo: &tty}
	if code := Render(t.Context(), []string{"--fleet", checkout, "--no-push"}, env); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, phase := range []string{"generate", "render", "publish"} {
		if !strings.Contains(tty.String(), "render: "+phase+" done in ") {
			t.Errorf("no progress line for %s:\n%s", phase, tty.String())
		}
	}
	if strings.Contains(errb.String(), "done in") {
		t.Errorf("progress went to stderr without a terminal:\n%s", errb.String())
	}
	_, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push")
	if strings.Contains(stderr, "done in") {
		t.Errorf("progress without a terminal:\n%s", stderr)
	}
}

func TestVerifyProgressLine(t *testing.T) {
	t.Parallel()
	if verifyProgress(Env{}) != nil {
		t.Error("progress without a terminal")
	}
	var tty bytes.Buffer
	p := verifyProgress(Env{progressTo: &tty})
	p("prod-eu", 12400*time.Millisecond, []*kube.AppStatus{{App: "web", Health: kube.Progressing}, {App: "api", Health: kube.Missing}})
	if want := "verify: prod-eu: waiting 12s for web (Progressing), api (Missing)\n"; tty.String() != want {
		t.Errorf("got %q, want %q", tty.String(), want)
	}
}
