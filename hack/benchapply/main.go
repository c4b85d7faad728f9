// Command benchapply measures apply against one real kube-apiserver: 1,000
// objects (ConfigMaps, Services, Deployments across 10 namespaces) applied
// by Flotilla, re-applied with no change, and applied by
// `kubectl apply --server-side` from the same files, alternating over a few
// rounds, then prints a table with the medians and ratios.
//
//	go run ./hack/benchapply [--objects 1000] [--rounds 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	"github.com/flotilla-dev/flotilla/internal/render"
)

func main() {
	objects := flag.Int("objects", 1000, "objects per apply")
	rounds := flag.Int("rounds", 3, "rounds (each: Flotilla and kubectl, order alternating)")
	flag.Parse()
	if err := run(*objects, *rounds); err != nil {
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

func run(n, rounds int) error {
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

	var first, again, kc []time.Duration
	writes := 0
	for r := range rounds {
		flotilla := func() error {
			objs, err := render.Decode("bench", []byte(manifest(fmt.Sprintf("fl%d", r), n)))
			if err != nil {
				return err
			}
			app := kube.App{Name: fmt.Sprintf("bench-%d", r), Objects: objs}
			start := time.Now()
			if _, err := client.Apply(ctx, app, kube.Options{Concurrency: 32}); err != nil {
				return err
			}
			first = append(first, time.Since(start))
			start = time.Now()
			res, err := client.Apply(ctx, app, kube.Options{Concurrency: 32})
			if err != nil {
				return err
			}
			again = append(again, time.Since(start))
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
			start := time.Now()
			out, err := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "apply", "--server-side", "-f", file).CombinedOutput()
			if err != nil {
				return fmt.Errorf("kubectl: %v\n%s", err, out)
			}
			kc = append(kc, time.Since(start))
			return nil
		}
		steps := []func() error{flotilla, viaKubectl}
		if r%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
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
	f, a, k := med(first), med(again), med(kc)
	fmt.Printf("%d objects (10 Namespaces, ConfigMaps, Services, Deployments) against one kube-apiserver v1.37.2; median of %d alternating rounds.\n\n", n, rounds)
	fmt.Println("| run | wall time | compared with kubectl |")
	fmt.Println("|---|---:|---|")
	fmt.Printf("| kubectl apply --server-side | %.2f s | 1× |\n", k.Seconds())
	fmt.Printf("| Flotilla first apply | %.2f s | %.1f× faster |\n", f.Seconds(), k.Seconds()/f.Seconds())
	fmt.Printf("| Flotilla no-change re-apply (%d writes) | %.2f s | %.1f× faster |\n", writes, a.Seconds(), k.Seconds()/a.Seconds())
	return nil
}
