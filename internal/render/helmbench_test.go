package render

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// BenchmarkHelmFleet renders 200 clusters × 10 charts whose values differ
// per cluster label (4 tiers) with one Builder, as a Flotilla run does,
// and reports it against a loop running `helm template` per Application
// (what an Argo CD repo server does), timed on a sample of 20 and scaled
// to the fleet. FLOTILLA_BIN must hold helm for the comparison.
//
//	go test ./internal/render -run XXX -bench HelmFleet -benchtime 3x
func BenchmarkHelmFleet(b *testing.B) {
	const clusters, charts, tiers = 200, 10, 4
	files := map[string]string{}
	for c := range charts {
		for p, text := range chartFiles() {
			if rel, ok := cut(p, "charts/web/"); ok {
				files[fmt.Sprintf("charts/c%d/%s", c, rel)] = text
			}
		}
		for tier := range tiers {
			files[fmt.Sprintf("charts/c%d/values-t%d.yaml", c, tier)] = fmt.Sprintf("replicas: %d\nimage: nginx-t%d\n", tier+1, tier)
		}
	}
	dir := gittest.Files(b, files)
	apps := make([]*fleet.Application, 0, clusters*charts)
	for cl := range clusters {
		for c := range charts {
			a := helmApp(fmt.Sprintf("c%d-cluster-%d", c, cl), "ns", &fleet.ApplicationSourceHelm{
				ReleaseName: fmt.Sprintf("c%d", c), ValueFiles: []string{fmt.Sprintf("values-t%d.yaml", cl%tiers)}})
			a.Spec.Source.Path = fmt.Sprintf("charts/c%d", c)
			apps = append(apps, a)
		}
	}
	var perRun time.Duration
	for b.Loop() {
		start := time.Now()
		bld := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
		for _, a := range apps {
			if _, err := bld.Render(b.Context(), a); err != nil {
				b.Fatal(err)
			}
		}
		perRun = time.Since(start)
		b.ReportMetric(float64(bld.Builds()), "builds")
	}
	b.ReportMetric(perRun.Seconds(), "flotilla-s")
	helm := filepath.Join(os.Getenv("FLOTILLA_BIN"), "helm")
	if _, err := os.Stat(helm); os.Getenv("FLOTILLA_BIN") == "" || err != nil {
		b.Log("no FLOTILLA_BIN/helm: no comparison")
		return
	}
	const sample = 20
	start := time.Now()
	for i := range sample {
		a := apps[i*len(apps)/sample]
		cmd := exec.Command(helm, "template", filepath.Join(dir, a.Spec.Source.Path), "--name-template", a.Spec.Source.Helm.ReleaseName,
			"--namespace", "ns", "--values", filepath.Join(dir, a.Spec.Source.Path, a.Spec.Source.Helm.ValueFiles[0]), "--include-crds")
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+b.TempDir(), "HELM_CONFIG_HOME="+b.TempDir(), "HELM_DATA_HOME="+b.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("helm template: %v: %s", err, out)
		}
	}
	loop := time.Since(start) * time.Duration(len(apps)) / sample
	b.ReportMetric(loop.Seconds(), "helm-loop-s")
	b.ReportMetric(loop.Seconds()/perRun.Seconds(), "speedup")
}

func cut(s, prefix string) (string, bool) {
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}
