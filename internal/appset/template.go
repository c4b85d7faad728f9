package appset

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/template"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// Renderer substitutes parameters into strings the way Argo CD's
// ApplicationSet controller does, in one of its two modes. It is not safe
// for concurrent use.
type Renderer struct {
	goTemplate bool
	options    []string
	cache      map[string]*template.Template
	funcs      template.FuncMap
	// run is the budget of the rendering in progress (see limits.go): the
	// functions, bound when a template is parsed, reach it through here,
	// as text/template has no way to pass a context to them.
	run *budget
	// maxSteps is MaxTemplateSteps; tests lower it so that a loop bomb
	// fails fast under the race detector.
	maxSteps int
}

// NewRenderer returns a renderer for default (fasttemplate) mode or, with
// goTemplate, Go text/template mode with the given goTemplateOptions.
func NewRenderer(goTemplate bool, options []string) (*Renderer, error) {
	for _, o := range options {
		switch o {
		case "missingkey=default", "missingkey=invalid", "missingkey=zero", "missingkey=error":
		default:
			return nil, fmt.Errorf("goTemplateOptions: %q is not a text/template option (use missingkey=error, missingkey=zero or missingkey=default)", o)
		}
	}
	r := &Renderer{goTemplate: goTemplate, options: options, cache: map[string]*template.Template{}, maxSteps: MaxTemplateSteps}
	if goTemplate {
		r.funcs = boundedFuncs(funcMap, &r.run)
	}
	return r, nil
}

// Replace renders one string with params, within the limits of limits.go;
// it stops when ctx is done.
func (r *Renderer) Replace(ctx context.Context, tmpl string, params map[string]any) (string, error) {
	defer r.begin(ctx)()
	return r.replace(tmpl, params)
}

// begin starts a rendering with a fresh budget; the returned func ends it.
func (r *Renderer) begin(ctx context.Context) func() {
	prev := r.run
	r.run = newBudget(ctx, r.maxSteps)
	return func() { r.run = prev }
}

func (r *Renderer) replace(tmpl string, params map[string]any) (string, error) {
	if err := r.run.ctx.Err(); err != nil {
		return "", err
	}
	if r.goTemplate {
		t, err := r.parse(tmpl)
		if err != nil {
			return "", &TemplateError{Template: tmpl, Err: fmt.Errorf("failed to parse template %s: %w", tmpl, err)}
		}
		w := &cappedWriter{b: r.run}
		if err := t.Execute(w, params); err != nil {
			if r.run.stopped != nil {
				err = r.run.stopped
			}
			return "", &TemplateError{Template: tmpl, Err: fmt.Errorf("failed to execute go template %s: %w", tmpl, err)}
		}
		return w.String(), nil
	}
	out, err := fastReplace(tmpl, params, MaxTemplateOutput-r.run.output)
	if err == nil {
		err = r.run.write(len(out))
	}
	if err != nil {
		return "", &TemplateError{Template: tmpl, Err: err}
	}
	return out, nil
}

// TemplateError is a failure to render one template string.
type TemplateError struct {
	Template string
	Err      error
}

func (e *TemplateError) Error() string { return e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

func (r *Renderer) parse(s string) (*template.Template, error) {
	if t, ok := r.cache[s]; ok {
		return t, nil
	}
	t := template.New("base").Funcs(r.funcs)
	for _, o := range r.options {
		t = t.Option(o)
	}
	t, err := t.Parse(s)
	if err != nil {
		return nil, err
	}
	if err := instrument(t); err != nil {
		return nil, err
	}
	r.cache[s] = t
	return t, nil
}

// fastReplace is Argo CD's default-mode substitution (valyala/fasttemplate
// with "{{" "}}"): a known tag (spaces trimmed) whose parameter is a string
// is replaced; anything else is written back verbatim. A string that has a
// complete tag and also an unterminated "{{" is an error.
// It refuses to write more than limit bytes.
func fastReplace(s string, params map[string]any, limit int) (string, error) {
	if !isTemplated(s) {
		return s, nil
	}
	var b strings.Builder
	rest := s
	for {
		if b.Len() > limit {
			return "", limitError("the templates write more than %d bytes", MaxTemplateOutput)
		}
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		rest = rest[i+2:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return "", fmt.Errorf("invalid template: Cannot find end tag=%q in the template=%q starting from %q", "}}", s, rest)
		}
		tag := rest[:j]
		rest = rest[j+2:]
		key := strings.TrimSpace(tag)
		if v, ok := params[key].(string); ok && key != "" {
			if len(v) > limit-b.Len() {
				return "", limitError("the templates write more than %d bytes", MaxTemplateOutput)
			}
			b.WriteString(v)
		} else {
			b.WriteString("{{" + tag + "}}")
		}
	}
}

// isTemplated mirrors Argo CD's regexp ".*{{.*}}.*", whose "." does not
// cross a newline: some line must hold "{{" followed later by "}}".
func isTemplated(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "{{"); i >= 0 && strings.Contains(line[i+2:], "}}") {
			return true
		}
	}
	return false
}

