// Package actionstest reads a GitHub Actions step log as the runner does,
// so tests can prove that data written to the log is never taken for a
// workflow command. Test code only.
package actionstest

import (
	"regexp"
	"strings"
)

// Command is one workflow command the runner processed.
type Command struct{ Name, Data string }

var lineBreak = regexp.MustCompile(`\r\n|\r|\n`)

// Run reads a step's log as GitHub's runner does (actions/runner,
// ActionCommandManager.TryProcessCommand and ActionCommand.TryParseV2 and
// TryParse): lines end at \n, \r\n or \r; a line is a command when, after
// leading white space, it starts with "::name" and holds another "::"
// (v2), or else holds "##[name" and a "]" anywhere (v1), name being a
// registered command, compared without case; ::stop-commands::T stops
// processing until a command named T arrives. It returns the commands
// processed (names in lower case) and the lines shown.
func Run(log string) (cmds []Command, shown []string) {
	registered := map[string]bool{"add-mask": true, "set-output": true, "set-env": true, "add-path": true, "save-state": true,
		"error": true, "warning": true, "notice": true, "debug": true, "group": true, "endgroup": true,
		"echo": true, "add-matcher": true, "remove-matcher": true, "stop-commands": true}
	parse := func(line string) (name, data string, ok bool) {
		if t := strings.TrimLeft(line, " \t\v\f"); strings.HasPrefix(t, "::") {
			if end := strings.Index(t[2:], "::"); end >= 0 {
				name, _, _ = strings.Cut(t[2:2+end], " ")
				if registered[strings.ToLower(name)] {
					return strings.ToLower(name), t[4+end:], true
				}
			}
		}
		if i := strings.Index(line, "##["); i >= 0 {
			if rb := strings.Index(line[i:], "]"); rb >= 0 {
				name, _, _ = strings.Cut(line[i+3:i+rb], " ")
				if registered[strings.ToLower(name)] {
					return strings.ToLower(name), line[i+rb+1:], true
				}
			}
		}
		return "", "", false
	}
	stopToken := ""
	for _, line := range lineBreak.Split(log, -1) {
		name, data, ok := parse(line)
		switch {
		case stopToken != "":
			if ok && name == stopToken {
				delete(registered, stopToken)
				stopToken = ""
				continue
			}
			shown = append(shown, line)
		case ok && name == "stop-commands":
			stopToken = strings.ToLower(data)
			registered[stopToken] = true
		case ok:
			cmds = append(cmds, Command{name, data})
		default:
			shown = append(shown, line)
		}
	}
	return cmds, shown
}
