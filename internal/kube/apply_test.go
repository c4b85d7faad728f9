package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-dev/flotilla/internal/kube/normalize"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	"github.com/flotilla-dev/flotilla/internal/render"
)

var testCluster *kubetest.Cluster

func TestMain(m *testing.M) {
	var err error
	testCluster, err = kubetest.StartCluster(context.Background(), kubetest.Options{Name: "kube-test", Workloads: true})
	if msg := kubetest.SkipUnavailable(err); msg != "" {
		// The pure tests still run; those that need the cluster skip.
		fmt.Fprintln(os.Stderr, "kube: cluster tests "+msg)
		testCluster = nil
		os.Exit(m.Run())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, testCluster.Logs(40))
	}
	testCluster.Stop()
	os.Exit(code)
}

// cluster returns the package's control plane, skipping the test when the
// binaries are not built.
func cluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	if testCluster == nil {
		t.Skip("control-plane binaries missing: build them with `make tools`")
	}
	return testCluster
}

func client(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(cluster(t).Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func objs(t *testing.T, yaml string) []*unstructured.Unstructured {
	t.Helper()
	out, err := render.Decode("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cm(ns, name, value string) string {
	return fmt.Sprintf("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {k: %q}\n", name, ns, value)
}

func ns(name string) string {
	return fmt.Sprintf("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", name)
}

func get(t *testing.T, c *Client, gvr schema.GroupVersionResource, namespace, name string) (*unstructured.Unstructured, bool) {
	t.Helper()
	u, err := c.Dynamic.Resource(gvr).Namespace(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if kerrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return u, true
}

var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func mustApply(t *testing.T, c *Client, app App, o Options) *Result {
	t.Helper()
	res, err := c.Apply(t.Context(), app, o)
	if err != nil {
		t.Fatalf("apply %s: %v\n%+v", app.Name, err, res)
	}
	return res
}

func actions(r *Result) map[string]Action {
	out := map[string]Action{}
	for _, o := range r.Objects {
		out[o.Object] = o.Action
	}
	return out
}

func TestCRDAndCustomResourceInOneApp(t *testing.T) {
	t.Parallel()
	c := client(t)
	app := App{Name: "crd-app", Prune: true, Objects: objs(t, `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: crd-app}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`+ns("crd-app"))}
	res := mustApply(t, c, app, Options{})
	want := map[string]Action{"CustomResourceDefinition/widgets.example.com": Created, "Namespace/crd-app": Created, "Widget/crd-app/w1": Created}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := get(t, c, schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, "crd-app", "w1"); !ok {
		t.Error("the custom resource was not created")
	}
}

func TestReapplyWritesNothing(t *testing.T) {
	t.Parallel()
	c := client(t)
	app := App{Name: "idem", Objects: objs(t, ns("idem")+cm("idem", "a", "1")+`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: idem}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27, ports: [{containerPort: 80}]}]}
`)}
	mustApply(t, c, app, Options{})
	before, _ := get(t, c, cmGVR, "idem", "a")
	res := mustApply(t, c, app, Options{})
	for id, a := range actions(res) {
		if a != Unchanged {
			t.Errorf("%s: %s on a re-apply, want unchanged", id, a)
		}
	}
	after, _ := get(t, c, cmGVR, "idem", "a")
	if before.GetResourceVersion() != after.GetResourceVersion() {
		t.Errorf("resourceVersion moved %s -> %s: a no-change apply wrote", before.GetResourceVersion(), after.GetResourceVersion())
	}
}

func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	bin := kubetest.Tool(t, "kubectl")
	cmd := exec.Command(bin, append([]string{"--kubeconfig", cluster(t).Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTakeOverFromKubectl(t *testing.T) {
	t.Parallel()
	c := client(t)
	if out, err := kubectl(t, ns("takeover")+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: takeover}\ndata: {keep: a, dropped: b}\n", "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	app := App{Name: "takeover", Objects: objs(t, ns("takeover")+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: takeover}\ndata: {keep: a}\n")}
	mustApply(t, c, app, Options{})
	live, _ := get(t, c, cmGVR, "takeover", "c")
	data, _, _ := unstructured.NestedStringMap(live.Object, "data")
	if diff := cmp.Diff(map[string]string{"keep": "a"}, data); diff != "" {
		t.Errorf("a field kubectl set and Git removed is still there (-want +got):\n%s", diff)
	}
	if _, ok := live.GetAnnotations()[LastApplied]; ok {
		t.Error("kubectl's last-applied annotation was not removed")
	}
	for _, mf := range live.GetManagedFields() {
		if strings.HasPrefix(mf.Manager, "kubectl") {
			t.Errorf("kubectl still manages fields: %+v", mf)
		}
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	c := client(t)
	v1 := App{Name: "prune", Prune: true, Objects: objs(t, ns("prune")+cm("prune", "a", "1")+cm("prune", "b", "1")+cm("prune", "c", "1"))}
	mustApply(t, c, v1, Options{})
	v2 := App{Name: "prune", Prune: true, Objects: objs(t, ns("prune")+cm("prune", "a", "1")+cm("prune", "c", "1"))}
	res := mustApply(t, c, v2, Options{})
	if actions(res)["ConfigMap/prune/b"] != Deleted {
		t.Errorf("b not pruned: %+v", res.Objects)
	}
	if _, ok := get(t, c, cmGVR, "prune", "b"); ok {
		t.Error("b still exists")
	}
	inv, err := c.ReadInventory(t.Context(), DefaultInventoryNamespace, "prune")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inv.Entries["prune_b__ConfigMap"]; ok || len(inv.Entries) != 3 {
		t.Errorf("inventory after prune: %v", inv.Entries)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	c := client(t)
	full := App{Name: "refuse", Prune: true, Objects: objs(t, ns("refuse")+cm("refuse", "a", "1")+cm("refuse", "b", "1")+cm("refuse", "c", "1"))}
	mustApply(t, c, full, Options{})

	if _, err := c.Apply(t.Context(), App{Name: "refuse", Prune: true}, Options{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty render: %v, want ErrEmpty", err)
	}
	small := App{Name: "refuse", Prune: true, Objects: objs(t, ns("refuse"))}
	_, err := c.Apply(t.Context(), small, Options{})
	if !errors.Is(err, ErrPruneBudget) || !strings.Contains(err.Error(), "it would delete 3 objects (75% of the app's 4, more than the 50% budget): ConfigMap/refuse/a, ConfigMap/refuse/b, ConfigMap/refuse/c; check the render, then pass --confirm-prune") {
		t.Errorf("over budget: %v", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, ok := get(t, c, cmGVR, "refuse", n); !ok {
			t.Errorf("%s was deleted by a refused run", n)
		}
	}
	res := mustApply(t, c, small, Options{ConfirmPrune: true})
	if n := res.Counts()[Deleted]; n != 3 {
		t.Errorf("with --confirm-prune: %d deleted, want 3: %+v", n, res.Objects)
	}
}

func TestPruneKeepsWhatIsNotOurs(t *testing.T) {
	t.Parallel()
	c := client(t)
	v1 := App{Name: "keep", Prune: true, Objects: objs(t, ns("keep")+cm("keep", "a", "1")+cm("keep", "relabelled", "1")+cm("keep", "annotated", "1")+ns("keep-extra")+cm("keep", "b", "1")+cm("keep", "c", "1")+cm("keep", "d", "1"))}
	mustApply(t, c, v1, Options{})
	// Another owner takes one over; someone marks another to keep.
	if out, err := kubectl(t, "", "label", "configmap", "relabelled", "-n", "keep", "--overwrite", LabelPartOf+"=someone-else"); err != nil {
		t.Fatal(out)
	}
	if out, err := kubectl(t, "", "annotate", "configmap", "annotated", "-n", "keep", AnnotationPrune+"=disabled"); err != nil {
		t.Fatal(out)
	}
	v2 := App{Name: "keep", Prune: true, Objects: objs(t, ns("keep")+cm("keep", "a", "1")+cm("keep", "b", "1")+cm("keep", "c", "1")+cm("keep", "d", "1"))}
	res := mustApply(t, c, v2, Options{})
	got := actions(res)
	for id, want := range map[string]Action{"ConfigMap/keep/relabelled": Kept, "ConfigMap/keep/annotated": Kept, "Namespace/keep-extra": Kept} {
		if got[id] != want {
			t.Errorf("%s: %s, want %s", id, got[id], want)
		}
	}
	for _, name := range []string{"relabelled", "annotated"} {
		if _, ok := get(t, c, cmGVR, "keep", name); !ok {
			t.Errorf("%s was deleted", name)
		}
	}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	if _, ok := get(t, c, nsGVR, "", "keep-extra"); !ok {
		t.Error("a Namespace was pruned without opt-in")
	}
}

func TestImmutableField(t *testing.T) {
	t.Parallel()
	c := client(t)
	deploy := func(sel, annotation string) string {
		return ns("immutable") + fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: immutable, annotations: {%s}}
spec:
  replicas: 1
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
`, annotation, sel, sel)
	}
	mustApply(t, c, App{Name: "immutable", Objects: objs(t, deploy("web", ""))}, Options{})
	before, _ := get(t, c, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "immutable", "web")

	res, err := c.Apply(t.Context(), App{Name: "immutable", Objects: objs(t, deploy("web2", ""))}, Options{})
	if err == nil {
		t.Fatal("a selector change applied without opt-in")
	}
	msg := res.Objects[len(res.Objects)-1].Message
	if !strings.Contains(msg, "field is immutable") || !strings.Contains(msg, "annotate it flotilla.dev/force: enabled") {
		t.Errorf("message does not explain: %s", msg)
	}
	res = mustApply(t, c, App{Name: "immutable", Objects: objs(t, deploy("web2", "flotilla.dev/force: enabled"))}, Options{})
	after, _ := get(t, c, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "immutable", "web")
	if after.GetUID() == before.GetUID() {
		t.Errorf("not recreated: %+v", res.Objects)
	}
}

// TestKubectlSeesTheApplySet: kubectl, with ApplySets on, reads the parent
// and refuses to prune a set another tool manages.
func TestKubectlSeesTheApplySet(t *testing.T) {
	t.Parallel()
	c := client(t)
	mustApply(t, c, App{Name: "applyset", Objects: objs(t, ns("applyset")+cm("applyset", "a", "1"))}, Options{Tooling: "flotilla/v0.1.0"})
	parent, _ := get(t, c, cmGVR, DefaultInventoryNamespace, "applyset")
	if got, want := parent.GetLabels()[LabelApplySetID], ApplySetID("applyset", DefaultInventoryNamespace); got != want {
		t.Errorf("parent id %s, want %s", got, want)
	}
	member, _ := get(t, c, cmGVR, "applyset", "a")
	if member.GetLabels()[LabelPartOf] != ApplySetID("applyset", DefaultInventoryNamespace) {
		t.Errorf("member labels %v", member.GetLabels())
	}
	out, err := kubectl(t, cm("applyset", "other", "1"), "apply", "--server-side", "--prune", "--applyset=configmap/applyset", "-n", DefaultInventoryNamespace, "-f", "-")
	if err == nil || !strings.Contains(out, `managed by tooling "flotilla" instead of "kubectl"`) {
		t.Errorf("kubectl did not refuse Flotilla's ApplySet: %v\n%s", err, out)
	}
}

// TestInterruptedApplyConverges stops an apply after its first stage (as
// if the job were killed), then runs again: everything converges and the
// object that left the set is pruned, not orphaned.
func TestInterruptedApplyConverges(t *testing.T) {
	t.Parallel()
	c := client(t)
	v1 := App{Name: "crash", Prune: true, Objects: objs(t, ns("crash")+cm("crash", "a", "1")+cm("crash", "old", "1"))}
	mustApply(t, c, v1, Options{})
	v2 := App{Name: "crash", Prune: true, Objects: objs(t, ns("crash")+cm("crash", "a", "2")+cm("crash", "new", "1"))}
	killed := errors.New("killed")
	if _, err := c.Apply(t.Context(), v2, Options{BetweenStages: func(stage int) error {
		if stage == 0 {
			return killed
		}
		return nil
	}}); !errors.Is(err, killed) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := get(t, c, cmGVR, "crash", "new"); ok {
		t.Fatal("the interrupted run went past its first stage")
	}
	inv, _ := c.ReadInventory(t.Context(), DefaultInventoryNamespace, "crash")
	if _, ok := inv.Entries["crash_new__ConfigMap"]; !ok {
		t.Errorf("the inventory did not record the new set before applying: %v", inv.Entries)
	}
	res := mustApply(t, c, v2, Options{})
	if actions(res)["ConfigMap/crash/old"] != Deleted {
		t.Errorf("old not pruned after the re-run: %+v", res.Objects)
	}
	live, ok := get(t, c, cmGVR, "crash", "a")
	if v, _, _ := unstructured.NestedString(live.Object, "data", "k"); !ok || v != "2" {
		t.Errorf("a = %q", v)
	}
	inv, _ = c.ReadInventory(t.Context(), DefaultInventoryNamespace, "crash")
	var keys []string
	for k := range inv.Entries {
		keys = append(keys, k)
	}
	if len(keys) != 3 {
		t.Errorf("inventory %v, want crash, a, new", keys)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	c := client(t)
	mustApply(t, c, App{Name: "dry", Prune: true, Objects: objs(t, ns("dry")+cm("dry", "a", "1")+cm("dry", "gone", "1")+cm("dry", "same", "1"))}, Options{})
	before, _ := c.ReadInventory(t.Context(), DefaultInventoryNamespace, "dry")
	next := App{Name: "dry", Prune: true, Objects: objs(t, ns("dry")+cm("dry", "a", "2")+cm("dry", "same", "1")+cm("dry", "fresh", "1"))}
	res := mustApply(t, c, next, Options{DryRun: true})
	want := map[string]Action{"Namespace/dry": Unchanged, "ConfigMap/dry/a": Configured, "ConfigMap/dry/same": Unchanged, "ConfigMap/dry/fresh": Created, "ConfigMap/dry/gone": Deleted}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Errorf("dry-run report (-want +got):\n%s", diff)
	}
	if _, ok := get(t, c, cmGVR, "dry", "fresh"); ok {
		t.Error("dry run created an object")
	}
	if _, ok := get(t, c, cmGVR, "dry", "gone"); !ok {
		t.Error("dry run deleted an object")
	}
	live, _ := get(t, c, cmGVR, "dry", "a")
	if v, _, _ := unstructured.NestedString(live.Object, "data", "k"); v != "1" {
		t.Error("dry run changed an object")
	}
	after, _ := c.ReadInventory(t.Context(), DefaultInventoryNamespace, "dry")
	if before.resourceVersion != after.resourceVersion {
		t.Error("dry run wrote the inventory")
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	secret := objs(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n")[0]
	normalize.Object(secret)
	msg := `Secret "s" is invalid: data[password]: Invalid value: "aHVudGVyMg==": hunter2 is not allowed`
	if got := Redact(secret, msg); strings.Contains(got, "hunter2") || strings.Contains(got, "aHVudGVyMg==") {
		t.Errorf("secret value in %q", got)
	}
}

// TestRedactNestedValues: a value that holds another is hidden whole, and
// the message is the same whatever the map order (before, "abc" could be
// replaced first and leave "***def" of "abcdef").
func TestRedactNestedValues(t *testing.T) {
	t.Parallel()
	secret := objs(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: abc, b: abcdef, c: xabcdefx, d: ab}\n")[0]
	normalize.Object(secret)
	msg := "values abcdef and xabcdefx and abc and ab"
	want := "values *** and *** and *** and ***"
	for range 50 {
		if got := Redact(secret, msg); got != want {
			t.Fatalf("Redact = %q, want %q", got, want)
		}
	}
}
