package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// Labels and annotations Flotilla puts on every rendered object.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "flotilla"
	AppAnnotation  = "flotilla.dev/app"
	SyncWave       = order.SyncWave
)

// ErrObjectName means a rendered object has no name, or one the API
// server cannot take as a path segment.
var ErrObjectName = errors.New("invalid object name")

// checkNames refuses objects without metadata.name (and without
// generateName), objects with generateName that are not hooks (Argo CD
// creates only hooks from a generateName) and names that are not a path segment of the object's API
// URL ("." and "..", or holding '/' or '%'), as the API server would, with
// the kind and namespace of each.
func checkNames(objs []*unstructured.Unstructured) error {
	var errs []error
	for _, o := range objs {
		name := o.GetName()
		where := "an object of kind " + o.GetKind()
		if ns := o.GetNamespace(); ns != "" {
			where += " in namespace " + ns
		}
		if name == "" {
			gen := o.GetGenerateName()
			if gen == "" {
				errs = append(errs, fmt.Errorf("%w: %s has neither metadata.name nor metadata.generateName (name the object)", ErrObjectName, where))
			} else if msgs := content.IsPathSegmentPrefix(gen); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("%w: %s has metadata.generateName %q, which %s (rename the object)", ErrObjectName, where, gen, strings.Join(msgs, " and ")))
			} else if !IsHook(o) {
				// What Argo CD's sync reports (kubectl apply's message).
				errs = append(errs, fmt.Errorf("%w: %s with metadata.generateName %q: cannot use generate name with apply (only hooks may: set metadata.name, or make it a hook with the %s annotation)", ErrObjectName, where, gen, HookAnnotation))
			}
			continue
		}
		if msgs := content.IsPathSegmentName(name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%w: %s: metadata.name %q %s: it is a path segment of the object's API URL (rename the object)", ErrObjectName, order.ID(o), name, strings.Join(msgs, " and ")))
		}
	}
	return errors.Join(errs...)
}

