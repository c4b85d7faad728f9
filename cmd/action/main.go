// Command action is the entrypoint of Flotilla's GitHub Action: it reads
// the step's inputs (INPUT_COMMAND and the command's flags) and runs
// render, promote, verify or apply.
package main

import (
	"context"

	"github.com/flotilla-dev/flotilla/internal/cli"
)

func main() {
	cli.Main(func(ctx context.Context, _ []string, env cli.Env) int { return cli.Action(ctx, env) })
}
