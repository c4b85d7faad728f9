package status

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/flotilla-dev/flotilla/internal/layout"
)

// Age is a duration as the views show it: 45s, 12m, 3h5m, 2d4h.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return strconv.Itoa(days) + "d"
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

// plain makes s one line of printable text: control characters (a
// terminal's escape sequences, newlines, tabs that would break the
// columns), format characters (bidirectional overrides that reorder what
// a reader sees) and invalid UTF-8 become spaces.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a App) verifyState() string {
	if a.Verify == nil {
		return "none"
	}
	return a.Verify.State
}

func (a App) verifyAge() string {
	if a.Verify == nil {
		return "-"
	}
	return Age(time.Duration(a.Verify.AgeSeconds) * time.Second)
}

func (a App) pr() string {
	if a.InPR {
		return "yes"
	}
	return "-"
}

func (c Cluster) pr() string {
	if c.PullRequest == nil {
		return "-"
	}
	s := "#" + strconv.Itoa(c.PullRequest.Number)
	if !c.PullRequest.Current {
		s += " (outdated)"
	}
	return s
}

func (c Cluster) next() string {
	switch {
	case !c.Rendered:
		branch := c.ProposedBranch
		if branch == "" {
			branch = layout.Default().StagingBranch(c.Name)
		}
		return "not rendered (no " + branch + ")"
	case c.Next == nil:
		return "-"
	}
	return c.Next.Action + ": " + c.Next.Reason
}

// colourOf is the ANSI colour of a state or verify state: every code is
// as long as every other (and as colourOf("")), so tabwriter, which counts
// them, keeps the columns aligned.
func colourOf(state string) string {
	switch state {
	case "live", "success":
		return "\x1b[32m"
	case "failed", "halted", "failure", "error":
		return "\x1b[31m"
	case "waiting", "baking", "verifying", "in-pr", "pending", "paused":
		return "\x1b[33m"
	}
	return "\x1b[39m"
}

// paint wraps a cell in its colour when colour is on.
func paint(colour bool, state, text string) string {
	if !colour {
		return text
	}
	return colourOf(state) + text + "\x1b[0m"
}

// WriteText writes the report as plain text for a terminal: a table of
// clusters and a table of apps with labelled columns, then the halted
// rollouts. Text from the forge or the fleet is made one printable line.
// With colour (the caller decides: a terminal, NO_COLOR unset) the verify
// and state columns are coloured by state.
func WriteText(w io.Writer, r *Report, colour bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tLIVE\tPROPOSED\tCHANGED APPS\tPULL REQUEST\tNEXT PROMOTE ACTION")
	for _, c := range r.Clusters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", plain(c.Name), dash(layout.Short(c.Live)), dash(layout.Short(c.Proposed)), c.Changed, c.pr(), plain(c.next()))
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "TIER\tCLUSTER\tAPP\tAPPLICATIONSET\tPROPOSED VS LIVE\tIN PR\t%s\tVERIFY AGE\t%s\tWAITING FOR\n", paint(colour, "", "VERIFY"), paint(colour, "", "STATE"))
	for _, a := range r.Apps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", plain(a.Tier), plain(a.Cluster), plain(a.App), plain(dash(a.Set)),
			a.Content, a.pr(), paint(colour, a.verifyState(), plain(a.verifyState())), a.verifyAge(), paint(colour, a.State, plain(a.State)), plain(dash(a.WaitingFor)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range r.Halted {
		fmt.Fprintf(w, "\nHalted: %s: %s\n", plain(h.Set), plain(h.Reason))
	}
	for _, p := range r.Paused {
		fmt.Fprintf(w, "\nPaused: %s %s: by %s\n", p.Kind, plain(p.Name), plain(p.By))
	}
	_, err := fmt.Fprintf(w, "\nRead at %s.\n", r.GeneratedAt.Format(time.RFC3339))
	return err
}

