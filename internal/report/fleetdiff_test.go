package report

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

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

// TestFleetDiffCommentOverTheLimit: a fleet diff far over the comment
// limit in every dimension — thousands of changed apps, thousands of
// deletions, one huge object diff holding backtick fences, multi-byte
// names — gives a comment within the limit: valid UTF-8, every fence and
// <details> closed, the headline kept and a pointer to the rest; the same
// bytes on every call. The full form keeps every diff inside its block.
func TestFleetDiffCommentOverTheLimit(t *testing.T) {
	t.Parallel()
	d := &FleetDiff{TotalApps: 10000, TotalClusters: 5000}
	huge := strings.Repeat("+  readme: |\n+    ```\n+    schön ✓ 🚢 <details>\n", 20000)
	for c := range 3000 {
		cluster := fmt.Sprintf("cluster-%04d", c)
		d.ChangedClusters = append(d.ChangedClusters, cluster)
		a := AppDiff{Cluster: cluster, App: fmt.Sprintf("zähler-日本-%d", c), Changed: []string{"ConfigMap/x/y"}, Diff: "--- a\n+++ b\n@@ -1 +1 @@\n-  k: ä\n+  k: ö\n"}
		for o := range 3 {
			a.Removed = append(a.Removed, fmt.Sprintf("ConfigMap/ns-é/cm-%d", o))
		}
		if c == 7 {
			a.Diff += huge
		}
		d.Apps = append(d.Apps, a)
	}
	limit := CommentLimit - len("<!-- flotilla:fleet-diff -->\n")
	comment, full := d.Markdown(limit)
	if again, _ := d.Markdown(limit); again != comment {
		t.Fatal("the comment differs between two calls")
	}
	if len(full) < 20*CommentLimit {
		t.Fatalf("the test diff is too small: %d bytes", len(full))
	}
	if len(comment) > limit || !utf8.ValidString(comment) {
		t.Fatalf("comment: %d bytes (limit %d), valid UTF-8 %v", len(comment), limit, utf8.ValidString(comment))
	}
	if u := Unclosed(comment); u != "" {
		t.Errorf("the comment leaves %.200q open", u)
	}
	for _, want := range []string{"### Fleet diff: 3000/10000 apps change on 3000/5000 clusters\n", "| cluster-0000 | zähler-日本-0 | 0 | 1 | 3 |\n", commentCut + "\n"} {
		if !strings.Contains(comment, want) {
			t.Errorf("the comment lacks %q", want)
		}
	}
	if u := Unclosed(full); u != "" || !strings.Contains(full, "\n````diff\n--- a") {
		t.Errorf("the full form leaves %.200q open, or its fence is not longer than the diff's backticks", u)
	}
}

// TestFleetDiffText: the terminal form is plain text — no Markdown table,
// heading or <details>, not even from a manifest holding them, and no
// control character a manifest could use to drive the terminal — with the
// headline, every denial, every app's counts, the deletions and the diffs.
func TestFleetDiffText(t *testing.T) {
	t.Parallel()
	d := &FleetDiff{
		TotalApps: 4, TotalClusters: 2, ChangedClusters: []string{"prod"},
		Apps: []AppDiff{{Cluster: "prod", App: "web-prod", Changed: []string{"apps/v1/Deployment/web/web"}, Removed: []string{"v1/ConfigMap/web/old"},
			Diff: "--- a\n+++ b\n-  replicas: 3\n+  replicas: 30\n+  note: \"\x1b[31m<details>red</details>\x1b[0m\"\n"}},
		Policy: &policy.FleetReport{Denied: 1, DeniedClusters: 1, Violations: []policy.Violation{
			{Cluster: "prod", App: "web-prod", Kind: "Deployment", Namespace: "web", Name: "web", Policy: "guardrails", Action: policy.Deny, Message: "replicas must be at most 10,\nnot 30"},
			{Cluster: "prod", App: "web-prod", Kind: "Service", Namespace: "web", Name: "web", Policy: "labels", Action: policy.Warn, Message: "warned only"},
		}},
	}
	got := d.Text()
	for _, want := range []string{
		"Fleet diff: 1/4 apps change on 1/2 clusters\n",
		"Policy gate: 1 object would be denied on 1 cluster",
		"  prod     web-prod  Deployment web/web  guardrails  replicas must be at most 10, not 30\n",
		"CLUSTER  APP       ADDED  CHANGED  REMOVED\nprod     web-prod  0      1        1\n",
		"1 objects will be deleted:\n  prod / web-prod: v1/ConfigMap/web/old\n",
		"=== prod / web-prod: 0 added, 1 changed, 1 removed\n--- a\n+++ b\n-  replicas: 3\n+  replicas: 30\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("text lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"###", "|---", "\x1b", "warned only"} {
		if strings.Contains(got, bad) {
			t.Errorf("text holds %q:\n%s", bad, got)
		}
	}
	if !strings.Contains(got, "\uFFFD[31m<details>red</details>") {
		t.Errorf("a manifest's own text is shown, its escape replaced:\n%s", got)
	}
	if got != d.Text() {
		t.Error("not deterministic")
	}
	if empty := (&FleetDiff{TotalApps: 1, TotalClusters: 1}).Text(); empty != "Fleet diff: 0/1 apps change on 0/1 clusters\n\nNo rendered manifest changes.\n" {
		t.Errorf("no change: %q", empty)
	}
}
