package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

// warnings collects the Warning headers of one request at a time.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// oracleObjects are the objects the oracle compares, each dry-run created.
const oracleObjects = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: test-ok, namespace: test-ns}
spec: {replicas: 5, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: nginx}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: test-bad, namespace: test-ns}
spec: {replicas: 6, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: nginx}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prod-ok, namespace: prod-ns}
spec: {replicas: 3, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: nginx}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prod-bad, namespace: prod-ns}
spec: {replicas: 4, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: nginx}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other-any, namespace: other-ns}
spec: {replicas: 9, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: nginx}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: baseline-warned, namespace: baseline-ns}
spec: {replicas: 1, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: nginx}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: restricted-ok, namespace: restricted-ns}
spec:
  replicas: 1
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers: [{name: c, image: nginx, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]
---
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
kind: ConfigMap
metadata: {name: param-like, namespace: other-ns, labels: {policy-param: "yes"}}
---
apiVersion: v1
kind: Pod
metadata: {name: root-pod, namespace: restricted-ns}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: restricted-pod, namespace: restricted-ns}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers: [{name: c, image: nginx, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: priv-pod, namespace: baseline-ns}
spec:
  containers: [{name: c, image: nginx, securityContext: {privileged: true}}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet-pod, namespace: baseline-ns}
spec:
  hostNetwork: true
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: plain-pod, namespace: baseline-ns}
spec:
  containers: [{name: c, image: nginx}]
`

// TestOracleAgainstAPIServer compares, object by object, the offline verdict
// with a real kube-apiserver's admission verdict for a server-side dry-run
// create: denied exactly when some offline Deny applies (and with the
// message of one of them), and the same ValidatingAdmissionPolicy and
// PodSecurity warnings.
func TestOracleAgainstAPIServer(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{Name: "policy-oracle"})
	ctx := t.Context()
	w := &warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	setup := append(objects(t, "ns", namespacesYAML+"\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: policy-params}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: other-ns}\n"), corpus(t)...)
	for _, o := range setup {
		if _, err := create(ctx, dyn, o.Object, false); err != nil {
			t.Fatalf("create %s %s: %v", o.Object.GetKind(), o.Object.GetName(), err)
		}
	}
	w.take()
	cases := objects(t, "web", oracleObjects)

	// Bindings take a moment to be enforced: wait until a canary that
	// violates each binding is judged as offline.
	for _, canary := range []string{"test-bad", "prod-bad", "no-team"} {
		i := slices.IndexFunc(cases, func(o Object) bool { return o.Object.GetName() == canary })
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := errors.New("no warning")
			_, derr := create(ctx, dyn, cases[i].Object, true)
			if canary == "no-team" {
				if len(w.take()) > 0 {
					err = nil
				}
			} else if apierrors.IsForbidden(derr) || apierrors.IsInvalid(derr) {
				err = nil
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("canary %s: policy not enforced after 60s", canary)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	rep, err := NewEvaluator().Evaluate(ctx, Input{Cluster: "oracle", KubeVersion: "1.37", Objects: append(slices.Clone(setup), cases...)})
	if err != nil {
		t.Fatal(err)
	}
	byObject := map[string][]Violation{}
	for _, v := range rep.Violations {
		byObject[v.Object()] = append(byObject[v.Object()], v)
	}
	denials := 0
	for _, o := range cases {
		u := o.Object
		name := u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
		_, derr := create(ctx, dyn, u, true)
		warns := w.take()
		var wantDeny []string
		var wantWarn []string
		for _, v := range byObject[name] {
			switch {
			case v.Action == Deny && v.Policy == PodSecurity && v.Kind != "Pod":
				// The apiserver admits the workload; its pods are denied.
			case v.Action == Deny:
				wantDeny = append(wantDeny, DeniedMessage(v))
			case v.Action == Warn && v.Policy == PodSecurity:
				wantWarn = append(wantWarn, v.Message)
			case v.Action == Warn:
				wantWarn = append(wantWarn, fmt.Sprintf("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", v.Policy, v.Binding, v.Message))
			}
		}
		if (derr != nil) != (len(wantDeny) > 0) {
			t.Errorf("%s: apiserver error %v; offline denials %q", name, derr, wantDeny)
			continue
		}
		if derr != nil {
			denials++
			if !slices.ContainsFunc(wantDeny, func(m string) bool { return strings.Contains(derr.Error(), m) }) {
				t.Errorf("%s: apiserver denied with %q, offline with %q", name, derr, wantDeny)
			}
			continue
		}
		slices.Sort(warns)
		slices.Sort(wantWarn)
		if !slices.Equal(warns, wantWarn) {
			t.Errorf("%s: apiserver warnings %q, offline %q", name, warns, wantWarn)
		}
	}
	if denials < 4 {
		t.Errorf("only %d denials: the corpus no longer exercises Deny", denials)
	}
}

func create(ctx context.Context, dyn dynamic.Interface, u *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	gvk := u.GroupVersionKind()
	plural, _ := metaGuess(gvk)
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = dyn.Resource(plural)
	if ns := u.GetNamespace(); ns != "" {
		ri = dyn.Resource(plural).Namespace(ns)
	}
	return ri.Create(ctx, u.DeepCopy(), opts)
}

func metaGuess(gvk schema.GroupVersionKind) (schema.GroupVersionResource, schema.GroupVersionResource) {
	return resourceFor(gvk, nil), schema.GroupVersionResource{}
}
