package drift

import (
	"errors"
	"fmt"
	"strings"
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
	if err := u.UnmarshalJSON(j); err != nil { // numbers as int64, as client-go decodes them
		t.Fatal(err)
	}
	return u
}

func takeover(m string) bool { return m == "kubectl" || strings.HasPrefix(m, "kubectl-") }

// preview is a dry-run result as the API server returns it after kubectl
// label, patch and scale: managedFields as recorded on a real apiserver.
const preview = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ns
  labels: {app: web, extra: "yes", shared: "1"}
  managedFields:
  - manager: flotilla
    operation: Apply
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {f:app: {}}}
      f:spec:
        f:replicas: {}
        f:template: {f:spec: {f:containers: {'k:{"name":"web"}': {.: {}, f:image: {}, f:name: {}}}}}
  - manager: kubectl-label
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1: {f:metadata: {f:labels: {f:extra: {}, f:shared: {}}}}
  - manager: helm
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1: {f:metadata: {f:labels: {f:shared: {}}}}
  - manager: kubectl
    operation: Update
    apiVersion: apps/v1
    subresource: scale
    fieldsType: FieldsV1
    fieldsV1: {f:spec: {f:paused: {}}}
  - manager: kubectl-patch
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:template:
          f:spec:
            f:containers:
              'k:{"name":"web"}':
                f:env: {.: {}, 'k:{"name":"X"}': {.: {}, f:name: {}, f:value: {}}}
              'k:{"name":"sidecar"}': {.: {}, f:name: {}, f:image: {}}
spec:
  replicas: 2
  paused: false
  template:
    spec:
      containers:
      - {name: web, image: nginx, env: [{name: X, value: "1"}]}
      - {name: sidecar, image: busybox}
`

func TestReleased(t *testing.T) {
	t.Parallel()
	p := obj(t, preview)
	got, err := Released(p, "flotilla", takeover)
	if err != nil {
		t.Fatal(err)
	}
	want := obj(t, preview)
	// kubectl-label's extra goes; shared stays (helm holds it too); the
	// scale subresource's field stays; kubectl-patch's env and sidecar go.
	unstructured.RemoveNestedField(want.Object, "metadata", "labels", "extra")
	_ = unstructured.SetNestedSlice(want.Object, []any{map[string]any{"name": "web", "image": "nginx"}}, "spec", "template", "spec", "containers")
	if d := cmp.Diff(Comparable(want), Comparable(got)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(p.Object, "metadata", "labels", "extra"); !ok {
		t.Error("Released changed its input")
	}
	none, err := Released(p, "flotilla", func(string) bool { return false })
	if err != nil || none != p {
		t.Errorf("without takeover managers the preview must come back as is: %v", err)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	live := obj(t, `
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: ns
  uid: "1"
  resourceVersion: "7"
  generation: 3
  creationTimestamp: "2026-01-01T00:00:00Z"
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
  managedFields: [{manager: x}]
data: {same: c2FtZQ==, changed: b2xk}
status: {anything: 1}
`)
	same := obj(t, `
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: ns, resourceVersion: "8"}
data: {same: c2FtZQ==, changed: b2xk}
`)
	r, err := Compare(live, same, nil)
	if err != nil || !r.Same || r.Diff != "" {
		t.Errorf("bookkeeping, status and last-applied count as drift: %+v %v", r, err)
	}
	changed := obj(t, `
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: ns}
data: {same: c2FtZQ==, changed: bmV3}
`)
	r, err = Compare(live, changed, nil)
	if err != nil || r.Same {
		t.Fatalf("a changed value is not drift: %+v %v", r, err)
	}
	for _, secret := range []string{"b2xk", "bmV3", "c2FtZQ=="} {
		if strings.Contains(r.Diff, secret) {
			t.Errorf("diff shows a Secret value %q:\n%s", secret, r.Diff)
		}
	}
	if !strings.Contains(r.Diff, "-  changed: '*** (live)'") || !strings.Contains(r.Diff, "+  changed: '*** (desired)'") {
		t.Errorf("diff does not say which value changed:\n%s", r.Diff)
	}
}

const deploy = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ns
  annotations: {note: "%s"}
  managedFields:
  - manager: hpa
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1: {f:spec: {f:replicas: {}}}
spec:
  replicas: %d
  template:
    spec:
      containers:
      - {name: web, image: "web:%s"}
      - {name: proxy, image: "proxy:%s"}
`

func deployment(t testing.TB, note string, replicas int, web, proxy string) *unstructured.Unstructured {
	return obj(t, fmt.Sprintf(deploy, note, replicas, web, proxy))
}

