package report

import (
	"strings"
	"unicode/utf8"
)

// Fit returns md when it is at most limit bytes long; otherwise the
// longest prefix of md, cut at a line boundary, that fits in limit bytes
// with what it needs after it: the fence that closes a code block left
// open, a "</details>" for each <details> left open, then rest (a pointer
// to where the whole text is) as a paragraph of its own. Only when not
// even md's first line fits is a line cut inside, then at a rune boundary
// and never inside an HTML tag.
//
// Limits are counted in bytes: GitHub counts a body's characters, and a
// text never has more characters (code points or UTF-16 units) than
// bytes. Fit is a pure function of its arguments, so the same input gives
// the same bytes. When limit cannot hold rest itself, Fit returns rest cut
// at a rune boundary to limit bytes.
func Fit(md string, limit int, rest string) string {
	if len(md) <= limit {
		return md
	}
	tail := "\n" + rest + "\n"
	if len(tail) > limit {
		return cutRunes(tail, max(limit, 0))
	}
	// The longest run of whole lines that fits with its closers.
	var st, best mdState
	cut := 0
	for p := 0; p < len(md); {
		end := strings.IndexByte(md[p:], '\n')
		if end < 0 {
			break // the last line has no line break: it is the whole md's end
		}
		end += p + 1
		if end+len(tail) > limit {
			break
		}
		st.line(md[p : end-1])
		if end+st.closersLen()+len(tail) <= limit {
			cut, best = end, st
		}
		p = end
	}
	if cut > 0 {
		kept := md[:cut] + best.closers()
		if strings.HasSuffix(kept, "\n\n") {
			return kept + tail[1:] // a blank line is there already
		}
		return kept + tail
	}
	// Not even the first line fits: cut inside it.
	line := md
	if i := strings.IndexByte(md, '\n'); i >= 0 {
		line = md[:i]
	}
	n := limit - len(tail) - 1
	for {
		c := cutTag(cutRunes(line, max(n, 0)))
		var s mdState
		s.line(c)
		total := len(c) + 1 + s.closersLen() + len(tail)
		if c == "" {
			return tail // rest alone
		}
		if total <= limit {
			return c + "\n" + s.closers() + tail
		}
		n = len(c) - (total - limit)
	}
}

// cutRunes cuts s to at most n bytes without splitting a UTF-8 sequence.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// A rune cut in two leaves the start of its sequence at the end.
	for i := len(s) - 1; i >= 0 && i > len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			break
		}
	}
	return s
}

// cutTag drops an HTML tag that a cut left open: a "<" after the last ">".
func cutTag(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.IndexByte(s[i:], '>') < 0 {
		return s[:i]
	}
	return s
}

// mdState is what a Markdown prefix leaves open: a fenced code block (the
// fence that opened it) and <details> elements.
type mdState struct {
	fence   string
	details int
}

// line advances the state over one line (without its line break), as
// CommonMark reads fences: up to three spaces of indent, three or more
// backticks or tildes; a backtick fence's info string holds no backtick;
// a closing fence is of the same character, at least as long, followed
// only by spaces. <details> tags count outside code blocks only.
func (s *mdState) line(l string) {
	l = strings.TrimSuffix(l, "\r")
	t := l
	for i := 0; i < 3 && strings.HasPrefix(t, " "); i++ {
		t = t[1:]
	}
	run := fenceRun(t)
	if s.fence != "" {
		if run != "" && run[0] == s.fence[0] && len(run) >= len(s.fence) && strings.Trim(t[len(run):], " \t") == "" {
			s.fence = ""
		}
		return
	}
	if run != "" && len(run) >= 3 && (run[0] == '~' || !strings.Contains(t[len(run):], "`")) {
		s.fence = run
		return
	}
	lower := strings.ToLower(l)
	for i := 0; i < len(lower); i++ {
		if lower[i] != '<' {
			continue
		}
		switch {
		case tagAt(lower[i+1:], "details"):
			s.details++
		case strings.HasPrefix(lower[i+1:], "/") && tagAt(lower[i+2:], "details") && s.details > 0:
			s.details--
		}
	}
}

// fenceRun is the run of backticks or tildes t starts with, "" when none.
func fenceRun(t string) string {
	if t == "" || (t[0] != '`' && t[0] != '~') {
		return ""
	}
	n := 1
	for n < len(t) && t[n] == t[0] {
		n++
	}
	return t[:n]
}

// tagAt reports whether s starts with the tag name followed by the end of
// the tag's name (">", "/" or a space).
func tagAt(s, name string) bool {
	if !strings.HasPrefix(s, name) {
		return false
	}
	rest := s[len(name):]
	return rest != "" && strings.ContainsRune(">/ \t", rune(rest[0]))
}

// closers is what closes the state: the fence, then each <details>.
func (s mdState) closers() string {
	var b strings.Builder
	if s.fence != "" {
		b.WriteString(s.fence + "\n")
	}
	for range s.details {
		b.WriteString("\n</details>\n")
	}
	return b.String()
}

func (s mdState) closersLen() int {
	n := 0
	if s.fence != "" {
		n += len(s.fence) + 1
	}
	return n + s.details*len("\n</details>\n")
}

// Fence returns a backtick fence for a code block holding content: three
// backticks, or one more than the longest run of backticks in content, so
// that no line of content can close the block early.
func Fence(content string) string {
	longest, run := 0, 0
	for i := 0; i < len(content); i++ {
		if content[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// Unclosed returns what md leaves open, as the text that would close it
// (a fence, "</details>" lines); "" when every code block and <details>
// element is closed.
func Unclosed(md string) string {
	var s mdState
	for line := range strings.Lines(md) {
		s.line(strings.TrimSuffix(line, "\n"))
	}
	return s.closers()
}
