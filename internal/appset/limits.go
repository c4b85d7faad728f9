package appset

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// The bounds of one rendering: all the template strings of one
// Application (or of one generator's interpolation, or one templatePatch).
// Go's text/template has no limits and no context, so Flotilla adds them:
// output is written through a writer that refuses more than
// MaxTemplateOutput bytes; every range body and every {{template}} call
// starts with a hidden step that counts towards MaxTemplateSteps and
// checks the context; and every function is
// wrapped so that it checks the context, counts its work and refuses
// arguments and results larger than MaxTemplateValue. Functions whose
// result can be much larger than their arguments (repeat, until, seq,
// indent, printf widths…) check the size before they allocate.
const (
	// MaxTemplateOutput is how many bytes the templates of one
	// Application may write.
	MaxTemplateOutput = 1 << 20
	// MaxTemplateSteps is how much work they may do: a step is an
	// iteration, a function call, or 64 bytes a function reads or writes.
	MaxTemplateSteps = 1 << 20
	// MaxTemplateValue is how large a value a function may take or give:
	// bytes of strings plus one per list element, map entry or number,
	// counted as if shared parts were copied.
	MaxTemplateValue = 1 << 20
	// MaxParamSets is how many parameter sets a matrix generator may
	// make: the product of two generators' sets.
	MaxParamSets = 100000
)

// budget is what one rendering may still spend.
type budget struct {
	ctx      context.Context
	maxSteps int
	output   int
	steps    int
	// stopped is the error of the hidden step, which stopped the
	// template where text/template has no position to report.
	stopped error
}

func newBudget(ctx context.Context, maxSteps int) *budget {
	return &budget{ctx: ctx, maxSteps: maxSteps}
}

func limitError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{fleet.ErrLimit}, args...)...)
}

// step counts n steps and checks the context.
func (b *budget) step(n int) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	b.steps += n
	if b.steps > b.maxSteps {
		return limitError("the templates take more than %d steps (a loop too long, or a template that calls itself)", b.maxSteps)
	}
	return nil
}

// write counts n bytes of output.
func (b *budget) write(n int) error {
	b.output += n
	if b.output > MaxTemplateOutput {
		return limitError("the templates write more than %d bytes", MaxTemplateOutput)
	}
	return nil
}

// cappedWriter is the output of one template execution: it refuses to grow
// past the budget, which stops text/template at once.
type cappedWriter struct {
	strings.Builder
	b *budget
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if err := w.b.write(len(p)); err != nil {
		return 0, err
	}
	return w.Builder.Write(p)
}

// tickFunc is the hidden step put at the start of every loop body of a parsed
// template.
const tickFunc = "flotillaStep_"

// instrument puts a step at the start of every range body and before
// every {{template}} call of every template associated with t, so that a
// loop or a recursion, even one whose body does nothing, spends the
// budget and sees the context. Nothing else repeats, so a template
// without loops pays nothing.
func instrument(t *template.Template) error {
	probe, err := template.New("probe").Funcs(template.FuncMap{tickFunc: func() string { return "" }}).Parse("{{" + tickFunc + "}}")
	if err != nil {
		return err
	}
	tick := probe.Tree.Root.Nodes[0]
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			instrumentList(tt.Tree.Root, tick, false)
		}
	}
	return nil
}

func instrumentList(l *parse.ListNode, tick parse.Node, loop bool) {
	if l == nil {
		return
	}
	nodes := make([]parse.Node, 0, len(l.Nodes)+1)
	if loop {
		nodes = append(nodes, tick)
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.IfNode:
			instrumentList(n.List, tick, false)
			instrumentList(n.ElseList, tick, false)
		case *parse.RangeNode:
			instrumentList(n.List, tick, true)
			instrumentList(n.ElseList, tick, false)
		case *parse.WithNode:
			instrumentList(n.List, tick, false)
			instrumentList(n.ElseList, tick, false)
		case *parse.TemplateNode:
			nodes = append(nodes, tick)
		}
		nodes = append(nodes, n)
	}
	l.Nodes = nodes
}

// valueSize is the size of v as MaxTemplateValue counts it, stopping as
// soon as it passes limit (so a cycle or a huge value costs little), and
// how many nodes it visited.
func valueSize(v reflect.Value, limit int) (size, visited int) {
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if size > limit {
			return
		}
		visited++
		switch v.Kind() {
		case reflect.Invalid:
			size++
		case reflect.String:
			size += 1 + v.Len()
		case reflect.Interface, reflect.Pointer:
			if v.IsNil() {
				size++
				return
			}
			walk(v.Elem())
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				size += 1 + v.Len()
				return
			}
			size++
			for i := 0; i < v.Len() && size <= limit; i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			size++
			it := v.MapRange()
			for size <= limit && it.Next() {
				walk(it.Key())
				walk(it.Value())
			}
		case reflect.Struct:
			size++
			for i := 0; i < v.NumField() && size <= limit; i++ {
				walk(v.Field(i))
			}
		default:
			size++
		}
	}
	walk(v)
	return size, visited
}

