package cli

import (
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

const parityConfigMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {k: v}\n"

// parityFleet makes a fleet checkout (with an origin) from the base files
// and overrides; an override with content "" removes the file.
func parityFleet(t *testing.T, overrides map[string]string) (checkout, origin string) {
	t.Helper()
	files := map[string]string{
		"flotilla.yaml":            "repos:\n  https://example.com/fleet.git: .\n",
		"clusters/clusters.yaml":   testClusters,
		"applicationsets/web.yaml": testAppSet,
		"web/configmap.yaml":       parityConfigMap,
	}
	for k, v := range overrides {
		if v == "" {
			delete(files, k)
			continue
		}
		files[k] = v
	}
	return gittest.Fleet(t, gittest.Files(t, files))
}

// renderRefused runs render on the fleet and checks it exits 2 with a
// message holding every want, and that no branch was made or pushed.
func renderRefused(t *testing.T, checkout, origin string, want ...string) string {
	t.Helper()
	code, stdout, stderr := renderCmd(t, "--fleet", checkout)
	if code != ExitUsage {
		t.Errorf("exit %d, want %d; stdout:\n%s", code, ExitUsage, stdout)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, stderr)
		}
	}
	if refs := gittest.Refs(t, origin, "refs/heads/hydrated"); refs != "" {
		t.Errorf("branches were pushed:\n%s", refs)
	}
	if refs := gittest.Refs(t, checkout, "refs/heads/hydrated"); refs != "" {
		t.Errorf("local branches were made:\n%s", refs)
	}
	return stderr
}

// TestRenderInvalidSpec: an Application Argo CD would mark InvalidSpecError
// (no source, an empty source, neither path nor chart) is refused with
// Argo CD's message, not rendered as an empty app.
func TestRenderInvalidSpec(t *testing.T) {
	t.Parallel()
	const msg = "InvalidSpecError: spec.source.repoURL and either spec.source.path or spec.source.chart are required"
	tests := []struct{ name, from, to string }{
		{"no source", "      source:\n        repoURL: https://example.com/fleet.git\n        path: web\n", ""},
		{"neither path nor chart", "        path: web\n", "        targetRevision: HEAD\n"},
		{"empty path", "        path: web\n", "        path: \"\"\n"},
		{"empty source", "      source:\n        repoURL: https://example.com/fleet.git\n        path: web\n", "      source: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, origin := parityFleet(t, map[string]string{
				"applicationsets/web.yaml": strings.Replace(testAppSet, tt.from, tt.to, 1),
			})
			renderRefused(t, checkout, origin, "render: applicationsets/web.yaml: ", "web-dev", msg)
		})
	}
}

// TestRenderAppProjects: the AppProject beside the ApplicationSets is
// enforced per app, with Argo CD's messages, before anything is written;
// "default" exists even when a project file is there.
func TestRenderAppProjects(t *testing.T) {
	t.Parallel()
	teamSet := strings.Replace(testAppSet, "project: default", "project: team", 1)
	project := func(spec string) string {
		return "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team, namespace: argocd}\nspec:\n" + spec
	}
	const open = "  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string // nil: render succeeds
	}{
		{"default is not hidden by a project file", map[string]string{
			"applicationsets/projects.yaml": project(open)}, nil},
		{"source repository not permitted", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project("  sourceRepos: ['https://example.com/other/*']\n  destinations: [{server: '*', namespace: '*'}]\n")},
			[]string{`render: applicationsets/web.yaml:10: ApplicationSet "web": Application "web-dev" is refused by AppProject "team" at applicationsets/projects.yaml:1: InvalidSpecError: application repo https://example.com/fleet.git is not permitted in project 'team'`}},
		{"source repository denied", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project("  sourceRepos: ['*', '!https://example.com/fleet']\n  destinations: [{server: '*', namespace: '*'}]\n")},
			[]string{"application repo https://example.com/fleet.git is not permitted in project 'team'"}},
		{"destination server not permitted", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project("  sourceRepos: ['*']\n  destinations: [{server: 'https://prod-*', namespace: '*'}]\n")},
			[]string{"application destination server 'https://dev.example.com' and namespace 'web' do not match any of the allowed destinations in project 'team'"}},
		{"destination name denied", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project("  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}, {name: '!dev', namespace: '*'}]\n")},
			[]string{`Application "web-dev" is refused`, "application destination server 'https://dev.example.com' and namespace 'web' do not match"}},
		{"cluster-scoped kind not whitelisted", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project(open),
			"web/namespace.yaml":            "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"},
			[]string{`render: applicationsets/web.yaml: application web-dev for cluster dev: AppProject "team" at applicationsets/projects.yaml:1 refuses it (change the project or the manifests): Namespace/web: resource :Namespace is not permitted in project team`}},
		{"namespaced kind blacklisted", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project(open + "  namespaceResourceBlacklist: [{group: '', kind: ConfigMap}]\n")},
			[]string{"ConfigMap/web/web: resource :ConfigMap is not permitted in project team"}},
		{"namespaced kind off the whitelist", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project(open + "  namespaceResourceWhitelist: [{group: apps, kind: Deployment}]\n")},
			[]string{"ConfigMap/web/web: resource :ConfigMap is not permitted in project team"}},
		{"object namespace not a permitted destination", map[string]string{
			"applicationsets/web.yaml":      teamSet,
			"applicationsets/projects.yaml": project("  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: web}]\n"),
			"web/other.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: kube-system}\n"},
			[]string{"ConfigMap/kube-system/other: namespace kube-system is not permitted in project 'team'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, origin := parityFleet(t, tt.files)
			if tt.want != nil {
				renderRefused(t, checkout, origin, tt.want...)
				return
			}
			if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
		})
	}
}

