package kube

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

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
	bin, err := kubetest.Bin("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", testCluster.Kubeconfig}, args...)...)
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
