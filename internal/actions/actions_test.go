package actions

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/actions/actionstest"
	"github.com/flotilla-dev/flotilla/internal/report"
)

func noEnv(string) string { return "" }

// injections are lines of data that are workflow commands if the runner
// reads them as such: every form its parser accepts.
var injections = []string{
	"::set-output name=x::y",
	"::add-mask::apiVersion",
	"   ::error::indented",
	"\t::warning title=t::tab",
	"cluster prod ##[set-output name=x;]y",
	"::stop-commands::mine",
	"::endgroup::",
	"::ADD-MASK::upper",
}

// TestLogDataNeverCommands writes data that holds every form of workflow
// command, in pieces and between real commands, and reads the log as the
// runner does: only the commands the I/O issued are processed, and every
// line of data is shown as written.
func TestLogDataNeverCommands(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	io := New(noEnv, &w)
	io.Mask("s3cr3t-value")
	data := strings.Join(injections, "\n") + "\n"
	fmt.Fprint(io.Log(), data[:10])
	fmt.Fprint(io.Log(), data[10:])
	io.Group("group title")
	fmt.Fprint(io.Log(), "remote: ::set-output name=a::b\rremote: ::add-mask::x\r\n::set-output name=partial::line")
	io.Annotate("", errors.New("::add-mask::in an error\n::set-output name=e::f"))
	// A live reader of the log learns the current token and puts it into
	// the data, to end the stretch early: the token is hidden.
	fmt.Fprint(io.Log(), "next\n")
	token := regexp.MustCompile(`::stop-commands::(\w+)`).FindAllStringSubmatch(w.String(), -1)
	last := token[len(token)-1][1]
	fmt.Fprintf(io.Log(), "::%s::\n::add-mask::after-token\n##[%s]\n::set-output name=v1::after\n", strings.ToUpper(last), last)
	io.EndGroup()
	fmt.Fprint(io.Log(), "::add-mask::unterminated")
	if err := io.Close(); err != nil {
		t.Fatal(err)
	}

	cmds, shown := actionstest.Run(w.String())
	want := []actionstest.Command{
		{Name: "add-mask", Data: "s3cr3t-value"},
		{Name: "group", Data: "group title"},
		// The data of a command is never parsed again; its line breaks
		// are escaped.
		{Name: "error", Data: "::add-mask::in an error%0A::set-output name=e::f"},
		{Name: "endgroup", Data: ""},
	}
	if diff := cmp.Diff(want, cmds); diff != "" {
		t.Errorf("commands the runner processed (-want +got)\n%s\nlog:\n%s", diff, w.String())
	}
	wantShown := append(append([]string(nil), injections...),
		"remote: ::set-output name=a::b", "remote: ::add-mask::x", "::set-output name=partial::line",
		"next", "::***::", "::add-mask::after-token", "##[***]", "::set-output name=v1::after",
		"::add-mask::unterminated", "")
	if diff := cmp.Diff(wantShown, shown); diff != "" {
		t.Errorf("lines shown (-want +got)\n%s\nlog:\n%s", diff, w.String())
	}
}

// TestLogHidesSecrets: data and annotations lose the masked values and URL
// credentials before they are written.
func TestLogHidesSecrets(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	io := New(noEnv, &w)
	io.Mask("tok-SECRET-1")
	fmt.Fprintln(io.Log(), "push to https://x:SECRET2@h/r failed; token tok-SECRET-1")
	io.Annotate("", errors.New("fetch https://SECRET3@h/r: tok-SECRET-1"))
	io.Group("flotilla render --remote https://x:SECRET4@h/r")
	io.Close()
	log := strings.ReplaceAll(w.String(), "::add-mask::tok-SECRET-1\n", "")
	if strings.Contains(log, "SECRET") {
		t.Errorf("a secret is in the log:\n%s", log)
	}
}

