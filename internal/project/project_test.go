package project

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

func proj(spec fleet.AppProjectSpec) *fleet.AppProject {
	return &fleet.AppProject{Metadata: fleet.ObjectMeta{Name: "team"}, Spec: spec}
}

// TestSourcePermitted pins Argo CD's sourceRepos rules: normalised URLs,
// gobwas globs with "/" as separator, "!" entries that exclude.
func TestSourcePermitted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		repos []string
		url   string
		want  bool
	}{
		{[]string{"*"}, "https://git.example.com/a/b.git", true},
		{nil, "https://git.example.com/a/b.git", false},
		{[]string{"https://git.example.com/a/b"}, "https://git.example.com/a/b.git", true},  // .git dropped
		{[]string{"https://GIT.example.com/A/B.git"}, "https://git.example.com/a/b", true},  // lower case
		{[]string{"git@git.example.com:a/b.git"}, "ssh://git@git.example.com/a/b", true},    // scp style
		{[]string{"https://git.example.com/a/*"}, "https://git.example.com/a/b", true},      // * within a segment
		{[]string{"https://git.example.com/a/*"}, "https://git.example.com/a/b/c", false},   // * stops at /
		{[]string{"https://git.example.com/a/**"}, "https://git.example.com/a/b/c", true},   // ** crosses /
		{[]string{"https://git.example.com/{a,b}/x"}, "https://git.example.com/b/x", false}, // braces are escaped by URL normalisation, as in Argo CD
		{[]string{"https://git.example.com/a/?"}, "https://git.example.com/a/b", true},      // ? one character
		{[]string{"*", "!https://git.example.com/secret/*"}, "https://git.example.com/secret/x", false},
		{[]string{"*", "!https://git.example.com/secret/*"}, "https://git.example.com/open/x", true},
		{[]string{"!https://git.example.com/secret/*"}, "https://git.example.com/open/x", true}, // as in Argo CD's code, a deny entry alone permits the rest
	}
	for _, tt := range tests {
		if got := SourcePermitted(proj(fleet.AppProjectSpec{SourceRepos: tt.repos}), tt.url); got != tt.want {
			t.Errorf("sourceRepos %q, repo %s: got %v, want %v", tt.repos, tt.url, got, tt.want)
		}
	}
}

// TestDestinationPermitted pins Argo CD's destination rules: server or
// name globs (no separator), namespace globs, "!" entries that deny.
func TestDestinationPermitted(t *testing.T) {
	t.Parallel()
	d := func(server, name, ns string) fleet.ApplicationDestination {
		return fleet.ApplicationDestination{Server: server, Name: name, Namespace: ns}
	}
	tests := []struct {
		dests            []fleet.ApplicationDestination
		server, name, ns string
		want             bool
	}{
		{[]fleet.ApplicationDestination{d("*", "", "*")}, "https://a.example.com", "a", "web", true},
		{nil, "https://a.example.com", "a", "web", false},
		{[]fleet.ApplicationDestination{d("https://*.example.com", "", "web")}, "https://a.example.com", "a", "web", true},
		{[]fleet.ApplicationDestination{d("https://*.example.com", "", "web")}, "https://a.example.com", "a", "api", false},
		{[]fleet.ApplicationDestination{d("", "prod-*", "*")}, "https://a.example.com", "prod-eu", "web", true},
		{[]fleet.ApplicationDestination{d("", "prod-*", "*")}, "https://a.example.com", "dev", "web", false},
		{[]fleet.ApplicationDestination{d("*", "", "team-*")}, "https://a.example.com", "a", "team-x", true},
		{[]fleet.ApplicationDestination{d("*", "", "*"), d("*", "", "!kube-*")}, "https://a.example.com", "a", "kube-system", false},
		{[]fleet.ApplicationDestination{d("*", "", "*"), d("*", "", "!kube-*")}, "https://a.example.com", "a", "web", true},
		{[]fleet.ApplicationDestination{d("*", "", "*"), d("!https://prod.example.com", "", "*")}, "https://prod.example.com", "prod", "web", false},
		{[]fleet.ApplicationDestination{d("*", "", "*"), d("", "!prod", "*")}, "https://prod.example.com", "prod", "web", false},
	}
	for _, tt := range tests {
		if got := DestinationPermitted(proj(fleet.AppProjectSpec{Destinations: tt.dests}), tt.server, tt.name, tt.ns); got != tt.want {
			t.Errorf("destinations %+v, %s (%s) namespace %s: got %v, want %v", tt.dests, tt.server, tt.name, tt.ns, got, tt.want)
		}
	}
}

