package status

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode"
)

func hostileReport() *Report {
	at := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	return &Report{
		GeneratedAt: at.Add(90 * time.Minute),
		Clusters: []Cluster{
			{Name: "canary", Rendered: true, Live: "0123456789abcdef0123456789abcdef01234567", Proposed: "89abcdef0123456789abcdef0123456789abcdef",
				Changed: 1, PullRequest: &PullRequest{Number: 7, URL: "javascript:alert(1)", Apps: []string{"web"}, Current: false},
				Next: &Next{Action: "wait", Reason: "a person <b>now</b>"}},
			{Name: "general"},
		},
		Apps: []App{
			{Cluster: "canary", App: `"><img src=x onerror=alert(1)>|x`, Set: "web", Tier: "canary", Content: ContentChanged, InPR: true,
				Verify: &Verify{State: `failure" onmouseover="alert(1)`, Description: "<script>alert(1)</script>\n| injected | row |\x1b[2J", URL: "https://ci.example.com/run/1", UpdatedAt: at, AgeSeconds: 5400},
				State:  "failed", WaitingFor: "a fix: verify reported failure: <script>\x1b[2J\ttab"},
		},
		Halted: []Halt{{Set: "web", Reason: "</p><script>alert(1)</script>"}},
	}
}

// TestHTMLEscapesEverything attacks the HTML page with a hostile app name,
// verify state, description, link and halt reason: every one is escaped
// for its context (text, attribute, URL), the javascript: link is
// neutralised, no script, no external resource and no control character
// reaches the page.
func TestHTMLEscapesEverything(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteHTML(&b, hostileReport()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "<img", `" onmouseover="`, "javascript:", "<b>", "\x1b", ` src="`, "@import", "<link", "</p><"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q:\n%s", bad, page)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"&#34;&gt;&lt;img src=x onerror=alert(1)&gt;|x",
		`href="#ZgotmplZ"`,
		`<a href="https://ci.example.com/run/1">`,
		"<td>1h30m</td>",
		"&lt;script&gt; [2J tab</td>",
		"#7 (outdated)",
		"not rendered (no hydrated/general-next)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || strings.Count(page, "<table>") != 2 {
		t.Errorf("not one page with two tables:\n%s", page)
	}
}

