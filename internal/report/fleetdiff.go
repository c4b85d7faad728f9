// Package report renders results for people: the Markdown of the fleet
// diff. It is pure: no I/O.
package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/kube/order"
	"github.com/flotilla-dev/flotilla/internal/policy"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/textdiff"
)

// CommentLimit is GitHub's limit on the body of a comment, a pull request
// or an issue: 65,536 characters. Flotilla counts bytes against it (Fit),
// never fewer than GitHub's characters.
const CommentLimit = 65536

// commentCut points from a fleet diff comment cut at its limit to the rest.
const commentCut = "**Cut at GitHub's limit for a comment.** The whole fleet diff is in this run's job summary and log; `flotilla render --diff-base <base>` prints it."

// Fleet is what render produced: cluster → app → manifest.yaml.
type Fleet map[string]map[string][]byte

// AppDiff is how one app changes on one cluster.
type AppDiff struct {
	Cluster string   `json:"cluster"`
	App     string   `json:"app"`
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Diff is a unified diff of the changed objects, Secret values masked.
	Diff string `json:"-"`
}

// FleetDiff is the difference between two renders of a fleet.
type FleetDiff struct {
	Apps            []AppDiff `json:"apps"`
	TotalApps       int       `json:"totalApps"`
	TotalClusters   int       `json:"totalClusters"`
	ChangedClusters []string  `json:"changedClusters"`
	// Policy is the head render's policy evaluation (render's gate, every
	// cluster against the policies it deploys), set only when an object
	// would be denied: a fleet nothing denies has the diff it had before
	// the gate.
	Policy *policy.FleetReport `json:"policy,omitempty"`
}

// maxPolicyRows bounds the denials the Markdown lists.
const maxPolicyRows = 50

// Summary is the headline: "3/36 apps change on 3/8 clusters".
func (d *FleetDiff) Summary() string {
	return fmt.Sprintf("%d/%d apps change on %d/%d clusters", len(d.Apps), d.TotalApps, len(d.ChangedClusters), d.TotalClusters)
}

// CompareFleets compares base and head object by object.
func CompareFleets(base, head Fleet) (*FleetDiff, error) {
	d := &FleetDiff{}
	clusters := map[string]bool{}
	for c := range base {
		clusters[c] = true
	}
	for c := range head {
		clusters[c] = true
	}
	names := slices.Sorted(maps.Keys(clusters))
	d.TotalClusters = len(names)
	for _, c := range names {
		apps := map[string]bool{}
		for a := range base[c] {
			apps[a] = true
		}
		for a := range head[c] {
			apps[a] = true
			d.TotalApps++
		}
		changed := false
		for _, a := range slices.Sorted(maps.Keys(apps)) {
			ad, err := compareApp(c, a, base[c][a], head[c][a])
			if err != nil {
				return nil, err
			}
			if len(ad.Added)+len(ad.Changed)+len(ad.Removed) > 0 {
				d.Apps = append(d.Apps, ad)
				changed = true
			}
		}
		if changed {
			d.ChangedClusters = append(d.ChangedClusters, c)
		}
	}
	return d, nil
}

func compareApp(cluster, app string, base, head []byte) (AppDiff, error) {
	ad := AppDiff{Cluster: cluster, App: app}
	b, err := objects(app, base)
	if err != nil {
		return ad, err
	}
	h, err := objects(app, head)
	if err != nil {
		return ad, err
	}
	var diff strings.Builder
	for _, id := range slices.Sorted(maps.Keys(union(b, h))) {
		bo, inBase := b[id]
		ho, inHead := h[id]
		switch {
		case !inBase:
			ad.Added = append(ad.Added, id)
			maskSecret(nil, ho)
			diff.WriteString(textdiff.Unified("/dev/null", id, "", encode(ho)))
		case !inHead:
			ad.Removed = append(ad.Removed, id)
			maskSecret(bo, nil)
			diff.WriteString(textdiff.Unified(id, "/dev/null", encode(bo), ""))
		default:
			before, after := encode(bo), encode(ho)
			if before == after {
				continue
			}
			ad.Changed = append(ad.Changed, id)
			maskSecret(bo, ho)
			diff.WriteString(textdiff.Unified(id, id, encode(bo), encode(ho)))
		}
	}
	ad.Diff = diff.String()
	return ad, nil
}

