package ghflow

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Eval evaluates one GitHub Actions expression (the text inside ${{ }},
// or an if: condition) over ctx, a tree of maps, slices, strings,
// float64s, bools and nils. It models the operators ! == != < <= > >= &&
// || and ( ), property access (a.b, a['b'], names with '-'), the literals,
// and the functions startsWith, endsWith, contains, format, fromJSON,
// toJSON, join and the status functions (success, always, failure,
// cancelled, read from ctx["status"]).
func Eval(expr string, ctx map[string]any) (any, error) {
	p := &parser{src: expr, ctx: ctx}
	p.next()
	v, err := p.or()
	if err == nil && p.tok.kind != tEOF {
		err = fmt.Errorf("unexpected %q", p.tok.text)
	}
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", expr, err)
	}
	return v, nil
}

// Interpolate replaces every ${{ expr }} in s. A string that is exactly
// one expression keeps the expression's value (a matrix from fromJSON).
func Interpolate(s string, ctx map[string]any) (any, error) {
	m := interp.FindAllStringSubmatchIndex(s, -1)
	if len(m) == 1 && m[0][0] == 0 && m[0][1] == len(s) {
		return Eval(s[m[0][2]:m[0][3]], ctx)
	}
	var b strings.Builder
	last := 0
	for _, ix := range m {
		b.WriteString(s[last:ix[0]])
		v, err := Eval(s[ix[2]:ix[3]], ctx)
		if err != nil {
			return nil, err
		}
		b.WriteString(String(v))
		last = ix[1]
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

var interp = regexp.MustCompile(`\$\{\{(.*?)\}\}`)

// Truthy is GitHub's truthiness: false, 0, -0, "", null and NaN are false.
func Truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

// String is GitHub's conversion of a value to a string.
func String(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func number(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		if strings.TrimSpace(v) == "" {
			return 0
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	return math.NaN()
}

// equal is GitHub's loose equality: strings compare ignoring case, values
// of different primitive types compare as numbers, objects by identity
// (never equal here).
func equal(a, b any) bool {
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return strings.EqualFold(sa, sb)
		}
	}
	if a == nil && b == nil {
		return true
	}
	switch a.(type) {
	case map[string]any, []any:
		return false
	}
	switch b.(type) {
	case map[string]any, []any:
		return false
	}
	return number(a) == number(b)
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp
)

type token struct {
	kind tokKind
	text string
}

type parser struct {
	src string
	pos int
	tok token
	ctx map[string]any
}

func (p *parser) next() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok = token{tEOF, ""}
		return
	}
	c := p.src[p.pos]
	start := p.pos
	switch {
	case c == '\'':
		var b strings.Builder
		p.pos++
		for p.pos < len(p.src) {
			if p.src[p.pos] == '\'' {
				if p.pos+1 < len(p.src) && p.src[p.pos+1] == '\'' {
					b.WriteByte('\'')
					p.pos += 2
					continue
				}
				p.pos++
				p.tok = token{tString, b.String()}
				return
			}
			b.WriteByte(p.src[p.pos])
			p.pos++
		}
		p.tok = token{tOp, "unterminated string"}
	case c >= '0' && c <= '9' || c == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] >= '0' && p.src[p.pos+1] <= '9':
		p.pos++
		for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.') {
			p.pos++
		}
		p.tok = token{tNumber, p.src[start:p.pos]}
	case c == '_' || unicode.IsLetter(rune(c)):
		for p.pos < len(p.src) && (p.src[p.pos] == '_' || p.src[p.pos] == '-' || unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos]))) {
			p.pos++
		}
		p.tok = token{tIdent, p.src[start:p.pos]}
	default:
		for _, op := range []string{"==", "!=", "<=", ">=", "&&", "||", "!", "<", ">", "(", ")", "[", "]", ".", ","} {
			if strings.HasPrefix(p.src[p.pos:], op) {
				p.pos += len(op)
				p.tok = token{tOp, op}
				return
			}
		}
		p.tok = token{tOp, string(c)}
		p.pos++
	}
}

func (p *parser) is(op string) bool { return p.tok.kind == tOp && p.tok.text == op }

func (p *parser) expect(op string) error {
	if !p.is(op) {
		return fmt.Errorf("want %q, have %q", op, p.tok.text)
	}
	p.next()
	return nil
}

func (p *parser) or() (any, error) {
	l, err := p.and()
	for err == nil && p.is("||") {
		p.next()
		var r any
		r, err = p.and()
		if !Truthy(l) {
			l = r
		}
	}
	return l, err
}

func (p *parser) and() (any, error) {
	l, err := p.cmp()
	for err == nil && p.is("&&") {
		p.next()
		var r any
		r, err = p.cmp()
		if Truthy(l) {
			l = r
		}
	}
	return l, err
}

