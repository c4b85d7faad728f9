package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// decodeYAML reads a multi-document YAML stream into objects.
func decodeYAML(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decode: %v", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

func corpus(t testing.TB) []Object {
	t.Helper()
	data, err := os.ReadFile("testdata/corpus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var objs []Object
	for _, u := range decodeYAML(t, data) {
		objs = append(objs, Object{App: "policies", Object: u})
	}
	return objs
}

func objects(t testing.TB, app, y string) []Object {
	var out []Object
	for _, u := range decodeYAML(t, []byte(y)) {
		out = append(out, Object{App: app, Object: u})
	}
	return out
}

const namespacesYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: test-ns, labels: {environment: test}}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod-ns, labels: {environment: production}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: restricted-ns
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest}
---
apiVersion: v1
kind: Namespace
metadata:
  name: baseline-ns
  labels: {pod-security.kubernetes.io/enforce: baseline, pod-security.kubernetes.io/warn: restricted}
`

func deployment(ns, name string, replicas int) string {
	return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  replicas: ` + itoa(replicas) + `
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: c, image: nginx}]
`
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i))) }

func key(v Violation) string {
	return v.App + "|" + v.Object() + "|" + v.Policy + "|" + v.Binding + "|" + string(v.Action)
}

func TestEvaluateCorpus(t *testing.T) {
	objs := corpus(t)
	objs = append(objs, objects(t, "ns", namespacesYAML)...)
	for _, y := range []string{
		deployment("test-ns", "test-ok", 5), deployment("test-ns", "test-bad", 6),
		deployment("prod-ns", "prod-ok", 3), deployment("prod-ns", "prod-bad", 4),
		deployment("other-ns", "other-any", 9),
	} {
		objs = append(objs, objects(t, "web", y)...)
	}
	objs = append(objs, objects(t, "web", `
apiVersion: v1
kind: ConfigMap
metadata: {name: no-team, namespace: other-ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: with-team, namespace: other-ns, labels: {team: a}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: exempt, namespace: other-ns, labels: {flotilla.dev/policy-exempt: "yes"}}
---
apiVersion: v1
kind: Pod
metadata: {name: root-pod, namespace: restricted-ns}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: priv-pod, namespace: baseline-ns}
spec:
  containers: [{name: c, image: nginx, securityContext: {privileged: true}}]
---
apiVersion: v1
kind: Pod
metadata: {name: plain-pod, namespace: baseline-ns}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-labels}
spec: {}
`)...)
	ev := NewEvaluator()
	rep, err := ev.Evaluate(context.Background(), Input{Cluster: "c1", KubeVersion: "1.34", Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range rep.Violations {
		got[key(v)] = v.Message
	}
	want := map[string]string{
		"web|Deployment test-ns/test-bad|demo-policy.example.com|demo-binding-test.example.com|Deny":                                   "failed expression: object.spec.replicas <= 5",
		"web|Deployment prod-ns/prod-bad|replicalimit-policy.example.com|replicalimit-binding-prod.example.com|Deny":                   "object.spec.replicas must be no greater than 3",
		"web|ConfigMap other-ns/no-team|require-team-label.example.com|require-team-label-warn.example.com|Warn":                       "ConfigMap no-team needs a team label",
		"web|ConfigMap other-ns/no-team|require-team-label.example.com|require-team-label-warn.example.com|Audit":                      "ConfigMap no-team needs a team label",
		"policies|ConfigMap policy-params/replica-limit-prod|require-team-label.example.com|require-team-label-warn.example.com|Warn":  "ConfigMap replica-limit-prod needs a team label",
		"policies|ConfigMap policy-params/replica-limit-prod|require-team-label.example.com|require-team-label-warn.example.com|Audit": "ConfigMap replica-limit-prod needs a team label",
		"web|Pod restricted-ns/root-pod|PodSecurity|pod-security.kubernetes.io/enforce|Deny":                                           `violates PodSecurity "restricted:latest"`,
		"web|Pod baseline-ns/priv-pod|PodSecurity|pod-security.kubernetes.io/enforce|Deny":                                             `violates PodSecurity "baseline:latest": privileged`,
		"web|Pod baseline-ns/plain-pod|PodSecurity|pod-security.kubernetes.io/warn|Warn":                                               `would violate PodSecurity "restricted:latest"`,
	}
	for k, msg := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing violation %s", k)
			continue
		}
		if !strings.Contains(g, msg) {
			t.Errorf("%s: message %q, want it to contain %q", k, g, msg)
		}
	}
	for k, msg := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected violation %s: %s", k, msg)
		}
	}
	if len(rep.NotEvaluated) != 1 || rep.NotEvaluated[0].Name != "require-labels" {
		t.Errorf("NotEvaluated = %+v, want the Kyverno ClusterPolicy", rep.NotEvaluated)
	}
	if !rep.Denied() || rep.Policies != 3 || rep.Bindings != 3 {
		t.Errorf("Denied=%v Policies=%d Bindings=%d", rep.Denied(), rep.Policies, rep.Bindings)
	}
	// Determinism and compile sharing: a second cluster with the same
	// policies compiles nothing new and reports in the same order.
	n := ev.Compiles()
	rep2, err := ev.Evaluate(context.Background(), Input{Cluster: "c1", KubeVersion: "v1.34.1", Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Compiles() != n {
		t.Errorf("compiles %d -> %d: same policies on a second cluster were compiled again", n, ev.Compiles())
	}
	for i := range rep.Violations {
		if key(rep.Violations[i]) != key(rep2.Violations[i]) {
			t.Fatalf("order differs at %d: %s vs %s", i, key(rep.Violations[i]), key(rep2.Violations[i]))
		}
	}
}

// TestParamNotFound: a binding whose param is not in the render denies
// (parameterNotFoundAction: Deny) as the apiserver does.
func TestParamNotFound(t *testing.T) {
	var objs []Object
	for _, o := range corpus(t) {
		if o.Object.GetKind() != "ConfigMap" {
			objs = append(objs, o)
		}
	}
	objs = append(objs, objects(t, "ns", namespacesYAML)...)
	objs = append(objs, objects(t, "web", deployment("prod-ns", "prod-ok", 1))...)
	rep, err := NewEvaluator().Evaluate(context.Background(), Input{Cluster: "c", Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) != 1 || rep.Violations[0].Action != Deny || !strings.Contains(rep.Violations[0].Message, "no params found") {
		t.Fatalf("violations = %+v, want one Deny for the missing param", rep.Violations)
	}
}

// TestKubeVersionGatesCEL: an expression using a CEL library the cluster's
// version does not have (the ip library, Kubernetes 1.31) fails to compile
// for that cluster and denies by the policy's failurePolicy, while a newer
// cluster evaluates it.
func TestKubeVersionGatesCEL(t *testing.T) {
	objs := objects(t, "p", `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ip}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  validations:
  - expression: "!has(object.data) || !('addr' in object.data) || isIP(object.data.addr)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ip}
spec: {policyName: ip, validationActions: [Deny]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: x}
data: {addr: "10.0.0.1"}
`)
	for _, tc := range []struct {
		version string
		denied  bool
	}{{"1.29", true}, {"1.34", false}} {
		rep, err := NewEvaluator().Evaluate(context.Background(), Input{Cluster: "c", KubeVersion: tc.version, Objects: objs})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Denied() != tc.denied {
			t.Errorf("kubeVersion %s: denied=%v, want %v (%+v)", tc.version, rep.Denied(), tc.denied, rep.Violations)
		}
	}
	if _, err := NewEvaluator().Evaluate(context.Background(), Input{Cluster: "c", KubeVersion: "banana", Objects: objs}); err == nil {
		t.Error("bad kubeVersion: no error")
	}
}

// TestVerdictReuse: a cluster with the same policies, params and namespaces
// reuses another's verdicts for objects equal but for the app annotation,
// one whose namespace labels differ does not (its test-ns is not
// environment=test, so the demo binding does not select it), and a policy
// that reads annotations turns reuse off across different app names.
func TestVerdictReuse(t *testing.T) {
	withApp := func(objs []Object, app string) []Object {
		out := make([]Object, len(objs))
		for i, o := range objs {
			u := o.Object.DeepCopy()
			u.SetAnnotations(map[string]string{"flotilla.dev/app": app})
			out[i] = Object{App: app, Object: u}
		}
		return out
	}
	base := append(corpus(t), objects(t, "web", deployment("test-ns", "test-bad", 6))...)
	labelled := append(slices.Clone(base), objects(t, "ns", "apiVersion: v1\nkind: Namespace\nmetadata: {name: test-ns, labels: {environment: test}}\n")...)
	unlabelled := append(slices.Clone(base), objects(t, "ns", "apiVersion: v1\nkind: Namespace\nmetadata: {name: test-ns}\n")...)
	annotationPolicy := objects(t, "p", `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: app-annotation}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}]
  validations:
  - expression: "false"
    messageExpression: "'app ' + object.metadata.annotations['flotilla.dev/app']"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: app-annotation}
spec: {policyName: app-annotation, validationActions: [Warn]}
`)
	reading := append(slices.Clone(labelled), annotationPolicy...)
	ev := NewEvaluator()
	for i, tc := range []struct {
		objs   []Object
		denied bool
		reused bool
	}{
		{labelled, true, false}, {labelled, true, true}, {unlabelled, false, false}, {labelled, true, true},
		{reading, true, false}, {reading, true, false},
	} {
		cluster := fmt.Sprintf("c%d", i)
		before := ev.Reused()
		rep, err := ev.Evaluate(context.Background(), Input{Cluster: cluster, AppAnnotation: "flotilla.dev/app", Objects: withApp(tc.objs, "app-"+cluster)})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Denied() != tc.denied || (ev.Reused() > before) != tc.reused {
			t.Errorf("cluster %d: denied=%v reused=%d, want denied=%v reused=%v", i, rep.Denied(), ev.Reused()-before, tc.denied, tc.reused)
		}
		for _, v := range rep.Violations {
			if v.Cluster != cluster || v.App != "app-"+cluster {
				t.Errorf("cluster %d: violation names %s/%s", i, v.Cluster, v.App)
			}
			if v.Policy == "app-annotation" && v.Message != "app app-"+cluster {
				t.Errorf("cluster %d: message %q reused from another cluster", i, v.Message)
			}
		}
	}
}

func TestReadsAnnotations(t *testing.T) {
	for expr, want := range map[string]bool{
		"object.metadata.name == 'x'":                         false,
		"object.metadata.labels['a'] == 'b'":                  false,
		"has(object.metadata.namespace) && object.spec.x > 1": false,
		"object.metadata.annotations['a'] == 'b'":             true,
		"object.metadata['annotations'] != null":              true,
		"object.metadata.exists(k, k == 'x')":                 true,
		"object.metadata.nameX == 'x'":                        true,
		"variables.m.size() > 0 && object.metadata != null":   true,
	} {
		p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		p.Spec.Validations = []admissionregistrationv1.Validation{{Expression: expr}}
		if got := readsAnnotations([]*admissionregistrationv1.ValidatingAdmissionPolicy{p}); got != want {
			t.Errorf("%s: readsAnnotations = %v, want %v", expr, got, want)
		}
	}
}

// TestEvaluateConcurrent: one Evaluator shared by concurrent clusters (as
// render uses it) gives each the verdict it gives alone (run with -race).
func TestEvaluateConcurrent(t *testing.T) {
	objs := append(corpus(t), objects(t, "ns", namespacesYAML)...)
	objs = append(objs, objects(t, "web", deployment("test-ns", "test-bad", 6)+"---\n"+deployment("prod-ns", "prod-bad", 4))...)
	want, err := NewEvaluator().Evaluate(context.Background(), Input{Cluster: "c", Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvaluator()
	reps := make([]*Report, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Go(func() {
			reps[i], errs[i] = ev.Evaluate(context.Background(), Input{Cluster: "c", AppAnnotation: "flotilla.dev/app", Objects: objs})
		})
	}
	wg.Wait()
	for i, r := range reps {
		if errs[i] != nil || !slices.Equal(r.Violations, want.Violations) {
			t.Errorf("goroutine %d: %v %+v", i, errs[i], r)
		}
	}
	if ev.Compiles() != 3 {
		t.Errorf("%d compiles for 3 policies", ev.Compiles())
	}
}

// TestSharedObjects: objects Shared between apps (one copy whose app
// annotation holds a placeholder, as render keeps them) give every
// cluster the report its apps' own copies give, also when a policy reads
// the annotation (messages name each app), and are never changed.
func TestSharedObjects(t *testing.T) {
	const ann = "flotilla.dev/app"
	withApp := func(objs []Object, app string, shared bool) []Object {
		out := make([]Object, len(objs))
		for i, o := range objs {
			u := o.Object
			if !shared {
				u = u.DeepCopy()
				u.SetAnnotations(map[string]string{ann: app})
			}
			out[i] = Object{App: app, Object: u, Shared: shared}
		}
		return out
	}
	group := func(objs []Object) []Object {
		out := make([]Object, len(objs))
		for i, o := range objs {
			u := o.Object.DeepCopy()
			u.SetAnnotations(map[string]string{ann: "\x00placeholder"})
			out[i] = Object{Object: u}
		}
		return out
	}
	base := append(corpus(t), objects(t, "web", deployment("test-ns", "test-bad", 6))...)
	base = append(base, objects(t, "ns", "apiVersion: v1\nkind: Namespace\nmetadata: {name: test-ns, labels: {environment: test}}\n")...)
	reading := append(slices.Clone(base), objects(t, "p", `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: app-annotation}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}]
  validations:
  - expression: "object.metadata.annotations['flotilla.dev/app'] != 'app-c1'"
    messageExpression: "'app ' + object.metadata.annotations['flotilla.dev/app']"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: app-annotation}
spec: {policyName: app-annotation, validationActions: [Deny]}
`)...)
	for name, objs := range map[string][]Object{"not reading annotations": base, "reading annotations": reading} {
		t.Run(name, func(t *testing.T) {
			g := group(objs)
			before := make([]*unstructured.Unstructured, len(g))
			for i, o := range g {
				before[i] = o.Object.DeepCopy()
			}
			sharedEv, ownEv := NewEvaluator(), NewEvaluator()
			sawApp := false
			for _, cluster := range []string{"c0", "c1", "c2"} {
				app := "app-" + cluster
				got, err := sharedEv.Evaluate(context.Background(), Input{Cluster: cluster, AppAnnotation: ann, Objects: withApp(g, app, true)})
				if err != nil {
					t.Fatal(err)
				}
				want, err := ownEv.Evaluate(context.Background(), Input{Cluster: cluster, AppAnnotation: ann, Objects: withApp(g, app, false)})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Violations, want.Violations) {
					t.Errorf("%s: shared objects give\n%+v\nown copies give\n%+v", cluster, got.Violations, want.Violations)
				}
				for _, v := range got.Violations {
					if v.Policy == "app-annotation" {
						sawApp = true
						if cluster != "c1" || v.Message != "app app-c1" {
							t.Errorf("%s: %+v", cluster, v)
						}
					}
				}
			}
			if sawApp != (name == "reading annotations") {
				t.Errorf("app-annotation violations: %v", sawApp)
			}
			for i, o := range g {
				if !equality.Semantic.DeepEqual(o.Object, before[i]) {
					t.Errorf("shared object %s changed", o.Object.GetName())
				}
			}
		})
	}
	if _, err := NewEvaluator().Evaluate(context.Background(), Input{Cluster: "c", Objects: withApp(group(base), "a", true)}); err == nil || !strings.Contains(err.Error(), "AppAnnotation") {
		t.Errorf("shared objects without AppAnnotation: %v", err)
	}
}
