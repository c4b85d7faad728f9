// Command promote moves proposals into live branches tier by tier through pull requests. See promote --help.
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
	code := cli.Promote(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
