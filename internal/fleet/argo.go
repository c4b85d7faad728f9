package fleet

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// The types below mirror Argo CD's argoproj.io/v1alpha1 API (ApplicationSet
// and the Application it generates) field for field, with the same JSON
// names and omitempty rules, so that strict decoding refuses what the API
// server refuses and encoding gives exactly what Argo CD stores. They are
// copied by hand rather than imported: Argo CD's Go module would pull a
// controller's worth of dependencies into Flotilla.

// ApplicationSet is an argoproj.io/v1alpha1 ApplicationSet.
type ApplicationSet struct {
	APIVersion string             `json:"apiVersion,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	Metadata   ObjectMeta         `json:"metadata"`
	Spec       ApplicationSetSpec `json:"spec"`
	// Status is accepted (a copy from a cluster carries it) and ignored.
	Status any `json:"status,omitempty"`
}

// ObjectMeta is the part of Kubernetes object metadata Flotilla reads.
// Fields a copied object may carry (uid, resourceVersion…) are accepted.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	GenerateName      string            `json:"generateName,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	Finalizers        []string          `json:"finalizers,omitempty" patchStrategy:"merge"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	CreationTimestamp any               `json:"creationTimestamp,omitempty"`
	ManagedFields     []any             `json:"managedFields,omitempty"`
	OwnerReferences   []any             `json:"ownerReferences,omitempty"`
}

// ApplicationSetSpec is the spec of an ApplicationSet.
type ApplicationSetSpec struct {
	GoTemplate                   bool                                      `json:"goTemplate,omitempty"`
	Generators                   []ApplicationSetGenerator                 `json:"generators"`
	Template                     ApplicationSetTemplate                    `json:"template"`
	SyncPolicy                   *ApplicationSetSyncPolicy                 `json:"syncPolicy,omitempty"`
	Strategy                     *ApplicationSetStrategy                   `json:"strategy,omitempty"`
	PreservedFields              *ApplicationPreservedFields               `json:"preservedFields,omitempty"`
	GoTemplateOptions            []string                                  `json:"goTemplateOptions,omitempty"`
	ApplyNestedSelectors         bool                                      `json:"applyNestedSelectors,omitempty"`
	IgnoreApplicationDifferences []ApplicationSetResourceIgnoreDifferences `json:"ignoreApplicationDifferences,omitempty"`
	TemplatePatch                *string                                   `json:"templatePatch,omitempty"`
}

// ApplicationPreservedFields lists Application metadata kept on update.
type ApplicationPreservedFields struct {
	Annotations []string `json:"annotations,omitempty"`
	Labels      []string `json:"labels,omitempty"`
}

// ApplicationSetResourceIgnoreDifferences configures fields the ApplicationSet
// controller leaves alone on generated Applications.
type ApplicationSetResourceIgnoreDifferences struct {
	Name              string   `json:"name,omitempty"`
	JSONPointers      []string `json:"jsonPointers,omitempty"`
	JQPathExpressions []string `json:"jqPathExpressions,omitempty"`
}

// ApplicationSetSyncPolicy configures how generated Applications are synced.
type ApplicationSetSyncPolicy struct {
	PreserveResourcesOnDeletion bool   `json:"preserveResourcesOnDeletion,omitempty"`
	ApplicationsSync            string `json:"applicationsSync,omitempty"`
}

// ApplicationSetStrategy is the rollout strategy (RollingSync).
type ApplicationSetStrategy struct {
	Type          string                         `json:"type,omitempty"`
	RollingSync   *ApplicationSetRolloutStrategy `json:"rollingSync,omitempty"`
	DeletionOrder string                         `json:"deletionOrder,omitempty"`
	RollingUpdate *ApplicationSetRolloutStrategy `json:"rollingUpdate,omitempty"`
}

// ApplicationSetRolloutStrategy holds the ordered rollout steps.
type ApplicationSetRolloutStrategy struct {
	Steps []ApplicationSetRolloutStep `json:"steps,omitempty"`
}

