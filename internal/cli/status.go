package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/flotilla-dev/flotilla/internal/redact"
	"github.com/flotilla-dev/flotilla/internal/status"
)

const statusUsage = `Usage: status [flags]

status shows the fleet: every cluster with its live commit
(hydrated/<cluster>), its proposed commit (hydrated/<cluster>-next), how
many apps differ, its open promotion pull request and what the next
promote pass would do; and every app on every cluster with its rollout
tier, whether its proposed manifests equal the live ones, whether the pull
request promotes it, verify's state on the live commit and its age, and
what its gate waits for. The gates are promote's own decisions: status
runs a promote pass in dry-run mode, then reads verify's statuses on every
live commit. It changes nothing.

Where the branches are and which forge holds the pull requests and
statuses: the same flags as promote.

Flags:
  --fleet DIR           the fleet checkout (default ".")
  --repo PATH           a local Git repository, a checkout or a bare one
                        (default: the fleet checkout)
  --remote URL          a Git remote shared by a team (a URL, or the path of
                        a bare repository): read instead of --repo's branches
  --forge local|github  where pull requests and statuses are (default:
                        github under GitHub Actions, else local)
  --github-repo O/R     --forge github only (default $GITHUB_REPOSITORY)
  --github-url URL      --forge github only: GitHub Enterprise API root
  -o FORMAT             text (default: plain tables), json or yaml
  --html FILE           also write the status as one static HTML page (no
                        script, no external resource), e.g. for an artifact

On a terminal the verify and state columns are coloured, unless NO_COLOR
is set (to anything) or TERM is dumb; piped or redirected output never is.

Under GitHub Actions ($GITHUB_STEP_SUMMARY set) the tables are also added to
the job summary as Markdown.

Exit codes:
  0  the status was read
  1  reading Git failed
  2  bad flags or bad fleet input
  3  the forge or the remote failed or could not be reached: run again

Examples:
  status
  status --forge local --remote /srv/git/fleet.git -o json
  status --html status.html
`

// Status runs the status command.
func Status(ctx context.Context, args []string, env Env) int {
	colour := useColour(env.Stdout, env.Getenv)
	env, flush := env.redacting(args)
	defer flush()
	var o promoteOptions
	var htmlFile string
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.StringVar(&o.fleet, "fleet", ".", "")
	fs.StringVar(&o.repo, "repo", "", "")
	fs.StringVar(&o.forge, "forge", "", "")
	fs.StringVar(&o.remote, "remote", "", "")
	fs.StringVar(&o.githubRepo, "github-repo", getenv(env, "GITHUB_REPOSITORY"), "")
	fs.StringVar(&o.githubURL, "github-url", "", "")
	fs.StringVar(&o.output, "o", "text", "")
	fs.StringVar(&htmlFile, "html", "", "")
	if err := parseFlags(fs, args, env, statusUsage); err != nil {
		return report(env, "status", err)
	}
	if err := outputFormat(o.output, "text", "json", "yaml"); err != nil {
		return report(env, "status", err)
	}
	o.dryRun = true
	opts, _, err := openPromote(&o, setFlags(fs), env)
	if err != nil {
		return report(env, "status", err)
	}
	rep, err := status.Run(ctx, opts)
	if err != nil {
		return report(env, "status", err)
	}
	if htmlFile != "" {
		if err := writeStatusFile(htmlFile, func(f *os.File) error {
			w := redact.NewWriter(f, env.secrets)
			return errors.Join(status.WriteHTML(w, rep), w.Flush())
		}); err != nil {
			report(env, "status", fmt.Errorf("write --html %s: %w", htmlFile, err))
			return ExitFailed
		}
	}
	if path := getenv(env, "GITHUB_STEP_SUMMARY"); path != "" {
		var md bytes.Buffer
		err := status.WriteMarkdown(&md, rep)
		if err == nil {
			err = appendStepSummary(env, path, md.String())
		}
		if err != nil {
			report(env, "status", fmt.Errorf("write the job summary %s: %w", path, err))
			return ExitFailed
		}
	}
	if o.output != "text" {
		err = writeData(env.Stdout, o.output, rep)
	} else {
		err = status.WriteText(env.Stdout, rep, colour)
	}
	if err != nil {
		report(env, "status", err)
		return ExitFailed
	}
	return ExitOK
}

// writeStatusFile writes a file whole or not at all: into a temporary
// file beside it, renamed over it once complete.
func writeStatusFile(path string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := errors.Join(write(tmp), tmp.Chmod(0o644), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// useColour says whether text for w may be coloured: w is a terminal,
// NO_COLOR is unset or empty (no-color.org) and TERM is not dumb.
func useColour(w io.Writer, getenv func(string) string) bool {
	if !isTerminal(w) {
		return false
	}
	if getenv == nil {
		return true
	}
	return getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
