package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"
)

// command is one of flotilla's subcommands.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env Env) int
}

// commands lists flotilla's subcommands in the order --help shows them.
func commands() []command {
	return []command{
		{"render", "evaluate the fleet's ApplicationSets into hydrated/<cluster>-next branches", Render},
		{"promote", "move proposals into live branches tier by tier through pull requests", Promote},
		{"apply", "sync a cluster from its hydrated branch with server-side apply", Apply},
		{"verify", "report drift and health per app and post commit statuses", Verify},
		{"status", "show every cluster and app: tier, live vs proposed, pull request, verify, gates", Status},
		{"version", "print the version and the VCS revision it was built from", VersionCmd},
		{"completion", "print a shell completion script (bash, zsh or fish)", Completion},
	}
}

func flotillaUsage() string {
	var b strings.Builder
	b.WriteString(`Usage: flotilla <command> [flags]

flotilla renders a fleet's Argo CD ApplicationSets into hydrated Git
branches, one per cluster, promotes them tier by tier through pull
requests, applies them with server-side apply and verifies them.

Commands:
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	b.WriteString(`
Flags:
  -h, --help     this help; flotilla <command> --help for a command's flags
  --version      the same as flotilla version

The commands are also built as render, promote, apply and verify.
`)
	return b.String()
}

// Flotilla runs the flotilla command: one binary with every command as a
// subcommand.
func Flotilla(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, flotillaUsage())
		return ExitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, flotillaUsage())
		return ExitOK
	case "--version", "-version":
		name = "version"
	case "help":
		if len(rest) == 0 {
			fmt.Fprint(env.Stdout, flotillaUsage())
			return ExitOK
		}
		name, rest = rest[0], []string{"--help"}
	}
	env.viaFlotilla = true
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, rest, env)
		}
	}
	fmt.Fprintf(env.Stderr, "flotilla: usage: unknown command %q (see flotilla --help)\n", name)
	return ExitUsage
}

const versionUsage = `Usage: flotilla version [flags]

version prints Flotilla's release (the ApplySet tooling apply records), the
module version the Go toolchain stamped into the binary, the VCS revision
(with "modified" when the checkout had uncommitted changes), the time of
that revision and the Go version, all from the binary's build information
(go version -m shows the same). A binary built outside a Git checkout has
no revision.

Flags:
  -o FORMAT   text (default), json or yaml
`

// VersionInfo is what flotilla version prints.
type VersionInfo struct {
	// Version is Flotilla's release (Version), recorded by apply.
	Version string `json:"version"`
	// Module and ModuleVersion are the main module's path and version
	// from the build information: a tag, a pseudo-version of the commit,
	// or "(devel)".
	Module        string `json:"module"`
	ModuleVersion string `json:"moduleVersion"`
	// Revision, Modified and Time are the VCS revision, whether the
	// checkout had uncommitted changes, and the revision's commit time.
	Revision  string `json:"revision,omitempty"`
	Modified  bool   `json:"modified"`
	Time      string `json:"time,omitempty"`
	GoVersion string `json:"goVersion"`
}

// versionOf reads a binary's build information.
func versionOf(bi *debug.BuildInfo, ok bool) VersionInfo {
	v := VersionInfo{Version: Version, ModuleVersion: "unknown"}
	if !ok || bi == nil {
		return v
	}
	v.Module, v.GoVersion = bi.Main.Path, bi.GoVersion
	if bi.Main.Version != "" {
		v.ModuleVersion = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "vcs.time":
			v.Time = s.Value
		}
	}
	return v
}

// VersionCmd runs the version command.
func VersionCmd(_ context.Context, args []string, env Env) int {
	var output string
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.StringVar(&output, "o", "text", "")
	if err := parseFlags(fs, args, env, versionUsage); err != nil {
		return report(env, "version", err)
	}
	if err := outputFormat(output, "text", "json", "yaml"); err != nil {
		return report(env, "version", err)
	}
	v := versionOf(debug.ReadBuildInfo())
	if output != "text" {
		if err := writeData(env.Stdout, output, v); err != nil {
			return report(env, "version", err)
		}
		return ExitOK
	}
	writeVersion(env.Stdout, v)
	return ExitOK
}

func writeVersion(w io.Writer, v VersionInfo) {
	fmt.Fprintf(w, "flotilla %s\n", v.Version)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	rev, revTime := v.Revision, v.Time
	if rev == "" {
		// go build -buildvcs=false (or a build outside a Git checkout)
		// records no revision.
		rev, revTime = "unknown (built without VCS information: -buildvcs=false or outside a Git checkout)", "unknown"
	}
	if v.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(tw, "  revision:\t%s\n", rev)
	fmt.Fprintf(tw, "  revision time:\t%s\n", orDash(revTime))
	fmt.Fprintf(tw, "  module:\t%s %s\n", orDash(v.Module), v.ModuleVersion)
	fmt.Fprintf(tw, "  go:\t%s\n", orDash(v.GoVersion))
	_ = tw.Flush()
}