// ApplicationSetRolloutStep is one step of a RollingSync. BakeTime,
// RequireApproval, Approvals, Approvers and PullRequest (false: promote
// by an atomic direct push of the live branches, no pull request) are
// Flotilla extensions (ignored by Argo CD, whose CRD would refuse them:
// keep them in flotilla.yaml rollout.steps for a set that Argo CD also
// reads).
type ApplicationSetRolloutStep struct {
	MatchExpressions []ApplicationMatchExpression `json:"matchExpressions,omitempty"`
	MaxUpdate        *IntOrString                 `json:"maxUpdate,omitempty"`
	Name             string                       `json:"name,omitempty"`
	BakeTime         string                       `json:"bakeTime,omitempty"`
	RequireApproval  bool                         `json:"requireApproval,omitempty"`
	// Approvals is how many approving reviews a pull request holding an
	// app of the step needs (default 1 when approval is required; a
	// number implies requireApproval).
	Approvals int `json:"approvals,omitempty"`
	// Approvers, when set, are the only users whose approvals count:
	// logins, and teams as org/team-slug (implies requireApproval).
	Approvers   []string `json:"approvers,omitempty"`
	PullRequest *bool    `json:"pullRequest,omitempty"`
}

// ApplicationMatchExpression selects Applications by label in a rollout step.
type ApplicationMatchExpression struct {
	Key      string   `json:"key,omitempty"`
	Operator string   `json:"operator,omitempty"`
	Values   []string `json:"values,omitempty"`
}

// ApplicationSetTemplate is the Application template of an ApplicationSet
// (or of one generator, as an override).
type ApplicationSetTemplate struct {
	ApplicationSetTemplateMeta `json:"metadata"`
	Spec                       ApplicationSpec `json:"spec"`
}

// ApplicationSetTemplateMeta is the metadata part of a template.
type ApplicationSetTemplateMeta struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Finalizers  []string          `json:"finalizers,omitempty"`
}

// ApplicationSetGenerator is one entry of spec.generators.
type ApplicationSetGenerator struct {
	List                    *ListGenerator    `json:"list,omitempty"`
	Clusters                *ClusterGenerator `json:"clusters,omitempty"`
	Git                     *GitGenerator     `json:"git,omitempty"`
	SCMProvider             any               `json:"scmProvider,omitempty"`
	ClusterDecisionResource any               `json:"clusterDecisionResource,omitempty"`
	PullRequest             any               `json:"pullRequest,omitempty"`
	Matrix                  *MatrixGenerator  `json:"matrix,omitempty"`
	Merge                   *MergeGenerator   `json:"merge,omitempty"`
	Plugin                  any               `json:"plugin,omitempty"`
	Selector                *LabelSelector    `json:"selector,omitempty"`
}

// ListGenerator yields its elements as parameter sets.
type ListGenerator struct {
	// Elements are kept raw: each is any JSON value until generation.
	Elements     []any                   `json:"elements"`
	Template     *ApplicationSetTemplate `json:"template,omitempty"`
	ElementsYaml string                  `json:"elementsYaml,omitempty"`
}

// ClusterGenerator yields one parameter set per selected cluster.
type ClusterGenerator struct {
	Selector LabelSelector           `json:"selector,omitempty"`
	Template *ApplicationSetTemplate `json:"template,omitempty"`
	Values   map[string]string       `json:"values,omitempty"`
	FlatList bool                    `json:"flatList,omitempty"`
}

// GitGenerator yields parameter sets from a repository's directories or files.
type GitGenerator struct {
	RepoURL             string                      `json:"repoURL"`
	Directories         []GitDirectoryGeneratorItem `json:"directories,omitempty"`
	Files               []GitFileGeneratorItem      `json:"files,omitempty"`
	Revision            string                      `json:"revision"`
	RequeueAfterSeconds *int64                      `json:"requeueAfterSeconds,omitempty"`
	Template            *ApplicationSetTemplate     `json:"template,omitempty"`
	PathParamPrefix     string                      `json:"pathParamPrefix,omitempty"`
	Values              map[string]string           `json:"values,omitempty"`
}

