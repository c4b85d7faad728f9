package normalize

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t testing.TB, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestObject: one row per default, each object written as the API server
// returns it (want) and as Git holds it (in).
func TestObject(t *testing.T) {
	t.Parallel()
	pod := func(ports string) string {
		return "{containers: [{name: c, ports: " + ports + "}], initContainers: [{name: i, ports: " + ports + "}], ephemeralContainers: [{name: e, ports: " + ports + "}]}"
	}
	const in, out = "[{containerPort: 80}, {containerPort: 53, protocol: UDP}]", "[{containerPort: 80, protocol: TCP}, {containerPort: 53, protocol: UDP}]"
	for _, tt := range []struct {
		name, in, want string
	}{
		{"status dropped", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nstatus: {x: 1}\n",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"},
		{"null creationTimestamp dropped", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, creationTimestamp: null}\n",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"},
		{"a creationTimestamp kept", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, creationTimestamp: \"2024-01-01T00:00:00Z\"}\n",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, creationTimestamp: \"2024-01-01T00:00:00Z\"}\n"},
		{"Secret stringData into data, over data", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: YQ==, b: Yg==}\nstringData: {b: B, c: C}\n",
			"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: YQ==, b: Qg==, c: Qw==}\n"},
		{"Secret stringData without data", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n",
			"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: dg==}\n"},
		{"a Secret of another group is not core's", "apiVersion: example.com/v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n",
			"apiVersion: example.com/v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n"},
		{"Service ports", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: " + in + "}\n",
			"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: " + out + "}\n"},
		{"Pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: " + pod(in) + "\n",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: " + pod(out) + "\n"},
		{"Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: " + pod(in) + "}}\n",
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: " + pod(out) + "}}\n"},
		{"StatefulSet", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: d}\nspec: {template: {spec: " + pod(in) + "}}\n",
			"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: d}\nspec: {template: {spec: " + pod(out) + "}}\n"},
		{"DaemonSet", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec: {template: {spec: " + pod(in) + "}}\n",
			"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec: {template: {spec: " + pod(out) + "}}\n"},
		{"ReplicaSet", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: d}\nspec: {template: {spec: " + pod(in) + "}}\n",
			"apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: d}\nspec: {template: {spec: " + pod(out) + "}}\n"},
		{"Job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: d}\nspec: {template: {spec: " + pod(in) + "}}\n",
			"apiVersion: batch/v1\nkind: Job\nmetadata: {name: d}\nspec: {template: {spec: " + pod(out) + "}}\n"},
		{"ReplicationController", "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: d}\nspec: {template: {spec: " + pod(in) + "}}\n",
			"apiVersion: v1\nkind: ReplicationController\nmetadata: {name: d}\nspec: {template: {spec: " + pod(out) + "}}\n"},
		{"CronJob", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: d}\nspec: {jobTemplate: {spec: {template: {spec: " + pod(in) + "}}}}\n",
			"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: d}\nspec: {jobTemplate: {spec: {template: {spec: " + pod(out) + "}}}}\n"},
		{"another kind's ports untouched", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {ports: " + in + ", template: {spec: " + pod(in) + "}}\n",
			"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {ports: " + in + ", template: {spec: " + pod(in) + "}}\n"},
		{"a Deployment without a template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n",
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n"},
		{"ports of the wrong shape left alone", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [80, {port: 81}]}\n",
			"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [80, {port: 81, protocol: TCP}]}\n"},
	} {
		u := obj(t, tt.in)
		Object(u)
		if diff := cmp.Diff(obj(t, tt.want).Object, u.Object); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// FuzzObject: Object never panics on an object of any shape, and is
// idempotent (what verify normalises twice compares equal).
func FuzzObject(f *testing.F) {
	f.Add(`{"apiVersion":"v1","kind":"Secret","metadata":{"creationTimestamp":null},"stringData":{"a":"b"},"status":{}}`)
	f.Add(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"ports":[{"containerPort":80}]}]}}}}`)
	f.Add(`{"apiVersion":"batch/v1","kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[1,{"ports":"x"}]}}}}}}`)
	f.Add(`{"apiVersion":"v1","kind":"Service","spec":{"ports":[{"protocol":null}]},"metadata":[]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var m map[string]any
		if json.Unmarshal([]byte(doc), &m) != nil || m == nil {
			return
		}
		u := &unstructured.Unstructured{Object: m}
		Object(u)
		once := u.DeepCopy()
		Object(u)
		if diff := cmp.Diff(once.Object, u.Object); diff != "" {
			t.Errorf("not idempotent (-once +twice):\n%s", diff)
		}
	})
}