// TestMarkdownCannotBreakOut: in the job summary a hostile name or message
// stays inside its cell (pipes escaped, one line) and opens no HTML tag;
// a link that is not http(s) is not made a link.
func TestMarkdownCannotBreakOut(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, hostileReport()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, bad := range []string{"<script", "<img", "<b>", "\x1b", "](javascript:", "\n| injected"} {
		if strings.Contains(md, bad) {
			t.Errorf("the summary holds %q:\n%s", bad, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| ") && strings.Count(line, " | ")-strings.Count(line, `\| `) != 5 && strings.Count(line, " | ")-strings.Count(line, `\| `) != 9 {
			t.Errorf("a row with the wrong number of cells: %q", line)
		}
	}
}

// TestTextIsPlain: the terminal view has labelled columns, no Markdown or
// HTML of its own, and no control character from the data (an escape
// sequence in a message would drive the terminal).
func TestTextIsPlain(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteText(&b, hostileReport(), false); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	want := `CLUSTER  LIVE          PROPOSED      CHANGED APPS  PULL REQUEST   NEXT PROMOTE ACTION
canary   0123456789ab  89abcdef0123  1             #7 (outdated)  wait: a person <b>now</b>
general  -             -             0             -              not rendered (no hydrated/general-next)

TIER    CLUSTER  APP                               APPLICATIONSET  PROPOSED VS LIVE  IN PR  VERIFY                          VERIFY AGE  STATE   WAITING FOR
canary  canary   "><img src=x onerror=alert(1)>|x  web             changed           yes    failure" onmouseover="alert(1)  1h30m       failed  a fix: verify reported failure: <script> [2J tab

Halted: web: </p><script>alert(1)</script>

Read at 2026-12-02T04:30:00Z.
`
	if text != want {
		t.Errorf("text:\n%s\nwant:\n%s", text, want)
	}
}

func TestAge(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 0: "0s", 59 * time.Second: "59s", time.Minute: "1m", 59*time.Minute + 59*time.Second: "59m",
		time.Hour: "1h", 3*time.Hour + 5*time.Minute: "3h5m", 24 * time.Hour: "1d", 52 * time.Hour: "2d4h",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestTextColour: with colour the verify and state columns are coloured
// by state and the columns stay where they are without it (every cell of
// a coloured column carries codes of one length); without colour there is
// no escape at all.
func TestTextColour(t *testing.T) {
	t.Parallel()
	r := hostileReport()
	r.Apps = append(r.Apps, App{Cluster: "general", App: "web", Set: "web", Tier: "general", Content: ContentAdded, State: "waiting", WaitingFor: "earlier steps"})
	var plainText, coloured bytes.Buffer
	if err := WriteText(&plainText, r, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&coloured, r, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plainText.String(), "\x1b") {
		t.Errorf("no colour asked, yet:\n%q", plainText.String())
	}
	for _, want := range []string{"\x1b[31mfailed\x1b[0m", "\x1b[33mwaiting\x1b[0m", "\x1b[39mnone\x1b[0m", "\x1b[39mfailure\" onmouseover=\"alert(1)\x1b[0m"} {
		if !strings.Contains(coloured.String(), want) {
			t.Errorf("coloured text lacks %q:\n%q", want, coloured.String())
		}
	}
	strip := strings.NewReplacer("\x1b[31m", "", "\x1b[32m", "", "\x1b[33m", "", "\x1b[39m", "", "\x1b[0m", "")
	if got := strip.Replace(coloured.String()); got != plainText.String() {
		t.Errorf("the colours moved the columns:\n%s\nwant:\n%s", got, plainText.String())
	}
}

// FuzzViews: whatever names and messages the fleet and the forge carry,
// the text view keeps its lines and has no control character, every
// Markdown row keeps its cells and opens no tag, and the HTML page gains
// no tag and no attribute from the data.
func FuzzViews(f *testing.F) {
	f.Add("web", "Synced, Healthy", "failure", "https://ci.example.com/1", "a free slot")
	f.Add(`"><script>x</script>`, "a|b\n| c |", "\x1b[2J", "javascript:alert(1)", "<img src=x>")
	f.Add("web\u202egpj.exe", "\u200b\xff\xfe", "success", "", "")
	f.Add("x]](http://e)", "`code` **b** _i_ [l](u)", "</td></tr>", "http://e/\"onclick=x", "&lt;")
	f.Fuzz(func(t *testing.T, name, desc, state, url, waiting string) {
		r := hostileReport()
		a := &r.Apps[0]
		a.App, a.Set, a.WaitingFor = name, name, waiting
		a.Verify.State, a.Verify.Description, a.Verify.URL = state, desc, url
		r.Clusters[0].Next.Reason = desc
		r.Clusters[0].PullRequest.URL = url
		r.Halted[0].Reason = waiting
		var text, md, page bytes.Buffer
		if err := WriteText(&text, r, false); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(text.String(), "\n"); n != 10 {
			t.Errorf("text has %d lines:\n%s", n, text.String())
		}
		for _, c := range text.String() {
			if c != '\n' && (unicode.IsControl(c) || unicode.Is(unicode.Cf, c)) {
				t.Fatalf("text holds control character %U", c)
			}
		}
		if err := WriteMarkdown(&md, r); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(md.String(), "\n"); n != 12 {
			t.Errorf("Markdown has %d lines:\n%s", n, md.String())
		}
		for _, line := range strings.Split(md.String(), "\n") {
			if !strings.HasPrefix(line, "| ") {
				continue
			}
			cells := strings.Count(line, "|") - strings.Count(line, `\|`)
			if cells != 7 && cells != 11 {
				t.Errorf("a row with %d separators: %q", cells, line)
			}
		}
		if strings.Count(md.String(), "<") != 0 {
			t.Errorf("Markdown holds a raw <:\n%s", md.String())
		}
		if err := WriteHTML(&page, r); err != nil {
			t.Fatal(err)
		}
		var benign bytes.Buffer
		b := hostileReport()
		b.Apps[0].Verify.URL, b.Clusters[0].PullRequest.URL = url, url
		if err := WriteHTML(&benign, b); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"<", "=\""} {
			if got, want := strings.Count(page.String(), s), strings.Count(benign.String(), s); got != want {
				t.Errorf("the data added %d %q to the page:\n%s", got-want, s, page.String())
			}
		}
	})
}

// TestNotRenderedNamesTheLayoutsBranch: a cluster without a proposal is
// shown with the proposal branch its fleet's layout names, in every view.
func TestNotRenderedNamesTheLayoutsBranch(t *testing.T) {
	t.Parallel()
	rep := &Report{Clusters: []Cluster{{Name: "general", ProposedBranch: "proposed/general"}}}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"text":     func(b *bytes.Buffer) error { return WriteText(b, rep, false) },
		"markdown": func(b *bytes.Buffer) error { return WriteMarkdown(b, rep) },
		"html":     func(b *bytes.Buffer) error { return WriteHTML(b, rep) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "not rendered (no proposed/general)") || strings.Contains(b.String(), "hydrated/") {
			t.Errorf("%s:\n%s", name, b.String())
		}
	}
}

// TestPausedInEveryView: a paused ApplicationSet and a paused cluster are
// named, with why and where, in the text, Markdown and HTML views; the
// reason (a person's text in flotilla.yaml) is one escaped line in each.
func TestPausedInEveryView(t *testing.T) {
	t.Parallel()
	r := &Report{GeneratedAt: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC), Paused: []Pause{
		{Kind: "applicationSet", Name: "web", By: "flotilla.yaml rollout.pausedApplicationSets: <b>freeze</b>\n| x |"},
		{Kind: "cluster", Name: "canary", By: "the label flotilla/paused on #3"},
	}}
	var text, mdown, page bytes.Buffer
	if err := WriteText(&text, r, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&mdown, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ view, got, want string }{
		{"text", text.String(), "\nPaused: applicationSet web: by flotilla.yaml rollout.pausedApplicationSets: <b>freeze</b> | x |\n"},
		{"text", text.String(), "\nPaused: cluster canary: by the label flotilla/paused on #3\n"},
		{"markdown", mdown.String(), "\n**Paused:** applicationSet web: by flotilla.yaml rollout.pausedApplicationSets: &lt;b&gt;freeze&lt;/b&gt; \\| x \\|\n"},
		{"markdown", mdown.String(), "\n**Paused:** cluster canary: by the label flotilla/paused on #3\n"},
		{"html", page.String(), "<strong>Paused:</strong> applicationSet web: by flotilla.yaml rollout.pausedApplicationSets: &lt;b&gt;freeze&lt;/b&gt; | x |</p>"},
		{"html", page.String(), "<strong>Paused:</strong> cluster canary: by the label flotilla/paused on #3</p>"},
	} {
		if !strings.Contains(tt.got, tt.want) {
			t.Errorf("%s lacks %q:\n%s", tt.view, tt.want, tt.got)
		}
	}
}
