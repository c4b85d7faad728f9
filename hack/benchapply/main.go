// Command benchapply measures apply against one real kube-apiserver: 1,000
// objects (ConfigMaps, Services, Deployments across 10 namespaces) applied
// by Flotilla, re-applied with no change, and applied by
// `kubectl apply --server-side` from the same files, alternating over a few
// rounds, then prints a table with the medians and ratios, and the CPU
// time each run cost (the client, kube-apiserver and etcd together), which
// a loaded machine changes far less than wall time.
//
//	go run ./hack/benchapply [--objects 1000] [--rounds 3] [--concurrency 32]
//	                         [--only flotilla|kubectl] [--cpuprofile FILE]
//
// --only runs one side (no ratios); --cpuprofile writes a CPU profile of
// the first round's first apply (Flotilla's side only: the API server runs
// in its own process).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	"github.com/flotilla-dev/flotilla/internal/render"
)

func main() {
	objects := flag.Int("objects", 1000, "objects per apply")
	rounds := flag.Int("rounds", 3, "rounds (each: Flotilla and kubectl, order alternating)")
	concurrency := flag.Int("concurrency", 32, "Flotilla's apply concurrency")
	only := flag.String("only", "", "run only flotilla or only kubectl")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of Flotilla's first apply to this file")
	flag.Parse()
	if *only != "" && *only != "flotilla" && *only != "kubectl" {
		fmt.Fprintln(os.Stderr, "benchapply: --only takes flotilla or kubectl")
		os.Exit(2)
	}
	if err := run(*objects, *rounds, *concurrency, *only, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "benchapply:", err)
		os.Exit(1)
	}
}

// manifest writes n objects over 10 namespaces named <prefix>-0..9.
func manifest(prefix string, n int) string {
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s-%d}\n", prefix, i)
	}
	for i := range n - 10 {
		ns := fmt.Sprintf("%s-%d", prefix, i%10)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: %s}\ndata: {key: value-%d, other: \"%d\"}\n", i, ns, i, i)
		case 1:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: %s}\nspec:\n  selector: {app: app-%d}\n  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]\n", i, ns, i)
		default:
			fmt.Fprintf(&b, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-%d, namespace: %s}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: app-%d}}\n  template:\n    metadata: {labels: {app: app-%d}}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n        ports: [{containerPort: 8080, protocol: TCP}]\n", i, ns, i, i)
		}
	}
	return b.String()
}

func run(n, rounds, concurrency int, only, cpuprofile string) error {
	ctx := context.Background()
	c, err := kubetest.StartCluster(ctx, kubetest.Options{Name: "bench"})
	if err != nil {
		return err
	}
	defer c.Stop()
	client, err := kube.NewClient(c.Config)
	if err != nil {
		return err
	}
	kubectl, err := kubetest.Bin("kubectl")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "benchapply-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var prof *os.File
	if cpuprofile != "" {
		if prof, err = os.Create(cpuprofile); err != nil {
			return err
		}
		defer prof.Close()
	}
	var first, again, kc []time.Duration
	var firstCPU, againCPU, kcCPU []time.Duration
	writes := 0
	for r := range rounds {
		flotilla := func() error {
			objs, err := render.Decode("bench", []byte(manifest(fmt.Sprintf("fl%d", r), n)))
			if err != nil {
				return err
			}
			app := kube.App{Name: fmt.Sprintf("bench-%d", r), Objects: objs}
			if prof != nil {
				if err := pprof.StartCPUProfile(prof); err != nil {
					return err
				}
			}
			cpu, start := cpuTime(), time.Now()
			_, err = client.Apply(ctx, app, kube.Options{Concurrency: concurrency})
			first, firstCPU = append(first, time.Since(start)), append(firstCPU, cpuTime()-cpu)
			if prof != nil {
				pprof.StopCPUProfile()
				prof = nil
			}
			if err != nil {
				return err
			}
			cpu, start = cpuTime(), time.Now()
			res, err := client.Apply(ctx, app, kube.Options{Concurrency: concurrency})
			if err != nil {
				return err
			}
			again, againCPU = append(again, time.Since(start)), append(againCPU, cpuTime()-cpu)
			for _, o := range res.Objects {
				if o.Action != kube.Unchanged {
					writes++
				}
			}
			return nil
		}
		viaKubectl := func() error {
			file := filepath.Join(work, fmt.Sprintf("kc%d.yaml", r))
			if err := os.WriteFile(file, []byte(manifest(fmt.Sprintf("kc%d", r), n)), 0o644); err != nil {
				return err
			}
			cmd := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "apply", "--server-side", "-f", file)
			cpu, start := cpuTime(), time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("kubectl: %v\n%s", err, out)
			}
			kc = append(kc, time.Since(start))
			kcCPU = append(kcCPU, cpuTime()-cpu+cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
			return nil
		}
		steps := []func() error{flotilla, viaKubectl}
		if r%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		switch only {
		case "flotilla":
			steps = []func() error{flotilla}
		case "kubectl":
			steps = []func() error{viaKubectl}
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
	}
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	fmt.Printf("%d objects (10 Namespaces, ConfigMaps, Services, Deployments) against one kube-apiserver v1.37.2; median of %d alternating rounds.\n\n", n, rounds)
	fmt.Println("| run | wall time | compared with kubectl | CPU time |")
	fmt.Println("|---|---:|---|---:|")
	ratio := func(d time.Duration) string {
		if len(kc) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f× faster", med(kc).Seconds()/d.Seconds())
	}
	if len(kc) > 0 {
		fmt.Printf("| kubectl apply --server-side | %.2f s | 1× | %.2f s |\n", med(kc).Seconds(), med(kcCPU).Seconds())
	}
	if len(first) > 0 {
		fmt.Printf("| Flotilla first apply | %.2f s | %s | %.2f s |\n", med(first).Seconds(), ratio(med(first)), med(firstCPU).Seconds())
		fmt.Printf("| Flotilla no-change re-apply (%d writes) | %.2f s | %s | %.2f s |\n", writes, med(again).Seconds(), ratio(med(again)), med(againCPU).Seconds())
	}
	fmt.Printf("\nEach round's wall time: kubectl %s; first apply %s; re-apply %s.\n", secs(kc), secs(first), secs(again))
	fmt.Println("CPU time: this process (Flotilla), kube-apiserver and etcd, and for kubectl its process too.")
	return nil
}

func secs(d []time.Duration) string {
	var out []string
	for _, x := range d {
		out = append(out, fmt.Sprintf("%.2f s", x.Seconds()))
	}
	return strings.Join(out, ", ")
}

// cpuTime is the CPU time this process and its running children (the API
// server, etcd) have used, from /proc (zero where there is none).
func cpuTime() time.Duration {
	pids := []string{"self"}
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		pids = append(pids, strings.Fields(string(b))...)
	}
	var ticks int64
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + p + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name: state is the first; utime and
		// stime are the 12th and 13th.
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