// TestRenderLiveGeneratorNamedFirst: a generator that needs a live service
// is named, with its path and line, at the start of the one error line,
// however deep it is nested.
func TestRenderLiveGeneratorNamedFirst(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, generators, want string }{
		{"pull requests in a merge in a matrix", `  - matrix:
      generators:
      - clusters: {}
      - merge:
          mergeKeys: [branch]
          generators:
          - list: {elements: [{branch: main}]}
          - pullRequest: {github: {owner: acme, repo: web}}
`, `render: applicationsets/web.yaml:14: ApplicationSet "web": spec.generators[0].matrix.generators[1].merge.generators[1].pullRequest is not supported (ApplicationGenerationFromParamsError): the pullRequest generator queries open pull requests at run time, and Flotilla renders without any live service (use list, clusters, git, matrix or merge)
`},
		{"SCM provider after a valid generator", `  - clusters: {}
  - matrix:
      generators:
      - scmProvider: {github: {organization: acme}}
      - clusters: {}
`, `render: applicationsets/web.yaml:10: ApplicationSet "web": spec.generators[1].matrix.generators[0].scmProvider is not supported (ApplicationGenerationFromParamsError): the scmProvider generator queries an SCM provider's API at run time, and Flotilla renders without any live service (use list, clusters, git, matrix or merge)
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set := strings.Replace(testAppSet, "  - clusters: {}\n", tt.generators, 1)
			checkout, origin := parityFleet(t, map[string]string{"applicationsets/web.yaml": set})
			if stderr := renderRefused(t, checkout, origin); stderr != tt.want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, tt.want)
			}
		})
	}
}

// TestRenderPluginSource: a config management plugin source fails the run
// with an error naming the plugin and saying to pre-render it.
func TestRenderPluginSource(t *testing.T) {
	t.Parallel()
	set := strings.Replace(testAppSet, "        path: web\n", "        path: web\n        plugin:\n          name: envsubst\n", 1)
	checkout, origin := parityFleet(t, map[string]string{"applicationsets/web.yaml": set})
	renderRefused(t, checkout, origin, `render: applicationsets/web.yaml: applications web-dev, web-prod-eu: source https://example.com/fleet/web: config management plugins are not run by Flotilla: the source uses config management plugin "envsubst" (spec.source.plugin.name); pre-render the plugin's output into the repository`)
}

// TestRenderNonApplicationSetDocument: a file the applicationSets globs
// match that holds something else (a kustomization beside the
// ApplicationSets) is refused naming the glob that matched it and how to
// narrow it.
func TestRenderNonApplicationSetDocument(t *testing.T) {
	t.Parallel()
	const kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [web.yaml]\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"default globs", map[string]string{"flotilla.yaml": "repos:\n  https://example.com/fleet.git: .\n", "applicationsets/kustomization.yaml": kustomization},
			`render: applicationsets/kustomization.yaml:1: Kustomization "" is not an ApplicationSet: the file matches "applicationsets/**/*.yaml" of applicationSets in flotilla.yaml, whose files must hold only ApplicationSet, Application or AppProject documents; narrow the glob so it leaves out applicationsets/kustomization.yaml (for example list the ApplicationSet files), or move the file` + "\n"},
		{"second glob", map[string]string{
			"flotilla.yaml":          "applicationSets: [applicationsets/web.yaml, 'apps/*.yml']\nrepos:\n  https://example.com/fleet.git: .\n",
			"apps/kustomization.yml": "---\n" + kustomization},
			`render: apps/kustomization.yml:2: Kustomization "" is not an ApplicationSet: the file matches "apps/*.yml" of applicationSets in flotilla.yaml, whose files must hold only ApplicationSet, Application or AppProject documents; narrow the glob so it leaves out apps/kustomization.yml (for example list the ApplicationSet files), or move the file` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, origin := parityFleet(t, tt.files)
			if stderr := renderRefused(t, checkout, origin); stderr != tt.want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, tt.want)
			}
		})
	}
}

