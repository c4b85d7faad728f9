package kube

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// deployment is a one-replica Deployment; stuck makes its Pod never
// schedule, so it never becomes available.
func deployment(ns, name, annotations string, stuck bool) string {
	sel := ""
	if stuck {
		sel = "nodeSelector: {nowhere: \"true\"}, "
	}
	return fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s, annotations: {%[3]s}}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec: {%[4]scontainers: [{name: c, image: nginx}]}
`, ns, name, annotations, sel)
}

// TestWavesWaitForHealth: a wave starts only when the one before is
// healthy: a Deployment that becomes available lets the next wave go; one
// that never does stops the sync at the app's timeout with a message
// naming it, and the later wave is never applied, nor is anything pruned.
func TestWavesWaitForHealth(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "waves"
	v1 := App{Name: n, Prune: true, Objects: objs(t, ns(n)+cm(n, "old", "1"))}
	mustApply(t, c, v1, Options{})

	ok := App{Name: n, Prune: true, Objects: objs(t, ns(n)+cm(n, "old", "1")+deployment(n, "db", "argocd.argoproj.io/sync-wave: \"0\"", false)+
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-db, namespace: waves, annotations: {argocd.argoproj.io/sync-wave: \"1\"}}\n")}
	mustApply(t, c, ok, Options{SyncTimeout: time.Minute})
	d, _ := get(t, c, deployGVR, n, "db")
	after, _ := get(t, c, cmGVR, n, "after-db")
	if h, msg := HealthOf(d); h != Healthy {
		t.Errorf("wave 1 applied while wave 0 was %s: %s", h, msg)
	}
	if after.GetCreationTimestamp().Time.Before(d.GetCreationTimestamp().Time) {
		t.Error("wave 1 was created before wave 0")
	}

	stuck := App{Name: n, Prune: true, Objects: objs(t, ns(n)+deployment(n, "stuck", "argocd.argoproj.io/sync-wave: \"-1\"", true)+
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: never, namespace: waves}\n")}
	_, err := c.Apply(t.Context(), stuck, Options{SyncTimeout: 3 * time.Second})
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "phase Sync, wave -1: after 3s (the app's sync timeout; raise it with --timeout) still not healthy: Deployment/waves/stuck (Progressing: ") {
		t.Fatalf("err = %v, want a timeout naming the Deployment", err)
	}
	if _, ok := get(t, c, cmGVR, n, "never"); ok {
		t.Error("a later wave was applied after a wave never became healthy")
	}
	if _, ok := get(t, c, cmGVR, n, "old"); !ok {
		t.Error("prune ran after a failed wave")
	}
}

// TestPruneLast: with PruneLast=true prune waits until the last wave is
// healthy (and does not happen when it never is); without it, prune
// follows the apply at once.
func TestPruneLast(t *testing.T) {
	t.Parallel()
	c := client(t)
	const n = "prunelast"
	v1 := App{Name: n, Prune: true, Objects: objs(t, ns(n)+cm(n, "old", "1")+cm(n, "keep", "1"))}
	mustApply(t, c, v1, Options{})
	v2 := App{Name: n, Prune: true, SyncOptions: []string{"PruneLast=true"}, Objects: objs(t, ns(n)+cm(n, "keep", "1")+deployment(n, "stuck", "", true))}
	_, err := c.Apply(t.Context(), v2, Options{SyncTimeout: 2 * time.Second})
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "Deployment/prunelast/stuck") {
		t.Fatalf("PruneLast: %v, want the unhealthy Deployment", err)
	}
	if _, ok := get(t, c, cmGVR, n, "old"); !ok {
		t.Error("PruneLast pruned before the app was healthy")
	}
	v2.SyncOptions = nil
	res := mustApply(t, c, v2, Options{SyncTimeout: 2 * time.Second})
	if actions(res)["ConfigMap/prunelast/old"] != Deleted {
		t.Errorf("without PruneLast: %+v", res.Objects)
	}
}

// TestWaveHealthReadsByList: between waves, the objects of a resource and
// namespace are read with one LIST of the app's ApplySet per poll, not one
// GET each, and what that LIST shows decides as a GET would: ConfigMaps
// are healthy at once; two Deployments that never become available stop
// the sync at the app's timeout, both named, and the next wave is never
// applied.
func TestWaveHealthReadsByList(t *testing.T) {
	t.Parallel()
	const n = "wave-list"
	wave := func(w int) string { return fmt.Sprintf("argocd.argoproj.io/sync-wave: \"%d\"", w) }
	var gets atomic.Int64
	cfg := rest.CopyConfig(cluster(t).Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && (strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/"+n+"/configmaps/") ||
				strings.HasPrefix(r.URL.Path, "/apis/apps/v1/namespaces/"+n+"/deployments/")) {
				gets.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	yaml := ns(n)
	for i := range 6 {
		yaml += cm(n, fmt.Sprintf("w0-%d", i), "v") // wave 0
	}
	yaml += "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: w1, namespace: wave-list, annotations: {" + wave(1) + "}}\n"
	mustApply(t, c, App{Name: n, Objects: objs(t, yaml)}, Options{SyncTimeout: time.Minute})
	if got := gets.Load(); got != 0 {
		t.Errorf("%d GETs of single objects in a first apply with two waves, want none", got)
	}

	gets.Store(0)
	stuck := yaml + deployment(n, "stuck-a", wave(0), true) + deployment(n, "stuck-b", wave(0), true)
	for _, name := range []string{"never-1", "never-2"} {
		stuck += "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: wave-list, annotations: {" + wave(2) + "}}\n"
	}
	_, err = c.Apply(t.Context(), App{Name: n, Objects: objs(t, stuck)}, Options{SyncTimeout: 2 * time.Second})
	want := "phase Sync, wave 0: after 2s (the app's sync timeout; raise it with --timeout) still not healthy: Deployment/wave-list/stuck-a (Progressing: "
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Deployment/wave-list/stuck-b (Progressing: ") {
		t.Fatalf("err = %v, want a timeout naming both Deployments", err)
	}
	if _, ok := get(t, client(t), cmGVR, n, "never-1"); ok {
		t.Error("a later wave was applied after a wave never became healthy")
	}
	if got := gets.Load(); got != 0 {
		t.Errorf("%d GETs of single objects while waiting for a wave, want none", got)
	}
}