// GitDirectoryGeneratorItem is one directory pattern.
type GitDirectoryGeneratorItem struct {
	Path    string `json:"path"`
	Exclude bool   `json:"exclude,omitempty"`
}

// GitFileGeneratorItem is one file pattern.
type GitFileGeneratorItem struct {
	Path    string `json:"path"`
	Exclude bool   `json:"exclude,omitempty"`
}

// MatrixGenerator combines exactly two child generators.
type MatrixGenerator struct {
	Generators []ApplicationSetGenerator `json:"generators"`
	Template   *ApplicationSetTemplate   `json:"template,omitempty"`
}

// MergeGenerator left-joins child generators on MergeKeys.
type MergeGenerator struct {
	Generators []ApplicationSetGenerator `json:"generators"`
	MergeKeys  []string                  `json:"mergeKeys"`
	Template   *ApplicationSetTemplate   `json:"template,omitempty"`
}

// LabelSelector is a Kubernetes label selector.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// IsEmpty reports whether the selector has no terms.
func (s LabelSelector) IsEmpty() bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// LabelSelectorRequirement is one matchExpressions term.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Application is an argoproj.io/v1alpha1 Application as Argo CD stores it.
type Application struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   ObjectMeta      `json:"metadata"`
	Spec       ApplicationSpec `json:"spec"`
	// Status and Operation are accepted (a copy from a cluster carries
	// them) and dropped when a document is loaded.
	Status    any `json:"status,omitempty"`
	Operation any `json:"operation,omitempty"`
}

// ApplicationSpec is the spec of an Application.
type ApplicationSpec struct {
	Source               *ApplicationSource          `json:"source,omitempty"`
	Destination          ApplicationDestination      `json:"destination"`
	Project              string                      `json:"project"`
	SyncPolicy           *SyncPolicy                 `json:"syncPolicy,omitempty"`
	IgnoreDifferences    []ResourceIgnoreDifferences `json:"ignoreDifferences,omitempty"`
	Info                 []Info                      `json:"info,omitempty"`
	RevisionHistoryLimit *int64                      `json:"revisionHistoryLimit,omitempty"`
	Sources              []ApplicationSource         `json:"sources,omitempty"`
	SourceHydrator       *SourceHydrator             `json:"sourceHydrator,omitempty"`
}

// AllSources returns the sources of the spec: Sources when set, else Source.
func (s *ApplicationSpec) AllSources() []ApplicationSource {
	if len(s.Sources) > 0 {
		return s.Sources
	}
	if s.Source != nil {
		return []ApplicationSource{*s.Source}
	}
	return nil
}

