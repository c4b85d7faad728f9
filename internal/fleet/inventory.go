package fleet

import (
	"encoding/base64"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/util/version"
)

// Cluster is one inventory entry.
type Cluster struct {
	// Name is the cluster's name: metadata.name of a Cluster, data.name of
	// an Argo CD cluster Secret.
	Name        string
	Server      string
	Project     string
	Labels      map[string]string
	Annotations map[string]string
	// File and Line say where the cluster was defined.
	File string
	Line int
	// Local marks Argo CD's implicit in-cluster entry (argoCD.inCluster).
	Local bool
	// Capabilities are the cluster's spec.kubeVersion and spec.apiVersions
	// (a Cluster document's; empty for Argo CD cluster Secrets).
	Capabilities Capabilities
}

// SecretTypeLabel marks an Argo CD cluster Secret.
const SecretTypeLabel = "argocd.argoproj.io/secret-type"

type clusterDoc struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Metadata   ObjectMeta  `json:"metadata"`
	Spec       clusterSpec `json:"spec"`
}

type clusterSpec struct {
	Server      string   `json:"server"`
	Project     string   `json:"project,omitempty"`
	KubeVersion string   `json:"kubeVersion,omitempty"`
	APIVersions []string `json:"apiVersions,omitempty"`
}

type secretDoc struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   ObjectMeta        `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
}

// parseInventory reads the clusters of one inventory file. argoNS is the
// Argo CD namespace: cluster Secrets elsewhere are not part of the
// installation and are ignored, as Argo CD ignores them.
func parseInventory(file string, data []byte, argoNS string) ([]Cluster, error) {
	docs, err := SplitDocuments(file, data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, errorf(file, 0, ClassInventory, "empty inventory file: it defines no cluster (add a Cluster document or remove the file)")
	}
	var out []Cluster
	for _, d := range docs {
		apiVersion, kind := d.Kind()
		switch {
		case kind == "Cluster":
			if apiVersion != "flotilla.dev/v1alpha1" {
				return nil, errorf(file, d.Line, ClassInventory, "Cluster has apiVersion %q, want flotilla.dev/v1alpha1", apiVersion)
			}
			var c clusterDoc
			if err := d.Decode(&c); err != nil {
				return nil, err
			}
			if c.Metadata.Name == "" {
				return nil, errorf(file, d.Line, ClassInventory, "Cluster has no metadata.name")
			}
			if err := CheckClusterName(c.Metadata.Name); err != nil {
				return nil, clusterNameError(file, nodeLine(d, "metadata", "name"), "Cluster metadata.name", c.Metadata.Name, err)
			}
			if c.Spec.Server == "" {
				return nil, errorf(file, d.Line, ClassInventory, "Cluster %q has no spec.server", c.Metadata.Name)
			}
			if v := c.Spec.KubeVersion; v != "" {
				if _, err := version.ParseGeneric(v); err != nil {
					return nil, errorf(file, d.Line, ClassInventory, "Cluster %q: spec.kubeVersion %q is not a Kubernetes version (write it like v1.31.2)", c.Metadata.Name, v)
				}
			}
			out = append(out, Cluster{
				Name: c.Metadata.Name, Server: c.Spec.Server, Project: c.Spec.Project,
				Labels: c.Metadata.Labels, Annotations: c.Metadata.Annotations,
				File: file, Line: d.Line,
				Capabilities: Capabilities{KubeVersion: c.Spec.KubeVersion, APIVersions: c.Spec.APIVersions},
			})
		case kind == "Secret" && apiVersion == "v1":
			var s secretDoc
			if err := d.DecodeSecret(&s); err != nil {
				return nil, err
			}
			if s.Metadata.Labels[SecretTypeLabel] != "cluster" {
				continue // a repository or other Argo CD secret: not inventory
			}
			if ns := s.Metadata.Namespace; ns != "" && ns != argoNS {
				continue
			}
			field := func(key string) (string, error) {
				if v, ok := s.StringData[key]; ok {
					return v, nil
				}
				v, ok := s.Data[key]
				if !ok {
					return "", nil
				}
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return "", errorf(file, d.Line, ClassInventory, "Secret %q: data.%s is not valid base64", s.Metadata.Name, key)
				}
				return string(b), nil
			}
			var c Cluster
			if c.Name, err = field("name"); err != nil {
				return nil, err
			}
			if c.Server, err = field("server"); err != nil {
				return nil, err
			}
			if c.Project, err = field("project"); err != nil {
				return nil, err
			}
			if c.Name == "" || c.Server == "" {
				return nil, errorf(file, d.Line, ClassInventory, "cluster Secret %q needs name and server in stringData or data", s.Metadata.Name)
			}
			if err := CheckClusterName(c.Name); err != nil {
				key := "data"
				if _, ok := s.StringData["name"]; ok {
					key = "stringData"
				}
				return nil, clusterNameError(file, nodeLine(d, key, "name"), fmt.Sprintf("cluster Secret %q: %s.name", s.Metadata.Name, key), c.Name, err)
			}
			c.Labels, c.Annotations = s.Metadata.Labels, s.Metadata.Annotations
			c.File, c.Line = file, d.Line
			out = append(out, c)
		default:
			return nil, errorf(file, d.Line, ClassInventory, "%s %q is not inventory: expected kind Cluster (flotilla.dev/v1alpha1) or an Argo CD cluster Secret", kindOrUnknown(kind), d.Name())
		}
	}
	return out, nil
}

// nodeLine is the line of the value at path in a document, else the
// document's.
func nodeLine(d Document, path ...string) int {
	n := d.Node
	for _, k := range path {
		n = MapValue(n, k)
	}
	if n == nil {
		return d.Line
	}
	return n.Line
}

func kindOrUnknown(kind string) string {
	if kind == "" {
		return "a document without kind"
	}
	return kind
}

// sortAndCheckClusters orders clusters by name and refuses duplicate names
// or servers, which would make hydrated branches or destinations ambiguous.
func sortAndCheckClusters(cs []Cluster) error {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	servers := map[string]Cluster{}
	for i, c := range cs {
		if i > 0 && cs[i-1].Name == c.Name {
			p := cs[i-1]
			return errorf(c.File, c.Line, ClassInventory, "cluster %q is defined twice (also at %s)", c.Name, location(p.File, p.Line))
		}
		if p, ok := servers[c.Server]; ok {
			return errorf(c.File, c.Line, ClassInventory, "clusters %q and %q have the same server %s (the other is at %s)", p.Name, c.Name, c.Server, location(p.File, p.Line))
		}
		servers[c.Server] = c
	}
	return nil
}

func location(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// Capabilities are what Helm charts see of a cluster as .Capabilities:
// its Kubernetes version and the API versions it serves (added to Helm's
// built-in list). Empty fields take the fleet's defaults.
type Capabilities struct {
	KubeVersion string   `json:"kubeVersion,omitempty"`
	APIVersions []string `json:"apiVersions,omitempty"`
}

// Or returns c with its empty fields taken from def.
func (c Capabilities) Or(def Capabilities) Capabilities {
	if c.KubeVersion == "" {
		c.KubeVersion = def.KubeVersion
	}
	if len(c.APIVersions) == 0 {
		c.APIVersions = def.APIVersions
	}
	return c
}
