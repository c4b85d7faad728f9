package appset

import "strings"

// matchPathspec reports whether a file path matches a git pathspec the way
// `git ls-files -- <pathspec>` does, which Argo CD's git files generator
// uses: a pathspec without wildcards matches the path itself or anything
// below it as a directory; with wildcards it is an fnmatch pattern whose "*"
// and "?" also match "/".
func matchPathspec(spec, name string) bool {
	spec = strings.TrimPrefix(spec, "./")
	if !strings.ContainsAny(spec, "*?[") {
		spec = strings.TrimSuffix(spec, "/")
		return name == spec || strings.HasPrefix(name, spec+"/") || spec == "" || spec == "."
	}
	return wildmatch(spec, name)
}

// wildmatch is fnmatch without FNM_PATHNAME: "*" matches any run of
// characters, "?" any one, "[...]" a class ("!" or "^" negates), "\" quotes.
func wildmatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if len(p) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if wildmatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			p, s = p[1:], s[1:]
		case '[':
			if len(s) == 0 {
				return false
			}
			end := strings.IndexByte(p[1:], ']')
			if end < 0 {
				if s[0] != '[' {
					return false
				}
				p, s = p[1:], s[1:]
				continue
			}
			class := p[1 : end+1]
			if end == 0 { // "[]...]": a leading ] is literal
				if e2 := strings.IndexByte(p[2:], ']'); e2 >= 0 {
					class = p[1 : e2+2]
					end = e2 + 1
				}
			}
			if !matchClass(class, s[0]) {
				return false
			}
			p, s = p[end+2:], s[1:]
		case '\\':
			if len(p) > 1 {
				p = p[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return len(s) == 0
}

func matchClass(class string, c byte) bool {
	negate := false
	if len(class) > 0 && (class[0] == '!' || class[0] == '^') {
		negate, class = true, class[1:]
	}
	match := false
	for i := 0; i < len(class); i++ {
		if i+2 < len(class) && class[i+1] == '-' {
			if class[i] <= c && c <= class[i+2] {
				match = true
			}
			i += 2
			continue
		}
		if class[i] == c {
			match = true
		}
	}
	return match != negate
}