func objects(app string, manifest []byte) (map[string]*unstructured.Unstructured, error) {
	out := map[string]*unstructured.Unstructured{}
	if len(manifest) == 0 {
		return out, nil
	}
	objs, err := render.Decode(app+"/manifest.yaml", manifest)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		out[order.ID(o)] = o
	}
	return out, nil
}

func encode(o *unstructured.Unstructured) string {
	b, _ := render.Encode([]*unstructured.Unstructured{o})
	return string(b)
}

// maskSecret hides Secret values: every value becomes "***", and a value
// that changed becomes "*** (changed)" on the new side, so a diff shows
// which keys changed, never what they hold.
func maskSecret(base, head *unstructured.Unstructured) {
	isSecret := func(o *unstructured.Unstructured) bool {
		return o != nil && o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
	}
	if !isSecret(base) && !isSecret(head) {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		var bm, hm map[string]any
		if base != nil {
			bm, _ = base.Object[field].(map[string]any)
		}
		if head != nil {
			hm, _ = head.Object[field].(map[string]any)
		}
		changed := map[string]bool{}
		for k, v := range bm {
			if hv, ok := hm[k]; ok && hv != v {
				changed[k] = true
			}
		}
		for k := range bm {
			bm[k] = "***"
		}
		for k := range hm {
			hm[k] = "***"
			if changed[k] {
				hm[k] = "*** (changed)"
			}
		}
	}
}

// Markdown renders the diff. It returns the comment — the full form when
// it fits in limit bytes, else a concise one without the object diffs,
// itself cut by Fit when it does not fit either (thousands of changed
// apps or deleted objects) — and the full form (for the job summary).
func (d *FleetDiff) Markdown(limit int) (comment, full string) {
	full = d.markdown(true, false)
	if len(full) <= limit {
		return full, full
	}
	return Fit(d.markdown(false, true), limit, commentCut), full
}

func (d *FleetDiff) markdown(withDiffs, truncated bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Fleet diff: %s\n\n", d.Summary())
	d.writePolicy(&b)
	if len(d.Apps) == 0 {
		b.WriteString("No rendered manifest changes.\n")
		return b.String()
	}
	b.WriteString("| cluster | app | added | changed | removed |\n|---|---|---:|---:|---:|\n")
	for _, a := range d.Apps {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d |\n", a.Cluster, a.App, len(a.Added), len(a.Changed), len(a.Removed))
	}
	if deleted := d.deletions("- `%s` / `%s`: `%s`"); len(deleted) > 0 {
		fmt.Fprintf(&b, "\n**%d objects will be deleted:**\n\n%s\n", len(deleted), strings.Join(deleted, "\n"))
	}
	if truncated {
		fmt.Fprintf(&b, "\nThe object diffs are too large for a comment (GitHub's limit is %d characters); the full diff is in the job summary of this run.\n", CommentLimit)
	}
	if !withDiffs {
		return b.String()
	}
	for _, a := range d.Apps {
		fence := Fence(a.Diff)
		fmt.Fprintf(&b, "\n<details><summary>%s / %s: +%d ~%d -%d</summary>\n\n%sdiff\n%s%s\n\n</details>\n",
			a.Cluster, a.App, len(a.Added), len(a.Changed), len(a.Removed), fence, a.Diff, fence)
	}
	return b.String()
}

