// Package project enforces Argo CD AppProject rules on Applications and on
// the objects they render, with Argo CD's semantics and messages: source
// repositories (pkg/apis/application/v1alpha1 AppProject.IsSourcePermitted),
// destinations (isDestinationMatched), and the cluster and namespace
// resource allow and deny lists (IsGroupKindNamePermitted). Globs are
// github.com/gobwas/glob's, as in Argo CD's util/glob; "!" negates a source
// repository or destination entry.
//
// Argo CD checks these in its application controller (the sources and the
// destination make the Application InvalidSpecError; a forbidden resource
// fails the sync). Flotilla checks them before anything is written.
//
// The package is pure.
package project

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gobwas/glob"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// CheckApp checks an Application's sources and destination against its
// project. dest is the inventory cluster the destination resolves to. It
// returns a *fleet.InvalidSpecError with Argo CD's message, or nil.
func CheckApp(p *fleet.AppProject, app *fleet.Application, dest fleet.Cluster) error {
	if err := CheckAppSources(p, app); err != nil {
		return err
	}
	return CheckAppDestination(p, app, dest)
}

// CheckAppSources is CheckApp's check of the sources alone: its answer
// depends only on the project and the sources' repository URLs.
func CheckAppSources(p *fleet.AppProject, app *fleet.Application) error {
	if p == nil {
		return nil
	}
	name := p.Metadata.Name
	for _, s := range app.Spec.AllSources() {
		if !SourcePermitted(p, s.RepoURL) {
			return &fleet.InvalidSpecError{Msg: fmt.Sprintf("application repo %s is not permitted in project '%s'", s.RepoURL, name)}
		}
	}
	if h := app.Spec.SourceHydrator; h != nil && !SourcePermitted(p, h.DrySource.RepoURL) {
		return &fleet.InvalidSpecError{Msg: fmt.Sprintf("application repo %s is not permitted in project '%s'", h.DrySource.RepoURL, name)}
	}
	return nil
}

// CheckAppDestination is CheckApp's check of the destination alone.
func CheckAppDestination(p *fleet.AppProject, app *fleet.Application, dest fleet.Cluster) error {
	if p == nil {
		return nil
	}
	name := p.Metadata.Name
	ns := app.Spec.Destination.Namespace
	if !DestinationPermitted(p, dest.Server, dest.Name, ns) {
		return &fleet.InvalidSpecError{Msg: fmt.Sprintf("application destination server '%s' and namespace '%s' do not match any of the allowed destinations in project '%s'", dest.Server, ns, name)}
	}
	return nil
}

// ResourceError is a rendered object its project does not permit: Argo
// CD's sync would fail on it.
type ResourceError struct {
	// Object is Kind/namespace/name (Kind/name when cluster-scoped).
	Object string
	Msg    string
}

func (e *ResourceError) Error() string { return e.Object + ": " + e.Msg }

// Scope says whether objects of a kind are namespaced; known is false for
// a kind it does not know.
type Scope func(schema.GroupKind) (namespaced, known bool)

// CheckObjects checks rendered objects against the project's resource
// lists and, for namespaced objects, their namespace against its
// destinations (dest is the inventory cluster). A kind of unknown scope
// counts as namespaced when the object or the Application's destination has
// a namespace. It returns one *ResourceError per refused object, joined.
func CheckObjects(p *fleet.AppProject, app *fleet.Application, dest fleet.Cluster, objs []*unstructured.Unstructured, scope Scope) error {
	if p == nil || Permissive(p) {
		return nil
	}
	var errs []error
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		namespaced, known := scope(gk)
		ns := o.GetNamespace()
		if !known {
			namespaced = ns != "" || app.Spec.Destination.Namespace != ""
		}
		if namespaced && ns == "" {
			ns = app.Spec.Destination.Namespace
		}
		id := o.GetKind() + "/" + o.GetName()
		if namespaced {
			id = o.GetKind() + "/" + ns + "/" + o.GetName()
		}
		if !GroupKindNamePermitted(p, gk, o.GetName(), namespaced) {
			errs = append(errs, &ResourceError{Object: id, Msg: fmt.Sprintf("resource %s:%s is not permitted in project %s", gk.Group, gk.Kind, p.Metadata.Name)})
			continue
		}
		if namespaced && !DestinationPermitted(p, dest.Server, dest.Name, ns) {
			errs = append(errs, &ResourceError{Object: id, Msg: fmt.Sprintf("namespace %v is not permitted in project '%s'", ns, p.Metadata.Name)})
		}
	}
	return errors.Join(errs...)
}

// Permissive reports a project that permits every object anywhere (Argo
// CD's default project): checking each object would find nothing.
func Permissive(p *fleet.AppProject) bool {
	s := p.Spec
	allDest := false
	for _, d := range s.Destinations {
		if d.Server == "*" && d.Namespace == "*" {
			allDest = true
		}
		if strings.HasPrefix(d.Server, "!") || strings.HasPrefix(d.Name, "!") || strings.HasPrefix(d.Namespace, "!") {
			return false
		}
	}
	allCluster := false
	for _, c := range s.ClusterResourceWhitelist {
		if c.Group == "*" && c.Kind == "*" && (c.Name == "" || c.Name == "*") {
			allCluster = true
		}
	}
	return allDest && allCluster && s.NamespaceResourceWhitelist == nil &&
		len(s.NamespaceResourceBlacklist) == 0 && len(s.ClusterResourceBlacklist) == 0
}

