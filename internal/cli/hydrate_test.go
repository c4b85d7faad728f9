package cli

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	"github.com/flotilla-dev/flotilla/internal/render"
)

var update = flag.Bool("update", false, "rewrite golden files")

const exampleFleet = "../../testdata/fleet"

// exampleHelmBuilds is how many Helm builds a render of the example fleet
// makes: orders one per environment and capabilities (staging; prod-eu;
// prod-us-east and prod-us-west), billing one per cluster (its release
// name is the Application's).
const exampleHelmBuilds = 3 + 5

func renderJSON(t *testing.T, args ...string) (hydrator.Result, int, string) {
	t.Helper()
	code, stdout, stderr := renderCmd(t, append(args, "-o", "json")...)
	var res hydrator.Result
	if code == ExitOK {
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("render -o json: %v\n%s", err, stdout)
		}
		checkCamelCase(t, "render -o json", []byte(stdout))
	}
	return res, code, stderr
}

// readTree reads every file below dir as path -> content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRenderGolden renders the example fleet (committed with a fixed
// identity and date, so its dry SHA is stable) and compares every file of
// every cluster tree with testdata/golden/hydrated. Refresh with -update.
func TestRenderGolden(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	out := t.TempDir()
	res, code, stderr := renderJSON(t, "--fleet", checkout, "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if res.Apps != 46 || len(res.Clusters) != 8 {
		t.Errorf("rendered %d apps for %d clusters, want 46 for 8", res.Apps, len(res.Clusters))
	}
	if res.Builds >= int64(res.Apps) {
		t.Errorf("%d builds for %d apps: identical builds were not shared", res.Builds, res.Apps)
	}
	golden := "../../testdata/golden/hydrated"
	got := readTree(t, out)
	if *update {
		os.RemoveAll(golden)
		for p, c := range got {
			path := filepath.Join(golden, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if diff := cmp.Diff(readTree(t, golden), got); diff != "" {
		t.Errorf("hydrated trees differ from testdata/golden/hydrated (-want +got); run go test ./internal/cli -run TestRenderGolden -update:\n%s", diff)
	}
}

// TestManifestsMatchKubectlKustomize checks every Kustomize app of the
// example fleet against `kubectl kustomize` of its source path plus the
// documented changes: destination namespace on namespaced objects without
// one, the managed-by label and the flotilla.dev/app annotation.
func TestManifestsMatchKubectlKustomize(t *testing.T) {
	t.Parallel()
	kubectl := kubetest.Tool(t, "kubectl")
	checkout, _ := gittest.Fleet(t, exampleFleet)
	out := t.TempDir()
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--out", out); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	f, err := fleet.Load(checkout)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := generate(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	clusterOf := map[string]string{}
	for _, c := range f.Clusters {
		clusterOf[c.Server] = c.Name
	}
	checked := 0
	for _, g := range apps {
		src := g.App.Spec.Source
		if src == nil {
			continue // multi-source: the example fleet's is a Helm chart (TestHelmAppsMatchHelmTemplate)
		}
		dir := filepath.Join(checkout, src.Path)
		if src.Kustomize != nil {
			continue // options need kustomize edit; covered by the render package tests
		}
		if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
			continue
		}
		ref, err := exec.Command(kubectl, "kustomize", dir).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", src.Path, err)
		}
		want, err := render.Decode("kubectl", ref)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range want {
			if o.GetNamespace() == "" && o.GetKind() != "Namespace" && !strings.HasPrefix(o.GetKind(), "Cluster") {
				o.SetNamespace(g.App.Spec.Destination.Namespace)
			}
			labels := o.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels["app.kubernetes.io/managed-by"] = "flotilla"
			o.SetLabels(labels)
			o.SetAnnotations(mergeStrings(o.GetAnnotations(), map[string]string{"flotilla.dev/app": g.App.Metadata.Name}))
		}
		manifest, err := os.ReadFile(filepath.Join(out, clusterOf[g.App.Spec.Destination.Server], g.App.Metadata.Name, "manifest.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := render.Decode("manifest.yaml", manifest)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(byID(want), byID(got)); diff != "" {
			t.Errorf("%s differs from kubectl kustomize %s (-want +got):\n%s", g.App.Metadata.Name, src.Path, diff)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("checked %d apps, want the 17 services and storefront apps at least", checked)
	}
}

func mergeStrings(a, b map[string]string) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

func byID(objs []*unstructured.Unstructured) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range objs {
		out[order.ID(o)] = o.Object
	}
	return out
}

// TestRenderPushIsIdempotent pushes the branches, then renders again: the
// second run makes no commit and the remote does not move.
func TestRenderPushIsIdempotent(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, exampleFleet)
	first, code, stderr := renderJSON(t, "--fleet", checkout)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	before := gittest.Refs(t, origin, "refs/heads/hydrated")
	if n := strings.Count(before, "\n") + 1; n != 8 {
		t.Fatalf("%d hydrated branches on the remote, want 8:\n%s", n, before)
	}
	for _, c := range first.Clusters {
		if !c.Updated || c.New == "" {
			t.Errorf("first run: %s not updated", c.Branch)
		}
	}
	second, code, stderr := renderJSON(t, "--fleet", checkout)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Every build but policies/ (a plain directory) and the 8 Helm builds
	// (orders' 3 and billing's 5), which are not kept across runs.
	if first.CachedBuilds != 0 || second.CachedBuilds != second.Builds-1-exampleHelmBuilds {
		t.Errorf("builds reused: first run %d of %d, second %d of %d; want none, then all Kustomize builds",
			first.CachedBuilds, first.Builds, second.CachedBuilds, second.Builds)
	}
	for _, c := range second.Clusters {
		if c.Updated {
			t.Errorf("second run committed to %s", c.Branch)
		}
	}
	if after := gittest.Refs(t, origin, "refs/heads/hydrated"); after != before {
		t.Errorf("the remote moved on a run with nothing to do:\n%s\n->\n%s", before, after)
	}
	// Every object on both sides reads back to its name (manifests that
	// share their YAML travel as deltas of one another).
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")
	gittest.Git(t, checkout, "fsck", "--strict", "--no-dangling")
	// The commit carries the dry commit and the app count as trailers.
	msg := gittest.Git(t, origin, "log", "-1", "--format=%an|%s|%(trailers:key=Flotilla-Apps,valueonly)", "hydrated/prod-eu-next")
	sha := gittest.Git(t, checkout, "rev-parse", "--short=12", "HEAD")
	if want := "flotilla[bot]|hydrate prod-eu: " + sha + " fleet|8"; msg != want {
		t.Errorf("commit = %q, want %q", msg, want)
	}
}

// TestRenderBuildCacheGivesTheSameTrees renders the example fleet into
// --out directories: a run that reuses every build writes byte-identical
// trees to one without the cache. (Every build but policies/, a plain
// directory, and the Helm builds is a Kustomize build and reused.)
func TestRenderBuildCacheGivesTheSameTrees(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	trees := map[string]map[string]string{}
	for _, run := range []struct {
		name   string
		args   []string
		reused bool
	}{
		{"cold", nil, false},
		{"warm", nil, true},
		{"uncached", []string{"--no-build-cache"}, false},
	} {
		out := t.TempDir()
		res, code, stderr := renderJSON(t, append([]string{"--fleet", checkout, "--out", out}, run.args...)...)
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", run.name, code, stderr)
		}
		if reused := res.CachedBuilds > 0; reused != run.reused || (run.reused && res.CachedBuilds != res.Builds-1-exampleHelmBuilds) {
			t.Errorf("%s: %d of %d builds reused", run.name, res.CachedBuilds, res.Builds)
		}
		trees[run.name] = readTree(t, out)
	}
	if diff := cmp.Diff(trees["uncached"], trees["warm"]); diff != "" {
		t.Errorf("trees from reused builds differ (-uncached +warm):\n%s", diff)
	}
	if diff := cmp.Diff(trees["uncached"], trees["cold"]); diff != "" {
		t.Errorf("trees of the recording run differ (-uncached +cold):\n%s", diff)
	}
}