// checkSyncOptions refuses objects whose argocd.argoproj.io/sync-options
// name an option Argo CD does not know (apply would refuse them).
func checkSyncOptions(objs []*unstructured.Unstructured) error {
	var errs []error
	for _, o := range objs {
		if _, err := syncplan.ObjectOptions(o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// clusterScoped lists the built-in kinds that are not namespaced; builtin
// holds every kind client-go knows. Both are filled once and never changed.
var (
	clusterScoped = map[schema.GroupKind]bool{}
	builtin       = map[schema.GroupKind]bool{}
)

func init() {
	for gvk := range scheme.Scheme.AllKnownTypes() {
		builtin[gvk.GroupKind()] = true
	}
	for _, gk := range []string{
		"Namespace", "Node", "PersistentVolume", "ComponentStatus",
		"ClusterRole.rbac.authorization.k8s.io", "ClusterRoleBinding.rbac.authorization.k8s.io",
		"CustomResourceDefinition.apiextensions.k8s.io", "APIService.apiregistration.k8s.io",
		"StorageClass.storage.k8s.io", "CSIDriver.storage.k8s.io", "CSINode.storage.k8s.io",
		"VolumeAttachment.storage.k8s.io", "VolumeAttributesClass.storage.k8s.io",
		"PriorityClass.scheduling.k8s.io", "IngressClass.networking.k8s.io", "IPAddress.networking.k8s.io",
		"ServiceCIDR.networking.k8s.io", "RuntimeClass.node.k8s.io",
		"ValidatingWebhookConfiguration.admissionregistration.k8s.io",
		"MutatingWebhookConfiguration.admissionregistration.k8s.io",
		"ValidatingAdmissionPolicy.admissionregistration.k8s.io",
		"ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io",
		"MutatingAdmissionPolicy.admissionregistration.k8s.io",
		"MutatingAdmissionPolicyBinding.admissionregistration.k8s.io",
		"CertificateSigningRequest.certificates.k8s.io", "ClusterTrustBundle.certificates.k8s.io",
		"FlowSchema.flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration.flowcontrol.apiserver.k8s.io",
		"TokenReview.authentication.k8s.io", "SelfSubjectReview.authentication.k8s.io",
		"SubjectAccessReview.authorization.k8s.io", "SelfSubjectAccessReview.authorization.k8s.io",
		"SelfSubjectRulesReview.authorization.k8s.io", "DeviceClass.resource.k8s.io",
		"ResourceSlice.resource.k8s.io", "StorageVersion.internal.apiserver.k8s.io",
		"StorageVersionMigration.storagemigration.k8s.io",
	} {
		clusterScoped[schema.ParseGroupKind(gk)] = true
	}
}

// scopeOf says whether a kind is namespaced: built-in knowledge, then the
// CRDs given; known is false for a kind nobody knows.
func scopeOf(gk schema.GroupKind, crds map[schema.GroupKind]bool) (namespaced, known bool) {
	if clusterScoped[gk] {
		return false, true
	}
	if ns, ok := crds[gk]; ok {
		return ns, true
	}
	if builtin[gk] {
		return true, true
	}
	return false, false
}

// crdScopes reads the CRDs among objects: group/kind → namespaced.
func crdScopes(objs []*unstructured.Unstructured) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" || o.GroupVersionKind().Group != "apiextensions.k8s.io" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		out[schema.GroupKind{Group: group, Kind: kind}] = scope != "Cluster"
	}
	return out
}

// Encode writes objects as one YAML stream with sorted keys.
func Encode(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		// yaml.v2 directly: the emitter sigs.k8s.io/yaml ends in, without
		// its JSON round trip (objects hold only JSON types already).
		b, err := yamlv2.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", order.ID(o), err)
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// Decode reads a YAML stream of objects (as written by Encode or found in a
// plain directory); empty documents are skipped, a list kind is expanded.
func Decode(file string, data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i, doc := range splitYAML(data) {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		found, err := decodeJSON(file, fmt.Sprintf("document %d", i+1), j)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// decodeJSON reads one JSON document, called what in messages: nothing
// when it is empty, the items of a list kind, or one object.
func decodeJSON(file, what string, j []byte) ([]*unstructured.Unstructured, error) {
	if s := strings.TrimSpace(string(j)); s == "null" || s == "{}" || s == "" {
		return nil, nil
	}
	var probe map[string]any
	if err := json.Unmarshal(j, &probe); err != nil {
		return nil, fmt.Errorf("%s: %s is not an object", file, what)
	}
	if probe["kind"] == nil || probe["apiVersion"] == nil {
		return nil, fmt.Errorf("%s: %s is not a Kubernetes object (no apiVersion or kind)", file, what)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, what, err)
	}
	if u.GetKind() == "" || u.GetAPIVersion() == "" {
		return nil, fmt.Errorf("%s: %s is not a Kubernetes object (no apiVersion or kind)", file, what)
	}
	if !strings.HasSuffix(u.GetKind(), "List") || !u.IsList() {
		return []*unstructured.Unstructured{u}, nil
	}
	var out []*unstructured.Unstructured
	err := u.EachListItem(func(o runtime.Object) error {
		out = append(out, o.(*unstructured.Unstructured))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, what, err)
	}
	return out, nil
}

// splitYAML splits a stream on document separators.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		trimmed := bytes.TrimRight(line, " \t\r\n")
		if bytes.Equal(trimmed, []byte("---")) || bytes.HasPrefix(trimmed, []byte("--- ")) {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

// Scopes returns what scopeOf knows for objs: whether a kind is namespaced,
// from client-go's built-in kinds and the CRDs among objs; known is false
// for a kind neither holds.
func Scopes(objs []*unstructured.Unstructured) func(schema.GroupKind) (namespaced, known bool) {
	crds := crdScopes(objs)
	return func(gk schema.GroupKind) (bool, bool) { return scopeOf(gk, crds) }
}

// ErrPlugin means a source needs a config management plugin: Argo CD's
// repo server runs it, Flotilla does not run plugins.
var ErrPlugin = errors.New("config management plugins are not run by Flotilla")

// pluginError names the plugin a source asks for and what to do instead.
func pluginError(p *fleet.ApplicationSourcePlugin) error {
	name := "a config management plugin chosen by its discovery rules (spec.source.plugin without a name)"
	if p.Name != "" {
		name = fmt.Sprintf("config management plugin %q (spec.source.plugin.name)", p.Name)
	}
	return fmt.Errorf("%w: the source uses %s; pre-render the plugin's output into the repository (a directory of manifests or a kustomization, committed by CI) and point the source's path at it", ErrPlugin, name)
}
