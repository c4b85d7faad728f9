// Command render evaluates a fleet's ApplicationSets. See render --help.
package main

import "github.com/flotilla-dev/flotilla/internal/cli"

func main() { cli.Main(cli.Render) }
