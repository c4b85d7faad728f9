package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/benchfleet"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// runHelm prints the Helm table: a fleet of nClusters × nCharts
// Applications, each chart from a chart repository the bench serves on
// loopback (TLS, its CA given to Flotilla as helm.caFile), its values
// from Git through a ref source, one file per cluster tier. Flotilla's
// full run (render, hydrate, push; cold chart cache) is measured three
// times from fresh clones and the median kept, then run again on the
// same clone with its warm cache; the loop runs the real helm CLI per
// Application on sample clusters and is scaled to the fleet.
func runHelm(nClusters, nCharts, sample int, bin string) error {
	paths, work, done, err := workspace(bin, "flotilla-bench-helm-", "render", "helm")
	if err != nil {
		return err
	}
	defer done()
	render, helm := paths[0], paths[1]
	src, repoDir := filepath.Join(work, "chart-src"), filepath.Join(work, "chart-repo")
	if err := benchfleet.WriteCharts(src, nCharts); err != nil {
		return err
	}
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		return err
	}
	repo, err := benchfleet.ServeCharts(src, repoDir)
	if err != nil {
		return err
	}
	defer repo.Close()
	fleetDir := filepath.Join(work, "fleet")
	if err := benchfleet.WriteHelm(fleetDir, repo.URL, repo.CAFile, nClusters, nCharts); err != nil {
		return err
	}
	for _, c := range [][]string{
		{"-C", fleetDir, "init", "-q", "-b", "main"},
		{"-C", fleetDir, "add", "-A"},
		{"-C", fleetDir, "commit", "-q", "-m", "generated helm fleet"},
	} {
		if err := git(c...); err != nil {
			return err
		}
	}
	apps := nClusters * nCharts
	fmt.Printf("Helm fleet: %d clusters × %d charts = %d applications, each chart from a chart repository served by the bench (TLS, loopback) with values from Git through $values, one file per cluster tier (%d tiers × %d Kubernetes versions). Machine: %d CPUs, %s/%s.\n\n",
		nClusters, nCharts, apps, len(benchfleet.Tiers), len(benchfleet.KubeVersions), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)

	type result struct {
		Apps     int
		Builds   int
		wall     time.Duration
		archives int64
		indexes  int64
		dir      string
	}
	run := func(args ...string) (result, error) {
		a0, i0 := repo.Requests()
		d, out, err := timed(render, append(args, "-o", "json")...)
		if err != nil {
			return result{}, fmt.Errorf("flotilla render: %v\n%s", err, out)
		}
		r := result{wall: d}
		if err := json.Unmarshal(out, &r); err != nil {
			return result{}, err
		}
		a1, i1 := repo.Requests()
		r.archives, r.indexes = a1-a0, i1-i0
		return r, nil
	}
	var fulls []result
	for i := range 3 {
		dir := filepath.Join(work, fmt.Sprintf("full-%d", i))
		if err := git("clone", "-q", fleetDir, dir); err != nil {
			return err
		}
		if err := git("init", "-q", "--bare", "-b", "main", dir+".git"); err != nil {
			return err
		}
		r, err := run("--fleet", dir, "--remote", dir+".git")
		if err != nil {
			return err
		}
		r.dir = dir
		fulls = append(fulls, r)
	}
	slices.SortFunc(fulls, func(a, b result) int { return cmp.Compare(a.wall, b.wall) })
	full := fulls[1]
	// The same clone again: charts and builds come from its .git/flotilla.
	warm, err := run("--fleet", full.dir, "--remote", full.dir+".git")
	if err != nil {
		return err
	}

	pull, loopSample, err := helmLoop(work, fleetDir, helm, repo, sample, nCharts)
	if err != nil {
		return err
	}
	loop := pull + loopSample*time.Duration(nClusters)/time.Duration(sample)
	checked, err := sameOutput(filepath.Join(work, "helm-loop", "out"), full.dir+".git", sample, nCharts)
	if err != nil {
		return err
	}

	s := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	fmt.Println("| run | wall time | compared with Flotilla's full run |")
	fmt.Println("|---|---:|---|")
	fmt.Printf("| Flotilla render + hydrate + push, %d branches, cold chart cache (%d builds for %d applications; %d chart downloads), median of 3 | %s | 1× |\n",
		nClusters, full.Builds, full.Apps, full.archives, s(full.wall))
	fmt.Printf("| loop: `helm template` per Application with Argo CD's flags, git commit per branch (%d `helm pull` in %s, then %d clusters measured in %s, scaled ×%d; its %d manifests equal Flotilla's) | %s | %.0f× slower |\n",
		nCharts, s(pull), sample, s(loopSample), nClusters/sample, checked, s(loop), loop.Seconds()/full.wall.Seconds())
	fmt.Printf("| Flotilla again on the same clone, warm chart cache in .git/flotilla/charts (%d chart downloads, %d index requests; %d builds) | %s | %.0f%% of the full run |\n",
		warm.archives, warm.indexes, warm.Builds, s(warm.wall), 100*warm.wall.Seconds()/full.wall.Seconds())
	fmt.Printf("\nFull runs: %s, %s, %s; chart repository requests of each: %d archives + %d index, %d + %d, %d + %d.\n",
		s(fulls[0].wall), s(fulls[1].wall), s(fulls[2].wall), fulls[0].archives, fulls[0].indexes, fulls[1].archives, fulls[1].indexes, fulls[2].archives, fulls[2].indexes)
	if warm.archives != 0 || warm.indexes != 0 {
		return fmt.Errorf("the warm run made %d archive and %d index requests, want none", warm.archives, warm.indexes)
	}
	return nil
}

