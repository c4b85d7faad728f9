// Package cli holds Flotilla's commands. Each command parses its flags into
// an options struct, runs, and turns the outcome into output and an exit
// code; the packages below it never print.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	git "github.com/go-git/go-git/v5"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// Exit codes shared by every command (failure.ExitCode decides them).
const (
	ExitOK     = failure.ExitOK     // success
	ExitFailed = failure.ExitFailed // the check or operation failed (drift, apply error)
	ExitUsage  = failure.ExitUsage  // bad flags, bad configuration or bad fleet input
	ExitRemote = failure.ExitRemote // a remote or API failed, or a race was lost: run again
)

// Env is what a command gets from its process.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Annotate, when set, also receives every reported error (the GitHub
	// Action turns them into ::error annotations).
	Annotate func(error)
	// Warn, when set, also receives every warning with the file it is
	// about, relative to the fleet directory ("" for none); the GitHub
	// Action turns them into ::warning annotations.
	Warn func(file, message string)
	// secrets are hidden in everything written (set by redacting).
	secrets *redact.Secrets
	// flagSpy, when set, receives a command's flag set and usage text
	// instead of parsing its arguments, and the command then stops as
	// after --help: the completion scripts are made from the flags the
	// commands really define.
	flagSpy func(fs *flag.FlagSet, usage string)
	// viaFlotilla is set when the command runs as a subcommand of the
	// flotilla binary: its usage then names it "flotilla <command>".
	viaFlotilla bool
	// progressTo is where progress lines go: stderr when it is a
	// terminal (set by redacting), else nil — never into a log or a pipe.
	// A test sets it.
	progressTo io.Writer
}

// progress is where a command reports progress, or nil.
func (env Env) progress() io.Writer { return env.progressTo }

// usageText is a command's usage as this invocation names the command:
// "Usage: render" becomes "Usage: flotilla render" under the flotilla
// binary (its examples keep the short names the four commands also have).
func (env Env) usageText(usage string) string {
	if env.viaFlotilla && strings.HasPrefix(usage, "Usage: ") && !strings.HasPrefix(usage, "Usage: flotilla ") {
		return "Usage: flotilla " + strings.TrimPrefix(usage, "Usage: ")
	}
	return usage
}

// redacting returns env writing through redact.Writer: every command's
// output, errors included, is the one place where text leaves Flotilla, so
// the credentials of every URL in it, the Git tokens of the environment and
// the credentials of URLs given as arguments are hidden there, whatever
// error chain (go-git, net/http) carried them. A command writing a file
// for people to read (a job summary) wraps it with the same secrets.
// flush writes what the writers hold back; the command defers it.
func (env Env) redacting(args []string) (_ Env, flush func()) {
	secrets := &redact.Secrets{}
	for _, k := range []string{"FLOTILLA_GIT_TOKEN", "GITHUB_TOKEN"} {
		secrets.Add(getenv(env, k))
	}
	for _, a := range args {
		secrets.AddURL(a)
	}
	terminal := isTerminal(env.Stderr)
	stdout, stderr := redact.NewWriter(env.Stdout, secrets), redact.NewWriter(env.Stderr, secrets)
	env.Stdout, env.Stderr, env.secrets = stdout, stderr, secrets
	if env.progressTo == nil && terminal {
		env.progressTo = stderr
	}
	return env, func() {
		_ = stdout.Flush()
		_ = stderr.Flush()
	}
}

// errUsage marks an error in the command line itself: wrapped with %w it
// makes the error a failure.Usage.
var errUsage error = failure.Mark(failure.Usage, errors.New("usage"))

// parseFlags parses args; -h/--help prints usage and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, env Env, usage string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if env.flagSpy != nil {
		env.flagSpy(fs, usage)
		return flag.ErrHelp
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.Stdout, env.usageText(usage))
			return err
		}
		return fmt.Errorf("%w: %v (see --help)", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (see --help)", errUsage, fs.Arg(0))
	}
	return nil
}

// report prints an error the way every command does and returns the exit
// code (failure.ExitCode: by the error's class): input errors name their
// file and line.
func report(env Env, cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if env.Annotate != nil {
		env.Annotate(err)
	}
	for _, line := range errorLines(err) {
		fmt.Fprintf(env.Stderr, "%s: %s\n", cmd, line)
	}
	return failure.ExitCode(err)
}

// errorLines flattens joined errors into one line each.
func errorLines(err error) []string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) && !isFileError(err) {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{strings.ReplaceAll(err.Error(), "\n", "\n  ")}
}

func isFileError(err error) bool {
	_, ok := err.(*fleet.FileError)
	return ok
}

// outputFormat validates -o.
func outputFormat(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%w: -o %q is not one of %s", errUsage, v, strings.Join(allowed, ", "))
}

// setFlags returns the flags given on the command line (not defaulted).
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// refuseFlags is a usage error naming the first of names that was given:
// a flag that does not apply to the chosen mode is refused, never ignored.
func refuseFlags(set map[string]bool, why string, names ...string) error {
	for _, n := range names {
		if set[n] {
			return fmt.Errorf("%w: --%s does not apply %s", errUsage, n, why)
		}
	}
	return nil
}

// openRepo opens the local repository at path: a bare repository, a
// checkout's root, or a folder inside a checkout. A bare repository is
// opened as itself, never as a checkout found in a parent folder; only
// the objects git sees are seen (gitobj.Open).
func openRepo(path string) (*git.Repository, error) {
	return gitobj.Open(path)
}
