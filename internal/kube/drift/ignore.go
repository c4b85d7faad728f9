package drift

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/itchyny/gojq"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Rule is one of Argo CD's ignoreDifferences entries: the fields to leave
// out of drift, on the objects it matches. Group and Kind are globs ("*"
// matches any, as in Argo CD); Name and Namespace match exactly, empty
// matches any.
type Rule struct {
	Group, Kind, Name, Namespace string
	// JSONPointers are RFC 6901 pointers.
	JSONPointers []string
	// JQPathExpressions are jq path expressions (gojq), as Argo CD runs
	// them: every value they select is left out.
	JQPathExpressions []string
	// ManagedFieldsManagers leave out the fields these field managers own
	// on the live object.
	ManagedFieldsManagers []string
}

// Ignore is a compiled set of rules. A nil *Ignore ignores nothing.
type Ignore struct {
	rules []compiled
}

type compiled struct {
	Rule
	pointers []Path
	jq       []*gojq.Code
}

// jqTimeout bounds one jq evaluation, as Argo CD does: an expression such
// as `..` over a large object must not stall verify.
const jqTimeout = time.Second

// ErrRule is the class of an ignoreDifferences rule that cannot be used.
var ErrRule = errors.New("bad ignoreDifferences rule")

// Compile checks and compiles rules once. A bad rule is an error naming
// its index and the expression, wrapping ErrRule.
func Compile(rules []Rule) (*Ignore, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	ig := &Ignore{}
	for i, r := range rules {
		c := compiled{Rule: r}
		for _, g := range []string{r.Group, r.Kind} {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("%w: ignoreDifferences[%d]: pattern %q: %v", ErrRule, i, g, err)
			}
		}
		for _, p := range r.JSONPointers {
			pp, err := pointerPath(p)
			if err != nil {
				return nil, fmt.Errorf("%w: ignoreDifferences[%d]: %v", ErrRule, i, err)
			}
			c.pointers = append(c.pointers, pp)
		}
		for _, e := range r.JQPathExpressions {
			q, err := gojq.Parse("path(" + e + ")")
			if err != nil {
				return nil, fmt.Errorf("%w: ignoreDifferences[%d]: jq path expression %q: %v", ErrRule, i, e, err)
			}
			code, err := gojq.Compile(q)
			if err != nil {
				return nil, fmt.Errorf("%w: ignoreDifferences[%d]: jq path expression %q: %v", ErrRule, i, e, err)
			}
			c.jq = append(c.jq, code)
		}
		ig.rules = append(ig.rules, c)
	}
	return ig, nil
}

func (r *compiled) matches(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return glob(r.Group, gvk.Group) && glob(r.Kind, gvk.Kind) &&
		(r.Name == "" || r.Name == u.GetName()) && (r.Namespace == "" || r.Namespace == u.GetNamespace())
}

// glob matches Argo CD's group and kind patterns; an empty group is the
// core group only when the kind says so, so it matches any group, as
// Argo CD's empty group does.
func glob(pattern, s string) bool {
	if pattern == "" || pattern == s {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// Paths returns the paths of u's ignored fields, evaluated on obj (u's
// content or a part of it with the same shape); live gives the field
// owners for ManagedFieldsManagers (nil: none).
func (ig *Ignore) Paths(u *unstructured.Unstructured, obj map[string]any, live *unstructured.Unstructured) ([]Path, error) {
	if ig == nil {
		return nil, nil
	}
	var out []Path
	for i := range ig.rules {
		r := &ig.rules[i]
		if !r.matches(u) {
			continue
		}
		out = append(out, r.pointers...)
		if len(r.jq) > 0 {
			in := jqValue(obj)
			for n, code := range r.jq {
				ps, err := runJQ(code, in)
				if err != nil {
					return nil, fmt.Errorf("%w: jq path expression %q on %s: %v", ErrRule, r.JQPathExpressions[n], id(u), err)
				}
				out = append(out, ps...)
			}
		}
		if live != nil && len(r.ManagedFieldsManagers) > 0 {
			for _, mf := range live.GetManagedFields() {
				if !contains(r.ManagedFieldsManagers, mf.Manager) {
					continue
				}
				set, err := fieldSet(mf)
				if err != nil {
					return nil, fmt.Errorf("read managedFields of %s on %s: %w", mf.Manager, id(u), err)
				}
				set.Iterate(func(p fieldpath.Path) { out = append(out, fieldPath(p)) })
			}
		}
	}
	return out, nil
}

func runJQ(code *gojq.Code, in any) ([]Path, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jqTimeout)
	defer cancel()
	var out []Path
	iter := code.RunWithContext(ctx, in)
	for {
		v, ok := iter.Next()
		if !ok {
			return out, nil
		}
		if err, ok := v.(error); ok {
			var halt *gojq.HaltError
			if errors.As(err, &halt) && halt.Value() == nil {
				return out, nil
			}
			return nil, err
		}
		elems, _ := v.([]any)
		if p, ok := jqPath(elems); ok {
			out = append(out, p)
		}
	}
}

// strip removes u's ignored fields from obj.
func (ig *Ignore) strip(u *unstructured.Unstructured, obj map[string]any, live *unstructured.Unstructured) error {
	paths, err := ig.Paths(u, obj, live)
	if err != nil {
		return err
	}
	for _, p := range paths {
		p.Remove(obj)
	}
	return nil
}

// ForApply returns desired as apply sends it when the Application sets
// RespectIgnoreDifferences=true, as Argo CD's sync does: each ignored field
// takes the live object's value, or is left out when the live object has
// none, so apply never changes an ignored field. A new object (live nil)
// is applied as it is.
func (ig *Ignore) ForApply(desired, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if ig == nil || live == nil {
		return desired, nil
	}
	paths, err := ig.Paths(desired, desired.Object, live)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return desired, nil
	}
	out := desired.DeepCopy()
	for _, p := range paths {
		if v, ok := p.Get(live.Object); ok {
			if p.Set(out.Object, runtime.DeepCopyJSONValue(v)) {
				continue
			}
		}
		p.Remove(out.Object)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func id(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + "/" + ns + "/" + u.GetName()
	}
	return u.GetKind() + "/" + u.GetName()
}

// jqValue converts an object to the types gojq takes (int64 → int).
func jqValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jqValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jqValue(e)
		}
		return out
	case int64:
		return int(x)
	case int32:
		return int(x)
	}
	return v
}
