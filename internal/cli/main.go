package cli

import (
	"context"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Main runs a command as a process: arguments, standard streams and the
// environment, cancelled on SIGINT or SIGTERM; it exits with the command's
// code. FLOTILLA_CPUPROFILE=FILE writes a CPU profile (for go tool pprof).
func Main(run func(ctx context.Context, args []string, env Env) int) {
	if path := os.Getenv("FLOTILLA_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			run = profiled(run)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func profiled(run func(context.Context, []string, Env) int) func(context.Context, []string, Env) int {
	return func(ctx context.Context, args []string, env Env) int {
		defer pprof.StopCPUProfile()
		return run(ctx, args, env)
	}
}
