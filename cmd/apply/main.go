// Command apply syncs a cluster from its hydrated branch. See apply --help.
package main

import "github.com/flotilla-dev/flotilla/internal/cli"

func main() { cli.Main(cli.Apply) }