// TestGroupKindNamePermitted pins Argo CD's resource lists.
func TestGroupKindNamePermitted(t *testing.T) {
	t.Parallel()
	ns := schema.GroupKind{Kind: "Namespace"}
	cr := schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}
	cm := schema.GroupKind{Kind: "ConfigMap"}
	np := schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}
	tests := []struct {
		name       string
		spec       fleet.AppProjectSpec
		gk         schema.GroupKind
		objName    string
		namespaced bool
		want       bool
	}{
		{"cluster kind needs the whitelist", fleet.AppProjectSpec{}, ns, "web", false, false},
		{"cluster kind on the whitelist", fleet.AppProjectSpec{ClusterResourceWhitelist: []fleet.ClusterResourceRestrictionItem{{Group: "", Kind: "Namespace"}}}, ns, "web", false, true},
		{"cluster whitelist by glob", fleet.AppProjectSpec{ClusterResourceWhitelist: []fleet.ClusterResourceRestrictionItem{{Group: "rbac.*", Kind: "*"}}}, cr, "view", false, true},
		{"cluster whitelist by name", fleet.AppProjectSpec{ClusterResourceWhitelist: []fleet.ClusterResourceRestrictionItem{{Group: "*", Kind: "*", Name: "team-*"}}}, ns, "web", false, false},
		{"cluster blacklist wins", fleet.AppProjectSpec{
			ClusterResourceWhitelist: []fleet.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
			ClusterResourceBlacklist: []fleet.ClusterResourceRestrictionItem{{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}}}, cr, "admin", false, false},
		{"namespaced kind without lists", fleet.AppProjectSpec{}, cm, "c", true, true},
		{"namespaced kind on the blacklist", fleet.AppProjectSpec{NamespaceResourceBlacklist: []fleet.GroupKind{{Group: "networking.k8s.io", Kind: "*"}}}, np, "deny", true, false},
		{"namespaced kind off the whitelist", fleet.AppProjectSpec{NamespaceResourceWhitelist: []fleet.GroupKind{{Group: "", Kind: "ConfigMap"}}}, np, "deny", true, false},
		{"namespaced kind on the whitelist", fleet.AppProjectSpec{NamespaceResourceWhitelist: []fleet.GroupKind{{Group: "", Kind: "ConfigMap"}}}, cm, "c", true, true},
		{"empty namespace whitelist allows nothing", fleet.AppProjectSpec{NamespaceResourceWhitelist: []fleet.GroupKind{}}, cm, "c", true, false},
	}
	for _, tt := range tests {
		if got := GroupKindNamePermitted(proj(tt.spec), tt.gk, tt.objName, tt.namespaced); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCheckObjects: every refused object is reported with Argo CD's
// message; the default project refuses nothing.
func TestCheckObjects(t *testing.T) {
	t.Parallel()
	obj := func(apiVersion, kind, name, ns string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetName(name)
		u.SetNamespace(ns)
		return u
	}
	objs := []*unstructured.Unstructured{
		obj("v1", "Namespace", "web", ""),
		obj("v1", "ConfigMap", "c", "web"),
		obj("v1", "ConfigMap", "d", "kube-system"),
		obj("example.com/v1", "Widget", "w", ""),
	}
	scope := func(gk schema.GroupKind) (bool, bool) {
		switch gk.Kind {
		case "Namespace":
			return false, true
		case "ConfigMap":
			return true, true
		}
		return false, false
	}
	app := &fleet.Application{}
	app.Metadata.Name = "web-dev"
	app.Spec.Destination.Namespace = "web"
	dest := fleet.Cluster{Name: "dev", Server: "https://dev.example.com"}
	p := proj(fleet.AppProjectSpec{
		Destinations:               []fleet.ApplicationDestination{{Server: "*", Namespace: "web"}},
		NamespaceResourceBlacklist: []fleet.GroupKind{{Group: "example.com", Kind: "Widget"}},
	})
	err := CheckObjects(p, app, dest, objs, scope)
	want := []string{
		"Namespace/web: resource :Namespace is not permitted in project team",
		"ConfigMap/kube-system/d: namespace kube-system is not permitted in project 'team'",
		"Widget/web/w: resource example.com:Widget is not permitted in project team",
	}
	var re *ResourceError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want *ResourceError", err)
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if err := CheckObjects(fleet.DefaultProject(), app, dest, objs, scope); err != nil {
		t.Fatalf("the default project refused: %v", err)
	}
}

// FuzzGlobNeverPanics: patterns come from users' AppProjects.
func FuzzGlobNeverPanics(f *testing.F) {
	for _, s := range []string{"*", "!*", "{a,b", "[", "**/x", `\`, "!"} {
		f.Add(s, "https://git.example.com/a/b")
	}
	f.Fuzz(func(t *testing.T, pattern, val string) {
		globMatch(pattern, val, true, '/')
		globMatch(NormalizeGitURL(pattern), NormalizeGitURL(val), true, '/')
	})
}
