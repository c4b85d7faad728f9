package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
)

// aoaApp is a plain Application document: name, built from path of the
// fleet repository, for the cluster named dest.
func aoaApp(name, path, dest string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %s
spec:
  project: default
  source:
    repoURL: https://example.com/fleet.git
    path: %s
  destination:
    name: %s
    namespace: %s
`, name, path, dest, name)
}

// aoaConfigMap is a ConfigMap named name.
func aoaConfigMap(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {k: v}\n", name)
}

// aoaFleet is a fleet of two clusters (dev, prod-eu) with the web
// ApplicationSet (web-dev, web-prod-eu, built from web/), plus files.
func aoaFleet(t *testing.T, files map[string]string) string {
	t.Helper()
	all := map[string]string{
		"flotilla.yaml":            "repos:\n  https://example.com/fleet.git: .\n",
		"clusters/clusters.yaml":   testClusters,
		"applicationsets/web.yaml": testAppSet,
		"web/configmap.yaml":       parityConfigMap,
	}
	for k, v := range files {
		if v == "" {
			delete(all, k)
			continue
		}
		all[k] = v
	}
	return gittest.Files(t, all)
}

// renderOut renders the fleet to a new --out folder and returns the apps
// of each cluster (cluster/app) with their manifests.
func renderOut(t *testing.T, fleetDir string, args ...string) (map[string]string, int, string) {
	t.Helper()
	out := t.TempDir()
	code, _, stderr := renderCmd(t, append([]string{"--fleet", fleetDir, "--out", out}, args...)...)
	got := map[string]string{}
	for p, content := range readTree(t, out) {
		if dir, ok := strings.CutSuffix(p, "/manifest.yaml"); ok {
			got[dir] = content
		}
	}
	return got, code, stderr
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRenderPlainApplication: an Application document in a file the
// default applicationSets globs match is rendered like a generated one
// (it used to be refused as "not an ApplicationSet"); one whose project
// does not exist or whose destination is not in the inventory is Argo
// CD's InvalidSpecError, naming the file and line.
func TestRenderPlainApplication(t *testing.T) {
	t.Parallel()
	dir := aoaFleet(t, map[string]string{
		"applicationsets/db.yaml": aoaApp("db", "db", "dev"),
		"db/cm.yaml":              aoaConfigMap("db-config"),
	})
	got, code, stderr := renderOut(t, dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := []string{"dev/db", "dev/web-dev", "prod-eu/web-prod-eu"}; !cmp.Equal(keys(got), want) {
		t.Fatalf("apps %v, want %v", keys(got), want)
	}
	if m := got["dev/db"]; !strings.Contains(m, "name: db-config") || !strings.Contains(m, "namespace: db") {
		t.Errorf("dev/db manifest:\n%s", m)
	}

	for _, tt := range []struct{ name, doc, config, want string }{
		{"unknown cluster", aoaApp("db", "db", "nowhere"), "",
			`render: applicationsets/db.yaml:1: Application "db" is invalid (InvalidSpecError): application destination spec is invalid: unknown destination cluster: there are no clusters with this name: nowhere (known: dev, prod-eu)`},
		{"unknown project", strings.Replace(aoaApp("db", "db", "dev"), "project: default", "project: payments", 1), "argoCD: {projects: [shop]}\n",
			`render: applicationsets/db.yaml:1: Application "db" is invalid (InvalidSpecError): application references project payments which does not exist`},
		{"no source", strings.Replace(aoaApp("db", "db", "dev"), "  source:\n    repoURL: https://example.com/fleet.git\n    path: db\n", "", 1), "",
			`render: applicationsets/db.yaml: application db: InvalidSpecError: spec.source.repoURL and either spec.source.path or spec.source.chart are required`},
		{"CRD required field", strings.Replace(aoaApp("db", "db", "dev"), "  project: default\n", "", 1), "",
			`render: applicationsets/db.yaml:6: Application "db" is invalid: spec.project: Required value`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, origin := parityFleet(t, map[string]string{
				"flotilla.yaml":           "repos:\n  https://example.com/fleet.git: .\n" + tt.config,
				"applicationsets/db.yaml": tt.doc,
				"db/cm.yaml":              aoaConfigMap("db-config"),
			})
			renderRefused(t, checkout, origin, tt.want)
		})
	}
}

// TestRenderApplicationsGlob: applications: in flotilla.yaml names the
// files of plain Applications; a document of another kind there is
// refused naming that glob.
func TestRenderApplicationsGlob(t *testing.T) {
	t.Parallel()
	config := "repos:\n  https://example.com/fleet.git: .\napplications: ['apps/*.yaml']\n"
	dir := aoaFleet(t, map[string]string{
		"flotilla.yaml": config,
		"apps/db.yaml":  aoaApp("db", "db", "prod-eu"),
		"db/cm.yaml":    aoaConfigMap("db-config"),
	})
	got, code, stderr := renderOut(t, dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, ok := got["prod-eu/db"]; !ok {
		t.Fatalf("apps %v: no prod-eu/db", keys(got))
	}
	// Only plain Applications: the ApplicationSets may go.
	dir = aoaFleet(t, map[string]string{"flotilla.yaml": config, "applicationsets/web.yaml": "", "apps/db.yaml": aoaApp("db", "db", "prod-eu"), "db/cm.yaml": aoaConfigMap("db-config")})
	if got, code, stderr := renderOut(t, dir); code != ExitOK || len(got) != 1 {
		t.Fatalf("no ApplicationSet: exit %d, apps %v: %s", code, keys(got), stderr)
	}

	checkout, origin := parityFleet(t, map[string]string{
		"flotilla.yaml":           config,
		"apps/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [db.yaml]\n",
	})
	renderRefused(t, checkout, origin, `render: apps/kustomization.yaml:1: Kustomization "" is not an ApplicationSet: the file matches "apps/*.yaml" of applications in flotilla.yaml, whose files must hold only ApplicationSet, Application or AppProject documents`)
}

// TestRenderDuplicateApplicationName: a plain Application named like one
// an ApplicationSet generates is refused naming both files.
func TestRenderDuplicateApplicationName(t *testing.T) {
	t.Parallel()
	checkout, origin := parityFleet(t, map[string]string{"applicationsets/dup.yaml": aoaApp("web-dev", "web", "dev")})
	renderRefused(t, checkout, origin, `render: applicationsets/dup.yaml:1: duplicate Application name "web-dev": defined at applicationsets/dup.yaml:1 and generated by ApplicationSet "web" (applicationsets/web.yaml)`)
	checkout, origin = parityFleet(t, map[string]string{"applicationsets/a.yaml": aoaApp("db", "web", "dev"), "applicationsets/b.yaml": aoaApp("db", "web", "dev")})
	renderRefused(t, checkout, origin, `render: applicationsets/b.yaml:1: Application "db" is defined twice (also at applicationsets/a.yaml:1)`)
}

// kidsAppSet generates kid-<cluster> for every cluster, built from web.
const kidsAppSet = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: kids}
spec:
  generators:
  - clusters: {}
  template:
    metadata: {name: "kid-{{name}}"}
    spec:
      project: default
      source: {repoURL: https://EXAMPLE.com/fleet, path: web}
      destination: {server: "{{server}}", namespace: kids}
`

// twoLevels is an app of apps: root (a plain Application on dev) renders
// a ConfigMap and the Application mid (dev); mid renders the Application
// leaf (prod-eu) and the ApplicationSet kids, whose source spells the
// repository another way (the repos: mapping resolves it).
func twoLevels(t *testing.T, config string) string {
	t.Helper()
	return aoaFleet(t, map[string]string{
		"flotilla.yaml":             "repos:\n  https://example.com/fleet.git: .\n" + config,
		"applicationsets/root.yaml": aoaApp("root", "aoa/root", "dev"),
		"aoa/root/apps.yaml":        aoaConfigMap("root-config") + "---\n" + aoaApp("mid", "aoa/mid", "dev"),
		"aoa/mid/apps.yaml":         aoaApp("leaf", "web", "prod-eu") + "---\n" + kidsAppSet,
	})
}

// TestRenderAppOfApps: the children of an app of apps, two levels deep,
// Applications and an ApplicationSet's, are rendered on their own
// clusters; the parents' outputs lose the child objects unless
// appOfApps.keepChildren.
func TestRenderAppOfApps(t *testing.T) {
	t.Parallel()
	got, code, stderr := renderOut(t, twoLevels(t, ""))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"dev/kid-dev", "dev/mid", "dev/root", "dev/web-dev", "prod-eu/kid-prod-eu", "prod-eu/leaf", "prod-eu/web-prod-eu"}
	if diff := cmp.Diff(want, keys(got)); diff != "" {
		t.Fatalf("apps (-want +got):\n%s", diff)
	}
	if m := got["prod-eu/kid-prod-eu"]; !strings.Contains(m, "name: web") || !strings.Contains(m, "namespace: kids") {
		t.Errorf("kid-prod-eu:\n%s", m)
	}
	if m := got["dev/root"]; !strings.Contains(m, "name: root-config") || strings.Contains(m, "kind: Application") {
		t.Errorf("root keeps its ConfigMap and drops the child Application:\n%s", m)
	}
	if m := got["dev/mid"]; m != "" {
		t.Errorf("mid renders only children, so nothing of its own:\n%s", m)
	}

	got, code, stderr = renderOut(t, twoLevels(t, "appOfApps: {keepChildren: true}\n"))
	if code != ExitOK {
		t.Fatalf("keepChildren: exit %d: %s", code, stderr)
	}
	if m := got["dev/root"]; !strings.Contains(m, "kind: Application\n") || !strings.Contains(m, "name: mid") {
		t.Errorf("keepChildren: root drops its child:\n%s", m)
	}
	if m := got["dev/mid"]; !strings.Contains(m, "kind: ApplicationSet") || !strings.Contains(m, "name: leaf") {
		t.Errorf("keepChildren: mid drops its children:\n%s", m)
	}
	if len(got) != len(want) {
		t.Errorf("keepChildren: apps %v", keys(got))
	}
}

