// Command bench measures render at fleet scale and prints a table: a
// generated fleet of N clusters × M services (a base and three overlays
// each, the seed's matrix ApplicationSet), rendered and pushed by Flotilla;
// the same work done the way teams script it (kubectl kustomize per app,
// git commit per branch; run on a sample of clusters and scaled up); the
// floor (one in-process krusty build per unique overlay, nothing else); and
// incremental runs after one service's overlay changed, with and without
// the build records of earlier runs; a full and an incremental run against
// a far remote (smart HTTP with a delay on every request); and the full run
// again with the checkout and the remote in memory (/dev/shm).
//
// The full run and the floor are each measured three times, alternately,
// and the medians kept: Flotilla's full run into a new remote from a fresh
// clone each time, the floor in a new process each time (both pay
// Kustomize's one-time set-up once, as a render does). Each timed run
// starts after sync(2), with no earlier step's writes still pending.
// Everything runs on one machine, the remote's git included, whose disk
// decides most of the variation (on a shared VM the median full run read
// 0.31-0.56 s in bench runs minutes apart; the in-memory one does not
// write to it).
//
// The Helm table renders a generated fleet of N clusters × M charts from a
// chart repository the bench serves (TLS, on loopback), multi-source with
// values per cluster label from Git, and compares it with a loop running
// the real `helm template` per Application with the flags Argo CD's repo
// server passes (see bench_helm.go).
//
//	go run ./hack/bench [--clusters 200] [--services 25] [--loop-sample 8]
//	  [--helm-clusters 200] [--charts 10] [--helm-loop-sample 20] [--only kustomize|helm]
//
// With --slowpath N [--pieces pack,nodelta,push,refs] it prints only the table of the Git fast path
// (gitobj.SlowPathEnv): the full run and a one-overlay change with each
// piece replaced by go-git's own, N runs each.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/flotilla-dev/flotilla/internal/benchfleet"
)