// TestRenderZeroApplications: a selector typo that leaves the fleet with no
// Application is refused with the selector, and the branches pushed before
// stay as they were; a set or cluster that yields nothing is a warning.
func TestRenderZeroApplications(t *testing.T) {
	t.Parallel()
	checkout, origin := parityFleet(t, nil)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("first render: exit %d: %s", code, stderr)
	}
	before := gittest.Refs(t, origin, "refs/heads/hydrated")
	if strings.Count(before, "\n") != 1 {
		t.Fatalf("want two pushed branches, got:\n%s", before)
	}

	typo := strings.Replace(testAppSet, "  - clusters: {}\n", "  - clusters:\n      selector:\n        matchLabels: {environment: prodution}\n", 1)
	writeFile(t, checkout+"/applicationsets/web.yaml", typo)
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "typo")
	code, stdout, stderr := renderCmd(t, "--fleet", checkout)
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d; stdout:\n%s", code, ExitUsage, stdout)
	}
	want := `render: flotilla.yaml: no Application generated by the 1 ApplicationSets: rendering would empty the hydrated branches of 2 clusters, so nothing is written (fix the selectors below; to retire every app, delete the branches yourself)
render: applicationsets/web.yaml:1: ApplicationSet "web" generated no Application; selectors: spec.generators[0].clusters.selector environment=prodution selects 0 of 2 clusters
`
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	if after := gittest.Refs(t, origin, "refs/heads/hydrated"); after != before {
		t.Errorf("branches moved:\n%s\nwere:\n%s", after, before)
	}

	// --list-apps lists nothing and says why.
	code, stdout, stderr = renderCmd(t, "--fleet", checkout, "--list-apps", "-o", "json")
	if code != ExitOK || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("--list-apps: exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, `render: warning: applicationsets/web.yaml:1: ApplicationSet "web" generated no Application; selectors: spec.generators[0].clusters.selector environment=prodution selects 0 of 2 clusters`) {
		t.Errorf("--list-apps stderr:\n%s", stderr)
	}
}

// TestRenderZeroWarnings: one cluster getting no Application, or an
// inventory with no cluster, is said on stderr; the run succeeds.
func TestRenderZeroWarnings(t *testing.T) {
	t.Parallel()
	onlyProd := strings.Replace(testAppSet, "  - clusters: {}\n", "  - clusters:\n      selector:\n        matchLabels: {environment: production}\n", 1)
	checkout, _ := parityFleet(t, map[string]string{"applicationsets/web.yaml": onlyProd})
	code, _, stderr := renderCmd(t, "--fleet", checkout)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "render: warning: cluster dev gets no Application: its branch hydrated/dev-next will hold none\n"; stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}

	checkout, _ = parityFleet(t, map[string]string{"clusters/clusters.yaml": ""})
	code, _, stderr = renderCmd(t, "--fleet", checkout, "--list-apps")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"render: warning: the inventory has no cluster: no file matched by clusters: clusters/**/*.yaml, clusters/**/*.yml defines one\n",
		`render: warning: applicationsets/web.yaml:1: ApplicationSet "web" generated no Application`} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, stderr)
		}
	}
}

// TestRenderInCluster: with argoCD.inCluster, apps destined to Argo CD's
// own cluster are rendered to the in-cluster branch; without it, the
// unknown-destination error names the option.
func TestRenderInCluster(t *testing.T) {
	t.Parallel()
	local := strings.NewReplacer(`server: "{{server}}"`, "server: https://kubernetes.default.svc", `"web-{{name}}"`, "web-local", "  - clusters: {}\n", "  - list: {elements: [{x: y}]}\n").Replace(testAppSet)
	checkout, origin := parityFleet(t, map[string]string{
		"flotilla.yaml":            "argoCD: {inCluster: true}\nrepos:\n  https://example.com/fleet.git: .\n",
		"applicationsets/web.yaml": testAppSet + "---\n" + strings.Replace(local, "name: web\n", "name: web-local\n", 1),
	})
	code, stdout, stderr := renderCmd(t, "--fleet", checkout)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "Rendered 4 applications for 3 clusters") { // clusters: {} selects in-cluster too, as in Argo CD
		t.Errorf("summary:\n%s", stdout)
	}
	if got := gittest.Show(t, origin, "hydrated/in-cluster-next", "web-local/manifest.yaml"); !strings.Contains(got, "flotilla.dev/app: web-local") {
		t.Errorf("in-cluster branch manifest:\n%s", got)
	}

	checkout, origin = parityFleet(t, map[string]string{"applicationsets/web.yaml": local})
	renderRefused(t, checkout, origin, `application destination spec is invalid: unknown destination cluster: no cluster in the inventory has server "https://kubernetes.default.svc" (known: https://dev.example.com, https://prod-eu.example.com); that is Argo CD's own cluster: set argoCD.inCluster: true in flotilla.yaml to render its apps (to the branch of the cluster named in-cluster)`)
}