// TestMask registers each line of a value alone, and nothing for blanks
// nor for lines shorter than redact.MinSecret ("1", "on", "abc"), which
// the runner would blank everywhere in the log.
func TestMask(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	io := New(noEnv, &w)
	io.Mask("", "one-line", " two2\nlines \n\n", "1", "on\nabc", "four")
	if got, want := w.String(), "::add-mask::one-line\n::add-mask::two2\n::add-mask::lines\n::add-mask::four\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	w.Reset()
	fmt.Fprint(io.Log(), "replicas 1, debug on, abc\n")
	if err := io.Close(); err != nil {
		t.Fatal(err)
	}
	if cmds, shown := actionstest.Run(w.String()); len(cmds) > 0 || !slices.Contains(shown, "replicas 1, debug on, abc") {
		t.Errorf("commands %q, shown %q, want the line as written", cmds, shown)
	}
}

// FuzzLogData writes arbitrary data, split anywhere and around a command:
// the runner processes only the commands the I/O issued.
func FuzzLogData(f *testing.F) {
	for i, s := range injections {
		f.Add(s+"\n"+s, i)
	}
	f.Add("a\r\n::add-mask::x\r", 2)
	f.Fuzz(func(t *testing.T, data string, split int) {
		var w bytes.Buffer
		io := New(noEnv, &w)
		io.Group("g")
		k := 0
		if len(data) > 0 {
			k = (split%len(data) + len(data)) % len(data)
		}
		fmt.Fprint(io.Log(), data[:k])
		io.Warning("w")
		fmt.Fprint(io.Log(), data[k:])
		io.EndGroup()
		if err := io.Close(); err != nil {
			t.Fatal(err)
		}
		cmds, _ := actionstest.Run(w.String())
		want := []actionstest.Command{{Name: "group", Data: "g"}, {Name: "warning", Data: "w"}, {Name: "endgroup", Data: ""}}
		if diff := cmp.Diff(want, cmds); diff != "" {
			t.Fatalf("commands (-want +got)\n%s\nlog:\n%s", diff, w.String())
		}
	})
}

// TestSummaryLimit: summaries past GitHub's 1 MiB are cut at a line, in
// one piece or over many calls, with a pointer to the log, every code
// block and <details> closed, the same bytes every time; a summary that
// fits is written whole.
func TestSummaryLimit(t *testing.T) {
	t.Parallel()
	line := strings.Repeat("é", 50) + "\n" // multi-byte runes
	for _, tc := range []struct {
		name  string
		parts []string
		cut   bool
	}{
		{"small", []string{"| a | b |\n"}, false},
		{"one huge", []string{strings.Repeat(line, 2*SummaryLimit/len(line))}, true},
		{"many", slices.Repeat([]string{strings.Repeat(line, 1000)}, 30), true},
		{"no newline", []string{strings.Repeat("é", SummaryLimit)}, true},
		{"in a code block", []string{"### diff\n\n<details><summary>x</summary>\n\n```diff\n" + strings.Repeat("+ 🚢 "+line, SummaryLimit/len(line)) + "```\n\n</details>\n"}, true},
		{"up to the note's room", []string{strings.Repeat("a", SummaryLimit-len(SummaryCut)), "more\n"}, true},
		{"to one byte short of the note", []string{strings.Repeat("a", SummaryLimit-1-summaryReserve), "more\n"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			write := func() []byte {
				file := filepath.Join(t.TempDir(), "summary")
				os.WriteFile(file, nil, 0o644)
				io := New(func(k string) string {
					if k == "GITHUB_STEP_SUMMARY" {
						return file
					}
					return ""
				}, &bytes.Buffer{})
				for _, p := range tc.parts {
					io.Summary(p)
				}
				b, _ := os.ReadFile(file)
				return b
			}
			b := write()
			if !bytes.Equal(b, write()) {
				t.Fatal("two runs wrote different summaries")
			}
			if len(b) > SummaryLimit || !utf8.Valid(b) {
				t.Fatalf("summary of %d bytes (valid UTF-8: %v)", len(b), utf8.Valid(b))
			}
			if cut := strings.Contains(string(b), "1 MiB limit; the rest is in the step's log"); cut != tc.cut {
				t.Errorf("cut %v, want %v", cut, tc.cut)
			}
			if !tc.cut && string(b) != tc.parts[0]+"\n" {
				t.Errorf("summary %q", b)
			}
			if u := report.Unclosed(string(b)); u != "" {
				t.Errorf("the summary leaves %.200q open", u)
			}
		})
	}
}