func (p *parser) cmp() (any, error) {
	l, err := p.unary()
	for err == nil && p.tok.kind == tOp && strings.Contains("== != < <= > >=", p.tok.text) && p.tok.text != "" && p.tok.text != "=" {
		op := p.tok.text
		p.next()
		var r any
		if r, err = p.unary(); err != nil {
			return nil, err
		}
		switch op {
		case "==":
			l = equal(l, r)
		case "!=":
			l = !equal(l, r)
		case "<":
			l = number(l) < number(r)
		case "<=":
			l = number(l) <= number(r)
		case ">":
			l = number(l) > number(r)
		case ">=":
			l = number(l) >= number(r)
		default:
			return nil, fmt.Errorf("operator %q", op)
		}
	}
	return l, err
}

func (p *parser) unary() (any, error) {
	if p.is("!") {
		p.next()
		v, err := p.unary()
		return !Truthy(v), err
	}
	return p.postfix()
}

func (p *parser) postfix() (any, error) {
	v, err := p.primary()
	for err == nil {
		switch {
		case p.is("."):
			p.next()
			if p.tok.kind != tIdent && !p.is("*") {
				return nil, fmt.Errorf("property name expected after '.', have %q", p.tok.text)
			}
			v = index(v, p.tok.text)
			p.next()
		case p.is("["):
			p.next()
			var k any
			if k, err = p.or(); err != nil {
				return nil, err
			}
			if err = p.expect("]"); err != nil {
				return nil, err
			}
			v = index(v, k)
		default:
			return v, nil
		}
	}
	return v, err
}

// index is property access; a missing property is null.
func index(v, k any) any {
	switch v := v.(type) {
	case map[string]any:
		ks := String(k)
		if x, ok := v[ks]; ok {
			return x
		}
		for name, x := range v { // property names ignore case
			if strings.EqualFold(name, ks) {
				return x
			}
		}
	case []any:
		if i := int(number(k)); i >= 0 && i < len(v) {
			return v[i]
		}
	}
	return nil
}

func (p *parser) primary() (any, error) {
	t := p.tok
	switch t.kind {
	case tString:
		p.next()
		return t.text, nil
	case tNumber:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		return f, err
	case tIdent:
		p.next()
		switch t.text {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		if p.is("(") {
			p.next()
			var args []any
			for !p.is(")") {
				a, err := p.or()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if p.is(",") {
					p.next()
				} else if !p.is(")") {
					return nil, fmt.Errorf("want ',' or ')' in %s(), have %q", t.text, p.tok.text)
				}
			}
			p.next()
			return p.call(t.text, args)
		}
		v, ok := p.ctx[t.text]
		if !ok {
			return nil, fmt.Errorf("unknown context %q", t.text)
		}
		return v, nil
	case tOp:
		if t.text == "(" {
			p.next()
			v, err := p.or()
			if err != nil {
				return nil, err
			}
			return v, p.expect(")")
		}
	}
	return nil, fmt.Errorf("unexpected %q", t.text)
}

func (p *parser) call(name string, args []any) (any, error) {
	argc := map[string]int{"startswith": 2, "endswith": 2, "contains": 2, "fromjson": 1, "tojson": 1, "success": 0, "always": 0, "failure": 0, "cancelled": 0}
	fn := strings.ToLower(name)
	if n, ok := argc[fn]; ok && n != len(args) {
		return nil, fmt.Errorf("%s takes %d arguments, not %d", name, n, len(args))
	}
	switch fn {
	case "startswith":
		return strings.HasPrefix(strings.ToLower(String(args[0])), strings.ToLower(String(args[1]))), nil
	case "endswith":
		return strings.HasSuffix(strings.ToLower(String(args[0])), strings.ToLower(String(args[1]))), nil
	case "contains":
		if list, ok := args[0].([]any); ok {
			for _, x := range list {
				if equal(x, args[1]) {
					return true, nil
				}
			}
			return false, nil
		}
		return strings.Contains(strings.ToLower(String(args[0])), strings.ToLower(String(args[1]))), nil
	case "fromjson":
		var v any
		if err := json.Unmarshal([]byte(String(args[0])), &v); err != nil {
			return nil, fmt.Errorf("fromJSON(%q): %w", String(args[0]), err)
		}
		return v, nil
	case "tojson":
		b, err := json.MarshalIndent(args[0], "", "  ")
		return string(b), err
	case "join":
		list, _ := args[0].([]any)
		sep := ","
		if len(args) > 1 {
			sep = String(args[1])
		}
		s := make([]string, len(list))
		for i, x := range list {
			s[i] = String(x)
		}
		return strings.Join(s, sep), nil
	case "format":
		if len(args) == 0 {
			return nil, fmt.Errorf("format needs a format string")
		}
		s := String(args[0])
		for i, a := range args[1:] {
			s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", String(a))
		}
		return s, nil
	case "success", "always", "failure", "cancelled":
		st, _ := p.ctx["status"].(string)
		switch fn {
		case "always":
			return true, nil
		case "success":
			return st == "success", nil
		case "failure":
			return st == "failure", nil
		default:
			return st == "cancelled", nil
		}
	}
	return nil, fmt.Errorf("unknown function %s", name)
}