func TestIgnore(t *testing.T) {
	t.Parallel()
	live := deployment(t, "live", 5, "1", "1")
	desired := deployment(t, "git", 2, "1", "2")
	cases := []struct {
		name  string
		rules []Rule
		same  bool
	}{
		{"no rules", nil, false},
		{"pointers", []Rule{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas", "/metadata/annotations/note", "/spec/template/spec/containers/1/image"}}}, true},
		{"jq", []Rule{{Kind: "Deployment", JQPathExpressions: []string{`.spec.template.spec.containers[] | select(.name == "proxy") | .image`, ".spec.replicas", ".metadata.annotations.note"}}}, true},
		{"managers and pointers", []Rule{{Kind: "Deployment", ManagedFieldsManagers: []string{"hpa"}, JSONPointers: []string{"/metadata/annotations", "/spec/template/spec/containers/1"}}}, true},
		{"glob group and kind", []Rule{{Group: "*", Kind: "Deploy*", JSONPointers: []string{"/spec"}, JQPathExpressions: []string{".metadata.annotations"}}}, true},
		{"partial", []Rule{{Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}, false},
		{"other kind", []Rule{{Kind: "StatefulSet", JSONPointers: []string{"/spec", "/metadata"}}}, false},
		{"other name", []Rule{{Kind: "Deployment", Name: "api", JSONPointers: []string{"/spec", "/metadata"}}}, false},
		{"other namespace", []Rule{{Kind: "Deployment", Namespace: "prod", JSONPointers: []string{"/spec", "/metadata"}}}, false},
		{"other group", []Rule{{Group: "extensions", Kind: "Deployment", JSONPointers: []string{"/spec", "/metadata"}}}, false},
		{"missing paths", []Rule{{Kind: "Deployment", JSONPointers: []string{"/spec/nothing/here", "/spec/template/spec/containers/9"}, JQPathExpressions: []string{".nothing.here"}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ig, err := Compile(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Compare(live, desired, ig)
			if err != nil {
				t.Fatal(err)
			}
			if r.Same != tc.same {
				t.Errorf("same = %v, want %v; diff:\n%s", r.Same, tc.same, r.Diff)
			}
		})
	}
}

func TestForApply(t *testing.T) {
	t.Parallel()
	ig, err := Compile([]Rule{{Kind: "Deployment", JSONPointers: []string{"/spec/replicas", "/metadata/labels/absent"}, JQPathExpressions: []string{`.spec.template.spec.containers[] | select(.name == "proxy") | .image`}}})
	if err != nil {
		t.Fatal(err)
	}
	live := deployment(t, "live", 5, "1", "1")
	desired := deployment(t, "git", 2, "2", "2")
	desired.SetLabels(map[string]string{"absent": "git", "kept": "git"})
	got, err := ig.ForApply(desired, live)
	if err != nil {
		t.Fatal(err)
	}
	want := deployment(t, "git", 5, "2", "1")
	want.SetLabels(map[string]string{"kept": "git"})
	if d := cmp.Diff(want.Object, got.Object); d != "" {
		t.Errorf("ignored fields take the live value, or go when live has none (-want +got):\n%s", d)
	}
	if n, _, _ := unstructured.NestedInt64(desired.Object, "spec", "replicas"); n != 2 {
		t.Error("ForApply changed its input")
	}
	if fresh, err := ig.ForApply(desired, nil); err != nil || fresh != desired {
		t.Errorf("a new object is applied as Git has it: %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, r := range []Rule{
		{Kind: "Deployment", JQPathExpressions: []string{".spec.["}},
		{Kind: "Deployment", JSONPointers: []string{"spec/replicas"}},
		{Kind: "[", JSONPointers: []string{"/spec"}},
	} {
		_, err := Compile([]Rule{r})
		if !errors.Is(err, ErrRule) || !strings.Contains(err.Error(), "ignoreDifferences[0]") {
			t.Errorf("%+v: %v, want ErrRule naming the entry", r, err)
		}
	}
	// A jq expression that is not a path is an error when it runs, naming
	// the object.
	ig, err := Compile([]Rule{{Kind: "Deployment", JQPathExpressions: []string{".spec.replicas | tostring"}}})
	if err != nil {
		t.Fatal(err)
	}
	d := deployment(t, "x", 1, "1", "1")
	if _, err := Compare(d, d, ig); !errors.Is(err, ErrRule) || !strings.Contains(err.Error(), "Deployment/ns/web") {
		t.Errorf("got %v, want ErrRule naming the object", err)
	}
}

// FuzzIgnore runs any pointer and jq expression over an object: compiling
// may refuse them, but nothing panics and the input is never changed.
func FuzzIgnore(f *testing.F) {
	f.Add("/spec/replicas", ".spec.replicas")
	f.Add("/spec/template/spec/containers/1", `.spec.template.spec.containers[] | select(.name == "proxy")`)
	f.Add("/a~1b/~0", "..")
	f.Add("/spec/template/spec/containers/-", ".spec.template.spec.containers[1:]")
	f.Fuzz(func(t *testing.T, pointer, jq string) {
		ig, err := Compile([]Rule{{Kind: "*", JSONPointers: []string{pointer}, JQPathExpressions: []string{jq}, ManagedFieldsManagers: []string{"hpa"}}})
		if err != nil {
			return
		}
		live := deployment(t, "live", 5, "1", "1")
		desired := deployment(t, "git", 2, "1", "2")
		before := desired.DeepCopy()
		_, _ = Compare(live, desired, ig)
		_, _ = ig.ForApply(desired, live)
		if d := cmp.Diff(before.Object, desired.Object); d != "" {
			t.Errorf("input changed:\n%s", d)
		}
	})
}
