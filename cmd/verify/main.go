// Command verify reports drift and health per app and posts commit statuses. See verify --help.
package main

import "github.com/flotilla-dev/flotilla/internal/cli"

func main() { cli.Main(cli.Verify) }
