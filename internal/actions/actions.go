// Package actions is Flotilla's GitHub Actions I/O on
// github.com/sethvargo/go-githubactions (its only user): inputs, outputs,
// the job summary, annotations, masking and log groups. The environment and
// the output writer are injected, so the same code runs in tests in
// parallel and behaves as plain output outside Actions.
//
// The log carries two kinds of lines: workflow commands that Flotilla
// writes (masks, groups, annotations) and data (a command's output: cluster
// and app names, a remote's stderr, error messages). The runner takes any
// line of data that starts with "::" (after spaces) or holds "##[" for a
// command, so data could set outputs, add masks or stop the log. Every
// line of data therefore goes through Log, which writes it between
// "::stop-commands::<token>" and "::<token>::": while stopped, the runner
// interprets nothing (masks still apply), and the token is random per
// stretch of data and removed from the data itself, so the data cannot end
// the stretch. Escaping lines instead would have to mirror the runner's
// parser (the "##[" form is found anywhere in a line) and break the data.
package actions

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	gha "github.com/sethvargo/go-githubactions"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/redact"
	"github.com/flotilla-dev/flotilla/internal/report"
)

// IO is one step's Actions I/O.
type IO struct {
	a       *gha.Action
	getenv  func(string) string
	log     *stepLog
	secrets redact.Secrets
	// summary counts the bytes written to the job summary.
	summary int
}

// SummaryLimit is GitHub's limit on a step's job summary (1 MiB).
const SummaryLimit = 1 << 20

// SummaryCut ends a job summary cut at SummaryLimit (report.Fit puts it
// after the closers of what the cut left open).
const SummaryCut = "**Truncated**: this summary reached GitHub's 1 MiB limit; the rest is in the step's log."

// summaryReserve is the room kept for SummaryCut: a part that fits is
// written whole only while a later cut could still say so.
const summaryReserve = len(SummaryCut) + 2

// New returns the I/O of a step reading getenv and writing the log to w.
// Close it when the step ends.
func New(getenv func(string) string, w io.Writer) *IO {
	io := &IO{getenv: getenv}
	io.log = &stepLog{w: w, secrets: &io.secrets}
	io.a = gha.New(gha.WithGetenv(getenv), gha.WithWriter(commandWriter{io.log}))
	return io
}

// Enabled reports whether the process runs in GitHub Actions.
func Enabled(getenv func(string) string) bool { return getenv("GITHUB_ACTIONS") == "true" }

// Input returns an input (INPUT_<NAME>), trimmed.
func (io *IO) Input(name string) string { return strings.TrimSpace(io.a.GetInput(name)) }

// Log returns the writer for data: every line written to it is shown as
// it is, with its secrets hidden, and never taken for a workflow command.
func (io *IO) Log() io.Writer { return dataWriter{io.log} }

// Close writes the data held back (a last line without its line break)
// and lets the runner process commands again.
func (io *IO) Close() error { return io.log.resume(nil) }

// Mask hides secret values in every later log line: the runner masks them
// (::add-mask::), and the I/O hides them itself in what it writes. A
// value of several lines is masked line by line, as the runner matches
// one log line at a time. It must run before anything that could print
// the secret.
//
// A line shorter than redact.MinSecret is neither registered nor hidden,
// the same rule as redact.Secrets: the runner would blank every
// occurrence of it in the log (a "1" or "on" of every line), and a secret
// that short is guessed anyway. Credentials in URLs are hidden whatever
// their length (redact.URL).
func (io *IO) Mask(secrets ...string) {
	for _, secret := range secrets {
		for _, line := range strings.Split(secret, "\n") {
			if line = strings.TrimSpace(line); len(line) >= redact.MinSecret {
				io.a.AddMask(line)
				io.secrets.Add(line)
			}
		}
	}
}

// SetOutput writes one step output, its secrets hidden.
func (io *IO) SetOutput(name, value string) { io.a.SetOutput(name, io.secrets.Redact(value)) }

// SetJSONOutput writes one step output as JSON.
func (io *IO) SetJSONOutput(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null")
	}
	io.SetOutput(name, string(b))
}

// Summary appends Markdown to the job summary, its secrets hidden.
// The summary stays within SummaryLimit bytes: the part that does not fit
// is cut by report.Fit (at a line, its code blocks and <details> closed,
// with a pointer to the log), and later parts are dropped.
func (io *IO) Summary(markdown string) {
	md := io.secrets.Redact(markdown)
	room := SummaryLimit - io.summary - 1 // AddStepSummary adds a newline
	switch {
	case io.summary >= SummaryLimit:
		return // already cut
	case len(md)+1 > room-summaryReserve: // after it, room for the note and its newline
		// Cut even a part that would fit but leave no room for the note.
		md = report.Fit(md, min(room, len(md)-1), SummaryCut)
		io.summary = SummaryLimit
	default:
		io.summary += len(md) + 1
	}
	io.a.AddStepSummary(md)
}

