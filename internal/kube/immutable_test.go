package kube

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-dev/flotilla/internal/kube/immutable"
	"github.com/flotilla-dev/flotilla/internal/kube/syncplan"
)

// TestImmutableErrorsOfTheAPIServer applies each object, then a change to
// it with server-side dry-run, and checks immutable.Is on what the real
// API server answers: the changes it cannot make in place are recognised,
// a value no object may have is not, nor a change that has both.
func TestImmutableErrorsOfTheAPIServer(t *testing.T) {
	t.Parallel()
	c := client(t)
	const namespace = "immutable-errors"
	mustApply(t, c, App{Name: namespace, Objects: objs(t, ns(namespace))}, Options{})
	deploy := func(app string) string {
		return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1, selector: {matchLabels: {app: %s}}, template: {metadata: {labels: {app: %s}}, spec: {containers: [{name: web, image: nginx}]}}}\n", app, app)
	}
	job := func(image string) string {
		return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: " + image + "}]}}}\n"
	}
	service := func(ip string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: " + ip + ", ports: [{port: 80}]}\n"
	}
	sts := func(serviceName, size string) string {
		return "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {serviceName: " + serviceName + ", selector: {matchLabels: {app: db}}, template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: postgres}]}}, volumeClaimTemplates: [{metadata: {name: d}, spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: " + size + "}}}}]}\n"
	}
	configMap := func(name, data string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\nimmutable: true\ndata: " + data + "\n"
	}
	pvc := func(class string) string {
		return "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}, storageClassName: " + class + "}\n"
	}
	binding := func(role string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: " + role + "}\nsubjects: [{kind: User, name: x}]\n"
	}
	for _, tt := range []struct {
		name, before, after string
		want                bool
	}{
		{"Deployment selector", deploy("a"), deploy("b"), true},
		{"Job template", job("busybox:1"), job("busybox:2"), true},
		{"Service clusterIP", service("10.96.250.77"), service("10.96.250.78"), true},
		{"StatefulSet serviceName", sts("a", "1Gi"), sts("b", "1Gi"), true},
		{"StatefulSet volumeClaimTemplates", sts("a", "1Gi"), sts("a", "2Gi"), true},
		{"immutable ConfigMap", configMap("frozen", "{k: a}"), configMap("frozen", "{k: b}"), true},
		{"PersistentVolumeClaim storageClassName", pvc("a"), pvc("b"), true},
		{"RoleBinding roleRef", binding("a"), binding("b"), true},
		{"an invalid key", configMap("bad", "{k: a}"), strings.Replace(configMap("bad", "{k: a, \"this field is immutable\": b}"), "immutable: true\n", "", 1), false},
		{"immutable and an invalid key", configMap("both", "{k: a}"), configMap("both", "{k: b, \"k k\": c}"), false},
	} {
		before, after := objs(t, tt.before)[0], objs(t, tt.after)[0]
		before.SetNamespace(namespace)
		after.SetNamespace(namespace)
		ri, _, err := c.resource(before)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, err := applyPatch(t.Context(), ri, before, false, syncplan.Options{}); err != nil {
			t.Fatalf("%s: apply the first version: %v", tt.name, err)
		}
		_, err = applyPatch(t.Context(), ri, after, true, syncplan.Options{})
		if err == nil {
			t.Errorf("%s: the API server took the change", tt.name)
			continue
		}
		if got := immutable.Is(err); got != tt.want {
			t.Errorf("%s: immutable.Is = %v, want %v: %v", tt.name, got, tt.want, err)
		}
	}
}

// TestRecreateOnlyForImmutableFields: a Service whose clusterIP changes
// is refused with the opt-in to name, and recreated with it; a change that
// also holds an invalid value is refused even with the opt-in, and the
// object is not deleted.
func TestRecreateOnlyForImmutableFields(t *testing.T) {
	t.Parallel()
	c := client(t)
	const name = "recreate-immutable"
	service := func(ip, annotation string) string {
		return ns(name) + fmt.Sprintf("---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: %s, annotations: {%s}}\nspec: {clusterIP: %s, ports: [{port: 80}]}\n", name, annotation, ip)
	}
	svcGVR := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	mustApply(t, c, App{Name: name, Objects: objs(t, service("10.96.250.10", ""))}, Options{})
	before, _ := get(t, c, svcGVR, name, "s")

	res, err := c.Apply(t.Context(), App{Name: name, Objects: objs(t, service("10.96.250.11", ""))}, Options{})
	if err == nil {
		t.Fatal("a clusterIP change applied without opt-in")
	}
	if m := messages(res)["Service/"+name+"/s"]; !strings.Contains(m, "may not change once set") || !strings.Contains(m, "annotate it flotilla.dev/force: enabled") {
		t.Errorf("message does not name the opt-in: %s", m)
	}
	mustApply(t, c, App{Name: name, Objects: objs(t, service("10.96.250.11", "flotilla.dev/force: enabled"))}, Options{})
	after, _ := get(t, c, svcGVR, name, "s")
	if after.GetUID() == before.GetUID() {
		t.Error("the Service was not recreated")
	}

	const cmName = "recreate-invalid"
	frozen := func(data string) string {
		return ns(cmName) + fmt.Sprintf("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: %s, annotations: {flotilla.dev/force: enabled}}\nimmutable: true\ndata: %s\n", cmName, data)
	}
	mustApply(t, c, App{Name: cmName, Objects: objs(t, frozen("{k: a}"))}, Options{})
	before, _ = get(t, c, cmGVR, cmName, "c")
	if _, err := c.Apply(t.Context(), App{Name: cmName, Objects: objs(t, frozen(`{k: b, "k k": c}`))}, Options{}); err == nil {
		t.Fatal("an invalid key applied")
	}
	after, ok := get(t, c, cmGVR, cmName, "c")
	if !ok || after.GetUID() != before.GetUID() {
		t.Errorf("the ConfigMap was deleted for a change that cannot be created either (present %v)", ok)
	}
}