// helmLoop does what an Argo CD repo server does for each Application, for
// the first n clusters, as a script: each chart pulled once (the repo
// server caches archives too), then per Application `helm template` of
// the unpacked chart with the flags Argo CD passes
// (reposerver/repository.helmTemplate: --name-template, --namespace,
// --kube-version, --values, --include-crds) into a worktree, one commit
// per cluster branch. It returns the pulls' time and the clusters' time.
func helmLoop(work, fleetDir, helm string, repo *benchfleet.ChartRepo, n, nCharts int) (pull, clusters time.Duration, err error) {
	dir := filepath.Join(work, "helm-loop")
	home := filepath.Join(work, "helm-home")
	env := append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data", "HELM_NAMESPACE=",
		"GIT_AUTHOR_NAME=loop", "GIT_AUTHOR_EMAIL=l@example.com", "GIT_COMMITTER_NAME=loop", "GIT_COMMITTER_EMAIL=l@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	script := func(text string) (time.Duration, error) {
		cmd := exec.Command("bash", "-c", "set -e\ncd "+dir+"\n"+text)
		cmd.Env = env
		syscall.Sync()
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("helm loop: %v\n%s", err, out)
		}
		return time.Since(start), nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		return 0, 0, err
	}
	var pulls strings.Builder
	for c := range nCharts {
		fmt.Fprintf(&pulls, "%s pull %s --repo %s --version %s --ca-file %s --untar --untardir charts\n", helm, benchfleet.Chart(c), repo.URL, benchfleet.ChartVersion, repo.CAFile)
	}
	if pull, err = script(pulls.String()); err != nil {
		return 0, 0, err
	}
	var loop strings.Builder
	fmt.Fprintf(&loop, "cd out\ngit init -q -b main .\ngit commit -q --allow-empty -m init\n")
	for i := range n {
		cluster := benchfleet.Cluster(i)
		fmt.Fprintf(&loop, "git checkout -q -B hydrated/%s-next main\n", cluster)
		for c := range nCharts {
			chart := benchfleet.Chart(c)
			app := chart + "-" + cluster
			fmt.Fprintf(&loop, "mkdir -p %s && %s template ../charts/%s --name-template %s --namespace %s --kube-version %s --values %s --include-crds > %s/manifest.yaml\n",
				app, helm, chart, chart, chart, benchfleet.KubeVersionOf(i), filepath.Join(fleetDir, "values", chart, benchfleet.TierOf(i)+".yaml"), app)
		}
		fmt.Fprintf(&loop, "git add -A && git commit -q -m 'hydrate %s'\n", cluster)
	}
	clusters, err = script(loop.String())
	return pull, clusters, err
}

// sameOutput compares each manifest the loop wrote for the first n
// clusters with Flotilla's on the remote's branch, after the changes
// Flotilla documents (destination namespace on namespaced objects
// without one, the managed-by label, the flotilla.dev/app annotation),
// and returns how many it compared.
func sameOutput(loopRepo, remote string, n, nCharts int) (int, error) {
	show := func(repo, branch, app string) ([]*unstructured.Unstructured, error) {
		out, err := exec.Command("git", "-C", repo, "show", branch+":"+app+"/manifest.yaml").Output()
		if err != nil {
			return nil, fmt.Errorf("git show %s:%s/manifest.yaml in %s: %v", branch, app, repo, err)
		}
		return render.Decode(app, out)
	}
	byID := func(objs []*unstructured.Unstructured) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, o := range objs {
			m[order.ID(o)] = o.Object
		}
		return m
	}
	checked := 0
	for i := range n {
		branch := "hydrated/" + benchfleet.Cluster(i) + "-next"
		for c := range nCharts {
			chart := benchfleet.Chart(c)
			app := chart + "-" + benchfleet.Cluster(i)
			want, err := show(loopRepo, branch, app)
			if err != nil {
				return 0, err
			}
			got, err := show(remote, branch, app)
			if err != nil {
				return 0, err
			}
			scope := render.Scopes(want)
			for _, o := range want {
				if ns, known := scope(o.GroupVersionKind().GroupKind()); ns && known && o.GetNamespace() == "" {
					o.SetNamespace(chart)
				}
				labels := o.GetLabels()
				if labels == nil {
					labels = map[string]string{}
				}
				labels[render.ManagedByLabel] = render.ManagedByValue
				o.SetLabels(labels)
				annotations := o.GetAnnotations()
				if annotations == nil {
					annotations = map[string]string{}
				}
				annotations[render.AppAnnotation] = app
				o.SetAnnotations(annotations)
			}
			if !reflect.DeepEqual(byID(want), byID(got)) {
				return 0, fmt.Errorf("%s: Flotilla's manifest differs from helm template's (BENCH_KEEP=1 keeps both)", app)
			}
			checked++
		}
	}
	return checked, nil
}