// TestRenderRemovedAppDisappears removes a service from the fleet: its
// apps vanish from every branch, reported as removed.
func TestRenderRemovedAppDisappears(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, exampleFleet)
	if _, code, stderr := renderJSON(t, "--fleet", checkout); code != ExitOK {
		t.Fatal(stderr)
	}
	if err := os.RemoveAll(filepath.Join(checkout, "services/payment-service")); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "retire payment-service")
	res, code, stderr := renderJSON(t, "--fleet", checkout)
	if code != ExitOK {
		t.Fatal(stderr)
	}
	var removed []string
	for _, c := range res.Clusters {
		removed = append(removed, c.Change.Removed...)
		if len(c.Change.Added)+len(c.Change.Changed) > 0 {
			t.Errorf("%s: unexpected changes %+v", c.Branch, c.Change)
		}
	}
	slices.Sort(removed)
	want := []string{"payment-service-prod-eu", "payment-service-prod-us-east", "payment-service-prod-us-west", "payment-service-staging-eu", "payment-service-staging-us"}
	if diff := cmp.Diff(want, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	files := gittest.Git(t, origin, "ls-tree", "-r", "--name-only", "hydrated/prod-eu-next")
	if strings.Contains(files, "payment-service") {
		t.Errorf("payment-service is still on the branch:\n%s", files)
	}
	if !strings.Contains(files, "api-gateway-prod-eu/manifest.yaml") {
		t.Errorf("the other apps are gone too:\n%s", files)
	}
}

