package appset

import (
	"path"
	"strings"
	"testing"
	"time"
)

// wildmatchRecursive is the backtracking matcher wildmatch replaced, kept
// as the reference for its semantics (exponential on "a*a*a*b", so only
// short inputs are given to it).
func wildmatchRecursive(p, s string) bool {
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
				if wildmatchRecursive(p, s[i:]) {
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
			if end == 0 {
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

// TestPathGlobsAreLinear attacks the git generators' path matching (files:
// git pathspecs; directories: path.Match) with patterns that make a
// backtracking matcher take exponential time.
func TestPathGlobsAreLinear(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 10000)
	deep := strings.Repeat("a/", 5000) + "config.yaml"
	for _, tt := range []struct {
		spec, name string
		want       bool
	}{
		{strings.Repeat("a*", 40) + "b", long, false},
		{strings.Repeat("*a", 40) + "b", long, false},
		{strings.Repeat("[a]*", 40) + "b", long, false},
		{strings.Repeat("**/", 40) + "b", deep, false},
		{strings.Repeat("**/", 40) + "config.yaml", deep, true},
		{"**/**/**/**", deep, true},
		{strings.Repeat("?*", 40) + "[!a]", long, false},
		{`\*` + strings.Repeat("*a", 30), "*" + long, true},
	} {
		done := make(chan bool)
		go func() { done <- matchPathspec(tt.spec, tt.name) }()
		select {
		case got := <-done:
			if got != tt.want {
				t.Errorf("matchPathspec(%.30q, %.30q) = %v, want %v", tt.spec, tt.name, got, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("matchPathspec(%.30q, …) did not finish", tt.spec)
		}
	}
	// The directories generator uses path.Match, which never backtracks
	// exponentially either; this pins it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = path.Match(strings.Repeat("a*", 40)+"b", long)
		_, _ = path.Match(strings.Repeat("*/", 40)+"b", deep)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("path.Match did not finish")
	}
}

// FuzzWildmatch checks wildmatch against the backtracking matcher it
// replaced and, for names without "/" and patterns without "\" or "[",
// against path.Match.
func FuzzWildmatch(f *testing.F) {
	for _, s := range [][2]string{{"c?/[ab].y*", "c1/a.yaml"}, {"a*a*b", "aaaa"}, {"[]a]*", "]x"}, {"[!a-c]?", "dd"}, {`\*x`, "*x"}, {"[", "["}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 24 || len(s) > 24 {
			t.Skip("the reference matcher is exponential")
		}
		got := wildmatch(p, s)
		if want := wildmatchRecursive(p, s); got != want {
			t.Fatalf("wildmatch(%q, %q) = %v, reference says %v", p, s, got, want)
		}
		if !strings.Contains(s, "/") && !strings.ContainsAny(p, "[\\/") {
			if want, err := path.Match(p, s); err == nil && got != want {
				t.Fatalf("wildmatch(%q, %q) = %v, path.Match says %v", p, s, got, want)
			}
		}
	})
}