var errorType = reflect.TypeOf((*error)(nil)).Elem()

// boundedFuncs returns funcs with every function wrapped to spend b's
// budget: each call checks the context, counts a step and the size of what
// it reads and gives, and refuses values larger than MaxTemplateValue.
// Wrapped functions return an error as well as their value, which
// text/template accepts.
func boundedFuncs(funcs template.FuncMap, b **budget) template.FuncMap {
	out := make(template.FuncMap, len(funcs)+1)
	for name, f := range funcs {
		out[name] = bound(name, reflect.ValueOf(f), b)
	}
	out[tickFunc] = func() (string, error) {
		err := (*b).step(1)
		if err != nil {
			(*b).stopped = err
		}
		return "", err
	}
	return out
}

func bound(name string, fn reflect.Value, b **budget) any {
	if guards[name] == nil && expensive[name] == 0 {
		if f := boundFast(name, fn.Interface(), b); f != nil {
			return f
		}
	}
	ft := fn.Type()
	in := make([]reflect.Type, ft.NumIn())
	for i := range in {
		in[i] = ft.In(i)
	}
	hasErr := ft.NumOut() == 2
	out := []reflect.Type{ft.Out(0), errorType}
	wt := reflect.FuncOf(in, out, ft.IsVariadic())
	zero := reflect.Zero(ft.Out(0))
	return reflect.MakeFunc(wt, func(args []reflect.Value) []reflect.Value {
		fail := func(err error) []reflect.Value {
			return []reflect.Value{zero, reflect.ValueOf(&err).Elem()}
		}
		bud := *b
		cost := 1
		for _, a := range args {
			size, visited := valueSize(a, MaxTemplateValue)
			if size > MaxTemplateValue {
				return fail(limitError("an argument of %s is larger than %d", name, MaxTemplateValue))
			}
			cost += visited + size/64
		}
		if g := guards[name]; g != nil {
			extra, err := g(args)
			if err != nil {
				return fail(err)
			}
			cost += extra
		}
		if err := bud.step(cost + expensive[name]); err != nil {
			return fail(err)
		}
		var res []reflect.Value
		if ft.IsVariadic() {
			res = fn.CallSlice(args)
		} else {
			res = fn.Call(args)
		}
		if hasErr && !res[1].IsNil() {
			return res
		}
		size, visited := valueSize(res[0], MaxTemplateValue)
		if size > MaxTemplateValue {
			return fail(limitError("%s gives a value larger than %d", name, MaxTemplateValue))
		}
		if err := bud.step(visited + size/64); err != nil {
			return fail(err)
		}
		return []reflect.Value{res[0], reflect.Zero(errorType)}
	}).Interface()
}

// guards check, before a function runs, what its result would cost when
// that can be much more than its arguments, and return the extra steps to
// count.
var guards = map[string]func(args []reflect.Value) (int, error){
	"repeat": func(a []reflect.Value) (int, error) {
		return 0, sizeWithin("repeat", a[1].Len(), int(a[0].Int()), 0)
	},
	"indent":  indentGuard("indent"),
	"nindent": indentGuard("nindent"),
	"replace": func(a []reflect.Value) (int, error) {
		old, repl, src := a[0].String(), a[1].String(), a[2].String()
		n := utf8.RuneCountInString(src) + 1
		if old != "" {
			n = strings.Count(src, old)
		}
		return len(src) / 64, sizeWithin("replace", len(repl), n, len(src))
	},
	"wrapWith": func(a []reflect.Value) (int, error) {
		l, sep, s := int(a[0].Int()), a[1].String(), a[2].String()
		breaks := len(s)/max(l, 1) + strings.Count(s, " ") + 1
		return 0, sizeWithin("wrapWith", len(sep), breaks, len(s))
	},
	"join": func(a []reflect.Value) (int, error) {
		n := 0
		if l := a[1].Elem(); l.IsValid() && (l.Kind() == reflect.Slice || l.Kind() == reflect.Array) {
			n = l.Len()
		}
		return 0, sizeWithin("join", a[0].Len(), n, 0)
	},
	"randAlphaNum": countGuard("randAlphaNum"),
	"randAlpha":    countGuard("randAlpha"),
	"randAscii":    countGuard("randAscii"),
	"randNumeric":  countGuard("randNumeric"),
	"randBytes":    countGuard("randBytes"),
	"printf": func(a []reflect.Value) (int, error) {
		args := make([]any, a[1].Len())
		for i := range args {
			args[i] = a[1].Index(i).Interface()
		}
		return 0, checkFormat(a[0].String(), args)
	},
	"regexReplaceAll":            regexGuard("regexReplaceAll", true),
	"mustRegexReplaceAll":        regexGuard("mustRegexReplaceAll", true),
	"regexReplaceAllLiteral":     regexGuard("regexReplaceAllLiteral", false),
	"mustRegexReplaceAllLiteral": regexGuard("mustRegexReplaceAllLiteral", false),
	// Quadratic in the list's length.
	"uniq":        quadraticGuard,
	"mustUniq":    quadraticGuard,
	"without":     quadraticGuard,
	"mustWithout": quadraticGuard,
}

