package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/flotilla-dev/flotilla/internal/actions"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// Main runs a command as a process: arguments, standard streams and the
// environment, cancelled on SIGINT or SIGTERM; it exits with the command's
// code. FLOTILLA_CPUPROFILE=FILE writes a CPU profile (for go tool pprof).
func Main(run func(ctx context.Context, args []string, env Env) int) {
	tuneGC(os.Getenv)
	if path := os.Getenv("FLOTILLA_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			run = profiled(run)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env, closeEnv := processEnv(os.Stdout, os.Stderr, os.Getenv)
	restore := dropKustomizeNotices()
	code := run(ctx, os.Args[1:], env)
	restore()
	closeEnv()
	stop()
	os.Exit(code)
}

// dropKustomizeNotices points os.Stderr at a pipe that copies everything
// written to it to the real stderr, line by line, but the deprecation
// notices Kustomize prints there as it loads a kustomization (unattributed,
// once per build): render reports them itself, once per file, naming the
// file and the applications. restore points os.Stderr back and waits for
// the copy to end. It runs in Main, before any goroutine of the command,
// which only reads os.Stderr.
func dropKustomizeNotices() (restore func()) {
	real := os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		return func() {}
	}
	os.Stderr = w
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyExceptNotices(real, r)
	}()
	return func() {
		os.Stderr = real
		_ = w.Close()
		<-done
		_ = r.Close()
	}
}

// copyExceptNotices copies src to dst line by line, without the lines
// that are Kustomize's deprecation notices.
func copyExceptNotices(dst io.Writer, src io.Reader) {
	br := bufio.NewReader(src)
	for {
		line, err := br.ReadString('\n')
		if line != "" && !render.IsKustomizeNotice(strings.TrimSuffix(line, "\n")) {
			_, _ = io.WriteString(dst, line)
		}
		if err != nil {
			return
		}
	}
}

// processEnv is the Env of a process. In GitHub Actions (a plain
// `flotilla-render` in a run: step as much as the Action), the runner
// reads every line of the log for workflow commands, and stderr carries
// data that others wrote (a fleet file quoted in an error, a remote's
// messages): it is written through actions.IO's Log, between
// ::stop-commands:: and its end, so no such line sets an output, adds a
// mask or stops the log. Stdout is not: it is the command's result, often
// redirected or piped (-o json > apps.json, | jq), and a marker would
// corrupt it; nor could two streams share one stretch of stopped
// commands, as the runner reads them in no fixed order (the Action writes
// everything to stdout through its own actions.IO and nothing to stderr,
// so its stderr never opens a second stretch). close ends the stretch.
func processEnv(stdout, stderr io.Writer, getenv func(string) string) (_ Env, close func()) {
	env := Env{Stdout: stdout, Stderr: stderr, Getenv: getenv}
	if !actions.Enabled(getenv) {
		return env, func() {}
	}
	log := actions.New(getenv, stderr)
	env.Stderr = log.Log()
	return env, func() { _ = log.Close() }
}

func profiled(run func(context.Context, []string, Env) int) func(context.Context, []string, Env) int {
	return func(ctx context.Context, args []string, env Env) int {
		defer pprof.StopCPUProfile()
		return run(ctx, args, env)
	}
}

// gcPercent is the garbage collector's target for a run. A command is one
// short batch whose live heap stays small (~10 MB for a 5,000-app render)
// while Kustomize allocates fast: at Go's default of 100 a render of the
// bench fleet collected 26 times and spent 12% of its CPU there. At 400
// it collects a quarter as often, for ~20 MB more peak memory and 0.04 s
// less wall time on two CPUs (the bench fleet in memory, 6 runs each).
const gcPercent = 400

// tuneGC sets gcPercent unless GOGC is set: the environment wins.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