// Group folds the lines until EndGroup in the log.
func (io *IO) Group(title string) { io.a.Group(io.secrets.Redact(title)) }

// EndGroup ends a Group.
func (io *IO) EndGroup() { io.a.EndGroup() }

// Annotate turns an error into ::error annotations: input errors point at
// their file (relative to the repository, under dir) and line, so a pull
// request shows them inline.
func (io *IO) Annotate(dir string, err error) {
	for _, e := range flatten(err) {
		var fe *fleet.FileError
		if errors.As(e, &fe) && fe.File != "" {
			fields := map[string]string{"file": path.Join(dir, fe.File), "title": "flotilla: " + string(fe.Class)}
			if fe.Line > 0 {
				fields["line"] = strconv.Itoa(fe.Line)
			}
			msg := fe.Msg
			if fe.Err != nil {
				if msg != "" {
					msg += ": "
				}
				msg += fe.Err.Error()
			}
			io.a.WithFieldsMap(fields).Errorf("%s", io.secrets.Redact(msg))
			continue
		}
		io.a.Errorf("%s", io.secrets.Redact(e.Error()))
	}
}

// Warning writes a ::warning annotation.
func (io *IO) Warning(msg string) {
	io.WarningAt("", msg)
}

// WarningAt writes a ::warning annotation on file (relative to the
// repository; none when empty), so a pull request shows it on the file.
func (io *IO) WarningAt(file, msg string) {
	fields := map[string]string{"title": "flotilla"}
	if file != "" {
		fields["file"] = file
	}
	io.a.WithFieldsMap(fields).Warningf("%s", io.secrets.Redact(msg))
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// PullRequest returns the number of the pull request that triggered the
// run (0 when none), from the event payload.
func (io *IO) PullRequest() int {
	ctx, err := io.a.Context()
	if err != nil || ctx.Event == nil {
		return 0
	}
	pr, ok := ctx.Event["pull_request"].(map[string]any)
	if !ok {
		return 0
	}
	n, _ := pr["number"].(float64)
	return int(n)
}

// Repository returns owner and name of the repository the run is in.
func (io *IO) Repository() (string, string) {
	owner, name, _ := strings.Cut(io.getenv("GITHUB_REPOSITORY"), "/")
	return owner, name
}

// stepLog is the step's log: workflow commands and data written in order
// to one writer, data always inside a stretch of stopped commands.
type stepLog struct {
	mu      sync.Mutex
	w       io.Writer
	secrets *redact.Secrets
	// token is the current stretch's; "" while commands are processed.
	token   string
	tokenRE *regexp.Regexp
	partial []byte // data not yet ended by a line break
}

// commandWriter writes workflow commands: it ends a stretch of data first.
type commandWriter struct{ l *stepLog }

func (c commandWriter) Write(p []byte) (int, error) {
	if err := c.l.resume(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// dataWriter writes data, complete lines at once.
type dataWriter struct{ l *stepLog }

func (d dataWriter) Write(p []byte) (int, error) {
	l := d.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	i := bytes.LastIndexAny(l.partial, "\r\n")
	if i < 0 {
		return len(p), nil
	}
	err := l.writeData(string(l.partial[:i+1]))
	l.partial = append(l.partial[:0], l.partial[i+1:]...)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeData writes complete lines of data, stopping commands first. The
// runner splits lines at \r as well as \n; the token is hidden in each.
func (l *stepLog) writeData(lines string) error {
	if l.token == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		l.token = hex.EncodeToString(b[:])
		// The runner compares command names without case.
		l.tokenRE = regexp.MustCompile("(?i)" + l.token)
		if _, err := io.WriteString(l.w, "::stop-commands::"+l.token+"\n"); err != nil {
			return err
		}
	}
	_, err := io.WriteString(l.w, l.tokenRE.ReplaceAllLiteralString(l.secrets.Redact(lines), redact.Mask))
	return err
}

// resume ends the data: it writes a held-back line (with a line break, so
// the next command starts a line), resumes commands, then writes command.
func (l *stepLog) resume(command []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		err := l.writeData(string(l.partial) + "\n")
		l.partial = l.partial[:0]
		if err != nil {
			return err
		}
	}
	if l.token != "" {
		if _, err := io.WriteString(l.w, "::"+l.token+"::\n"); err != nil {
			return err
		}
		l.token, l.tokenRE = "", nil
	}
	_, err := l.w.Write(command)
	return err
}
