package render

import (
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// globRecursive is the backtracking matcher globMatch replaced, kept as
// the reference for its semantics (it is exponential on patterns such as
// "a*a*a*b", so only short inputs are given to it).
func globRecursive(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globRecursive(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

// within fails the test if f does not return in time: a regression to
// exponential matching fails instead of hanging the suite.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish within %v", d)
	}
}

// TestGlobMatchIsLinear attacks globMatch with patterns that make a
// backtracking matcher take exponential time (2^40 steps and more).
func TestGlobMatchIsLinear(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 10000)
	deep := strings.Repeat("a/", 5000)
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{strings.Repeat("a*", 40) + "b", long, false},
		{strings.Repeat("*a", 40) + "b", long, false},
		{strings.Repeat("**/", 40) + "b", deep, false},
		{strings.Repeat("**/", 40) + "a/", deep, true},
		{"**/**/**/**", deep, true},
		{strings.Repeat("?*", 40) + "b", long, false},
		{strings.Repeat("a*", 40) + "a", long, true},
		{"*.yaml", "x/y/z.yaml", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyyc/d", false},
		{"", "", true},
		{"*", "", true},
		{"?", "", false},
	} {
		within(t, 10*time.Second, func() {
			if got := globMatch(tt.p, tt.s); got != tt.want {
				t.Errorf("globMatch(%.30q, %.30q) = %v, want %v", tt.p, tt.s, got, tt.want)
			}
		})
	}
}

func TestExpandBracesIsBounded(t *testing.T) {
	t.Parallel()
	got, err := expandBraces("{a,b}/{c,d}.yaml")
	if err != nil || strings.Join(got, " ") != "a/c.yaml a/d.yaml b/c.yaml b/d.yaml" {
		t.Fatalf("expandBraces = %q, %v", got, err)
	}
	// 2^40 patterns if expanded.
	_, err = expandBraces(strings.Repeat("{a,b}", 40))
	if !errors.Is(err, fleet.ErrLimit) || !strings.Contains(err.Error(), "more than 1024 patterns") {
		t.Fatalf("expandBraces of 40 groups: %v, want ErrLimit", err)
	}
}

// FuzzGlobMatch checks globMatch against the backtracking matcher it
// replaced and, for names without "/" and patterns of only "*", "?" and
// plain characters, against path.Match, whose "*" stops at "/".
func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{{"*.yaml", "a/b.yaml"}, {"a*a*b", "aaaa"}, {"**/x", "a/b/x"}, {"?b", "ab"}, {"", ""}, {"*", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 24 || len(s) > 24 {
			t.Skip("the reference matcher is exponential")
		}
		got := globMatch(p, s)
		if want := globRecursive(p, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, reference says %v", p, s, got, want)
		}
		if !strings.Contains(s, "/") && !strings.ContainsAny(p, "[\\/") {
			if want, err := path.Match(p, s); err == nil && got != want {
				t.Fatalf("globMatch(%q, %q) = %v, path.Match says %v", p, s, got, want)
			}
		}
	})
}
