package appset

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// ZeroWarnings reports what a fleet yields nothing from: an inventory with
// no cluster, and each ApplicationSet that generated no Application, with
// its selectors and how many inventory clusters each selects (the usual
// cause is a selector typo). generated is GenerateFleet's result.
func ZeroWarnings(f *fleet.Fleet, generated []Generated) []string {
	var out []string
	real := 0
	for _, c := range f.Clusters {
		if !c.Local {
			real++
		}
	}
	if real == 0 {
		out = append(out, fmt.Sprintf("the inventory has no cluster: no file matched by clusters: %s defines one", strings.Join(f.Config.Clusters, ", ")))
	}
	count := map[*fleet.LoadedApplicationSet]int{}
	for _, g := range generated {
		count[g.Set]++
	}
	for _, ls := range f.ApplicationSets {
		if count[ls] > 0 {
			continue
		}
		msg := fmt.Sprintf("%s:%d: ApplicationSet %q generated no Application", ls.File, ls.Line, ls.Set.Metadata.Name)
		if sels := describeSelectors(ls.Set.Spec.Generators, "spec.generators", f.Clusters); len(sels) > 0 {
			msg += "; selectors: " + strings.Join(sels, "; ")
		}
		out = append(out, msg)
	}
	return out
}

// describeSelectors lists the label selectors of a generator tree: each
// clusters generator's (with the number of inventory clusters it selects)
// and each post-generator selector.
func describeSelectors(gens []fleet.ApplicationSetGenerator, path string, clusters []fleet.Cluster) []string {
	var out []string
	for i := range gens {
		g := &gens[i]
		at := fmt.Sprintf("%s[%d]", path, i)
		if c := g.Clusters; c != nil && !c.Selector.IsEmpty() {
			n := 0
			if sel, err := parseSelector(&c.Selector, true); err == nil {
				for _, cl := range clusters {
					if !cl.Local && sel.matches(cl.Labels) {
						n++
					}
				}
			}
			out = append(out, fmt.Sprintf("%s.clusters.selector %s selects %d of %d clusters", at, formatSelector(&c.Selector), n, len(clusters)))
		}
		if g.Selector != nil && !g.Selector.IsEmpty() {
			out = append(out, fmt.Sprintf("%s.selector %s", at, formatSelector(g.Selector)))
		}
		if g.Matrix != nil {
			out = append(out, describeSelectors(g.Matrix.Generators, at+".matrix.generators", clusters)...)
		}
		if g.Merge != nil {
			out = append(out, describeSelectors(g.Merge.Generators, at+".merge.generators", clusters)...)
		}
	}
	return out
}

// formatSelector writes a selector as kubectl's -l syntax.
func formatSelector(s *fleet.LabelSelector) string {
	var terms []string
	for k, v := range s.MatchLabels {
		terms = append(terms, k+"="+v)
	}
	slices.Sort(terms)
	for _, e := range s.MatchExpressions {
		switch e.Operator {
		case "Exists":
			terms = append(terms, e.Key)
		case "DoesNotExist":
			terms = append(terms, "!"+e.Key)
		default:
			terms = append(terms, fmt.Sprintf("%s %s (%s)", e.Key, strings.ToLower(e.Operator), strings.Join(e.Values, ",")))
		}
	}
	return strings.Join(terms, ",")
}
