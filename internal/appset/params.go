package appset

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// Params is one parameter set produced by a generator.
type Params = map[string]any

// flatten joins nested keys with "." and list indexes as segments; empty
// maps and lists vanish (jeremywohl/flatten's DotStyle, as Argo CD uses).
func flatten(in map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		join := func(k string) string {
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				walk(join(k), e)
			}
		case map[string]string:
			for k, e := range t {
				out[join(k)] = e
			}
		case []any:
			for i, e := range t {
				walk(join(strconv.Itoa(i)), e)
			}
		case []string:
			for i, e := range t {
				out[join(strconv.Itoa(i))] = e
			}
		default:
			out[prefix] = v
		}
	}
	for k, v := range in {
		walk(k, v)
	}
	return out
}

// flattenStrings is flatten with every leaf formatted by %v, the form
// selectors match on.
func flattenStrings(in map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range flatten(in) {
		out[k] = fmt.Sprintf("%v", v)
	}
	return out
}

// toStringMap formats every value with %v (Argo's ConvertToMapStringString).
func toStringMap(in map[string]any) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = formatValue(v)
	}
	return out
}

func fromStringMap(in map[string]string) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// combineStringMaps unions two parameter sets in default mode; a key in
// both with different values is an error, the first such key in sorted
// order (Argo's CombineStringMaps).
func combineStringMaps(a, b map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = formatValue(v)
	}
	conflict, found := "", false
	for k, v := range b {
		if cur, ok := out[k]; ok && cur != formatValue(v) && (!found || k < conflict) {
			conflict, found = k, true
		}
	}
	if found {
		return nil, fmt.Errorf("found duplicate key %s with different value, a: %s ,b: %s", conflict, out[conflict], formatValue(b[conflict]))
	}
	for k, v := range b {
		out[k] = formatValue(v)
	}
	return out, nil
}

// formatValue is fmt's %v, without fmt for the common case of a string.
func formatValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprintf("%v", v)
}

// mergeOverride deep-merges src into dst, src winning, as mergo.Merge with
// WithOverride does on parameter maps: nested maps merge key by key, any
// other value (lists included) is replaced.
func mergeOverride(dst, src map[string]any) map[string]any {
	for k, sv := range src {
		dv, ok := dst[k]
		if ok {
			if merged, ok := mergeMapValues(dv, sv); ok {
				dst[k] = merged
				continue
			}
		}
		dst[k] = deepCopy(sv)
	}
	return dst
}

func mergeMapValues(dv, sv any) (any, bool) {
	switch d := dv.(type) {
	case map[string]any:
		switch s := sv.(type) {
		case map[string]any:
			return mergeOverride(d, s), true
		case map[string]string:
			for k, v := range s {
				d[k] = v
			}
			return d, true
		}
	case map[string]string:
		if s, ok := sv.(map[string]string); ok {
			for k, v := range s {
				d[k] = v
			}
			return d, true
		}
	}
	return nil, false
}

// deepCopy copies maps and lists so that merging never aliases a
// generator's own data.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case map[string]string:
		m := make(map[string]string, len(t))
		for k, e := range t {
			m[k] = e
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopy(e)
		}
		return l
	case []string:
		return append([]string(nil), t...)
	}
	return v
}

func copyParams(p Params) Params {
	return deepCopy(p).(map[string]any)
}

// selector is a parsed label selector.
type selector []requirement

type requirement struct {
	key    string
	op     string // "=", In, NotIn, Exists, DoesNotExist
	values map[string]bool
}

// parseSelector builds a selector. Keys must be valid label keys; values are
// checked only when checkValues (Argo CD's post-generator selector skips the
// check so that it can match URLs and paths; the cluster generator uses
// Kubernetes' own rules).
func parseSelector(s *fleet.LabelSelector, checkValues bool) (selector, error) {
	if s == nil {
		return nil, nil
	}
	var out selector
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	check := func(key string, values []string) error {
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return fmt.Errorf("key: Invalid value: %q: %s", key, errs[0])
		}
		if checkValues {
			for _, v := range values {
				if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
					return fmt.Errorf("values[0][%s]: Invalid value: %q: %s", key, v, errs[0])
				}
			}
		}
		return nil
	}
	for _, k := range keys {
		v := s.MatchLabels[k]
		if err := check(k, []string{v}); err != nil {
			return nil, err
		}
		out = append(out, requirement{key: k, op: "=", values: map[string]bool{v: true}})
	}
	for _, e := range s.MatchExpressions {
		r := requirement{key: e.Key, op: e.Operator, values: map[string]bool{}}
		switch e.Operator {
		case "In", "NotIn":
			if len(e.Values) == 0 {
				return nil, fmt.Errorf("for 'in', 'notin' operators, values set can't be empty (key %q)", e.Key)
			}
		case "Exists", "DoesNotExist":
			if len(e.Values) > 0 {
				return nil, fmt.Errorf("values set must be empty for exists and does not exist (key %q)", e.Key)
			}
		default:
			return nil, fmt.Errorf("%q is not a valid label selector operator (use In, NotIn, Exists or DoesNotExist)", e.Operator)
		}
		if err := check(e.Key, e.Values); err != nil {
			return nil, err
		}
		for _, v := range e.Values {
			r.values[v] = true
		}
		out = append(out, r)
	}
	return out, nil
}

func (s selector) matches(labels map[string]string) bool {
	for _, r := range s {
		v, has := labels[r.key]
		switch r.op {
		case "=", "In":
			if !has || !r.values[v] {
				return false
			}
		case "NotIn":
			if has && r.values[v] {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		}
	}
	return true
}

// fillEmpty copies into dst every field of src that is empty in dst, as
// mergo.Merge without override does: structs field by field, maps key by
// key, pointers followed. It merges a generator's template over the
// ApplicationSet's.
func fillEmpty(dst, src reflect.Value) {
	switch dst.Kind() {
	case reflect.Struct:
		for i := 0; i < dst.NumField(); i++ {
			fillEmpty(dst.Field(i), src.Field(i))
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		if dst.IsNil() {
			dst.Set(src)
			return
		}
		if dst.Elem().Kind() == reflect.Struct {
			fillEmpty(dst.Elem(), src.Elem())
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(dst.Type(), src.Len()))
		}
		iter := src.MapRange()
		for iter.Next() {
			cur := dst.MapIndex(iter.Key())
			if !cur.IsValid() || cur.IsZero() {
				dst.SetMapIndex(iter.Key(), iter.Value())
			}
		}
	case reflect.Slice:
		if dst.Len() == 0 {
			dst.Set(src)
		}
	default:
		if dst.IsZero() {
			dst.Set(src)
		}
	}
}
