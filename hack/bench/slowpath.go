package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/flotilla-dev/flotilla/internal/benchfleet"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
)

// slowPieces are the pieces of the Git fast path that --slowpath measures,
// each replaced in turn by go-git's own code (gitobj.SlowPathEnv).
var slowPieces = []string{"pack", "nodelta", "push", "refs"}

// runSlowPath prints, for the bench fleet, the full run (fresh clone, new
// bare remote: cold) and the run after one overlay changed (the same
// clone and remote: warm) with the whole fast path and with each piece
// replaced by go-git's own (pieces, or all), runs runs each, the configurations
// interleaved so that each samples the machine alike; medians kept.
func runSlowPath(nClusters, nServices, runs int, pieces []string, bin string) error {
	paths, work, done, err := workspace(bin, "flotilla-bench-slowpath-", "render")
	if err != nil {
		return err
	}
	defer done()
	render := paths[0]
	fleetDir := filepath.Join(work, "fleet")
	if err := benchfleet.Write(fleetDir, nClusters, nServices); err != nil {
		return err
	}
	for _, c := range [][]string{
		{"-C", fleetDir, "init", "-q", "-b", "main"},
		{"-C", fleetDir, "add", "-A"},
		{"-C", fleetDir, "commit", "-q", "-m", "generated fleet"},
	} {
		if err := git(c...); err != nil {
			return err
		}
	}
	fmt.Printf("Fleet: %d clusters × %d services. Each piece replaced by go-git's own (%s=piece), %d runs each, medians.\n\n",
		nClusters, nServices, gitobj.SlowPathEnv, runs)

	for _, p := range pieces {
		if !slices.Contains(slowPieces, p) {
			return fmt.Errorf("--pieces: %q is none of %s", p, strings.Join(slowPieces, ", "))
		}
	}
	configs := append([]string{""}, cmpOrSlice(pieces, slowPieces)...)
	// Wall time and CPU time (user and system, the remote's git included:
	// it is render's child): on a shared machine the wall time measures
	// the neighbours as much as the run, the CPU time mostly the run.
	type sample struct{ cold, warm, coldCPU, warmCPU []time.Duration }
	got := map[string]*sample{}
	for _, c := range configs {
		got[c] = &sample{}
	}
	run := func(piece, dir string) (time.Duration, time.Duration, error) {
		cmd := exec.Command(render, "--fleet", dir, "--remote", dir+".git", "-o", "json")
		cmd.Env = append(os.Environ(), gitobj.SlowPathEnv+"="+piece)
		syscall.Sync()
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil {
			return 0, 0, fmt.Errorf("render (%s=%s): %v\n%s", gitobj.SlowPathEnv, piece, err, out)
		}
		var res struct{ Clusters []struct{ Branch string } }
		if err := json.Unmarshal(out, &res); err != nil || len(res.Clusters) != nClusters {
			return 0, 0, fmt.Errorf("render (%s=%s): %d clusters in its output, want %d (%v)", gitobj.SlowPathEnv, piece, len(res.Clusters), nClusters, err)
		}
		return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
	}
	for i := range runs {
		for _, piece := range configs {
			dir := filepath.Join(work, fmt.Sprintf("run-%d-%s", i, cmpOr(piece, "fast")))
			if err := git("clone", "-q", fleetDir, dir); err != nil {
				return err
			}
			if err := git("init", "-q", "--bare", "-b", "main", dir+".git"); err != nil {
				return err
			}
			cold, coldCPU, err := run(piece, dir)
			if err != nil {
				return err
			}
			overlay := filepath.Join(dir, fmt.Sprintf("services/svc-%02d/overlays/production/kustomization.yaml", min(7, nServices-1)))
			b, err := os.ReadFile(overlay)
			if err != nil {
				return err
			}
			if err := os.WriteFile(overlay, []byte(strings.Replace(string(b), "count: 3", "count: 4", 1)), 0o644); err != nil {
				return err
			}
			if err := git("-C", dir, "commit", "-q", "-am", "scale one service"); err != nil {
				return err
			}
			warm, warmCPU, err := run(piece, dir)
			if err != nil {
				return err
			}
			s := got[piece]
			s.cold, s.warm = append(s.cold, cold), append(s.warm, warm)
			s.coldCPU, s.warmCPU = append(s.coldCPU, coldCPU), append(s.warmCPU, warmCPU)
			if os.Getenv("BENCH_KEEP") == "" {
				_ = os.RemoveAll(dir)
				_ = os.RemoveAll(dir + ".git")
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	secs := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%.2f", d.Seconds()))
		}
		return strings.Join(s, ", ")
	}
	fast := got[""]
	fmt.Println("| piece replaced by go-git's own | full run: wall | CPU | the piece saves (CPU, of the fast run) | one overlay changed: wall | CPU | the piece saves |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, piece := range configs {
		s := got[piece]
		pct := func(slow, fast []time.Duration) string {
			if piece == "" {
				return "—"
			}
			f := median(fast).Seconds()
			return fmt.Sprintf("%.0f%%", 100*(median(slow).Seconds()-f)/f)
		}
		fmt.Printf("| %s | %.2f s | %.2f s | %s | %.2f s | %.2f s | %s |\n", cmpOr(piece, "none (the fast path)"),
			median(s.cold).Seconds(), median(s.coldCPU).Seconds(), pct(s.coldCPU, fast.coldCPU),
			median(s.warm).Seconds(), median(s.warmCPU).Seconds(), pct(s.warmCPU, fast.warmCPU))
	}
	fmt.Println()
	for _, piece := range configs {
		s := got[piece]
		fmt.Printf("%s: full run wall %s s, CPU %s s; one overlay changed wall %s s, CPU %s s\n", cmpOr(piece, "fast path"),
			secs(s.cold), secs(s.coldCPU), secs(s.warm), secs(s.warmCPU))
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cmpOrSlice(s, def []string) []string {
	if len(s) == 0 {
		return def
	}
	return s
}
