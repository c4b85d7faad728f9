package applier

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// target is a repository whose branch live/c1 holds two apps, a bad one
// (its manifest does not decode) when bad is set, and a kubeconfig whose
// context c1 points at a port nothing listens on.
func target(t *testing.T, bad bool) Target {
	t.Helper()
	files := map[string]string{
		"a/manifest.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: a}\n",
		"b/manifest.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: b}\n",
	}
	if bad {
		files["b/manifest.yaml"] = "kind: [\n"
	}
	repo := gittest.Files(t, files)
	gittest.Git(t, repo, "init", "-q", "-b", "live/c1")
	gittest.Git(t, repo, "add", "-A")
	gittest.Commit(t, repo, "2026-01-01T00:00:00Z", "hydrate")
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c1, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c1, context: {cluster: c1, user: u}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return Target{Source: repo, Layout: layout.Layout{Live: "live/{{cluster}}"}, Kubeconfig: kc}
}

// TestRunResultsAsData: Run reports every app and cluster as data, in
// order, through the callbacks as they come: the apps fail as Remote
// (nothing listens), a missing cluster's branch is Input and does not stop
// the next cluster.
func TestRunResultsAsData(t *testing.T) {
	t.Parallel()
	var events []string
	o := Options{Target: target(t, false), Clusters: []string{"c1", "c2"}, Concurrency: 1, Timeout: time.Minute, Tooling: "flotilla/test"}
	o.Progress.App = func(cluster string, a *App) { events = append(events, cluster+"/"+a.Result.App) }
	o.Progress.Cluster = func(c *Cluster) { events = append(events, c.Name+" done") }
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(events, ", "); got != "c1/a, c1/b, c1 done, c2 done" {
		t.Errorf("progress: %s", got)
	}
	c1, c2 := res.Clusters[0], res.Clusters[1]
	if !c1.Opened || c1.Branch != "live/c1" || len(c1.Apps) != 2 || !failure.Is(c1.Err, failure.Remote) {
		t.Errorf("c1: %+v", c1)
	}
	for _, a := range c1.Apps {
		if !failure.Is(a.Err, failure.Remote) || a.Result.Error != a.Err.Error() {
			t.Errorf("app %s: %v (%q)", a.Result.App, a.Err, a.Result.Error)
		}
	}
	if c2.Opened || !errors.Is(c2.Err, hydrate.ErrNoBranch) || !failure.Is(c2.Err, failure.Input) {
		t.Errorf("c2: %+v", c2)
	}
	if failure.ExitCode(res.Err()) != failure.ExitRemote {
		t.Errorf("exit code of %v: %d", res.Err(), failure.ExitCode(res.Err()))
	}
}

// TestRunBadAppIsInput: an app whose hydrated manifest does not decode
// stops its cluster as Input, after the apps before it.
func TestRunBadAppIsInput(t *testing.T) {
	t.Parallel()
	o := Options{Target: target(t, true), Clusters: []string{"c1"}, Concurrency: 1, Timeout: time.Minute}
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Clusters[0]
	if len(c.Apps) != 1 || !failure.Is(c.Err, failure.Input) || !strings.Contains(c.Err.Error(), "b/manifest.yaml") {
		t.Errorf("cluster: %d apps, %v", len(c.Apps), c.Err)
	}
	// The run's error is the worst: app a's unreachable server (3)
	// outranks the bad input (2).
	if failure.ExitCode(res.Err()) != failure.ExitRemote {
		t.Errorf("exit code of %v", res.Err())
	}
}

// TestRunRefusesOptions: options that cannot run are usage errors, before
// anything is read.
func TestRunRefusesOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Target: Target{Apps: []string{"a"}}, PruneRemoved: true, Concurrency: 1, Timeout: time.Second},
		{Concurrency: 0, Timeout: time.Second},
		{Concurrency: 1},
	} {
		if res, err := Run(t.Context(), o); res != nil || !failure.Is(err, failure.Usage) {
			t.Errorf("%+v: %v %v", o, res, err)
		}
	}
}
