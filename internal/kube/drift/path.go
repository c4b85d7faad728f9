package drift

import (
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Step is one step of a Path into an object: a map field, a list index,
// the list item whose fields equal Key (an associative list), or the list
// item equal to Value (a set).
type Step struct {
	Field    string
	Index    int
	Key      map[string]any
	Value    any
	kind     stepKind
	hasValue bool
}

type stepKind int

const (
	fieldStep stepKind = iota
	indexStep
	keyStep
	valueStep
	// pointerStep is a JSON pointer segment: a map field, or a list index
	// when the container is a list (RFC 6901 does not say which).
	pointerStep
)

// Path addresses a value inside an object.
type Path []Step

func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch s.kind {
		case indexStep:
			fmt.Fprintf(&b, "[%d]", s.Index)
		case keyStep:
			fmt.Fprintf(&b, "[%v]", s.Key)
		case valueStep:
			fmt.Fprintf(&b, "[=%v]", s.Value)
		default:
			b.WriteString("." + s.Field)
		}
	}
	return b.String()
}

// pointerPath parses a JSON pointer (RFC 6901).
func pointerPath(pointer string) (Path, error) {
	if pointer == "" {
		return nil, nil
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", pointer)
	}
	var p Path
	for _, seg := range strings.Split(pointer[1:], "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		p = append(p, Step{Field: seg, kind: pointerStep})
	}
	return p, nil
}

// jqPath turns a path jq's path() yields (strings and numbers) into a Path.
func jqPath(elems []any) (Path, bool) {
	p := make(Path, 0, len(elems))
	for _, e := range elems {
		switch v := e.(type) {
		case string:
			p = append(p, Step{Field: v, kind: fieldStep})
		case int:
			p = append(p, Step{Index: v, kind: indexStep})
		case float64:
			p = append(p, Step{Index: int(v), kind: indexStep})
		default:
			return nil, false // a slice path (.[1:2]): not a single value
		}
	}
	return p, true
}

// fieldPath turns a managedFields path into a Path.
func fieldPath(fp fieldpath.Path) Path {
	p := make(Path, 0, len(fp))
	for _, e := range fp {
		switch {
		case e.FieldName != nil:
			p = append(p, Step{Field: *e.FieldName, kind: fieldStep})
		case e.Key != nil:
			key := map[string]any{}
			for _, f := range *e.Key {
				key[f.Name] = f.Value.Unstructured()
			}
			p = append(p, Step{Key: key, kind: keyStep})
		case e.Value != nil:
			p = append(p, Step{Value: (*e.Value).Unstructured(), kind: valueStep, hasValue: true})
		case e.Index != nil:
			p = append(p, Step{Index: *e.Index, kind: indexStep})
		}
	}
	return p
}

// child resolves one step in a container: the map and key, or the list
// and index, it names.
func child(cur any, s Step) (m map[string]any, key string, l []any, i int, ok bool) {
	switch c := cur.(type) {
	case map[string]any:
		if s.kind != fieldStep && s.kind != pointerStep {
			return nil, "", nil, 0, false
		}
		_, ok := c[s.Field]
		return c, s.Field, nil, 0, ok
	case []any:
		switch s.kind {
		case indexStep:
			return nil, "", c, s.Index, s.Index >= 0 && s.Index < len(c)
		case pointerStep:
			n, err := strconv.Atoi(s.Field)
			return nil, "", c, n, err == nil && n >= 0 && n < len(c)
		case keyStep:
			for n, item := range c {
				if matchesKey(item, s.Key) {
					return nil, "", c, n, true
				}
			}
		case valueStep:
			for n, item := range c {
				if sameValue(item, s.Value) {
					return nil, "", c, n, true
				}
			}
		}
	}
	return nil, "", nil, 0, false
}

func matchesKey(item any, key map[string]any) bool {
	m, ok := item.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range key {
		if !sameValue(m[k], v) {
			return false
		}
	}
	return true
}

// sameValue compares scalars as JSON does: numbers by value, whatever
// their Go type.
func sameValue(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// Get returns the value at p in obj.
func (p Path) Get(obj map[string]any) (any, bool) {
	cur := any(obj)
	for _, s := range p {
		m, k, l, i, ok := child(cur, s)
		if !ok {
			return nil, false
		}
		if m != nil {
			cur = m[k]
		} else {
			cur = l[i]
		}
	}
	return cur, true
}

// Remove deletes the value at p from obj; it reports whether there was one.
func (p Path) Remove(obj map[string]any) bool {
	if len(p) == 0 {
		return false
	}
	parent, ok := p[:len(p)-1].Get(obj)
	if !ok {
		return false
	}
	m, k, l, i, ok := child(parent, p[len(p)-1])
	if !ok {
		return false
	}
	if m != nil {
		delete(m, k)
		return true
	}
	// A list shrinks in place: its parent holds the slice header.
	set, ok := p[:len(p)-1].parentOf(obj)
	return ok && set(append(l[:i:i], l[i+1:]...))
}

// parentOf returns a setter for the value at p (a list being shrunk).
func (p Path) parentOf(obj map[string]any) (func(any) bool, bool) {
	if len(p) == 0 {
		return func(any) bool { return false }, false
	}
	parent, ok := p[:len(p)-1].Get(obj)
	if !ok {
		return nil, false
	}
	m, k, l, i, ok := child(parent, p[len(p)-1])
	if !ok {
		return nil, false
	}
	if m != nil {
		return func(v any) bool { m[k] = v; return true }, true
	}
	return func(v any) bool { l[i] = v; return true }, true
}

// Set replaces or adds the value at p, when p's parent exists (a missing
// list item is not added).
func (p Path) Set(obj map[string]any, v any) bool {
	if len(p) == 0 {
		return false
	}
	parent, ok := p[:len(p)-1].Get(obj)
	if !ok {
		return false
	}
	s := p[len(p)-1]
	if m, isMap := parent.(map[string]any); isMap && (s.kind == fieldStep || s.kind == pointerStep) {
		m[s.Field] = v
		return true
	}
	set, ok := p.parentOf(obj)
	return ok && set(v)
}
