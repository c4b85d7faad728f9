package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

const completionUsage = `Usage: flotilla completion bash|zsh|fish

completion prints a shell completion script for flotilla: its commands,
each command's flags, the values of flags that take one of a few words
(--forge local|github) and file or folder names where a flag takes a path.
The script is made from the flags the commands define, so it never lists
a flag a command lacks.

  bash:  source <(flotilla completion bash)
  zsh:   flotilla completion zsh > "${fpath[1]}/_flotilla"
  fish:  flotilla completion fish > ~/.config/fish/completions/flotilla.fish
`

// flagSpec is one flag of a command, as completion offers it.
type flagSpec struct {
	name        string // without dashes
	takesValue  bool
	placeholder string   // DIR, FILE, PATH, URL… from the usage text
	values      []string // the words a value may be (local|github)
	description string
}

// dashed is the flag as the usage text writes it: -o, --fleet.
func (f flagSpec) dashed() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

// pathKind says what a flag's value completes to: "dir", "file" or "".
func (f flagSpec) pathKind() string {
	switch f.placeholder {
	case "DIR":
		return "dir"
	case "FILE", "PATH":
		return "file"
	}
	return ""
}

type commandSpec struct {
	name, summary string
	flags         []flagSpec
}

// usageFlagLine matches a flag's line in a usage text's flag list:
// "  --fleet DIR   the fleet checkout", "  -o FORMAT  text or json".
var usageFlagLine = regexp.MustCompile(`^\s+(-{1,2})([a-z][a-z0-9-]*)(?:[ =]([^ ]+))?(?:\s{2,}(.*))?$`)

// commandSpecs reads every command's flags: each command is run with a
// spy that receives its flag set instead of parsing (names, and which
// take a value), and its usage text supplies placeholders, value words and
// one-line descriptions.
func commandSpecs(ctx context.Context) []commandSpec {
	var out []commandSpec
	for _, c := range commands() {
		spec := commandSpec{name: c.name, summary: c.summary}
		spy := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
		spy.flagSpy = func(fs *flag.FlagSet, usage string) {
			docs := map[string]flagSpec{}
			lines := strings.Split(usage, "\n")
			for i, line := range lines {
				m := usageFlagLine.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				if _, seen := docs[m[2]]; seen {
					continue
				}
				desc := m[4]
				col := strings.Index(line, desc)
				if desc == "" && i+1 < len(lines) && !usageFlagLine.MatchString(lines[i+1]) {
					// A long flag: the description starts on the next line.
					next := lines[i+1]
					desc = strings.TrimSpace(next)
					col = len(next) - len(strings.TrimLeft(next, " "))
					i++
				}
				// The description goes on in the lines indented to its
				// column.
				if desc != "" && col > 0 {
					for _, next := range lines[i+1:] {
						if len(next) <= col || strings.TrimSpace(next[:col]) != "" || next[col] == ' ' {
							break
						}
						desc += " " + strings.TrimSpace(next)
					}
				}
				d := flagSpec{placeholder: m[3], description: firstClause(desc)}
				if strings.Contains(m[3], "|") {
					d.values = strings.Split(m[3], "|")
				}
				docs[m[2]] = d
			}
			fs.VisitAll(func(f *flag.Flag) {
				s := docs[f.Name]
				s.name = f.Name
				b, ok := f.Value.(interface{ IsBoolFlag() bool })
				s.takesValue = !ok || !b.IsBoolFlag()
				spec.flags = append(spec.flags, s)
			})
		}
		args := []string{}
		if c.name == "completion" {
			args = []string{"bash"}
		}
		c.run(ctx, args, spy)
		sort.Slice(spec.flags, func(i, j int) bool { return spec.flags[i].name < spec.flags[j].name })
		out = append(out, spec)
	}
	return out
}

// firstClause shortens a flag's description for a completion menu: up to
// the first sentence or semicolon, at most 72 characters, cut between
// words.
func firstClause(s string) string {
	s = strings.TrimSpace(s)
	for _, sep := range []string{". ", "; "} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	s = strings.TrimSuffix(s, ".")
	const max = 72
	if len(s) <= max {
		return s
	}
	cut := strings.LastIndex(s[:max], " ")
	if cut <= 0 {
		cut = max
	}
	return strings.TrimRight(s[:cut], " ,:(") + "…"
}

// completionShells are the shells completion writes for.
var completionShells = []string{"bash", "zsh", "fish"}

// Completion runs the completion command.
func Completion(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	if env.flagSpy != nil {
		env.flagSpy(fs, completionUsage)
		return ExitOK
	}
	if err := parseFlagsArgs(fs, args, env, completionUsage); err != nil {
		return report(env, "completion", err)
	}
	if fs.NArg() != 1 {
		return report(env, "completion", fmt.Errorf("%w: name one shell: bash, zsh or fish (see --help)", errUsage))
	}
	specs := commandSpecs(ctx)
	switch fs.Arg(0) {
	case "bash":
		writeBashCompletion(env.Stdout, specs)
	case "zsh":
		writeZshCompletion(env.Stdout, specs)
	case "fish":
		writeFishCompletion(env.Stdout, specs)
	default:
		return report(env, "completion", fmt.Errorf("%w: shell %q is not bash, zsh or fish", errUsage, fs.Arg(0)))
	}
	return ExitOK
}

// parseFlagsArgs is parseFlags for a command that takes arguments.
func parseFlagsArgs(fs *flag.FlagSet, args []string, env Env, usage string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(env.Stdout, env.usageText(usage))
			return err
		}
		return fmt.Errorf("%w: %v (see --help)", errUsage, err)
	}
	return nil
}