func main() {
	clusters := flag.Int("clusters", 200, "clusters in the generated fleet")
	services := flag.Int("services", 25, "services (base + 3 overlays each)")
	sample := flag.Int("loop-sample", 8, "clusters the shell loop runs on (its time is scaled to the fleet)")
	bin := flag.String("bin", "bin", "directory with render, kubectl and helm")
	floorOf := flag.String("floor", "", "measure the floor of the fleet in this directory once, print it and exit (the bench runs itself so)")
	only := flag.String("only", "", "run only the kustomize or the helm table")
	helmClusters := flag.Int("helm-clusters", 200, "clusters in the generated Helm fleet")
	charts := flag.Int("charts", 10, "charts on each cluster of the Helm fleet")
	helmSample := flag.Int("helm-loop-sample", 20, "clusters the helm template loop runs on (its time is scaled to the fleet)")
	slowPath := flag.Int("slowpath", 0, "print only the table of the Git fast path's pieces, each replaced by go-git's own, this many runs each")
	pieces := flag.String("pieces", "", "with --slowpath: the pieces to measure, comma-separated (default: all)")
	flag.Parse()
	if *slowPath > 0 {
		var only []string
		if *pieces != "" {
			only = strings.Split(*pieces, ",")
		}
		if err := runSlowPath(*clusters, *services, *slowPath, only, *bin); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *floorOf != "" {
		d, err := floorTime(*floorOf, *services)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		fmt.Println(d.Nanoseconds())
		return
	}
	if *only != "" && *only != "kustomize" && *only != "helm" {
		fmt.Fprintln(os.Stderr, "bench: --only is kustomize or helm")
		os.Exit(2)
	}
	if *only != "helm" {
		if err := run(*clusters, *services, *sample, *bin); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *only != "kustomize" {
		if *only == "" {
			fmt.Println()
		}
		if err := runHelm(*helmClusters, *charts, min(*helmSample, *helmClusters), *bin); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// workspace finds the named programs in bin and makes a bench's work
// directory, removed by done unless BENCH_KEEP is set.
func workspace(bin, prefix string, names ...string) (paths []string, work string, done func(), err error) {
	bin, _ = filepath.Abs(bin)
	for _, n := range names {
		p := filepath.Join(bin, n)
		if _, err := os.Stat(p); err != nil {
			return nil, "", nil, fmt.Errorf("%s missing: run make build tools", p)
		}
		paths = append(paths, p)
	}
	if work, err = os.MkdirTemp("", prefix); err != nil {
		return nil, "", nil, err
	}
	if os.Getenv("BENCH_KEEP") != "" {
		fmt.Println("work dir:", work)
		return paths, work, func() {}, nil
	}
	return paths, work, func() { os.RemoveAll(work) }, nil
}

func run(nClusters, nServices, sample int, bin string) error {
	paths, work, done, err := workspace(bin, "flotilla-bench-", "render", "kubectl")
	if err != nil {
		return err
	}
	defer done()
	render, kubectl := paths[0], paths[1]
	fleetDir, remote := filepath.Join(work, "fleet"), filepath.Join(work, "remote.git")
	if err := benchfleet.Write(fleetDir, nClusters, nServices); err != nil {
		return err
	}
	for _, c := range [][]string{
		{"init", "-q", "--bare", "-b", "main", remote},
		{"-C", fleetDir, "init", "-q", "-b", "main"},
		{"-C", fleetDir, "add", "-A"},
		{"-C", fleetDir, "commit", "-q", "-m", "generated fleet"},
		{"-C", fleetDir, "remote", "add", "origin", remote},
	} {
		if err := git(c...); err != nil {
			return err
		}
	}
	apps := nClusters * nServices
	fmt.Printf("Fleet: %d clusters × %d services = %d applications, %d unique overlays. Machine: %d CPUs, %s/%s.\n\n",
		nClusters, nServices, apps, nServices*len(benchfleet.Overlays), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)

	type result struct {
		Builds  int
		Timings map[string]float64
		wall    time.Duration
	}
	var (
		fulls  []result
		floors []time.Duration
	)
	// Full runs and floors alternate, so that both sample the machine as
	// it is: on a shared VM the same floor measured 0.16 s in one bench
	// run and 0.21 s in another.
	for i := range 3 {
		// Two runs from fresh clones into new remotes; the last one is the
		// checkout's own, which the incremental runs continue from.
		var (
			d   time.Duration
			out []byte
			err error
		)
		if i < 2 {
			d, out, err = freshFull(render, fleetDir, filepath.Join(work, fmt.Sprintf("full-%d", i)))
		} else {
			d, out, err = timed(render, "--fleet", fleetDir, "-o", "json")
		}
		if err != nil {
			return fmt.Errorf("flotilla render: %v\n%s", err, out)
		}
		r := result{wall: d}
		if err := json.Unmarshal(out, &r); err != nil {
			return err
		}
		fulls = append(fulls, r)

		syscall.Sync()
		out, err = exec.Command(os.Args[0], "-floor", fleetDir, "-services", fmt.Sprint(nServices)).Output()
		if err != nil {
			return fmt.Errorf("floor: %v", err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			return fmt.Errorf("floor: %q: %v", out, err)
		}
		floors = append(floors, time.Duration(ns))
	}
	slices.SortFunc(fulls, func(a, b result) int { return cmp.Compare(a.wall, b.wall) })
	res, full := fulls[1], fulls[1].wall

	slices.Sort(floors)
	floor := floors[1]

	mem, err := memoryFull(fleetDir, render)
	if err != nil {
		return err
	}

	loopSample, err := shellLoop(fleetDir, kubectl, sample, nServices)
	if err != nil {
		return err
	}
	loop := loopSample * time.Duration(nClusters) / time.Duration(sample)

	// Incremental: one service's production overlay changes; then another
	// one's, rendered without reusing the builds of earlier runs (a runner
	// that keeps no .git/flotilla between jobs).
	incremental := func(service string, extra ...string) (time.Duration, int, error) {
		overlay := filepath.Join(fleetDir, "services", service, "overlays/production/kustomization.yaml")
		b, err := os.ReadFile(overlay)
		if err != nil {
			return 0, 0, err
		}
		if err := os.WriteFile(overlay, []byte(strings.Replace(string(b), "count: 3", "count: 4", 1)), 0o644); err != nil {
			return 0, 0, err
		}
		if err := git("-C", fleetDir, "commit", "-q", "-am", "scale "+service); err != nil {
			return 0, 0, err
		}
		d, out, err := timed(render, append([]string{"--fleet", fleetDir, "-o", "json"}, extra...)...)
		if err != nil {
			return 0, 0, fmt.Errorf("incremental render: %v\n%s", err, out)
		}
		var res struct{ Clusters []struct{ Updated bool } }
		if err := json.Unmarshal(out, &res); err != nil {
			return 0, 0, err
		}
		changed := 0
		for _, c := range res.Clusters {
			if c.Updated {
				changed++
			}
		}
		return d, changed, nil
	}
	incr, changed, err := incremental("svc-07")
	if err != nil {
		return err
	}
	cold, coldChanged, err := incremental("svc-08", "--no-build-cache")
	if err != nil {
		return err
	}

	farFull, farIncr, err := farRemote(work, fleetDir, render)
	if err != nil {
		return err
	}

	// The policy gate: benchfleet.Policies (5 ValidatingAdmissionPolicies
	// and a param) sent to every cluster; render evaluates every object
	// of every cluster against them (its "policy" phase).
	if err := benchfleet.WritePolicies(fleetDir); err != nil {
		return err
	}
	if err := git("-C", fleetDir, "add", "-A"); err != nil {
		return err
	}
	if err := git("-C", fleetDir, "commit", "-q", "-m", "policies"); err != nil {
		return err
	}
	polWall, out, err := freshFull(render, fleetDir, filepath.Join(work, "policies"))
	if err != nil {
		return fmt.Errorf("render with policies: %v\n%s", err, out)
	}
	var pol result
	if err := json.Unmarshal(out, &pol); err != nil {
		return err
	}

	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	fmt.Println("| run | wall time | compared with Flotilla's full run |")
	fmt.Println("|---|---:|---|")
	fmt.Printf("| Flotilla render + hydrate + push, %d branches (%d builds), median of 3 | %s | 1× |\n", nClusters, res.Builds, ms(full))
	fmt.Printf("| shell loop: kubectl kustomize per app, git commit per branch (%d clusters measured in %s, scaled ×%d) | %s | %.0f× slower |\n",
		sample, ms(loopSample), nClusters/sample, ms(loop), loop.Seconds()/full.Seconds())
	fmt.Printf("| floor: one in-process krusty build per unique overlay, nothing else, median of 3 | %s | Flotilla is %.2f× the floor |\n", ms(floor), full.Seconds()/floor.Seconds())
	if mem > 0 {
		fmt.Printf("| the same full run, checkout and remote in memory (/dev/shm: no disk), median of 3 | %s | %.2f× the floor |\n", ms(mem), mem.Seconds()/floor.Seconds())
	}
	fmt.Printf("| incremental: one overlay changed, %d branches updated | %s | %.0f%% of the full run |\n", changed, ms(incr), 100*incr.Seconds()/full.Seconds())
	fmt.Printf("| incremental, builds not reused (`--no-build-cache`), %d branches updated | %s | %.0f%% of the full run |\n", coldChanged, ms(cold), 100*cold.Seconds()/full.Seconds())
	fmt.Printf("| far remote (smart HTTP, %v a request): full run | %s | %.1f× the local full run |\n", farDelay, ms(farFull), farFull.Seconds()/full.Seconds())
	fmt.Printf("| far remote (smart HTTP, %v a request): incremental | %s | %.0f%% of the far full run |\n", farDelay, ms(farIncr), 100*farIncr.Seconds()/farFull.Seconds())
	polPhase := pol.Timings["policy"]
	fmt.Printf("| policy gate: 5 ValidatingAdmissionPolicies on every cluster, full run (the policy phase %.2f s) | %s | the gate adds %.0f%% to the rest of the run |\n",
		polPhase, ms(polWall), 100*polPhase/max(polWall.Seconds()-polPhase, 1e-9))
	fmt.Printf("\nFull runs: %s, %s, %s (the median run's phases: generate %.2f s, render %.2f s, publish %.2f s). Floors: %s, %s, %s.\n",
		ms(fulls[0].wall), ms(fulls[1].wall), ms(fulls[2].wall), res.Timings["generate"], res.Timings["render"], res.Timings["publish"], ms(floors[0]), ms(floors[1]), ms(floors[2]))
	return nil
}

// memoryFull measures the full run three times with a fresh clone of the
// fleet and a new remote in /dev/shm, and returns the median: Flotilla's
// own cost, without the disk writes of the remote's git and of the
// checkout, which make most of the full run's variation. Zero where
// /dev/shm is not a writable directory.
func memoryFull(fleetDir, render string) (time.Duration, error) {
	dir, err := os.MkdirTemp("/dev/shm", "flotilla-bench-")
	if err != nil {
		return 0, nil
	}
	defer os.RemoveAll(dir)
	var runs []time.Duration
	for i := range 3 {
		d, out, err := freshFull(render, fleetDir, filepath.Join(dir, fmt.Sprintf("fleet-%d", i)))
		if err != nil {
			return 0, fmt.Errorf("flotilla render in memory: %v\n%s", err, out)
		}
		runs = append(runs, d)
	}
	slices.Sort(runs)
	return runs[1], nil
}

// freshFull clones the fleet into dir, makes a new bare remote beside it
// (dir.git) and times a full render of the clone into it.
func freshFull(render, fleetDir, dir string) (time.Duration, []byte, error) {
	remote := dir + ".git"
	if err := git("clone", "-q", fleetDir, dir); err != nil {
		return 0, nil, err
	}
	if err := git("init", "-q", "--bare", "-b", "main", remote); err != nil {
		return 0, nil, err
	}
	return timed(render, "--fleet", dir, "--remote", remote, "-o", "json")
}

// farDelay is how long the far remote takes to answer each request: a
// round trip to a hosted Git server in another region.
const farDelay = 100 * time.Millisecond

// farRemote renders the fleet's first commit and then the svc-07 change
// into a remote served over Git's smart HTTP protocol (git http-backend)
// that answers each request after farDelay, and returns both times.
func farRemote(work, fleetDir, render string) (full, incr time.Duration, err error) {
	remote := filepath.Join(work, "far.git")
	checkout := filepath.Join(work, "far-fleet")
	for _, c := range [][]string{
		{"init", "-q", "--bare", "-b", "main", remote},
		{"-C", remote, "config", "http.receivepack", "true"},
		{"clone", "-q", fleetDir, checkout},
		{"-C", checkout, "checkout", "-q", "-B", "main", ":/generated fleet"},
	} {
		if err := git(c...); err != nil {
			return 0, 0, err
		}
	}
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return 0, 0, err
	}
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env:        []string{"GIT_PROJECT_ROOT=" + work, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_GLOBAL=/dev/null"},
		InheritEnv: []string{"PATH", "HOME"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(farDelay)
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/far.git"
	run := func() (time.Duration, error) {
		d, out, err := timed(render, "--fleet", checkout, "--remote", url, "-o", "json")
		if err != nil {
			return 0, fmt.Errorf("render to the far remote: %v\n%s", err, out)
		}
		return d, nil
	}
	if full, err = run(); err != nil {
		return 0, 0, err
	}
	if err := git("-C", checkout, "checkout", "-q", "-B", "main", ":/scale svc-07"); err != nil {
		return 0, 0, err
	}
	incr, err = run()
	return full, incr, err
}

func timed(name string, args ...string) (time.Duration, []byte, error) {
	syscall.Sync()
	start := time.Now()
	out, err := exec.Command(name, args...).Output()
	return time.Since(start), out, err
}

func git(args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=b@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=b@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// floorTime builds each unique overlay once, in process, sequentially.
func floorTime(fleetDir string, nServices int) (time.Duration, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	fs := filesys.MakeFsOnDisk()
	start := time.Now()
	for s := range nServices {
		for _, o := range benchfleet.Overlays {
			m, err := k.Run(fs, filepath.Join(fleetDir, fmt.Sprintf("services/svc-%02d/overlays/%s", s, o)))
			if err != nil {
				return 0, err
			}
			if _, err := m.AsYaml(); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

// shellLoop does what a hand-written pipeline does for the first n
// clusters: kubectl kustomize per app into a worktree, one commit per
// cluster branch.
func shellLoop(fleetDir, kubectl string, n, nServices int) (time.Duration, error) {
	work, err := os.MkdirTemp("", "flotilla-loop-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	var script strings.Builder
	fmt.Fprintf(&script, "set -e\ncd %s\ngit init -q -b main .\ngit commit -q --allow-empty -m init\n", work)
	for c := range n {
		cluster := fmt.Sprintf("cluster-%03d", c)
		env := benchfleet.Overlays[c%len(benchfleet.Overlays)]
		fmt.Fprintf(&script, "git checkout -q -B hydrated/%s-next main\n", cluster)
		for s := range nServices {
			app := fmt.Sprintf("svc-%02d-%s", s, cluster)
			fmt.Fprintf(&script, "mkdir -p %s && %s kustomize %s/services/svc-%02d/overlays/%s > %s/manifest.yaml\n", app, kubectl, fleetDir, s, env, app)
		}
		fmt.Fprintf(&script, "git add -A && git commit -q -m 'hydrate %s'\n", cluster)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=loop", "GIT_AUTHOR_EMAIL=l@example.com",
		"GIT_COMMITTER_NAME=loop", "GIT_COMMITTER_EMAIL=l@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	syscall.Sync()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("shell loop: %v\n%s", err, out)
	}
	return time.Since(start), nil
}
