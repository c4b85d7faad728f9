// Command verify reports drift and health per app and posts commit statuses. See verify --help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/flotilla-dev/flotilla/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Verify(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
