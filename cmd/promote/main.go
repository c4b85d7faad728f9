// Command promote moves proposals into live branches tier by tier through pull requests. See promote --help.
package main

import "github.com/flotilla-dev/flotilla/internal/cli"

func main() { cli.Main(cli.Promote) }