// md escapes s for a Markdown table cell: one line, pipes escaped, and
// HTML's special characters as entities so a name or message cannot open
// a tag in the rendered summary.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "&", "&amp;", "`", "&#96;", "[", `\[`, "]", `\]`, "*", `\*`, "_", `\_`).Replace(plain(s))
}

// WriteMarkdown writes the report as Markdown for a job summary.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	b.WriteString("### Fleet status\n\n| cluster | live | proposed | changed apps | pull request | next promote action |\n|---|---|---|---|---|---|\n")
	for _, c := range r.Clusters {
		pr := c.pr()
		if c.PullRequest != nil && c.PullRequest.URL != "" && safeURL(c.PullRequest.URL) {
			pr = "[" + md(pr) + "](" + c.PullRequest.URL + ")"
		} else {
			pr = md(pr)
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %d | %s | %s |\n", md(c.Name), dash(layout.Short(c.Live)), dash(layout.Short(c.Proposed)), c.Changed, pr, md(c.next()))
	}
	b.WriteString("\n| tier | cluster | app | ApplicationSet | proposed vs live | in PR | verify | verify age | state | waiting for |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range r.Apps {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", md(a.Tier), md(a.Cluster), md(a.App), md(dash(a.Set)),
			a.Content, a.pr(), md(a.verifyState()), a.verifyAge(), a.State, md(dash(a.WaitingFor)))
	}
	for _, h := range r.Halted {
		fmt.Fprintf(&b, "\n**Halted:** %s: %s\n", md(h.Set), md(h.Reason))
	}
	for _, p := range r.Paused {
		fmt.Fprintf(&b, "\n**Paused:** %s %s: by %s\n", p.Kind, md(p.Name), md(p.By))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// safeURL admits only http(s) links with no characters that end a
// Markdown link.
func safeURL(u string) bool {
	return (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !strings.ContainsAny(u, " ()<>\"'\n`")
}

//go:embed status.html.tmpl
var htmlTemplate string

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"short": layout.Short,
	"dash":  dash,
	"age":   func(a App) string { return a.verifyAge() },
	"vstate": func(a App) string {
		return a.verifyState()
	},
	"prOf":   func(c Cluster) string { return c.pr() },
	"nextOf": func(c Cluster) string { return c.next() },
	"time":   func(t time.Time) string { return t.Format(time.RFC3339) },
}).Parse(htmlTemplate))

// WriteHTML writes the report as one self-contained HTML page (inline
// style, no script, no external resource) that a workflow can keep as an
// artifact. html/template escapes every value for its context, links
// included (a URL that is not http(s) becomes #ZgotmplZ).
// Control characters are made spaces first, as in the text view.
func WriteHTML(w io.Writer, r *Report) error {
	return page.Execute(w, printable(r))
}

// printable is a copy of r with every text field made one printable
// line.
func printable(r *Report) *Report {
	out := *r
	out.Clusters = append([]Cluster(nil), r.Clusters...)
	for i := range out.Clusters {
		c := &out.Clusters[i]
		c.Name = plain(c.Name)
		if c.Next != nil {
			n := *c.Next
			n.Reason = plain(n.Reason)
			c.Next = &n
		}
	}
	out.Apps = append([]App(nil), r.Apps...)
	for i := range out.Apps {
		a := &out.Apps[i]
		a.App, a.Cluster, a.Set, a.Tier, a.WaitingFor = plain(a.App), plain(a.Cluster), plain(a.Set), plain(a.Tier), plain(a.WaitingFor)
		if a.Verify != nil {
			v := *a.Verify
			v.State, v.Description = plain(v.State), plain(v.Description)
			a.Verify = &v
		}
	}
	out.Paused = append([]Pause(nil), r.Paused...)
	for i := range out.Paused {
		out.Paused[i].Name, out.Paused[i].By = plain(out.Paused[i].Name), plain(out.Paused[i].By)
	}
	out.Halted = append([]Halt(nil), r.Halted...)
	for i := range out.Halted {
		out.Halted[i].Set, out.Halted[i].Reason = plain(out.Halted[i].Set), plain(out.Halted[i].Reason)
	}
	return &out
}