func commandNames(specs []commandSpec) []string {
	var names []string
	for _, s := range specs {
		names = append(names, s.name)
	}
	return names
}

func writeBashCompletion(w io.Writer, specs []commandSpec) {
	fmt.Fprintf(w, `# bash completion for flotilla (flotilla completion bash)
_flotilla() {
  local cur prev cmd
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  COMPREPLY=()
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "%s --help --version" -- "$cur"))
    return
  fi
  cmd="${COMP_WORDS[1]}"
  case "$cmd" in
`, strings.Join(commandNames(specs), " "))
	for _, s := range specs {
		fmt.Fprintf(w, "    %s)\n      case \"$prev\" in\n", s.name)
		var all []string
		for _, f := range s.flags {
			all = append(all, f.dashed())
			if !f.takesValue {
				continue
			}
			switch {
			case len(f.values) > 0:
				fmt.Fprintf(w, "        %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", f.dashed(), strings.Join(f.values, " "))
			case f.pathKind() == "dir":
				fmt.Fprintf(w, "        %s) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n", f.dashed())
			case f.pathKind() == "file":
				fmt.Fprintf(w, "        %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", f.dashed())
			default:
				fmt.Fprintf(w, "        %s) return ;;\n", f.dashed())
			}
		}
		all = append(all, "--help")
		fmt.Fprintf(w, "      esac\n")
		if s.name == "completion" {
			fmt.Fprintf(w, "      COMPREPLY=($(compgen -W %q -- \"$cur\"))\n      ;;\n", strings.Join(completionShells, " "))
			continue
		}
		fmt.Fprintf(w, "      COMPREPLY=($(compgen -W %q -- \"$cur\"))\n      ;;\n", strings.Join(all, " "))
	}
	fmt.Fprint(w, "  esac\n}\ncomplete -o default -F _flotilla flotilla\n")
}

// zshQuote escapes s for a single-quoted _arguments spec or _describe
// entry.
func zshQuote(s string) string {
	r := strings.NewReplacer(`'`, `'\''`, `[`, `\[`, `]`, `\]`, `:`, `\:`)
	return r.Replace(s)
}

func writeZshCompletion(w io.Writer, specs []commandSpec) {
	fmt.Fprint(w, `#compdef flotilla
# zsh completion for flotilla (flotilla completion zsh)
_flotilla() {
  local curcontext="$curcontext" state line
  local -a commands
  commands=(
`)
	for _, s := range specs {
		fmt.Fprintf(w, "    '%s:%s'\n", s.name, zshQuote(s.summary))
	}
	fmt.Fprint(w, `  )
  _arguments -C '(- *)--help[show help]' '(- *)--version[print the version]' '1: :->command' '*:: :->args'
  case $state in
    command) _describe -t commands 'flotilla command' commands ;;
    args)
      case $line[1] in
`)
	for _, s := range specs {
		fmt.Fprintf(w, "        %s)\n          _arguments \\\n", s.name)
		for _, f := range s.flags {
			desc := zshQuote(f.description)
			if !f.takesValue {
				fmt.Fprintf(w, "            '%s[%s]' \\\n", f.dashed(), desc)
				continue
			}
			action := ""
			switch {
			case len(f.values) > 0:
				action = "(" + strings.Join(f.values, " ") + ")"
			case f.pathKind() == "dir":
				action = "_files -/"
			case f.pathKind() == "file":
				action = "_files"
			}
			ph := f.placeholder
			if ph == "" || len(f.values) > 0 {
				ph = "value"
			}
			fmt.Fprintf(w, "            '*%s=[%s]:%s:%s' \\\n", f.dashed(), desc, zshQuote(ph), action)
		}
		if s.name == "completion" {
			fmt.Fprintf(w, "            '1:shell:(%s)' \\\n", strings.Join(completionShells, " "))
		}
		fmt.Fprint(w, "            '(- *)--help[show help]'\n          ;;\n")
	}
	fmt.Fprint(w, `      esac
      ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _flotilla "$@"
else
  compdef _flotilla flotilla
fi
`)
}

// fishQuote single-quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func writeFishCompletion(w io.Writer, specs []commandSpec) {
	names := strings.Join(commandNames(specs), " ")
	fmt.Fprint(w, "# fish completion for flotilla (flotilla completion fish)\ncomplete -c flotilla -f\n")
	fmt.Fprint(w, "complete -c flotilla -n __fish_use_subcommand -l version -d 'print the version'\n")
	for _, s := range specs {
		fmt.Fprintf(w, "complete -c flotilla -n \"not __fish_seen_subcommand_from %s\" -a %s -d %s\n", names, s.name, fishQuote(s.summary))
	}
	for _, s := range specs {
		cond := fishQuote("__fish_seen_subcommand_from " + s.name)
		for _, f := range s.flags {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			switch {
			case !f.takesValue:
			case len(f.values) > 0:
				opt += " -x -a " + fishQuote(strings.Join(f.values, " "))
			case f.pathKind() == "dir":
				opt += " -x -a '(__fish_complete_directories)'"
			case f.pathKind() == "file":
				opt += " -r -F"
			default:
				opt += " -x"
			}
			fmt.Fprintf(w, "complete -c flotilla -n %s %s -d %s\n", cond, opt, fishQuote(f.description))
		}
		if s.name == "completion" {
			fmt.Fprintf(w, "complete -c flotilla -n %s -a %s\n", cond, fishQuote(strings.Join(completionShells, " ")))
		}
	}
}