// TestRenderAppOfAppsListApps: --list-apps lists the plain Applications
// and the children with their parent; --no-expand builds nothing.
func TestRenderAppOfAppsListApps(t *testing.T) {
	t.Parallel()
	dir := twoLevels(t, "")
	code, stdout, stderr := renderCmd(t, "--fleet", dir, "--list-apps")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			rows = append(rows, strings.Join(f[:3], " "))
		}
	}
	want := []string{"NAME APPLICATIONSET PARENT", "kid-dev kids mid", "kid-prod-eu kids mid", "leaf - mid", "mid - root", "root - -", "web-dev web -", "web-prod-eu web -"}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("--list-apps (-want +got):\n%s\n%s", diff, stdout)
	}
	if !strings.HasSuffix(stdout, "\n7 applications\n") {
		t.Errorf("count:\n%s", stdout)
	}
	code, stdout, stderr = renderCmd(t, "--fleet", dir, "--list-apps", "--no-expand", "-o", "json")
	var apps []struct{ Metadata struct{ Name string } }
	if err := json.Unmarshal([]byte(stdout), &apps); code != ExitOK || err != nil {
		t.Fatalf("--no-expand: exit %d, %v: %s", code, err, stderr)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Metadata.Name)
	}
	if diff := cmp.Diff([]string{"root", "web-dev", "web-prod-eu"}, names); diff != "" {
		t.Errorf("--no-expand (-want +got):\n%s", diff)
	}
}