// ResourceIgnoreDifferences is Argo CD's ignoreDifferences entry.
type ResourceIgnoreDifferences struct {
	Group                 string   `json:"group,omitempty"`
	Kind                  string   `json:"kind"`
	Name                  string   `json:"name,omitempty"`
	Namespace             string   `json:"namespace,omitempty"`
	JSONPointers          []string `json:"jsonPointers,omitempty"`
	JQPathExpressions     []string `json:"jqPathExpressions,omitempty"`
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`
}

// Info is a name/value pair shown with the Application.
type Info struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ApplicationSource says where an Application's manifests come from.
type ApplicationSource struct {
	RepoURL        string                      `json:"repoURL"`
	Path           string                      `json:"path,omitempty"`
	TargetRevision string                      `json:"targetRevision,omitempty"`
	Helm           *ApplicationSourceHelm      `json:"helm,omitempty"`
	Kustomize      *ApplicationSourceKustomize `json:"kustomize,omitempty"`
	Directory      *ApplicationSourceDirectory `json:"directory,omitempty"`
	Plugin         *ApplicationSourcePlugin    `json:"plugin,omitempty"`
	Chart          string                      `json:"chart,omitempty"`
	Ref            string                      `json:"ref,omitempty"`
	Name           string                      `json:"name,omitempty"`
}

// SourceHydrator is Argo CD's source hydrator configuration.
type SourceHydrator struct {
	DrySource  DrySource  `json:"drySource"`
	SyncSource SyncSource `json:"syncSource"`
	HydrateTo  *HydrateTo `json:"hydrateTo,omitempty"`
}

// DrySource is the dry source of a source hydrator.
type DrySource struct {
	RepoURL        string `json:"repoURL"`
	TargetRevision string `json:"targetRevision"`
	Path           string `json:"path"`
}

// SyncSource is where a source hydrator's output is synced from.
type SyncSource struct {
	TargetBranch string `json:"targetBranch"`
	Path         string `json:"path"`
}

// HydrateTo is a source hydrator's staging branch.
type HydrateTo struct {
	TargetBranch string `json:"targetBranch"`
}

// ApplicationSourceHelm holds Helm options (carried, not rendered yet).
type ApplicationSourceHelm struct {
	ValueFiles              []string            `json:"valueFiles,omitempty"`
	Parameters              []HelmParameter     `json:"parameters,omitempty"`
	ReleaseName             string              `json:"releaseName,omitempty"`
	Values                  string              `json:"values,omitempty" patchStrategy:"replace"`
	FileParameters          []HelmFileParameter `json:"fileParameters,omitempty"`
	Version                 string              `json:"version,omitempty"`
	PassCredentials         bool                `json:"passCredentials,omitempty"`
	IgnoreMissingValueFiles bool                `json:"ignoreMissingValueFiles,omitempty"`
	SkipCrds                bool                `json:"skipCrds,omitempty"`
	ValuesObject            *RawJSON            `json:"valuesObject,omitempty"`
	Namespace               string              `json:"namespace,omitempty"`
	KubeVersion             string              `json:"kubeVersion,omitempty"`
	APIVersions             []string            `json:"apiVersions,omitempty"`
	SkipTests               bool                `json:"skipTests,omitempty"`
	SkipSchemaValidation    bool                `json:"skipSchemaValidation,omitempty"`
}

// IsZero mirrors Argo CD's ApplicationSourceHelm.IsZero.
func (h *ApplicationSourceHelm) IsZero() bool {
	return h == nil || h.Version == "" && h.ReleaseName == "" && len(h.ValueFiles) == 0 &&
		len(h.Parameters) == 0 && len(h.FileParameters) == 0 && h.Values == "" &&
		(h.ValuesObject == nil || len(h.ValuesObject.Raw) == 0) && !h.PassCredentials &&
		!h.IgnoreMissingValueFiles && !h.SkipCrds && !h.SkipTests && !h.SkipSchemaValidation &&
		h.KubeVersion == "" && len(h.APIVersions) == 0 && h.Namespace == ""
}

// HelmParameter is a Helm --set parameter.
type HelmParameter struct {
	Name        string `json:"name,omitempty"`
	Value       string `json:"value,omitempty"`
	ForceString bool   `json:"forceString,omitempty"`
}

// HelmFileParameter is a Helm --set-file parameter.
type HelmFileParameter struct {
	Name string `json:"name,omitempty"`
	Path string `json:"path,omitempty"`
}

// ApplicationSourceKustomize holds the Kustomize options Argo CD supports.
type ApplicationSourceKustomize struct {
	NamePrefix                string             `json:"namePrefix,omitempty"`
	NameSuffix                string             `json:"nameSuffix,omitempty"`
	Images                    []string           `json:"images,omitempty"`
	CommonLabels              map[string]string  `json:"commonLabels,omitempty"`
	Version                   string             `json:"version,omitempty"`
	CommonAnnotations         map[string]string  `json:"commonAnnotations,omitempty"`
	ForceCommonLabels         bool               `json:"forceCommonLabels,omitempty"`
	ForceCommonAnnotations    bool               `json:"forceCommonAnnotations,omitempty"`
	Namespace                 string             `json:"namespace,omitempty"`
	CommonAnnotationsEnvsubst bool               `json:"commonAnnotationsEnvsubst,omitempty"`
	Replicas                  []KustomizeReplica `json:"replicas,omitempty"`
	Patches                   []KustomizePatch   `json:"patches,omitempty"`
	Components                []string           `json:"components,omitempty"`
	IgnoreMissingComponents   bool               `json:"ignoreMissingComponents,omitempty"`
	LabelWithoutSelector      bool               `json:"labelWithoutSelector,omitempty"`
	KubeVersion               string             `json:"kubeVersion,omitempty"`
	APIVersions               []string           `json:"apiVersions,omitempty"`
	LabelIncludeTemplates     bool               `json:"labelIncludeTemplates,omitempty"`
}

// IsZero mirrors Argo CD's ApplicationSourceKustomize.IsZero.
func (k *ApplicationSourceKustomize) IsZero() bool {
	return k == nil || k.NamePrefix == "" && k.NameSuffix == "" && k.Version == "" &&
		k.Namespace == "" && len(k.Images) == 0 && len(k.Replicas) == 0 &&
		len(k.CommonLabels) == 0 && len(k.CommonAnnotations) == 0 && len(k.Patches) == 0 &&
		len(k.Components) == 0 && k.KubeVersion == "" && len(k.APIVersions) == 0 &&
		!k.IgnoreMissingComponents
}

// KustomizeReplica overrides the replica count of a workload.
type KustomizeReplica struct {
	Name  string      `json:"name"`
	Count IntOrString `json:"count"`
}

// KustomizePatch is an inline or file patch.
type KustomizePatch struct {
	Path    string             `json:"path,omitempty"`
	Patch   string             `json:"patch,omitempty"`
	Target  *KustomizeSelector `json:"target,omitempty"`
	Options map[string]bool    `json:"options,omitempty"`
}

// KustomizeSelector selects the objects a patch applies to.
type KustomizeSelector struct {
	Group              string `json:"group,omitempty"`
	Version            string `json:"version,omitempty"`
	Kind               string `json:"kind,omitempty"`
	Name               string `json:"name,omitempty"`
	Namespace          string `json:"namespace,omitempty"`
	AnnotationSelector string `json:"annotationSelector,omitempty"`
	LabelSelector      string `json:"labelSelector,omitempty"`
}

// ApplicationSourceDirectory holds plain-directory options.
type ApplicationSourceDirectory struct {
	Recurse bool                     `json:"recurse,omitempty"`
	Jsonnet ApplicationSourceJsonnet `json:"jsonnet,omitempty"`
	Exclude string                   `json:"exclude,omitempty"`
	Include string                   `json:"include,omitempty"`
}

// IsZero mirrors Argo CD's ApplicationSourceDirectory.IsZero.
func (d *ApplicationSourceDirectory) IsZero() bool {
	return d == nil || !d.Recurse && d.Jsonnet.IsZero()
}

// ApplicationSourceJsonnet holds Jsonnet options (see internal/render/jsonnet.go).
type ApplicationSourceJsonnet struct {
	ExtVars []JsonnetVar `json:"extVars,omitempty"`
	TLAs    []JsonnetVar `json:"tlas,omitempty"`
	Libs    []string     `json:"libs,omitempty"`
}

// IsZero mirrors Argo CD's ApplicationSourceJsonnet.IsZero.
func (j ApplicationSourceJsonnet) IsZero() bool {
	return len(j.ExtVars) == 0 && len(j.TLAs) == 0 && len(j.Libs) == 0
}

// JsonnetVar is a Jsonnet variable.
type JsonnetVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Code  bool   `json:"code,omitempty"`
}

// ApplicationSourcePlugin holds config management plugin options (carried,
// not rendered: Flotilla does not run plugins).
type ApplicationSourcePlugin struct {
	Name       string      `json:"name,omitempty"`
	Env        []*EnvEntry `json:"env,omitempty"`
	Parameters []any       `json:"parameters,omitempty"`
}

// EnvEntry is a plugin environment variable.
type EnvEntry struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ApplicationDestination is the cluster and namespace an Application targets.
type ApplicationDestination struct {
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// SyncPolicy says when and how an Application is synced.
type SyncPolicy struct {
	Automated                *SyncPolicyAutomated      `json:"automated,omitempty"`
	SyncOptions              []string                  `json:"syncOptions,omitempty"`
	Retry                    *RetryStrategy            `json:"retry,omitempty"`
	ManagedNamespaceMetadata *ManagedNamespaceMetadata `json:"managedNamespaceMetadata,omitempty"`
}

// IsZero mirrors Argo CD's SyncPolicy.IsZero.
func (p *SyncPolicy) IsZero() bool {
	return p == nil || p.Automated == nil && len(p.SyncOptions) == 0 && p.Retry == nil && p.ManagedNamespaceMetadata == nil
}

// HasOption reports whether a sync option (e.g. "CreateNamespace=true") is set.
func (p *SyncPolicy) HasOption(opt string) bool {
	if p == nil {
		return false
	}
	for _, o := range p.SyncOptions {
		if o == opt {
			return true
		}
	}
	return false
}

// SyncPolicyAutomated is automated sync.
type SyncPolicyAutomated struct {
	Prune      bool  `json:"prune,omitempty"`
	SelfHeal   bool  `json:"selfHeal,omitempty"`
	AllowEmpty bool  `json:"allowEmpty,omitempty"`
	Enabled    *bool `json:"enabled,omitempty"`
}

// RetryStrategy is the sync retry policy.
type RetryStrategy struct {
	Limit   int64    `json:"limit,omitempty"`
	Backoff *Backoff `json:"backoff,omitempty"`
	Refresh bool     `json:"refresh,omitempty"`
}

// Backoff is the retry backoff.
type Backoff struct {
	Duration    string `json:"duration,omitempty"`
	Factor      *int64 `json:"factor,omitempty"`
	MaxDuration string `json:"maxDuration,omitempty"`
}

// ManagedNamespaceMetadata is metadata for a namespace created by sync.
type ManagedNamespaceMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// IntOrString is Kubernetes' int-or-string (maxUpdate, replica counts).
type IntOrString = intstr.IntOrString

// RawJSON is a free-form JSON value kept as bytes (Helm valuesObject),
// like Kubernetes' runtime.RawExtension.
type RawJSON struct {
	Raw []byte
}

// MarshalJSON writes the raw value.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r.Raw) == 0 {
		return []byte("null"), nil
	}
	return r.Raw, nil
}

// UnmarshalJSON keeps a copy of the value.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	if string(b) != "null" {
		r.Raw = append(r.Raw[:0], b...)
	}
	return nil
}

// InvalidSpecError is Argo CD's InvalidSpecError application condition: a
// spec its application controller refuses to sync, so there is nothing to
// render. Msg is Argo CD's text.
type InvalidSpecError struct {
	Msg string
}

func (e *InvalidSpecError) Error() string { return "InvalidSpecError: " + e.Msg }

// CheckSources applies the source rules of Argo CD's ValidatePermissions
// (util/argo validateSourcePermissions, validateSourceHydrator): a single
// source (or no source at all) needs repoURL and path or chart; each of
// several sources needs repoURL and path, chart or ref; a chart needs a
// targetRevision. It returns an *InvalidSpecError.
func (s *ApplicationSpec) CheckSources() error {
	invalid := func(format string, args ...any) error {
		return &InvalidSpecError{Msg: fmt.Sprintf(format, args...)}
	}
	if h := s.SourceHydrator; h != nil {
		switch {
		case h.DrySource.RepoURL == "":
			return invalid("spec.sourceHydrator.drySource.repoURL is required")
		case h.SyncSource.TargetBranch == "":
			return invalid("spec.sourceHydrator.syncSource.targetBranch is required")
		case h.HydrateTo != nil && h.HydrateTo.TargetBranch == "":
			return invalid("when spec.sourceHydrator.hydrateTo is set, spec.sourceHydrator.hydrateTo.path is required")
		}
		return nil
	}
	chart := func(src ApplicationSource) error {
		if src.Chart != "" && src.TargetRevision == "" {
			return invalid("spec.source.targetRevision is required if the manifest source is a helm chart")
		}
		return nil
	}
	if len(s.Sources) > 0 {
		for i, src := range s.Sources {
			if src.RepoURL == "" || src.Path == "" && src.Chart == "" && src.Ref == "" {
				return invalid("spec.source.repoURL and either source.path, source.chart, or source.ref are required for source %s",
					fmt.Sprintf("sources[%d] {repoURL: %q, path: %q, chart: %q, ref: %q}", i, src.RepoURL, src.Path, src.Chart, src.Ref))
			}
			if err := chart(src); err != nil {
				return err
			}
		}
		return nil
	}
	var src ApplicationSource
	if s.Source != nil {
		src = *s.Source
	}
	if src.RepoURL == "" || src.Path == "" && src.Chart == "" {
		return invalid("spec.source.repoURL and either spec.source.path or spec.source.chart are required")
	}
	return chart(src)
}

// AppProject is an argoproj.io/v1alpha1 AppProject. The fields Flotilla
// enforces are typed; the others (roles, sync windows…) are accepted and
// ignored.
type AppProject struct {
	APIVersion string         `json:"apiVersion,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Metadata   ObjectMeta     `json:"metadata"`
	Spec       AppProjectSpec `json:"spec"`
	Status     any            `json:"status,omitempty"`
	// File and Line say where the project was defined ("" for the implicit
	// default project).
	File string `json:"-"`
	Line int    `json:"-"`
}