var rawJSONType = reflect.TypeOf(fleet.RawJSON{})

// deepReplace copies original into cp (a settable value of the same type),
// rendering every string, every map key and the contents of raw JSON
// values — Argo CD's deeplyReplace, which works on typed objects so that
// only string fields are templated.
func (r *Renderer) deepReplace(cp, original reflect.Value, params map[string]any) error {
	switch original.Kind() {
	case reflect.Pointer:
		v := original.Elem()
		if !v.IsValid() {
			return nil
		}
		cp.Set(reflect.New(v.Type()))
		return r.deepReplace(cp.Elem(), v, params)
	case reflect.Interface:
		v := original.Elem()
		if !v.IsValid() {
			return nil
		}
		c := reflect.New(v.Type()).Elem()
		if err := r.deepReplace(c, v, params); err != nil {
			return err
		}
		cp.Set(c)
	case reflect.Struct:
		if original.Type() == rawJSONType {
			return r.replaceRaw(cp, original, params)
		}
		for i := 0; i < original.NumField(); i++ {
			if err := r.deepReplace(cp.Field(i), original.Field(i), params); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if original.IsNil() {
			return nil
		}
		cp.Set(reflect.MakeSlice(original.Type(), original.Len(), original.Len()))
		for i := 0; i < original.Len(); i++ {
			if err := r.deepReplace(cp.Index(i), original.Index(i), params); err != nil {
				return err
			}
		}
	case reflect.Map:
		if original.IsNil() {
			return nil
		}
		cp.Set(reflect.MakeMapWithSize(original.Type(), original.Len()))
		// In key order, so the error reported, and the value kept when two
		// keys render to the same key, do not depend on map order.
		keys := original.MapKeys()
		slices.SortFunc(keys, compareKeys)
		for _, key := range keys {
			v := original.MapIndex(key)
			if isNilable(v) && v.IsNil() {
				continue
			}
			c := reflect.New(v.Type()).Elem()
			if err := r.deepReplace(c, v, params); err != nil {
				return err
			}
			if key.Kind() == reflect.String {
				k, err := r.replace(key.String(), params)
				if err != nil {
					return err
				}
				key = reflect.ValueOf(k).Convert(key.Type())
			}
			cp.SetMapIndex(key, c)
		}
	case reflect.String:
		s, err := r.replace(original.String(), params)
		if err != nil {
			return err
		}
		cp.SetString(s)
	default:
		cp.Set(original)
	}
	return nil
}

func (r *Renderer) replaceRaw(cp, original reflect.Value, params map[string]any) error {
	raw := original.Interface().(fleet.RawJSON)
	if len(raw.Raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw.Raw, &v); err != nil {
		return fmt.Errorf("failed to unmarshal JSON field: %w", err)
	}
	orig := reflect.ValueOf(&v).Elem()
	c := reflect.New(orig.Type()).Elem()
	if err := r.deepReplace(c, orig, params); err != nil {
		return err
	}
	b, err := json.Marshal(c.Interface())
	if err != nil {
		return fmt.Errorf("failed to marshal templated JSON field: %w", err)
	}
	cp.Set(reflect.ValueOf(fleet.RawJSON{Raw: b}))
	return nil
}

func isNilable(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Chan, reflect.Func, reflect.Interface, reflect.Map, reflect.Pointer, reflect.Slice:
		return true
	}
	return false
}

// clone returns a deep copy of *v through its JSON form.
func clone[T any](v *T) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// renderValue returns a deep copy of *v with every string rendered, all
// of them within one budget; it stops when ctx is done.
func renderValue[T any](ctx context.Context, r *Renderer, v *T, params map[string]any) (*T, error) {
	defer r.begin(ctx)()
	var out T
	if err := r.deepReplace(reflect.ValueOf(&out).Elem(), reflect.ValueOf(v).Elem(), params); err != nil {
		return nil, err
	}
	return &out, nil
}

// compareKeys orders map keys: strings as strings, others by their text.
func compareKeys(a, b reflect.Value) int {
	if a.Kind() == reflect.String && b.Kind() == reflect.String {
		return cmp.Compare(a.String(), b.String())
	}
	return cmp.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
}
