package policy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// FuzzEvaluate: any rendered object (any shape of any kind, in any
// namespace) is evaluated against the corpus without a panic, and the
// verdict is the same computed afresh, reused from another cluster, and
// for the object shared between apps (Object.Shared).
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(deployment("test-ns", "a", 6)))
	f.Add([]byte(deployment("prod-ns", "b", 4)))
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, namespace: prod-ns}\nspec: {replicas: \"many\"}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: restricted-ns}\nspec: {containers: [{name: c, image: i, securityContext: {privileged: true}}]}\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other-ns, labels: {team: 1}}\n"))
	f.Add([]byte("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: b}\nspec: {policyName: demo-policy.example.com, validationActions: [Warn]}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: test-ns, labels: {environment: test, pod-security.kubernetes.io/enforce: nonsense}}\n"))
	base := append(corpus(f), objects(f, "ns", namespacesYAML)...)
	f.Fuzz(func(t *testing.T, data []byte) {
		var fuzzed []Object
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for len(fuzzed) < 8 {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if !errors.Is(err, io.EOF) && len(fuzzed) == 0 {
					return
				}
				break
			}
			if u.Object == nil || u.GetKind() == "" || u.GetAPIVersion() == "" {
				continue
			}
			u.SetAnnotations(map[string]string{"flotilla.dev/app": "fuzz"})
			fuzzed = append(fuzzed, Object{App: "fuzz", Object: u})
		}
		objs := append(slices.Clone(base), fuzzed...)
		ev := NewEvaluator()
		first, err1 := ev.Evaluate(context.Background(), Input{Cluster: "a", AppAnnotation: "flotilla.dev/app", Objects: objs})
		again, err2 := ev.Evaluate(context.Background(), Input{Cluster: "a", AppAnnotation: "flotilla.dev/app", Objects: objs})
		fresh, err3 := NewEvaluator().Evaluate(context.Background(), Input{Cluster: "a", Objects: objs})
		// The fuzzed objects as render shares them between apps.
		sharedObjs := slices.Clone(base)
		for _, o := range fuzzed {
			u := o.Object.DeepCopy()
			u.SetAnnotations(map[string]string{"flotilla.dev/app": "\x00placeholder"})
			sharedObjs = append(sharedObjs, Object{App: "fuzz", Object: u, Shared: true})
		}
		shared, err4 := ev.Evaluate(context.Background(), Input{Cluster: "a", AppAnnotation: "flotilla.dev/app", Objects: sharedObjs})
		if (err1 == nil) != (err2 == nil) || (err1 == nil) != (err3 == nil) || (err1 == nil) != (err4 == nil) {
			t.Fatalf("errors differ: %v / %v / %v / %v", err1, err2, err3, err4)
		}
		if err1 != nil {
			return
		}
		if !slices.Equal(first.Violations, again.Violations) || !slices.Equal(first.Violations, fresh.Violations) || !slices.Equal(first.Violations, shared.Violations) {
			t.Fatalf("verdicts differ:\n%+v\n%+v\n%+v\n%+v", first.Violations, again.Violations, fresh.Violations, shared.Violations)
		}
	})
}
