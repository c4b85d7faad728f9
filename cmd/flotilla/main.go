// Command flotilla is every Flotilla command in one binary: flotilla
// render, promote, apply, verify, status, version and completion. See
// flotilla --help.
package main

import "github.com/flotilla-dev/flotilla/internal/cli"

func main() { cli.Main(cli.Flotilla) }
