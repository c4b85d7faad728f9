package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/policy"
)

// writePolicyText prints one line per cluster/app/object/policy/action.
func writePolicyText(w io.Writer, r *hydrator.PolicyReport) {
	if len(r.Violations) == 0 && len(r.NotEvaluated) == 0 {
		return
	}
	parts := []string{r.Headline()}
	if r.Warned > 0 {
		parts = append(parts, policy.Plural(r.Warned, "object")+" warned")
	}
	if r.Audited > 0 {
		parts = append(parts, policy.Plural(r.Audited, "object")+" audited")
	}
	fmt.Fprintf(w, "Policy gate: %s.\n", strings.Join(parts, "; "))
	for _, v := range r.Violations {
		via := v.Policy
		if v.Binding != "" {
			via += " (" + v.Binding + ")"
		}
		fmt.Fprintf(w, "  %-5s %s/%s  %s  %s: %s\n", strings.ToLower(string(v.Action)), v.Cluster, v.App, v.Object(), via, v.Message)
	}
	// Kyverno policies: once per cluster.
	for i := 0; i < len(r.NotEvaluated); {
		j := i
		var names []string
		for ; j < len(r.NotEvaluated) && r.NotEvaluated[j].Cluster == r.NotEvaluated[i].Cluster; j++ {
			n := r.NotEvaluated[j]
			names = append(names, fmt.Sprintf("%s %s (%s)", n.Kind, n.Name, n.App))
		}
		fmt.Fprintf(w, "  not evaluated on %s: Kyverno policies: %s\n", r.NotEvaluated[i].Cluster, strings.Join(names, ", "))
		i = j
	}
	fmt.Fprintln(w)
}

// annotatePolicy reports each violation to the GitHub Action: an error
// annotation per denial, a warning per Warn.
func annotatePolicy(env Env, r *hydrator.PolicyReport) {
	for _, v := range r.Violations {
		msg := fmt.Sprintf("policy gate: %s/%s: %s: %s", v.Cluster, v.App, v.Object(), policy.DeniedMessage(v))
		switch {
		case v.Action == policy.Deny && env.Annotate != nil:
			env.Annotate(errors.New(msg))
		case v.Action == policy.Warn && env.Warn != nil:
			env.Warn("", msg)
		}
	}
}

// writeRenderWarnings prints each warning on its line, and gives it to
// env.Warn when set.
func writeRenderWarnings(env Env, warnings []hydrator.Warning) {
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "render: warning: %s\n", w)
		if env.Warn != nil {
			msg := w.Message
			if w.File != "" {
				msg = fmt.Sprintf("%s (%s)", w.Message, w.Who())
			}
			env.Warn(w.File, msg)
		}
	}
}

func writeWarnings(w io.Writer, cmd string, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "%s: warning: %s\n", cmd, s)
	}
}

func writeHydrateSummary(w io.Writer, r *hydrator.Result) error {
	updated, failed := 0, 0
	for _, c := range r.Clusters {
		if c.Updated {
			updated++
		}
		if c.Failed {
			failed++
		}
	}
	dry := layout.Short(r.DrySHA)
	if dry == "" {
		dry = "(no commit)"
	}
	builds := fmt.Sprintf("%d distinct builds", r.Builds)
	if r.CachedBuilds > 0 {
		builds += fmt.Sprintf(", %d reused from an earlier run", r.CachedBuilds)
	}
	apps := strconv.Itoa(r.Apps)
	if len(r.Failures) > 0 {
		apps = fmt.Sprintf("%d of %d", r.Apps-len(r.Failures), r.Apps)
	}
	fmt.Fprintf(w, "Rendered %s applications for %d clusters from %s (%s).\n", apps, len(r.Clusters), dry, builds)
	var phases []string
	for _, ph := range []string{"load", "generate", "render", "publish"} {
		phases = append(phases, fmt.Sprintf("%s %.2fs", ph, r.Timings[ph]))
	}
	fmt.Fprintf(w, "Time: %s.\n\n", strings.Join(phases, ", "))
	// Labelled columns: apps added, changed and removed on the branch, and
	// the objects it holds.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  BRANCH\tSTATE\tAPPS ADDED\tCHANGED\tREMOVED\tOBJECTS")
	for _, c := range r.Clusters {
		state := "unchanged"
		switch {
		case c.Failed:
			fmt.Fprintf(tw, "  %s\t%s\t-\t-\t-\t-\tkept as it was: an application failed\n", c.Branch, "failed")
			continue
		case c.Kept != "":
			state = "kept"
		case c.Updated:
			state = "updated"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d", c.Branch, state, len(c.Change.Added), len(c.Change.Changed), len(c.Change.Removed), c.Change.Objects)
		if c.Kept != "" {
			fmt.Fprintf(tw, "\t(%s)", c.Kept)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "%d applications failed; the branches of their %d clusters were kept as they were:\n", len(r.Failures), failed)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  %s/%s: %s\n", f.Cluster, f.App, strings.ReplaceAll(f.Error, "\n", "\n    "))
		}
		fmt.Fprintln(w)
	}
	switch r.Mode {
	case hydrator.ModeOut:
		fmt.Fprintf(w, "%d of %d cluster trees written under %s.\n", updated, len(r.Clusters), r.Target)
	case hydrator.ModeLocal:
		fmt.Fprintf(w, "%d of %d branches committed in %s (not pushed).\n", updated, len(r.Clusters), r.Target)
	default:
		fmt.Fprintf(w, "%d of %d branches pushed to %s.\n", updated, len(r.Clusters), r.Target)
	}
	return nil
}