// TestRenderNeverGoesBackInTime renders a newer dry commit, then runs an
// older checkout (a slow CI run): the branches the newer run changed are
// kept, whether the older checkout knows the newer commit or, shallow, has
// to fetch the history to find out.
func TestRenderNeverGoesBackInTime(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, exampleFleet)
	base := filepath.Dir(checkout)
	old := gittest.Git(t, checkout, "rev-parse", "HEAD")
	// Two older checkouts at the first commit: a full clone and a shallow one.
	full, shallow := filepath.Join(base, "full"), filepath.Join(base, "shallow")
	gittest.Clone(t, full, origin)
	gittest.Clone(t, shallow, "--depth=1", "file://"+origin)

	overlay := filepath.Join(checkout, "services/api-gateway/overlays/production/kustomization.yaml")
	b, _ := os.ReadFile(overlay)
	os.WriteFile(overlay, []byte(strings.Replace(string(b), "count: 3", "count: 5", 1)), 0o644)
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "scale api-gateway")
	gittest.Git(t, checkout, "push", "-q", "origin", "main")
	if _, code, stderr := renderJSON(t, "--fleet", checkout); code != ExitOK {
		t.Fatal(stderr)
	}
	gittest.Git(t, full, "fetch", "-q", "origin")
	if got := gittest.Git(t, full, "rev-parse", "HEAD"); got != old {
		t.Fatalf("full clone is at %s, want the older %s", got, old)
	}
	before := gittest.Refs(t, origin, "refs/heads/hydrated")
	for _, older := range []string{full, shallow} {
		res, code, stderr := renderJSON(t, "--fleet", older)
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", older, code, stderr)
		}
		kept := 0
		for _, c := range res.Clusters {
			if c.Updated {
				t.Errorf("%s: older render overwrote %s", filepath.Base(older), c.Branch)
			}
			if c.Kept != "" {
				kept++
			}
		}
		if kept != 3 {
			t.Errorf("%s: %d branches kept, want the 3 production clusters: %+v", filepath.Base(older), kept, res.Clusters)
		}
		if after := gittest.Refs(t, origin, "refs/heads/hydrated"); after != before {
			t.Errorf("%s: the remote moved", filepath.Base(older))
		}
	}
	manifest := gittest.Show(t, origin, "hydrated/prod-eu-next", "api-gateway-prod-eu/manifest.yaml")
	if !strings.Contains(manifest, "replicas: 5") {
		t.Errorf("the newer proposal was lost:\n%s", manifest)
	}
}

// TestRenderBadInputWritesNothing: a plain Secret, a path leaving the
// repository, a symbolic link leaving it, and a broken kustomization each
// exit 2 with a message naming the problem, and no branch is pushed.
func TestRenderBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string
	}{
		{"plain secret", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "services/api-gateway/base/secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: aHVudGVyMg==}\n")
			appendFile(t, filepath.Join(dir, "services/api-gateway/base/kustomization.yaml"), "- secret.yaml\n", "- service.yaml\n")
		}, "plain Secret with data: Secret/api-gateway/db would be committed to Git in clear text"},
		{"path leaving the repository", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "applicationsets/security-policies.yaml"), "path: policies", "path: ../../etc")
		}, `path leaves the repository: path "../../etc"`},
		{"symbolic link leaving the repository", func(t *testing.T, dir string) {
			if err := os.Symlink("/etc", filepath.Join(dir, "policies/host")); err != nil {
				t.Fatal(err)
			}
			replaceIn(t, filepath.Join(dir, "applicationsets/security-policies.yaml"), "path: policies", "path: policies/host")
		}, `path "policies/host": path leaves the repository (through a symbolic link)`},
		{"kustomization base leaving the repository", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "apps/storefront/overlays/production/kustomization.yaml"), "- ../../base", "- ../../../../../outside")
		}, `resources "../../../../../outside": path leaves the repository`},
		{"broken kustomization", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "apps/storefront/overlays/production/kustomization.yaml"), "- ../../base", "- ../../missing")
		}, "kustomize build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, origin := gittest.Fleet(t, exampleFleet)
			tt.change(t, checkout)
			gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "break it")
			code, stdout, stderr := renderCmd(t, "--fleet", checkout)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout: %s", stdout)
			}
			if !strings.Contains(stderr, tt.want) || !strings.HasPrefix(stderr, "render: applicationsets/") {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr)
			}
			if refs := gittest.Git(t, origin, "for-each-ref", "refs/heads/hydrated"); refs != "" {
				t.Errorf("branches were pushed:\n%s", refs)
			}
			if refs := gittest.Git(t, checkout, "for-each-ref", "refs/heads/hydrated"); refs != "" {
				t.Errorf("local branches were made:\n%s", refs)
			}
		})
	}
}