// SourcePermitted is Argo CD's AppProject.IsSourcePermitted: some
// sourceRepos entry matches the normalised URL (with "/" as the glob
// separator) and no "!" entry excludes it.
func SourcePermitted(p *fleet.AppProject, repoURL string) bool {
	src := NormalizeGitURL(repoURL)
	found := false
	for _, r := range p.Spec.SourceRepos {
		var pattern string
		if deny(r) {
			pattern = "!" + NormalizeGitURL(strings.TrimPrefix(r, "!"))
		} else {
			pattern = NormalizeGitURL(r)
		}
		matched := globMatch(pattern, src, true, '/')
		if matched {
			found = true
		} else if deny(pattern) {
			return false
		}
	}
	return found
}

// DestinationPermitted is Argo CD's AppProject.isDestinationMatched for a
// resolved cluster (server and name) and a namespace.
func DestinationPermitted(p *fleet.AppProject, server, name, namespace string) bool {
	found, noDeny := false, true
	for _, d := range p.Spec.Destinations {
		nameOK := name != "" && globMatch(d.Name, name, true)
		serverOK := server != "" && globMatch(d.Server, server, true)
		nsOK := globMatch(d.Namespace, namespace, true)
		if (serverOK || nameOK) && nsOK {
			found = true
		} else if !nameOK && deny(d.Name) || !serverOK && deny(d.Server) || !nsOK && deny(d.Namespace) {
			noDeny = false
		}
	}
	return found && noDeny
}

// GroupKindNamePermitted is Argo CD's AppProject.IsGroupKindNamePermitted:
// a namespaced kind passes unless a namespace whitelist (when set, even
// empty) leaves it out or the blacklist holds it; a cluster-scoped kind
// must be on the cluster whitelist and off the blacklist. Entries match
// with filepath.Match on group, kind and (cluster lists) name.
func GroupKindNamePermitted(p *fleet.AppProject, gk schema.GroupKind, name string, namespaced bool) bool {
	s := p.Spec
	if namespaced {
		white := s.NamespaceResourceWhitelist == nil || len(s.NamespaceResourceWhitelist) != 0 && inGroupKinds(gk, s.NamespaceResourceWhitelist)
		black := len(s.NamespaceResourceBlacklist) != 0 && inGroupKinds(gk, s.NamespaceResourceBlacklist)
		return white && !black
	}
	white := len(s.ClusterResourceWhitelist) != 0 && inClusterList(gk, name, s.ClusterResourceWhitelist)
	black := len(s.ClusterResourceBlacklist) != 0 && inClusterList(gk, name, s.ClusterResourceBlacklist)
	return white && !black
}

func inGroupKinds(gk schema.GroupKind, list []fleet.GroupKind) bool {
	for _, item := range list {
		if match(item.Kind, gk.Kind) && match(item.Group, gk.Group) {
			return true
		}
	}
	return false
}

func inClusterList(gk schema.GroupKind, name string, list []fleet.ClusterResourceRestrictionItem) bool {
	for _, item := range list {
		if match(item.Kind, gk.Kind) && match(item.Group, gk.Group) && (item.Name == "" || match(item.Name, name)) {
			return true
		}
	}
	return false
}

func match(pattern, s string) bool {
	ok, err := filepath.Match(pattern, s)
	return ok && err == nil
}

func deny(pattern string) bool { return strings.HasPrefix(pattern, "!") }

// globMatch is Argo CD's globMatch: "!" negates when allowed, "*" matches
// anything, and a pattern that does not compile matches nothing.
func globMatch(pattern, val string, allowNegation bool, separators ...rune) bool {
	if allowNegation && deny(pattern) {
		return !globMatchOne(pattern[1:], val, separators)
	}
	if pattern == "*" {
		return true
	}
	return globMatchOne(pattern, val, separators)
}

func globMatchOne(pattern, val string, separators []rune) bool {
	g, err := glob.Compile(pattern, separators...)
	if err != nil {
		return false
	}
	return g.Match(val)
}

var sshURL = regexp.MustCompile(`^(ssh://)?([^/:]*?)@[^@]+$`)

// NormalizeGitURL is Argo CD's git.NormalizeGitURL: lower case, scp-style
// SSH addresses as ssh URLs, no ".git" suffix, no "ssh://" prefix.
func NormalizeGitURL(repo string) string {
	repo = strings.ToLower(strings.TrimSpace(repo))
	if sshURL.MatchString(repo) && !strings.HasPrefix(repo, "ssh://") {
		repo = "ssh://" + strings.Replace(repo, ":", "/", 1)
	}
	repo = strings.TrimSuffix(repo, ".git")
	u, err := url.Parse(repo)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.String(), "ssh://")
}