// Text renders the diff as plain text for a terminal (render --diff-base
// without -o): the headline, the denials, one line per changed app, the
// objects deleted, then each app's unified diff. Markdown (Markdown) is
// for comments and job summaries.
func (d *FleetDiff) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Fleet diff: %s\n", d.Summary())
	if r := d.Policy; r != nil && r.Denied > 0 {
		fmt.Fprintf(&b, "\nPolicy gate: %s (render stops on denials; with --policy-report-only, promote holds these apps back):\n", r.Headline())
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  CLUSTER\tAPP\tOBJECT\tPOLICY\tMESSAGE")
		for _, v := range r.Violations {
			if v.Action == policy.Deny {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", v.Cluster, v.App, v.Object(), v.Policy, oneLine(v.Message))
			}
		}
		_ = tw.Flush()
	}
	if len(d.Apps) == 0 {
		b.WriteString("\nNo rendered manifest changes.\n")
		return b.String()
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tAPP\tADDED\tCHANGED\tREMOVED")
	for _, a := range d.Apps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", a.Cluster, a.App, len(a.Added), len(a.Changed), len(a.Removed))
	}
	_ = tw.Flush()
	if deleted := d.deletions("  %s / %s: %s"); len(deleted) > 0 {
		fmt.Fprintf(&b, "\n%d objects will be deleted:\n%s\n", len(deleted), strings.Join(deleted, "\n"))
	}
	for _, a := range d.Apps {
		fmt.Fprintf(&b, "\n=== %s / %s: %d added, %d changed, %d removed\n%s", a.Cluster, a.App, len(a.Added), len(a.Changed), len(a.Removed), a.Diff)
		if !strings.HasSuffix(a.Diff, "\n") {
			b.WriteString("\n")
		}
	}
	return printable(b.String())
}

// deletions is one line per object the diff deletes: format applied to
// its cluster, app and object.
func (d *FleetDiff) deletions(format string) []string {
	var out []string
	for _, a := range d.Apps {
		for _, id := range a.Removed {
			out = append(out, fmt.Sprintf(format, a.Cluster, a.App, id))
		}
	}
	return out
}

// printable replaces control characters but newline and tab (a
// manifest's escape sequences must not drive the terminal) with U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// oneLine puts text on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func union[V any](a, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// writePolicy writes the policy line ("**Policy gate: 2 objects would be
// denied on 17 clusters**", with the objects warned and audited) and the
// denials, collapsed: one row per cluster, app, object and policy, at most
// maxPolicyRows. Nothing when nothing is denied.
func (d *FleetDiff) writePolicy(b *strings.Builder) {
	r := d.Policy
	if r == nil || r.Denied == 0 {
		return
	}
	fmt.Fprintf(b, "**Policy gate: %s**", r.Headline())
	var also []string
	if r.Warned > 0 {
		also = append(also, policy.Plural(r.Warned, "object")+" warned")
	}
	if r.Audited > 0 {
		also = append(also, policy.Plural(r.Audited, "object")+" audited")
	}
	if len(also) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(also, ", "))
	}
	b.WriteString(": render stops on denials (with `--policy-report-only`, promote holds these apps back).\n\n")
	var rows []policy.Violation
	for _, v := range r.Violations {
		if v.Action == policy.Deny {
			rows = append(rows, v)
		}
	}
	fmt.Fprintf(b, "<details><summary>%s</summary>\n\n| cluster | app | object | policy | message |\n|---|---|---|---|---|\n", policy.Plural(len(rows), "denial"))
	for i, v := range rows {
		if i == maxPolicyRows {
			fmt.Fprintf(b, "\n%d more: see render's output (-o json).\n", len(rows)-maxPolicyRows)
			break
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", cell(v.Cluster), cell(v.App), cell(v.Object()), cell(v.Policy), cell(v.Message))
	}
	b.WriteString("\n</details>\n\n")
}

// cell makes text one Markdown table cell: no line breaks, pipes and
// angle brackets escaped.
func cell(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ", "|", "\\|", "<", "&lt;", ">", "&gt;").Replace(s)
}