func TestRenderAllowSecretsPolicy(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	writeFile(t, filepath.Join(checkout, "services/api-gateway/base/secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: aHVudGVyMg==}\n")
	appendFile(t, filepath.Join(checkout, "services/api-gateway/base/kustomization.yaml"), "- secret.yaml\n", "- service.yaml\n")
	appendFile(t, filepath.Join(checkout, "flotilla.yaml"), "", "")
	replaceIn(t, filepath.Join(checkout, "flotilla.yaml"), "allowSecrets: false", "allowSecrets: true")
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--out", t.TempDir()); code != ExitOK {
		t.Fatalf("with policy.allowSecrets the Secret must pass: %s", stderr)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// appendFile inserts text after the line anchor (or appends it).
func appendFile(t *testing.T, path, text, anchor string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if anchor != "" && strings.Contains(s, anchor) {
		s = strings.Replace(s, anchor, anchor+text, 1)
	} else {
		s += text
	}
	writeFile(t, path, s)
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

// TestRenderPushFailureFails: a remote that cannot be reached fails the
// run with the remote named, and nothing is committed anywhere.
func TestRenderPushFailureFails(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, exampleFleet)
	missing := filepath.Join(t.TempDir(), "missing.git")
	before := gittest.Git(t, checkout, "for-each-ref")
	_, code, stderr := renderJSON(t, "--fleet", checkout, "--remote", missing)
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitFailed, stderr)
	}
	if !strings.Contains(stderr, missing) {
		t.Errorf("stderr does not name the remote:\n%s", stderr)
	}
	if after := gittest.Git(t, checkout, "for-each-ref"); after != before {
		t.Errorf("refs of the checkout changed:\n%s\n->\n%s", before, after)
	}
	if refs := gittest.Refs(t, origin, "refs/heads/hydrated"); refs != "" {
		t.Errorf("origin got branches:\n%s", refs)
	}
}

// TestRenderRemoteFailureExits3: a remote that cannot be reached (a
// network error) and a remote that refuses the push (its hook) are
// remote failures: exit 3, run again; the error names the remote, and
// nothing is pushed. A lost race after the retries is exit 3 too (see
// hydrate's TestPublishLostRaceLeavesTrackingRefsAtTheRemote).
func TestRenderRemoteFailureExits3(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		checkout, _ := gittest.Fleet(t, exampleFleet)
		remote := "http://127.0.0.1:1/x.git"
		_, code, stderr := renderJSON(t, "--fleet", checkout, "--remote", remote)
		if code != ExitRemote || !strings.Contains(stderr, remote) {
			t.Fatalf("exit %d, want %d naming %s; stderr:\n%s", code, ExitRemote, remote, stderr)
		}
		if n := strings.Count(stderr, "read the hydrated branches"); n != 1 {
			t.Errorf("the error says what failed %d times, want once:\n%s", n, stderr)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		checkout, origin := gittest.Fleet(t, exampleFleet)
		hook := "#!/bin/sh\necho 'GH006: Protected branch update failed.' >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(origin, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
			t.Fatal(err)
		}
		_, code, stderr := renderJSON(t, "--fleet", checkout)
		if code != ExitRemote || !strings.Contains(stderr, "push to "+origin+" refused") || !strings.Contains(stderr, "remote: GH006") {
			t.Fatalf("exit %d, want %d with the remote's refusal; stderr:\n%s", code, ExitRemote, stderr)
		}
		if refs := gittest.Refs(t, origin, "refs/heads/hydrated"); refs != "" {
			t.Errorf("origin got branches:\n%s", refs)
		}
	})
}
