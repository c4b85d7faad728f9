package fleet

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/kube/health"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// ConfigFile is the name of the optional fleet configuration file.
const ConfigFile = "flotilla.yaml"

// Default globs and branch templates, matching the seed layout.
var (
	DefaultClusterGlobs        = []string{"clusters/**/*.yaml", "clusters/**/*.yml"}
	DefaultApplicationSetGlobs = []string{"applicationsets/**/*.yaml", "applicationsets/**/*.yml"}
)

// Config is flotilla.yaml. Every key is optional; unknown keys are an error.
type Config struct {
	APIVersion      string   `json:"apiVersion,omitempty"`
	Kind            string   `json:"kind,omitempty"`
	Clusters        []string `json:"clusters,omitempty"`
	ApplicationSets []string `json:"applicationSets,omitempty"`
	// Applications are globs of files holding plain Argo CD Application
	// documents (files the applicationSets globs match may hold them too).
	Applications []string          `json:"applications,omitempty"`
	AppOfApps    AppOfAppsConfig   `json:"appOfApps,omitempty"`
	Repos        map[string]string `json:"repos,omitempty"`
	Hydrated     HydratedConfig    `json:"hydrated,omitempty"`
	Rollout      RolloutConfig     `json:"rollout,omitempty"`
	Policy       PolicyConfig      `json:"policy,omitempty"`
	ArgoCD       ArgoCDConfig      `json:"argoCD,omitempty"`
	Helm         HelmConfig        `json:"helm,omitempty"`
	// HealthCheckExprs are custom health checks (CEL, as Flux's
	// healthCheckExprs), carried to verify and apply in each app's
	// hydrator.metadata.
	HealthCheckExprs []health.Check `json:"healthCheckExprs,omitempty"`
}

// AppOfAppsConfig tunes the expansion of Applications whose rendered
// output holds Applications or ApplicationSets (Argo CD's app of apps).
type AppOfAppsConfig struct {
	// KeepChildren keeps the child Application and ApplicationSet objects
	// in the parent's hydrated output. By default they are dropped: the
	// children are rendered in their own right, and no Argo CD controller
	// runs in the destination cluster to consume the objects.
	KeepChildren bool `json:"keepChildren,omitempty"`
}

// MaxAppOfAppsDepth is how many levels of children an app of apps may
// have below the fleet's own Applications: a child at depth 6 is an error.
const MaxAppOfAppsDepth = 5

// HelmConfig tunes Helm rendering.
type HelmConfig struct {
	// KubeVersion and APIVersions are the capabilities of clusters whose
	// inventory entry gives none (spec.kubeVersion, spec.apiVersions).
	KubeVersion string   `json:"kubeVersion,omitempty"`
	APIVersions []string `json:"apiVersions,omitempty"`
	// Repositories, when set, are the only chart repositories and
	// registries (URL prefixes) charts may come from.
	Repositories []string `json:"repositories,omitempty"`
	// CredentialsFile names a YAML list of {url, username, password} for
	// private repositories, outside the fleet repository (a relative path
	// is from the working directory). FLOTILLA_HELM_CREDENTIALS may hold
	// the same list instead.
	CredentialsFile string `json:"credentialsFile,omitempty"`
	// CAFile is a PEM bundle of certificate authorities trusted for chart
	// repositories and registries, besides the system's.
	CAFile string `json:"caFile,omitempty"`
	// MaxArchiveBytes and MaxFiles cap a chart archive (defaults 20 MiB
	// and 5000 files).
	MaxArchiveBytes int64 `json:"maxArchiveBytes,omitempty"`
	MaxFiles        int   `json:"maxFiles,omitempty"`
}

// Capabilities returns the fleet's default cluster capabilities.
func (h HelmConfig) Capabilities() Capabilities {
	return Capabilities{KubeVersion: h.KubeVersion, APIVersions: h.APIVersions}
}

// HydratedConfig says where hydrated branches live.
type HydratedConfig struct {
	// Repo is the repository URL holding the hydrated branches; empty means
	// the fleet repository itself.
	Repo string `json:"repo,omitempty"`
	// Branch is the live branch template; {{cluster}} is the cluster name.
	Branch string `json:"branch,omitempty"`
	// Staging is the proposal branch template.
	Staging string `json:"staging,omitempty"`
}

// RolloutConfig holds the rollout steps used when an ApplicationSet has no
// strategy of its own.
type RolloutConfig struct {
	Steps []ApplicationSetRolloutStep `json:"steps,omitempty"`
	// Paused pauses every rollout of the fleet: promote opens, updates and
	// merges no promotion pull request until it is removed.
	Paused bool `json:"paused,omitempty"`
	// PausedApplicationSets pauses the rollouts of these ApplicationSets
	// only (names of the fleet's ApplicationSets).
	PausedApplicationSets []string `json:"pausedApplicationSets,omitempty"`
	// PauseReason says why, in promote's and status's output.
	PauseReason string `json:"pauseReason,omitempty"`
}

// PausedBy says why the rollout of ApplicationSet set is paused by
// flotilla.yaml and where ("" when it is not).
func (r RolloutConfig) PausedBy(set string) string {
	why := ""
	switch {
	case r.Paused:
		why = ConfigFile + " rollout.paused"
	case slices.Contains(r.PausedApplicationSets, set):
		why = ConfigFile + " rollout.pausedApplicationSets"
	default:
		return ""
	}
	if r.PauseReason != "" {
		why += ": " + r.PauseReason
	}
	return why
}