// AppProjectSpec is the spec of an AppProject.
type AppProjectSpec struct {
	SourceRepos                     []string                         `json:"sourceRepos,omitempty"`
	Destinations                    []ApplicationDestination         `json:"destinations,omitempty"`
	Description                     string                           `json:"description,omitempty"`
	Roles                           []any                            `json:"roles,omitempty"`
	ClusterResourceWhitelist        []ClusterResourceRestrictionItem `json:"clusterResourceWhitelist,omitempty"`
	NamespaceResourceBlacklist      []GroupKind                      `json:"namespaceResourceBlacklist,omitempty"`
	OrphanedResources               any                              `json:"orphanedResources,omitempty"`
	SyncWindows                     []any                            `json:"syncWindows,omitempty"`
	NamespaceResourceWhitelist      []GroupKind                      `json:"namespaceResourceWhitelist,omitempty"`
	SignatureKeys                   []any                            `json:"signatureKeys,omitempty"`
	ClusterResourceBlacklist        []ClusterResourceRestrictionItem `json:"clusterResourceBlacklist,omitempty"`
	SourceNamespaces                []string                         `json:"sourceNamespaces,omitempty"`
	PermitOnlyProjectScopedClusters bool                             `json:"permitOnlyProjectScopedClusters,omitempty"`
	DestinationServiceAccounts      []any                            `json:"destinationServiceAccounts,omitempty"`
}

// GroupKind names a kind of object in a namespaced resource list.
type GroupKind struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
}

// ClusterResourceRestrictionItem is an entry of a cluster resource list;
// an empty Name matches every name.
type ClusterResourceRestrictionItem struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
}

// DefaultProject is the project Argo CD creates when none named default
// exists: any repository, any destination, any resource.
func DefaultProject() *AppProject {
	p := &AppProject{APIVersion: "argoproj.io/v1alpha1", Kind: "AppProject", Metadata: ObjectMeta{Name: "default"}}
	p.Spec.SourceRepos = []string{"*"}
	p.Spec.Destinations = []ApplicationDestination{{Server: "*", Namespace: "*"}}
	p.Spec.ClusterResourceWhitelist = []ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}}
	return p
}
