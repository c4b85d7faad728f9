package report

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const testRest = "The rest is in the job summary."

// checkFit asserts Fit's promises for one input: at most limit bytes,
// valid UTF-8 from valid UTF-8, md itself when it fits, else a prefix of
// md (whole lines, or a part of the first) followed by closers and the
// pointer, with every fence and <details> closed; the same bytes twice.
func checkFit(t testing.TB, md string, limit int, rest string) string {
	t.Helper()
	got := Fit(md, limit, rest)
	if again := Fit(md, limit, rest); again != got {
		t.Fatalf("Fit is not deterministic:\n%q\n%q", got, again)
	}
	if len(got) > max(limit, 0) {
		t.Fatalf("Fit(%d) returned %d bytes:\n%q", limit, len(got), got)
	}
	if utf8.ValidString(md) && !utf8.ValidString(got) {
		t.Fatalf("Fit(%d) of valid UTF-8 is not valid UTF-8: %q", limit, got)
	}
	if len(md) <= limit {
		if got != md {
			t.Fatalf("Fit(%d) changed a text that fits", limit)
		}
		return got
	}
	tail := "\n" + rest + "\n"
	if len(tail) > limit {
		if !strings.HasPrefix(tail, got) {
			t.Fatalf("Fit(%d) with no room for the pointer: %q", limit, got)
		}
		return got
	}
	if !strings.HasSuffix(got, rest+"\n") {
		t.Fatalf("Fit(%d) lost the pointer to the rest: %q", limit, got)
	}
	if u := Unclosed(got); u != "" {
		t.Fatalf("Fit(%d) leaves %.200q open:\n%s", limit, u, got)
	}
	kept := got[:len(got)-len(tail)]
	common := 0
	for common < len(kept) && common < len(md) && kept[common] == md[common] {
		common++
	}
	for j := common; j > 0; j-- {
		if kept[j-1] == '\n' && kept[j:] == Unclosed(kept[:j]) {
			return got // whole lines, then their closers
		}
	}
	line, _, _ := strings.Cut(md, "\n")
	c, after, _ := strings.Cut(kept, "\n")
	if !strings.HasPrefix(line, c) || after != Unclosed(c+"\n") {
		t.Fatalf("Fit(%d) kept %q: neither whole lines of md nor a part of its first line, with their closers", limit, kept)
	}
	return got
}

func TestFit(t *testing.T) {
	t.Parallel()
	diff := "### Fleet diff\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<details><summary>c / a</summary>\n\n```diff\n- x: 1\n+ x: 2\n```\n\n</details>\n"
	for _, tc := range []struct {
		name  string
		md    string
		limit int
		want  string
	}{
		{"fits", diff, len(diff), diff},
		{"in the code block", strings.Replace(diff, "- x: 1", "- x: "+strings.Repeat("1", 80), 1), 0, "### Fleet diff\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<details><summary>c / a</summary>\n\n```diff\n```\n\n</details>\n\n" + testRest + "\n"},
		{"in the table", diff, 0, "### Fleet diff\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n" + testRest + "\n"},
		{"a longer fence closes with its run", "````md\n```\nx\n" + strings.Repeat("y", 50) + "\n````\n", 0, "````md\n```\nx\n````\n\n" + testRest + "\n"},
		{"a tilde fence", "~~~\n```\n" + strings.Repeat("y", 50) + "\n~~~\n", 0, "~~~\n```\n~~~\n\n" + testRest + "\n"},
		{"nested details", "<details>\n<details>\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n</details>\n</details>\n", 90, "<details>\n<details>\n\n\n</details>\n\n</details>\n\n" + testRest + "\n"},
		{"details in code do not count", "```\n<details>\n```\nzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n", 60, "```\n<details>\n```\n\n" + testRest + "\n"},
		{"one line, multi-byte", strings.Repeat("é", 100), 70, strings.Repeat("é", 18) + "\n\n" + testRest + "\n"},
		{"one line, a tag at the cut", "text <summary title=\"" + strings.Repeat("x", 100) + "\">", 50, "text \n\n" + testRest + "\n"},
		{"no room for the pointer", diff, 10, "\nThe rest "},
	} {
		if tc.limit == 0 {
			tc.limit = len(tc.want)
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := checkFit(t, tc.md, tc.limit, testRest)
			if got != tc.want {
				t.Errorf("Fit(%d):\n got %q\nwant %q", tc.limit, got, tc.want)
			}
		})
	}
}

// TestFitEveryLimit cuts one text holding everything Fit must keep whole
// or close (tables, nested <details>, fences of both kinds and lengths,
// multi-byte characters, tags, CRLF) at every limit up to its length.
func TestFitEveryLimit(t *testing.T) {
	t.Parallel()
	md := "### Flotte: 3/4 apps ändern sich 🚢\n\n| cluster | app |\n|---|---|\n| prod-€ | 日本語 |\n\n" +
		"<details><summary>prod / api: +1 ~0 -0</summary>\n\n````diff\n+ ```\n+ 🚀 <b>bold</b>\n````\n\n" +
		"<DETAILS open>\r\n\r\n~~~yaml\r\nx: ✓\r\n~~~\r\n</details>\n\n</details>\n\nend 😀😀😀"
	if Unclosed(md) != "" {
		t.Fatalf("the test text is not balanced: %q", Unclosed(md))
	}
	for limit := -1; limit <= len(md)+1; limit++ {
		checkFit(t, md, limit, "…more in the job summary ✓")
	}
}

func TestFence(t *testing.T) {
	t.Parallel()
	for content, want := range map[string]string{
		"":                     "```",
		"a `b` c\n":            "```",
		"  ```\n":              "````",
		"x ````` y\n```\n":     "``````",
		"~~~\n":                "```",
		strings.Repeat("`", 9): "``````````",
	} {
		f := Fence(content)
		if f != want {
			t.Errorf("Fence(%q) = %q, want %q", content, f, want)
		}
		if u := Unclosed(f + "diff\n" + content + "\n" + f + "\n"); u != "" {
			t.Errorf("content %q closes or breaks the fence %q: %q open", content, f, u)
		}
	}
}

// FuzzFit: whatever the text and limit, Fit keeps its promises.
func FuzzFit(f *testing.F) {
	f.Add("### t\n\n```diff\n+ a\n```\n", 20)
	f.Add("<details><summary>x</summary>\n\n~~~~\nééé\n~~~~\n</details>\n", 45)
	f.Add(strings.Repeat("日本", 50), 33)
	f.Add("a <b\n````\n```\n", 40)
	f.Fuzz(func(t *testing.T, md string, limit int) {
		if limit < 0 {
			limit = -limit
		}
		limit %= len(md) + 64
		checkFit(t, md, limit, testRest)
	})
}
