package immutable

import (
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestIs builds each refusal as the API server does (apierrors.NewInvalid
// over field errors, the validations' own words) and attacks the places
// words could mislead: a value that says "is immutable", a second cause
// that is not about immutability, no causes at all.
func TestIs(t *testing.T) {
	t.Parallel()
	invalid := func(errs ...*field.Error) error {
		return apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "web", errs)
	}
	p := field.NewPath
	template := map[string]any{"labels": map[string]string{"job-name": "j"}, "Spec": strings.Repeat("x", 4000)}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"Deployment selector", invalid(field.Invalid(p("spec", "selector"), map[string]any{"matchLabels": map[string]string{"app": "b"}}, validation.FieldImmutableErrorMsg)), true},
		{"Job template (a long value)", invalid(field.Invalid(p("spec", "template"), template, validation.FieldImmutableErrorMsg)), true},
		{"Service clusterIP", invalid(field.Invalid(p("spec", "clusterIPs").Index(0), []string{"10.96.0.78"}, "may not change once set")), true},
		{"immutable ConfigMap", invalid(field.Forbidden(p("data"), "field is immutable when `immutable` is set")), true},
		{"PersistentVolumeClaim spec", invalid(field.Forbidden(p("spec"), "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n@@ -1 +1 @@\n- a\n+ b")), true},
		{"StatefulSet, older API servers", invalid(field.Forbidden(p("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")), true},
		{"a custom resource's transition rule", invalid(field.Invalid(p("spec", "size"), "large", "Value is immutable")), true},
		{"two immutable fields", invalid(field.Invalid(p("spec", "selector"), "a", validation.FieldImmutableErrorMsg), field.Invalid(p("spec", "serviceName"), "b", validation.FieldImmutableErrorMsg)), true},
		{"wrapped", fmt.Errorf("apply web: %w", invalid(field.Invalid(p("spec", "selector"), "a", validation.FieldImmutableErrorMsg))), true},

		{"a value that says so", invalid(field.Invalid(p("data").Key("this field is immutable"), "this field is immutable", "a valid config key must consist of alphanumeric characters")), false},
		{"immutable and an invalid value", invalid(field.Forbidden(p("data"), "field is immutable when `immutable` is set"), field.Invalid(p("data").Key("k k"), "k k", "a valid config key must consist of alphanumeric characters")), false},
		{"a required field", invalid(field.Required(p("spec", "selector"), "field is immutable")), false},
		{"a forbidden field", invalid(field.Forbidden(p("spec", "hostNetwork"), "disallowed by cluster policy")), false},
		{"no causes", &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 422, Reason: metav1.StatusReasonInvalid, Message: "spec.selector: field is immutable"}}, false},
		{"not Invalid", apierrors.NewBadRequest("spec.selector: field is immutable"), false},
		{"conflict", apierrors.NewConflict(schema.GroupResource{Resource: "deployments"}, "web", fmt.Errorf("field is immutable")), false},
		{"not an API error", fmt.Errorf("spec.selector: Invalid value: field is immutable"), false},
		{"nil", nil, false},
	} {
		if got := Is(tt.err); got != tt.want {
			t.Errorf("%s: Is = %v, want %v (%v)", tt.name, got, tt.want, tt.err)
		}
	}
}

// TestDetailsTable: every detail is of a type the matcher knows and names
// where it comes from.
func TestDetailsTable(t *testing.T) {
	t.Parallel()
	for i, d := range Details {
		if d.Type != invalid && d.Type != forbidden || d.Phrase == "" || d.Where == "" {
			t.Errorf("Details[%d] = %+v", i, d)
		}
	}
}
