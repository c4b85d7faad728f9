package archtest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
)

// TestDocLinks checks that every relative link of the repository's
// documents (README.md, ARCHITECTURE.md, docs/**/*.md) names a file or folder
// of the repository, that every #anchor names a heading of its document,
// spelled as GitHub makes heading anchors, and that every Markdown document
// they mention by name (DESIGN.md, in a link or not) is in the repository.
func TestDocLinks(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS(root)
	docs, err := documents(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(docs, "README.md") || !slices.Contains(docs, "ARCHITECTURE.md") {
		t.Fatalf("documents found: %v; want README.md and ARCHITECTURE.md among them", docs)
	}
	problems, links := checkLinks(fsys, docs)
	for _, p := range problems {
		t.Error(p)
	}
	if links["README.md"] == 0 {
		t.Error("README.md: no relative link found: the link scanner is broken")
	}
}

// TestDocLinksCatches gives the checker documents with each kind of broken
// link and expects it to name each one; the good links beside them must
// pass.
func TestDocLinksCatches(t *testing.T) {
	fsys := fstest.MapFS{
		"README.md": {Data: []byte("# Title\n\n" +
			"## The `flotilla` CLI\n\n## Helm: `make bench`'s fleet\n\n### Dup\n\n### Dup\n\n" +
			"Good: [cli](#the-flotilla-cli), [helm](#helm-make-benchs-fleet), [second](#dup-1),\n" +
			"[perf](docs/perf.md#applying-make-bench-apply), [dir](docs), [arch](ARCHITECTURE.md),\n" +
			"[web](https://example.com/x#y), `[code](#gone)`, [wrapped\ntext](docs/perf.md).\n\n" +
			"```yaml\n# fenced comment\n[fenced](#gone)\n```\n\n" +
			"Bad: [file](docs/nope.md) [anchor](#nope)\n[other](docs/perf.md#nope) [fenced](#fenced-comment)\n" +
			"[up](../outside.md) [third](#dup-2)\n")},
		"ARCHITECTURE.md":             {Data: []byte("# Architecture\n\nSee [the readme](README.md#title), `FINDINGS.md` and\nDESIGN.md (APPLY.md).\n")},
		"testdata/corpus/FINDINGS.md": {Data: []byte("# Findings\n")},
		"docs/perf.md":                {Data: []byte("# Performance\n\n## Applying: `make bench-apply`\n\n[back](../README.md#nope-either)\n")},
	}
	docs, err := documents(fsys)
	if err != nil {
		t.Fatal(err)
	}
	problems, _ := checkLinks(fsys, docs)
	want := []string{
		`README.md:21: link "docs/nope.md": docs/nope.md does not exist`,
		`README.md:21: link "#nope": README.md has no heading with the anchor #nope`,
		`README.md:22: link "docs/perf.md#nope": docs/perf.md has no heading with the anchor #nope`,
		`README.md:22: link "#fenced-comment": README.md has no heading with the anchor #fenced-comment`,
		`README.md:23: link "../outside.md": leaves the repository`,
		`README.md:23: link "#dup-2": README.md has no heading with the anchor #dup-2`,
		`ARCHITECTURE.md:4: mentions DESIGN.md, which is not in the repository`,
		`ARCHITECTURE.md:4: mentions APPLY.md, which is not in the repository`,
		`docs/perf.md:5: link "../README.md#nope-either": README.md has no heading with the anchor #nope-either`,
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// TestAnchor pins GitHub's heading anchors for the shapes our documents use.
func TestAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"The flotilla CLI":                      "the-flotilla-cli",
		"Rendering: `make bench`":               "rendering-make-bench",
		"Helm: `make bench`'s chart fleet":      "helm-make-benchs-chart-fleet",
		"Argo CD Source Hydrator and GitOps":    "argo-cd-source-hydrator-and-gitops",
		"Why apply does not use fluxcd/pkg/ssa": "why-apply-does-not-use-fluxcdpkgssa",
		"The [forge](x.md) and **more**":        "the-forge-and-more",
		"snake_case and café":                   "snake_case-and-café",
	} {
		if got := anchor(heading); got != want {
			t.Errorf("anchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

// documents lists README.md, ARCHITECTURE.md and every .md under docs/.
func documents(fsys fs.FS) ([]string, error) {
	var docs []string
	for _, name := range []string{"README.md", "ARCHITECTURE.md"} {
		if _, err := fs.Stat(fsys, name); err == nil {
			docs = append(docs, name)
		}
	}
	err := fs.WalkDir(fsys, "docs", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "docs" && os.IsNotExist(err) {
				return fs.SkipDir
			}
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			docs = append(docs, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list docs/: %w", err)
	}
	return docs, nil
}

var (
	mentionRE  = regexp.MustCompile(`[A-Za-z0-9_.-]+\.md\b`)
	linkRE     = regexp.MustCompile(`!?\[([^\]]*)\]\(([^)\s]+)\)`)
	codeSpanRE = regexp.MustCompile("`+[^`]*`+")
	schemeRE   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// checkLinks returns a problem ("FILE:LINE: link "TARGET": what is wrong")
// for each relative link of docs that does not resolve, in document order,
// and how many relative links each document holds.
func checkLinks(fsys fs.FS, docs []string) ([]string, map[string]int) {
	var problems []string
	count := map[string]int{}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(doc string) (map[string]bool, error) {
		if a, ok := anchors[doc]; ok {
			return a, nil
		}
		data, err := fs.ReadFile(fsys, doc)
		if err != nil {
			return nil, err
		}
		a := headingAnchors(unfenced(string(data)))
		anchors[doc] = a
		return a, nil
	}
	inRepo := map[string]bool{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == ".git" || d.Name() == "bin") {
			return fs.SkipDir
		}
		if err == nil && !d.IsDir() {
			inRepo[path.Base(p)] = true
		}
		return nil
	})
	for _, doc := range docs {
		data, err := fs.ReadFile(fsys, doc)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", doc, err))
			continue
		}
		text := prose(string(data))
		// Documents named anywhere, code included, but for link targets
		// (checked below): none may be one the repository does not hold.
		named := []byte(string(data))
		for _, m := range linkRE.FindAllStringSubmatchIndex(text, -1) {
			copy(named[m[4]:m[5]], blank(text[m[4]:m[5]]))
		}
		for _, m := range mentionRE.FindAllIndex(named, -1) {
			if name := string(named[m[0]:m[1]]); !inRepo[name] {
				line := 1 + bytes.Count(named[:m[0]], []byte("\n"))
				problems = append(problems, fmt.Sprintf("%s:%d: mentions %s, which is not in the repository", doc, line, name))
			}
		}
		for _, m := range linkRE.FindAllStringSubmatchIndex(text, -1) {
			target := text[m[4]:m[5]]
			if schemeRE.MatchString(target) {
				continue
			}
			count[doc]++
			line := 1 + strings.Count(text[:m[0]], "\n")
			bad := func(format string, args ...any) {
				problems = append(problems, fmt.Sprintf("%s:%d: link %q: %s", doc, line, target, fmt.Sprintf(format, args...)))
			}
			file, frag, _ := strings.Cut(target, "#")
			dest := doc
			if file != "" {
				dest = path.Join(path.Dir(doc), file)
				if dest == ".." || strings.HasPrefix(dest, "../") || path.IsAbs(file) {
					bad("leaves the repository")
					continue
				}
				if _, err := fs.Stat(fsys, dest); err != nil {
					bad("%s does not exist", dest)
					continue
				}
			}
			if frag == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				bad("an anchor into %s, which is not a Markdown document", dest)
				continue
			}
			a, err := anchorsOf(dest)
			if err != nil {
				bad("read %s: %v", dest, err)
				continue
			}
			if !a[frag] {
				bad("%s has no heading with the anchor #%s", dest, frag)
			}
		}
	}
	return problems, count
}

// prose blanks what Markdown does not read as prose — fenced code blocks and
// code spans — keeping every line break, so offsets still give line numbers.
func prose(text string) string {
	return codeSpanRE.ReplaceAllStringFunc(unfenced(text), blank)
}

// unfenced blanks the fenced code blocks of text, keeping its line breaks.
func unfenced(text string) string {
	lines := strings.SplitAfter(text, "\n")
	fence := ""
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:3]
			lines[i] = blank(l)
			continue
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			lines[i] = blank(l)
		}
	}
	return strings.Join(lines, "")
}

// blank replaces every byte of s but line breaks with a space, so the
// result is as long as s.
func blank(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] != '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// headingAnchors returns the anchors GitHub gives the ATX headings of text
// (already through unfenced, so no fenced line counts), numbering repeats
// -1, -2… as GitHub does.
func headingAnchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		hashes := len(l) - len(strings.TrimLeft(l, "#"))
		if hashes == 0 || hashes > 6 || (len(l) > hashes && l[hashes] != ' ') {
			continue
		}
		a := anchor(strings.TrimRight(strings.TrimSpace(l[hashes:]), "#"))
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// anchor is GitHub's anchor for a heading's Markdown text: the rendered
// text (links become their text, code spans their content), lower case,
// without characters other than letters, marks, digits, connector
// punctuation, spaces and hyphens, spaces made hyphens.
func anchor(heading string) string {
	heading = linkRE.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) || unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