// chain is a fleet whose plain Application l0 renders l1, which renders
// l2, … down to l<depth>, each on dev.
func chain(t *testing.T, depth int) string {
	t.Helper()
	files := map[string]string{"applicationsets/l0.yaml": aoaApp("l0", "chain/l0", "dev")}
	for i := 0; i <= depth; i++ {
		content := aoaConfigMap(fmt.Sprintf("c%d", i))
		if i < depth {
			content += "---\n" + aoaApp(fmt.Sprintf("l%d", i+1), fmt.Sprintf("chain/l%d", i+1), "dev")
		}
		files[fmt.Sprintf("chain/l%d/objects.yaml", i)] = content
	}
	return aoaFleet(t, files)
}

// TestRenderAppOfAppsDepthLimit: five levels of children render; a sixth
// is refused naming the chain and the limit.
func TestRenderAppOfAppsDepthLimit(t *testing.T) {
	t.Parallel()
	got, code, stderr := renderOut(t, chain(t, 5))
	if code != ExitOK || len(got) != 8 {
		t.Fatalf("depth 5: exit %d, apps %v: %s", code, keys(got), stderr)
	}
	_, code, stderr = renderOut(t, chain(t, 6))
	want := `render: applicationsets/l0.yaml:1: application l0 → l1 → l2 → l3 → l4 → l5 renders Application "l6": app of apps: l0 → l1 → l2 → l3 → l4 → l5 → l6 is deeper than 5 levels of children (the limit)` + "\n"
	if code != ExitUsage || stderr != want {
		t.Errorf("depth 6: exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
}

// TestRenderAppOfAppsRefusals: a cycle (a → b → a, and an app rendering
// itself) is named; a child named like another Application, and a child
// destined to a cluster the inventory lacks, are refused naming the
// parent; an unmapped repository in a child fails as for any app.
func TestRenderAppOfAppsRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"cycle", map[string]string{
			"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
			"aoa/a/app.yaml":         aoaApp("b", "aoa/b", "dev"),
			"aoa/b/app.yaml":         aoaApp("a", "aoa/a", "prod-eu"),
		}, `render: applicationsets/a.yaml:1: application a → b renders Application "a": app of apps: cycle a → b → a: an Application may not render itself or an Application that renders it`},
		{"self", map[string]string{
			"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
			"aoa/a/app.yaml":         aoaApp("a", "aoa/a", "dev"),
		}, `render: applicationsets/a.yaml:1: application a renders Application "a": app of apps: cycle a → a`},
		{"duplicate", map[string]string{
			"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
			"aoa/a/app.yaml":         aoaApp("web-prod-eu", "web", "prod-eu"),
		}, `render: applicationsets/a.yaml:1: application a renders Application "web-prod-eu": app of apps: duplicate Application name "web-prod-eu": also generated by ApplicationSet "web" (applicationsets/web.yaml)`},
		{"unknown cluster", map[string]string{
			"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
			"aoa/a/app.yaml":         aoaApp("b", "web", "prod-us"),
		}, `render: applicationsets/a.yaml:1: application a renders Application "b": Application "b" is invalid (InvalidSpecError): application destination spec is invalid: unknown destination cluster: there are no clusters with this name: prod-us (known: dev, prod-eu)`},
		{"strict decoding", map[string]string{
			"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
			"aoa/a/app.yaml":         strings.Replace(aoaApp("b", "web", "dev"), "  source:", "  sourc:", 1),
		}, `render: applicationsets/a.yaml:1: application a renders Application "b": unknown field "spec.sourc"`},
		{"child ApplicationSet fails", map[string]string{
			"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
			"aoa/a/set.yaml":         strings.Replace(kidsAppSet, "  - clusters: {}", "  - pullRequest: {}", 1),
		}, `render: applicationsets/a.yaml:1: application a renders ApplicationSet "kids": ApplicationSet "kids": spec.generators[0].pullRequest is not supported`},
		{"unmapped repository", map[string]string{
			"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
			"aoa/a/app.yaml":         strings.Replace(aoaApp("b", "web", "dev"), "example.com/fleet.git", "example.com/other.git", 1),
		}, `render: applicationsets/a.yaml: application b (rendered by application a): source https://example.com/other/web: repository https://example.com/other.git is not mapped`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, code, stderr := renderOut(t, aoaFleet(t, tt.files))
			if code != ExitUsage || !strings.HasPrefix(stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant it to start with:\n%s", code, stderr, tt.want)
			}
		})
	}
}