// expensive are functions that spend far more time than their sizes say
// (key generation, password hashing): each call counts this many steps.
var expensive = map[string]int{
	// A new RSA key: up to seconds each.
	"genPrivateKey": MaxTemplateSteps / 4, "genCA": MaxTemplateSteps / 8, "genSelfSignedCert": MaxTemplateSteps / 8,
	"genSignedCert": MaxTemplateSteps / 8,
	// scrypt, bcrypt, signatures: tens of milliseconds.
	"derivePassword": MaxTemplateSteps / 16, "bcrypt": MaxTemplateSteps / 16, "htpasswd": MaxTemplateSteps / 16,
	"genCAWithKey": MaxTemplateSteps / 64, "genSelfSignedCertWithKey": MaxTemplateSteps / 64,
	"genSignedCertWithKey": MaxTemplateSteps / 64, "buildCustomCert": MaxTemplateSteps / 64,
}

// sizeWithin refuses a result of base bytes plus n pieces of each bytes
// beyond MaxTemplateValue, before it is made.
func sizeWithin(name string, each, n, base int) error {
	if n < 0 || each < 0 {
		return nil // the function itself refuses it
	}
	if each > 0 && n > (MaxTemplateValue-base)/each {
		return limitError("%s would give %d × %d bytes, more than %d", name, n, each, MaxTemplateValue)
	}
	return nil
}

func indentGuard(name string) func([]reflect.Value) (int, error) {
	return func(a []reflect.Value) (int, error) {
		s := a[1].String()
		return len(s) / 64, sizeWithin(name, int(a[0].Int()), strings.Count(s, "\n")+1, len(s))
	}
}

func countGuard(name string) func([]reflect.Value) (int, error) {
	return func(a []reflect.Value) (int, error) {
		return 0, sizeWithin(name, 1, int(a[0].Int()), 0)
	}
}

// regexGuard bounds a replacement: the matches do not overlap, so each
// "$" reference in repl expands to at most the whole input once over all
// matches.
func regexGuard(name string, expand bool) func([]reflect.Value) (int, error) {
	return func(a []reflect.Value) (int, error) {
		re, err := regexp.Compile(a[0].String())
		if err != nil {
			return 0, nil // the function reports it
		}
		s, repl := a[1].String(), a[2].String()
		n := len(re.FindAllStringIndex(s, -1))
		base := len(s)
		if expand {
			base += strings.Count(repl, "$") * len(s)
		}
		if base > MaxTemplateValue {
			return 0, limitError("%s would give more than %d bytes", name, MaxTemplateValue)
		}
		return len(s) / 64, sizeWithin(name, len(repl), n, base)
	}
}

func quadraticGuard(a []reflect.Value) (int, error) {
	n := 0
	if l := a[0].Elem(); l.IsValid() && (l.Kind() == reflect.Slice || l.Kind() == reflect.Array) {
		n = l.Len()
	}
	m := n
	if len(a) > 1 { // without: the list and the values to omit
		m = a[1].Len()
	}
	if m > 0 && n > MaxTemplateSteps/m {
		return 0, limitError("comparing %d × %d elements takes more than %d steps", n, m, MaxTemplateSteps)
	}
	return n * m, nil
}

// MaxFormatWidth is the largest width or precision a printf verb may ask
// for: fmt pads in memory before anything can be checked.
const MaxFormatWidth = 10000

