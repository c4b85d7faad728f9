package kube

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/flotilla-dev/flotilla/internal/kube/drift"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

var deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func driftApp(t *testing.T, name string) App {
	return App{Name: name, Objects: objs(t, ns(name)+cm(name, "c", "1")+fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
`, name))}
}

// TestDriftIsWhatApplyChanges edits applied objects as people do with
// kubectl (their changes owned by kubectl's field managers, which apply
// takes over) and checks that verify reports the change with a diff, that
// apply --dry-run reports the same diff, that apply changes exactly that,
// and that verify is Synced afterwards. Before, verify and the dry-run
// missed a label or a key kubectl added, which apply then removed.
func TestDriftIsWhatApplyChanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		object string // Kind/ns/name with ns = name
		edit   []string
		editor string   // KUBE_EDITOR for kubectl edit
		want   []string // lines the diff must hold
	}{
		{name: "drift-label", object: "ConfigMap/%s/c", edit: []string{"label", "cm", "c", "extra=yes"}, want: []string{`-    extra: "yes"`}},
		{name: "drift-patch", object: "ConfigMap/%s/c", edit: []string{"patch", "cm", "c", "-p", `{"data":{"added":"x"}}`}, want: []string{"-  added: x"}},
		{name: "drift-edit", object: "ConfigMap/%s/c", edit: []string{"edit", "cm", "c"}, editor: `sed -i -e 's/^  k: "1"$/  k: edited/'`, want: []string{"-  k: edited", `+  k: "1"`}},
		{name: "drift-scale", object: "Deployment/%s/web", edit: []string{"scale", "deploy", "web", "--replicas=5"}, want: []string{"-  replicas: 5", "+  replicas: 2"}},
		{name: "drift-env", object: "Deployment/%s/web", edit: []string{"patch", "deploy", "web", "--type=json", "-p", `[{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"X","value":"1"}]}]`}, want: []string{"-      - env:", "-        - name: X"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := client(t)
			app := driftApp(t, tc.name)
			id := fmt.Sprintf(tc.object, tc.name)
			mustApply(t, c, app, Options{})
			args := append([]string{"-n", tc.name}, tc.edit...)
			if out, err := kubectlEnv(t, []string{"KUBE_EDITOR=" + tc.editor}, args...); err != nil {
				t.Fatalf("kubectl %v: %v\n%s", tc.edit, err, out)
			}
			settle(t, c, tc.name)

			st, err := c.Verify(t.Context(), app, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]ObjectStatus{}
			for _, o := range st.Objects {
				got[o.Object] = o
			}
			if st.Sync != OutOfSync || got[id].State != StateDrifted {
				t.Fatalf("verify: %s, %s is %s, want OutOfSync and drifted: %+v", st.Sync, id, got[id].State, st.Objects)
			}
			diff := got[id].Diff
			for _, line := range tc.want {
				if !containsLine(diff, line) {
					t.Errorf("verify's diff lacks %q:\n%s", line, diff)
				}
			}

			dry := mustApply(t, c, app, Options{DryRun: true})
			if d := cmp.Diff(map[string]string{id: diff}, dry.Diffs); d != "" {
				t.Errorf("apply --dry-run disagrees with verify (-verify +dry-run):\n%s", d)
			}

			before := liveObject(t, c, id)
			res := mustApply(t, c, app, Options{})
			for _, o := range res.Objects {
				want := Unchanged
				if o.Object == id {
					want = Configured
				}
				if o.Action != want {
					t.Errorf("apply: %s %s, want %s", o.Object, o.Action, want)
				}
			}
			after := liveObject(t, c, id)
			// The Deployment controller, not apply, moves the revision.
			const revision = "deployment.kubernetes.io/revision"
			if v, ok := before.GetAnnotations()[revision]; ok {
				a := after.GetAnnotations()
				a[revision] = v
				after.SetAnnotations(a)
			}
			changed, err := drift.Compare(before, after, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(diff, changed.Diff); d != "" {
				t.Errorf("apply changed something else than verify reported (-verify +apply):\n%s", d)
			}

			st, err = c.Verify(t.Context(), app, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Sync != Synced {
				t.Errorf("after apply: %s (%s), want Synced", st.Sync, st.Message)
			}
		})
	}
}

func containsLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}

func liveObject(t *testing.T, c *Client, id string) *unstructured.Unstructured {
	t.Helper()
	parts := strings.Split(id, "/")
	gvr := cmGVR
	if parts[0] == "Deployment" {
		gvr = deployGVR
	}
	u, ok := get(t, c, gvr, parts[1], parts[2])
	if !ok {
		t.Fatalf("%s not found", id)
	}
	return u
}

func kubectlEnv(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	bin := kubetest.Tool(t, "kubectl")
	cmd := exec.Command(bin, append([]string{"--kubeconfig", cluster(t).Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// settle waits until the Deployment controller has seen the last change,
// so that what verify reads is not rewritten under it.
func settle(t *testing.T, c *Client, namespace string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		u, ok := get(t, c, deployGVR, namespace, "web")
		if !ok {
			return false, nil
		}
		seen, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		return seen == u.GetGeneration(), nil
	})
	if err != nil {
		t.Fatalf("Deployment %s/web did not settle: %v", namespace, err)
	}
}

// TestIgnoreDifferencesHPA: replicas an autoscaler manages (written through
// /scale by its own field manager) are not drift under ignoreDifferences,
// and with RespectIgnoreDifferences apply keeps them while it changes the
// rest; without it, apply of another change sets Git's replicas again, as
// Argo CD's sync does.
func TestIgnoreDifferencesHPA(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rule    drift.Rule
		respect bool
		want    int64 // replicas after a change of image
	}{
		{"hpa-pointer", drift.Rule{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}, true, 4},
		{"hpa-manager", drift.Rule{Group: "apps", Kind: "Deployment", ManagedFieldsManagers: []string{"kube-controller-manager"}}, true, 4},
		{"hpa-jq", drift.Rule{Kind: "Deployment", Name: "web", JQPathExpressions: []string{".spec.replicas"}}, true, 4},
		{"hpa-not-respected", drift.Rule{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := client(t)
			app := driftApp(t, tc.name)
			mustApply(t, c, app, Options{})
			scale := []byte(`{"spec":{"replicas":4}}`)
			if _, err := c.Dynamic.Resource(deployGVR).Namespace(tc.name).Patch(t.Context(), "web", types.MergePatchType, scale, metav1.PatchOptions{FieldManager: "kube-controller-manager"}, "scale"); err != nil {
				t.Fatal(err)
			}
			settle(t, c, tc.name)
			if st, err := c.Verify(t.Context(), app, Options{}); err != nil || st.Sync != OutOfSync {
				t.Fatalf("without ignoreDifferences the scaled Deployment must be drift: %+v %v", st, err)
			}
			var err error
			if app.Ignore, err = drift.Compile([]drift.Rule{tc.rule}); err != nil {
				t.Fatal(err)
			}
			app.RespectIgnoreDifferences = tc.respect
			if st, err := c.Verify(t.Context(), app, Options{}); err != nil || st.Sync != Synced {
				t.Fatalf("ignored replicas are drift: %+v %v", st, err)
			}
			if res := mustApply(t, c, app, Options{}); actions(res)["Deployment/"+tc.name+"/web"] != Unchanged {
				t.Errorf("apply changed a Deployment that differs only in ignored fields: %+v", res.Objects)
			}

			// A change in Git: the image.
			for _, u := range app.Objects {
				if u.GetKind() == "Deployment" {
					_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "web", "image": "nginx:1.28"}}, "spec", "template", "spec", "containers")
				}
			}
			st, err := c.Verify(t.Context(), app, Options{})
			if err != nil || st.Sync != OutOfSync {
				t.Fatalf("a new image is not drift: %+v %v", st, err)
			}
			dry := mustApply(t, c, app, Options{DryRun: true})
			for _, o := range st.Objects {
				if o.Diff != dry.Diffs[o.Object] {
					t.Errorf("%s: verify and the dry-run disagree:\n%s\n---\n%s", o.Object, o.Diff, dry.Diffs[o.Object])
				}
			}
			mustApply(t, c, app, Options{})
			live := liveObject(t, c, "Deployment/"+tc.name+"/web")
			if n, _, _ := unstructured.NestedInt64(live.Object, "spec", "replicas"); n != tc.want {
				t.Errorf("replicas %d after apply, want %d", n, tc.want)
			}
			if st, err := c.Verify(t.Context(), app, Options{}); err != nil || st.Sync != Synced {
				t.Errorf("after apply: %+v %v", st, err)
			}
		})
	}
}

// TestVerifyCost: verify costs two requests per object (the read and the
// dry-run apply) and one for the inventory; computing what apply's
// takeover would release costs none.
func TestVerifyCost(t *testing.T) {
	t.Parallel()
	const n = 20
	yaml := ns("verify-cost")
	for i := range n {
		yaml += cm("verify-cost", fmt.Sprintf("c%d", i), "1")
	}
	app := App{Name: "verify-cost", Objects: objs(t, yaml)}
	mustApply(t, client(t), app, Options{})
	if out, err := kubectl(t, "", "-n", "verify-cost", "label", "cm", "c0", "extra=yes"); err != nil {
		t.Fatal(out)
	}
	var requests atomic.Int64
	cfg := rest.CopyConfig(cluster(t).Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return rt.RoundTrip(r)
		})
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(t.Context(), app, Options{}); err != nil { // discovery
		t.Fatal(err)
	}
	requests.Store(0)
	st, err := c.Verify(t.Context(), app, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sync != OutOfSync {
		t.Errorf("verify: %s, want OutOfSync (a label kubectl added)", st.Sync)
	}
	objects := n + 1
	if got := requests.Load(); got != int64(2*objects+1) {
		t.Errorf("verify of %d objects made %d requests, want %d", objects, got, 2*objects+1)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