// TestRenderAppOfAppsShard: a shard renders the children destined to its
// clusters though their parent's cluster is in another shard.
func TestRenderAppOfAppsShard(t *testing.T) {
	t.Parallel()
	dir := twoLevels(t, "")
	got, code, stderr := renderOut(t, dir, "--shard", "1/2") // prod-eu
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if diff := cmp.Diff([]string{"prod-eu/kid-prod-eu", "prod-eu/leaf", "prod-eu/web-prod-eu"}, keys(got)); diff != "" {
		t.Errorf("shard 1/2 (-want +got):\n%s", diff)
	}
}

// TestRenderAppOfAppsKeepGoing: with --keep-going, a child that fails to
// build is a failed Application; its cluster (and, since what a failed
// Application would have rendered is unknown, every cluster) keeps its
// folder as it was, and the exit code is 1.
func TestRenderAppOfAppsKeepGoing(t *testing.T) {
	t.Parallel()
	dir := twoLevels(t, "")
	out := t.TempDir()
	if code, _, stderr := renderCmd(t, "--fleet", dir, "--out", out); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	before := readTree(t, out)
	writeFile(t, filepath.Join(dir, "aoa/mid/apps.yaml"), aoaApp("leaf", "missing", "prod-eu")+"---\n"+kidsAppSet)
	writeFile(t, filepath.Join(dir, "web/configmap.yaml"), strings.Replace(parityConfigMap, "k: v", "k: changed", 1))
	code, stdout, stderr := renderCmd(t, "--fleet", dir, "--out", out, "--keep-going", "-o", "json")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d: %s", code, ExitFailed, stderr)
	}
	var res hydrator.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if len(res.Failures) != 1 || res.Failures[0].App != "leaf" || res.Failures[0].Cluster != "prod-eu" || !strings.Contains(res.Failures[0].Error, `path "missing" does not exist`) {
		t.Errorf("failures: %+v", res.Failures)
	}
	for _, c := range res.Clusters {
		if !c.Failed {
			t.Errorf("cluster %s was written", c.Cluster)
		}
	}
	if diff := cmp.Diff(before, readTree(t, out)); diff != "" {
		t.Errorf("--out changed:\n%s", diff)
	}
	// Without --keep-going the failed child fails the run.
	if code, _, stderr := renderCmd(t, "--fleet", dir, "--out", out); code != ExitUsage || !strings.Contains(stderr, "application leaf") {
		t.Errorf("strict: exit %d: %s", code, stderr)
	}
}

