// Package normalize makes a desired object look as the API server would
// return it, so that what apply sends and what verify reads compare field
// for field. It is pure: the defaults are Kubernetes' own, written down.
package normalize

import (
	"encoding/base64"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Object makes a desired object comparable with what the API server
// returns, in place: ports default to TCP, Secret stringData moves into
// data, status and a null creationTimestamp are dropped.
func Object(u *unstructured.Unstructured) {
	delete(u.Object, "status")
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		if ts, ok := md["creationTimestamp"]; ok && ts == nil {
			delete(md, "creationTimestamp")
		}
	}
	gvk := u.GroupVersionKind()
	if gvk.Group == "" && gvk.Kind == "Secret" {
		if sd, ok := u.Object["stringData"].(map[string]any); ok {
			data, _ := u.Object["data"].(map[string]any)
			if data == nil {
				data = map[string]any{}
			}
			for k, v := range sd {
				s, _ := v.(string)
				data[k] = base64.StdEncoding.EncodeToString([]byte(s))
			}
			u.Object["data"] = data
			delete(u.Object, "stringData")
		}
	}
	if gvk.Group == "" && gvk.Kind == "Service" {
		defaultProtocols(u.Object, "spec", "ports")
	}
	for _, path := range podSpecPaths(gvk.Kind) {
		spec, ok, _ := unstructured.NestedMap(u.Object, path...)
		if !ok {
			continue
		}
		for _, field := range []string{"containers", "initContainers", "ephemeralContainers"} {
			list, _ := spec[field].([]any)
			for _, c := range list {
				if cm, ok := c.(map[string]any); ok {
					defaultProtocols(cm, "ports")
				}
			}
		}
		_ = unstructured.SetNestedMap(u.Object, spec, path...)
	}
}

func podSpecPaths(kind string) [][]string {
	switch kind {
	case "Pod":
		return [][]string{{"spec"}}
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController":
		return [][]string{{"spec", "template", "spec"}}
	case "CronJob":
		return [][]string{{"spec", "jobTemplate", "spec", "template", "spec"}}
	}
	return nil
}

func defaultProtocols(obj map[string]any, path ...string) {
	cur := any(obj)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return
		}
		cur = m[p]
	}
	ports, _ := cur.([]any)
	for _, p := range ports {
		if pm, ok := p.(map[string]any); ok {
			if _, set := pm["protocol"]; !set {
				pm["protocol"] = "TCP"
			}
		}
	}
}