// PolicyConfig holds safety switches.
type PolicyConfig struct {
	// AllowSecrets permits plain Secret objects with data in rendered output.
	AllowSecrets bool `json:"allowSecrets,omitempty"`
	// AllowRemoteResources lets Kustomize fetch remote bases.
	AllowRemoteResources bool `json:"allowRemoteResources,omitempty"`
	// AllowPlugins lets Kustomize run plugins.
	AllowPlugins bool `json:"allowPlugins,omitempty"`
	// PoliciesDir is a folder of the fleet (relative to flotilla.yaml)
	// whose YAML files hold ValidatingAdmissionPolicies, their bindings and
	// params that render's policy gate applies to every cluster on top of
	// those the cluster's own render deploys.
	PoliciesDir string `json:"policiesDir,omitempty"`
}

// ArgoCDConfig tunes the Argo CD compatibility layer.
type ArgoCDConfig struct {
	// InCluster adds Argo CD's implicit local cluster (name in-cluster,
	// server https://kubernetes.default.svc), as an Argo CD hub would.
	InCluster bool `json:"inCluster,omitempty"`
	// Namespace is the Argo CD namespace: ApplicationSets without a namespace
	// are in it, and only cluster Secrets in it count. Default "argocd".
	Namespace string `json:"namespace,omitempty"`
	// Projects, when set, are the AppProjects that exist ("default" always
	// does); an Application naming another project is invalid. When unset,
	// any non-empty project is accepted. AppProject documents found beside
	// the ApplicationSets are added to the list, and their rules are
	// enforced; a project named here without a document has no rules
	// Flotilla knows.
	Projects []string `json:"projects,omitempty"`
}

// InClusterServer is the address of Argo CD's implicit local cluster.
const InClusterServer = "https://kubernetes.default.svc"

// InClusterName is the name of Argo CD's implicit local cluster.
const InClusterName = "in-cluster"

func (c *Config) applyDefaults() {
	if c.Clusters == nil {
		c.Clusters = DefaultClusterGlobs
	}
	if c.ApplicationSets == nil {
		c.ApplicationSets = DefaultApplicationSetGlobs
	}
	if c.Hydrated.Branch == "" {
		c.Hydrated.Branch = layout.DefaultLive
	}
	if c.Hydrated.Staging == "" {
		c.Hydrated.Staging = layout.DefaultStaging
	}
	if c.ArgoCD.Namespace == "" {
		c.ArgoCD.Namespace = "argocd"
	}
}

// Layout is the fleet's branch names (hydrated.branch, hydrated.staging).
func (c *Config) Layout() layout.Layout {
	return layout.Layout{Live: c.Hydrated.Branch, Staging: c.Hydrated.Staging}
}

// LiveBranch returns the live branch of a cluster.
func (c *Config) LiveBranch(cluster string) string { return c.Layout().LiveBranch(cluster) }

// StagingBranch returns the staging (proposal) branch of a cluster.
func (c *Config) StagingBranch(cluster string) string { return c.Layout().StagingBranch(cluster) }

func (c *Config) validate(file string) error {
	if c.APIVersion != "" && c.APIVersion != "flotilla.dev/v1alpha1" {
		return errorf(file, 0, ClassConfig, "apiVersion %q is not supported (use flotilla.dev/v1alpha1)", c.APIVersion)
	}
	if c.Kind != "" && c.Kind != "Fleet" {
		return errorf(file, 0, ClassConfig, "kind %q is not supported (use Fleet)", c.Kind)
	}
	for _, t := range []struct{ key, v string }{{"hydrated.branch", c.Hydrated.Branch}, {"hydrated.staging", c.Hydrated.Staging}} {
		if !strings.Contains(t.v, "{{cluster}}") {
			return errorf(file, 0, ClassConfig, "%s %q must contain {{cluster}}", t.key, t.v)
		}
	}
	for _, t := range []struct{ key, v string }{{"hydrated.branch", c.Hydrated.Branch}, {"hydrated.staging", c.Hydrated.Staging}} {
		// A template that fails with a plain name fails with (almost) all.
		if err := CheckBranchName(strings.ReplaceAll(t.v, "{{cluster}}", "x")); err != nil {
			return errorf(file, 0, ClassConfig, "%s %q does not make valid Git branch names: %v", t.key, t.v, err)
		}
	}
	if c.Hydrated.Branch == c.Hydrated.Staging {
		return errorf(file, 0, ClassConfig, "hydrated.branch and hydrated.staging must differ")
	}
	for _, globs := range [][]string{c.Clusters, c.ApplicationSets, c.Applications} {
		for _, g := range globs {
			if err := checkRelative(g); err != nil {
				return errorf(file, 0, ClassConfig, "glob %q: %v", g, err)
			}
		}
	}
	return nil
}

// checkRelative refuses a path that is absolute or climbs out of the root.
func checkRelative(p string) error {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
		return fmt.Errorf("must be relative to the fleet root")
	}
	clean := filepath.ToSlash(filepath.Clean(p))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("escapes the fleet root")
	}
	return nil
}
