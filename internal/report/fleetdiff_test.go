package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/policy"
)

// TestFleetDiffPolicyLine: the head render's denials make one line under
// the headline and a collapsed table (cells escaped, rows bounded); a
// report without denials (nil, or only warnings) leaves the Markdown
// byte-identical to a diff without policies.
func TestFleetDiffPolicyLine(t *testing.T) {
	t.Parallel()
	base := FleetDiff{TotalApps: 2, TotalClusters: 1}
	plain := base.markdown(true, false)

	warnOnly := base
	warnOnly.Policy = &policy.FleetReport{Warned: 1, Violations: []policy.Violation{{Cluster: "c", App: "a", Kind: "Pod", Name: "p", Policy: "x", Action: policy.Warn, Message: "m"}}}
	if got := warnOnly.markdown(true, false); got != plain {
		t.Errorf("warnings only changed the diff:\n%s", got)
	}

	denied := base
	denied.Policy = &policy.FleetReport{Denied: 1, DeniedClusters: 1, Warned: 2, Violations: []policy.Violation{
		{Cluster: "prod", App: "api-prod", Kind: "Deployment", Namespace: "api", Name: "api", Policy: "max|replicas", Action: policy.Deny, Message: "too many\n<b>30</b>"},
		{Cluster: "prod", App: "web-prod", Kind: "Pod", Name: "p", Policy: "x", Action: policy.Warn, Message: "warned"},
	}}
	got := denied.markdown(true, false)
	for _, want := range []string{
		"### Fleet diff: 0/2 apps change on 0/1 clusters\n\n**Policy gate: 1 object would be denied on 1 cluster** (2 objects warned): render stops on denials (with `--policy-report-only`, promote holds these apps back).\n\n<details><summary>1 denial</summary>",
		"| prod | api-prod | Deployment api/api | max\\|replicas | too many &lt;b&gt;30&lt;/b&gt; |\n",
		"</details>\n\nNo rendered manifest changes.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "warned |") {
		t.Errorf("a warning is listed as denied:\n%s", got)
	}

	many := base
	many.Policy = &policy.FleetReport{Denied: 60, DeniedClusters: 60}
	for i := range 60 {
		many.Policy.Violations = append(many.Policy.Violations, policy.Violation{Cluster: fmt.Sprintf("c%02d", i), App: "a", Kind: "Pod", Name: "p", Policy: "x", Action: policy.Deny, Message: "m"})
	}
	got = many.markdown(false, true)
	if n := strings.Count(got, "| x | m |"); n != maxPolicyRows || !strings.Contains(got, "10 more: see render's output (-o json).") {
		t.Errorf("%d rows:\n%s", n, got)
	}
}
