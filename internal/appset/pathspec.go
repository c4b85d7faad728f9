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
//
// It runs in O(len(p)·len(s)) time whatever the pattern: as "*" matches
// anything (even "/"), only the last star seen ever needs to be retried, so
// a pattern such as "a*a*a*a*a*b" cannot make it backtrack exponentially.
func wildmatch(p, s string) bool {
	var (
		starP = -1 // pattern index just after the last star, or -1
		starS = 0  // where that star's match would grow next
	)
	for pi, si := 0, 0; ; {
		if pi < len(p) {
			if p[pi] == '*' {
				for pi < len(p) && p[pi] == '*' {
					pi++
				}
				starP, starS = pi, si
				continue
			}
			if si < len(s) {
				if n, ok := matchOne(p[pi:], s[si]); ok {
					pi += n
					si++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last star swallow one more character.
		if starP < 0 || starS >= len(s) {
			return false
		}
		starS++
		pi, si = starP, starS
	}
}

// matchOne matches the single-character element at the start of p (not a
// star) against c, returning the element's length in p.
func matchOne(p string, c byte) (int, bool) {
	switch p[0] {
	case '?':
		return 1, true
	case '[':
		end := strings.IndexByte(p[1:], ']')
		if end < 0 {
			return 1, c == '['
		}
		class := p[1 : end+1]
		if end == 0 { // "[]...]": a leading ] is literal
			if e2 := strings.IndexByte(p[2:], ']'); e2 >= 0 {
				class = p[1 : e2+2]
				end = e2 + 1
			}
		}
		return end + 2, matchClass(class, c)
	case '\\':
		if len(p) > 1 {
			return 2, p[1] == c
		}
	}
	return 1, p[0] == c
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
