// Package immutable recognises the API server's refusal of a change it
// cannot make in place (an immutable field), which apply answers by
// recreating the object when the user opted in.
//
// The refusal is classified by its structure: an Invalid status
// (apierrors.IsInvalid, HTTP 422) whose every cause is of type
// FieldValueInvalid or FieldValueForbidden and says the field cannot
// change. That last part is words: the API server sends a cause as type,
// field and message only (metav1.StatusCause; field.Error's Origin, which
// could say "immutable", stays on the server), so a cause's detail is the
// one signal there is. The details are a table (Details), matched only at
// the place a detail holds in a cause's message (the end of an Invalid
// cause, after the rejected value; the whole of a Forbidden one), never in
// the value a user wrote.
package immutable

import (
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The cause types of field.Error as the API server sends them.
const (
	invalid   = metav1.CauseType(field.ErrorTypeInvalid)
	forbidden = metav1.CauseType(field.ErrorTypeForbidden)
)

// Detail is one way the API server words, in a cause of Type, that a field
// cannot change.
type Detail struct {
	Type metav1.CauseType
	// Phrase ends an Invalid cause's detail (after "Invalid value: <the
	// value>: "), or is in a Forbidden cause's detail (after
	// "Forbidden: ").
	Phrase string
	// Where says which validation writes it.
	Where string
}

// Details are the API server's words for a field that cannot change.
var Details = []Detail{
	{invalid, "is immutable",
		"apimachinery's ValidateImmutableField (FieldImmutableErrorMsg \"field is immutable\"): a Deployment's, ReplicaSet's or DaemonSet's selector, a Job's template, a StatefulSet's fields other than its template, replicas and update strategy, a RoleBinding's roleRef; and custom resources' transition rules, whose message says \"... is immutable\""},
	{invalid, "may not change once set",
		"a Service's clusterIPs and ipFamilies"},
	{forbidden, "is immutable",
		"a ConfigMap's or Secret's data when immutable is set, a PersistentVolumeClaim's spec, a PersistentVolume's source, a Service's healthCheckNodePort"},
	{forbidden, "updates to statefulset spec for fields other than",
		"a StatefulSet's fields other than its template, replicas and update strategy (API servers before field-level messages)"},
}

// Is reports whether err is the API server refusing a change only because
// it touches fields that cannot change: an Invalid status with at least
// one cause, each of them one of Details. An Invalid status with any other
// cause (a value no object may have) is not: recreating the object would
// delete it and fail to create it again.
func Is(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	if d == nil || len(d.Causes) == 0 {
		return false
	}
	for _, c := range d.Causes {
		if !isImmutableCause(c) {
			return false
		}
	}
	return true
}

// isImmutableCause matches one cause against Details, at the place the
// detail holds in its message (field.Error.ErrorBody's format).
func isImmutableCause(c metav1.StatusCause) bool {
	for _, d := range Details {
		if c.Type != d.Type {
			continue
		}
		switch d.Type {
		case invalid:
			if strings.HasSuffix(strings.TrimRight(c.Message, " "), d.Phrase) {
				return true
			}
		case forbidden:
			detail := strings.TrimPrefix(c.Message, field.ErrorTypeForbidden.String()+": ")
			if strings.Contains(detail, d.Phrase) {
				return true
			}
		}
	}
	return false
}
