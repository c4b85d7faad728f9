// Package actions is Flotilla's GitHub Actions I/O on
// github.com/sethvargo/go-githubactions (its only user): inputs, outputs,
// the job summary, annotations, masking and log groups. The environment and
// the output writer are injected, so the same code runs in tests in
// parallel and behaves as plain output outside Actions.
package actions

import (
	"encoding/json"
	"errors"
	"io"
	"path"
	"strconv"
	"strings"

	gha "github.com/sethvargo/go-githubactions"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// IO is one step's Actions I/O.
type IO struct {
	a      *gha.Action
	getenv func(string) string
}

// New returns the I/O of a step reading getenv and writing commands to w.
func New(getenv func(string) string, w io.Writer) *IO {
	return &IO{a: gha.New(gha.WithGetenv(getenv), gha.WithWriter(w)), getenv: getenv}
}

// Enabled reports whether the process runs in GitHub Actions.
func Enabled(getenv func(string) string) bool { return getenv("GITHUB_ACTIONS") == "true" }

// Input returns an input (INPUT_<NAME>), trimmed.
func (io *IO) Input(name string) string { return strings.TrimSpace(io.a.GetInput(name)) }

// Mask hides a secret, and each of its lines, in every later log line. It
// must run before anything that could print the secret.
func (io *IO) Mask(secret string) {
	if secret == "" {
		return
	}
	io.a.AddMask(secret)
	for _, line := range strings.Split(secret, "\n") {
		l := strings.TrimSpace(line)
		if len(l) > 3 && l != secret {
			io.a.AddMask(l)
		}
		// A secret value in YAML (a kubeconfig's client-key-data, token
		// or password) may be printed alone, without its key.
		if key, value, ok := strings.Cut(strings.TrimPrefix(l, "- "), ": "); ok && secretKey(key) {
			if v := strings.Trim(value, `"' `); len(v) > 3 {
				io.a.AddMask(v)
			}
		}
	}
}

func secretKey(key string) bool {
	key = strings.ToLower(key)
	for _, word := range []string{"key", "token", "password", "secret"} {
		if strings.Contains(key, word) {
			return true
		}
	}
	return false
}

// SetOutput writes one step output.
func (io *IO) SetOutput(name, value string) { io.a.SetOutput(name, value) }

// SetJSONOutput writes one step output as JSON.
func (io *IO) SetJSONOutput(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null")
	}
	io.a.SetOutput(name, string(b))
}

// Summary appends Markdown to the job summary.
func (io *IO) Summary(markdown string) { io.a.AddStepSummary(markdown) }

// Group folds the lines until EndGroup in the log.
func (io *IO) Group(title string) { io.a.Group(title) }

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
			io.a.WithFieldsMap(fields).Errorf("%s", msg)
			continue
		}
		io.a.Errorf("%s", e.Error())
	}
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