// checkFormat refuses a printf format whose widths or precisions (given
// in the format, or as "*" arguments) exceed MaxFormatWidth.
func checkFormat(format string, args []any) error {
	star := false
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("+-# .*[]0123456789", format[j]) >= 0 {
			j++
		}
		spec := format[i+1 : j]
		star = star || strings.Contains(spec, "*")
		for k := 0; k < len(spec); {
			if spec[k] < '0' || spec[k] > '9' {
				k++
				continue
			}
			e := k
			for e < len(spec) && spec[e] >= '0' && spec[e] <= '9' {
				e++
			}
			if (k == 0 || spec[k-1] != '[') && (e-k > 5 || atoi(spec[k:e]) > MaxFormatWidth) {
				return limitError("printf width or precision %s is more than %d", spec[k:e], MaxFormatWidth)
			}
			k = e
		}
		i = j
	}
	if star {
		for _, a := range args {
			v := reflect.ValueOf(a)
			if v.CanInt() && (v.Int() > MaxFormatWidth || v.Int() < -MaxFormatWidth) ||
				v.CanUint() && v.Uint() > MaxFormatWidth {
				return limitError("printf with \"*\" and an argument %v larger than %d", a, MaxFormatWidth)
			}
		}
	}
	return nil
}

func atoi(s string) int {
	n := 0
	for _, c := range []byte(s) {
		n = n*10 + int(c-'0')
	}
	return n
}

// untilStep is Sprig's untilStep, counted before it is made (Sprig's loop
// never ends when i+step overflows).
func untilStep(start, stop, step int) ([]int, error) {
	var n uint64
	switch {
	case stop < start && step < 0:
		d, s := uint64(start)-uint64(stop), uint64(-step)
		n = d / s
		if d%s != 0 {
			n++
		}
	case stop > start && step > 0:
		d, s := uint64(stop)-uint64(start), uint64(step)
		n = d / s
		if d%s != 0 {
			n++
		}
	default:
		return []int{}, nil
	}
	if n > MaxTemplateValue {
		return nil, limitError("untilStep %d %d %d would give %d numbers, more than %d", start, stop, step, n, MaxTemplateValue)
	}
	v := make([]int, n)
	for i := range v {
		v[i] = start + i*step
	}
	return v, nil
}

// until is Sprig's until, bounded.
func until(count int) ([]int, error) {
	if count < 0 {
		return untilStep(0, count, -1)
	}
	return untilStep(0, count, 1)
}

// seq is Sprig's seq, bounded.
func seq(params ...int) (string, error) {
	var (
		v   []int
		err error
	)
	switch len(params) {
	case 1:
		end, inc := params[0], 1
		if end < 1 {
			inc = -1
		}
		v, err = untilStep(1, end+inc, inc)
	case 2:
		start, end, step := params[0], params[1], 1
		if end < start {
			step = -1
		}
		v, err = untilStep(start, end+step, step)
	case 3:
		start, step, end, inc := params[0], params[1], params[2], 1
		if end < start {
			inc = -1
			if step > 0 {
				return "", nil
			}
		}
		v, err = untilStep(start, end+inc, step)
	default:
		return "", nil
	}
	if err != nil {
		return "", err
	}
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, " "), nil
}

// boundFast wraps the common shapes of string functions without
// reflection (a reflected call costs as much as the function): the same
// checks as bound, where a string's size is its length.
func boundFast(name string, fn any, b **budget) any {
	enter := func(n int) error { return (*b).step(1 + n/64) }
	leave := func(out string) (string, error) {
		if len(out) > MaxTemplateValue {
			return "", limitError("%s gives a value larger than %d", name, MaxTemplateValue)
		}
		return out, (*b).step(len(out) / 64)
	}
	tooLarge := func(n int) error {
		if n > MaxTemplateValue {
			return limitError("an argument of %s is larger than %d", name, MaxTemplateValue)
		}
		return nil
	}
	switch f := fn.(type) {
	case func(string) string:
		return func(a string) (string, error) {
			if err := tooLarge(len(a)); err != nil {
				return "", err
			}
			if err := enter(len(a)); err != nil {
				return "", err
			}
			return leave(f(a))
		}
	case func(string, string) string:
		return func(a, c string) (string, error) {
			if err := tooLarge(max(len(a), len(c))); err != nil {
				return "", err
			}
			if err := enter(len(a) + len(c)); err != nil {
				return "", err
			}
			return leave(f(a, c))
		}
	case func(int, string) string:
		return func(n int, a string) (string, error) {
			if err := tooLarge(len(a)); err != nil {
				return "", err
			}
			if err := enter(len(a)); err != nil {
				return "", err
			}
			return leave(f(n, a))
		}
	case func(string) bool:
		return func(a string) (bool, error) {
			if err := tooLarge(len(a)); err != nil {
				return false, err
			}
			return f(a), enter(len(a))
		}
	case func(string, string) bool:
		return func(a, c string) (bool, error) {
			if err := tooLarge(max(len(a), len(c))); err != nil {
				return false, err
			}
			return f(a, c), enter(len(a) + len(c))
		}
	}
	return nil
}
