// Command localfleet starts a named local fleet of real control planes
// (internal/kubetest) and writes one kubeconfig with a context per cluster,
// for the demo and for manual runs. It runs until interrupted (SIGINT or
// SIGTERM), then stops every process it started and removes the clusters'
// directories. With --dir they live in DIR/<cluster> instead of temporary
// directories, so a caller that runs it in the background (make fleet-demo)
// knows where they are and can remove them even after a SIGKILL (its
// processes die with it: kubetest starts them with a parent-death signal).
//
//	go run ./hack/localfleet --clusters canary,early,general --kubeconfig .demo/fleet.kubeconfig
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

func main() {
	names := flag.String("clusters", "canary,early,general", "comma-separated cluster names (each becomes a kubeconfig context)")
	kubeconfig := flag.String("kubeconfig", ".demo/fleet.kubeconfig", "where to write the merged kubeconfig")
	workloads := flag.Bool("workloads", true, "also run controller-manager, scheduler and kwok so workloads become Ready")
	dir := flag.String("dir", "", "keep each cluster's data, credentials and logs in DIR/<cluster> (default: temporary directories)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*names, ","), *kubeconfig, *dir, *workloads); err != nil {
		fmt.Fprintln(os.Stderr, "localfleet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, names []string, kubeconfig, dir string, workloads bool) error {
	begin := time.Now()
	if dir != "" {
		// A directory left by an earlier run would hold another cluster's
		// etcd data and credentials.
		for _, name := range names {
			d := filepath.Join(dir, name)
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("clear cluster directory %s: %w", d, err)
			}
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create cluster directory %s: %w", d, err)
			}
		}
		defer func() {
			for _, name := range names {
				os.RemoveAll(filepath.Join(dir, name))
			}
		}()
	}
	clusters := make([]*kubetest.Cluster, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = kubetest.StartCluster(ctx, kubetest.Options{Name: name, Workloads: workloads, Dir: clusterDir(dir, name)})
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clusters {
			if c != nil {
				c.Stop()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return err
	}
	if err := kubetest.WriteKubeconfig(kubeconfig, clusters...); err != nil {
		return err
	}
	fmt.Printf("%d clusters up in %s\n\n", len(clusters), time.Since(begin).Round(10*time.Millisecond))
	fmt.Printf("%-12s %-28s %10s %12s\n", "CONTEXT", "SERVER", "START", "MEMORY")
	for _, c := range clusters {
		rss := c.RSS()
		var total int64
		var parts []string
		for name, b := range rss {
			total += b
			parts = append(parts, fmt.Sprintf("%s %d", name, b>>20))
		}
		slices.Sort(parts)
		fmt.Printf("%-12s %-28s %10s %8d MiB   (%s MiB)\n", c.Name, c.Server, c.StartDuration.Round(10*time.Millisecond), total>>20, strings.Join(parts, ", "))
	}
	fmt.Printf("\nexport KUBECONFIG=%s   # contexts: %s\nPress Ctrl-C to stop the fleet.\n", kubeconfig, strings.Join(names, ", "))
	<-ctx.Done()
	return nil
}

func clusterDir(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}
