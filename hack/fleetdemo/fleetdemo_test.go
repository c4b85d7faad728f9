// Package fleetdemo tests hack/fleet-demo.sh and hack/fleet-down.sh (make
// fleet-demo, make fleet-down) end to end: real local clusters, a bare Git
// remote, the commands built from this module.
package fleetdemo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

// clusters are the demo's local clusters, one per rollout tier.
var clusters = []string{"prod-us-east", "prod-us-west", "edge-01"}

func TestFleetDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts three local clusters and runs the whole loop (≈ 1 min)")
	}
	kubectl := kubetest.Tool(t, "kubectl") // skips when `make tools` has not run
	for _, b := range kubetest.Binaries {
		kubetest.Tool(t, b)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// FLOTILLA_CMDS names prebuilt render, promote, apply and verify (they
	// are built from this module otherwise).
	cmds := os.Getenv("FLOTILLA_CMDS")
	if cmds == "" {
		cmds = buildCommands(t, root)
	}
	demo := filepath.Join(t.TempDir(), "demo")
	kc := filepath.Join(demo, "fleet.kubeconfig")
	remote := filepath.Join(demo, "remote.git")
	env := append(os.Environ(), "DEMO_DIR="+demo, "FLOTILLA_CMDS="+cmds, "FLOTILLA_BIN="+filepath.Dir(kubectl), "NO_COLOR=1", "DEMO_TIMEOUT=2m")
	script := func(ctx context.Context, name string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", name))
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	down := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return script(ctx, "fleet-down.sh")
	}
	// Whatever happens, nothing the demo started outlives the test: when
	// fleet-down failed or was not reached, it runs again, and the
	// localfleet process the demo started is stopped by its pid.
	pid := 0
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(demo, "fleet.pid")); err == nil {
			if out, err := down(); err != nil {
				t.Errorf("fleet-down after a failure: %v\n%s", err, out)
			}
		}
		// Only while that pid is still the demo's localfleet: a pid is
		// reused once its process has exited.
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if pid > 0 && err == nil && bytes.Contains(cmdline, []byte(demo)) && syscall.Kill(pid, syscall.SIGTERM) == nil {
			for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	begin := time.Now()
	out, err := script(ctx, "fleet-demo.sh")
	if err != nil {
		t.Fatalf("fleet-demo.sh: %v\n%s", err, out)
	}
	t.Logf("fleet-demo.sh took %s", time.Since(begin).Round(time.Second))

	// The drift was caught (the script also fails when verify does not
	// exit 1 on it, or when verify --heal does not end Synced and Healthy).
	for _, want := range []string{"OutOfSync", "-  replicas: 1", "storefront-prod-us-east"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", append([]string{"-C", remote}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, c := range clusters {
		// Each tier's live branch reached the change's commit: the
		// storefront there is what the last render proposed, 5 replicas.
		live, err1 := git("rev-parse", "hydrated/"+c+":storefront-"+c)
		next, err2 := git("rev-parse", "hydrated/"+c+"-next:storefront-"+c)
		if err := errors.Join(err1, err2); err != nil || live != next {
			t.Errorf("hydrated/%s's storefront-%s is %s, the last render's (hydrated/%s-next) %s (%v)", c, c, live, c, next, err)
		}
		m, err := git("show", "hydrated/"+c+":storefront-"+c+"/manifest.yaml")
		if err != nil || !strings.Contains(m, "replicas: 5") {
			t.Errorf("hydrated/%s:storefront-%s/manifest.yaml lacks replicas: 5 (%v):\n%s", c, c, err, m)
		}
		// The cluster runs it, and verify finds every app Synced and
		// Healthy (after the heal on the canary).
		rep, err := exec.Command(kubectl, "--kubeconfig", kc, "--context", c, "-n", "storefront", "get", "deploy", "storefront", "-o", "jsonpath={.spec.replicas}").CombinedOutput()
		if err != nil || string(rep) != "5" {
			t.Errorf("storefront on %s: replicas %q (%v), want 5", c, rep, err)
		}
		v := exec.Command(filepath.Join(cmds, "verify"), "--remote", remote, "--cluster", c, "--kubeconfig", kc, "--forge", "none")
		if vout, err := v.CombinedOutput(); err != nil || !bytes.Contains(vout, []byte("Synced")) || bytes.Contains(vout, []byte("OutOfSync")) {
			t.Errorf("verify %s after the demo: %v\n%s", c, err, vout)
		}
	}

	pidData, err := os.ReadFile(filepath.Join(demo, "fleet.pid"))
	if err != nil {
		t.Fatalf("the demo left no pid file: %v", err)
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(pidData)))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if dout, err := down(); err != nil {
		t.Fatalf("fleet-down.sh: %v\n%s", err, dout)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("localfleet (pid %d) still runs after fleet-down (kill -0: %v)", pid, err)
	}
	if left := processesUsing(demo); len(left) > 0 {
		t.Errorf("processes still running from %s after fleet-down: %s", demo, strings.Join(left, "; "))
	}
	if _, err := os.Stat(demo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fleet-down left %s (%v)", demo, err)
	}
	// A second fleet-down finds nothing to do and succeeds.
	if dout, err := down(); err != nil {
		t.Errorf("second fleet-down.sh: %v\n%s", err, dout)
	}
}

func buildCommands(t *testing.T, root string) string {
	t.Helper()
	cmds := t.TempDir()
	build := exec.Command("go", "build", "-o", cmds+"/", "./cmd/render", "./cmd/promote", "./cmd/apply", "./cmd/verify")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the commands: %v\n%s", err, out)
	}
	return cmds
}

// processesUsing lists the processes whose command line mentions dir, as
// "pid: command line".
func processesUsing(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		line := string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		if strings.Contains(line, dir) {
			out = append(out, e.Name()+": "+line)
		}
	}
	return out
}