// TestRenderAppOfAppsNotApplicationKinds: objects of other argoproj.io
// kinds (an AppProject) and Applications of other groups stay in the
// parent's output and are not expanded.
func TestRenderAppOfAppsNotApplicationKinds(t *testing.T) {
	t.Parallel()
	other := strings.Replace(aoaApp("x", "web", "dev"), "argoproj.io/v1alpha1", "example.com/v1", 1)
	got, code, stderr := renderOut(t, aoaFleet(t, map[string]string{
		"applicationsets/a.yaml": aoaApp("a", "aoa/a", "dev"),
		"aoa/a/objs.yaml":        other,
	}))
	if code != ExitOK || !strings.Contains(got["dev/a"], "kind: Application") || len(got) != 3 {
		t.Errorf("exit %d, apps %v, a:\n%s\n%s", code, keys(got), got["dev/a"], stderr)
	}
}

// TestRenderAppOfAppsInCluster: the usual layout, a root Application on
// Argo CD's own cluster (argoCD.inCluster) whose children go to the
// inventory's clusters.
func TestRenderAppOfAppsInCluster(t *testing.T) {
	t.Parallel()
	root := strings.Replace(aoaApp("root", "aoa/root", "dev"), "    name: dev\n    namespace: root\n", "    server: https://kubernetes.default.svc\n    namespace: argocd\n", 1)
	dir := aoaFleet(t, map[string]string{
		"flotilla.yaml":             "repos:\n  https://example.com/fleet.git: .\nargoCD: {inCluster: true}\n",
		"applicationsets/root.yaml": root,
		"aoa/root/apps.yaml":        aoaApp("db", "web", "prod-eu"),
	})
	got, code, stderr := renderOut(t, dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"dev/web-dev", "in-cluster/root", "in-cluster/web-in-cluster", "prod-eu/db", "prod-eu/web-prod-eu"}
	if diff := cmp.Diff(want, keys(got)); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}
