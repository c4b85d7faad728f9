package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flotilla-dev/flotilla/internal/actions"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
)

// actionRun runs the Action as GitHub would: INPUT_* variables and the
// GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_EVENT_PATH files.
type actionRun struct {
	code                    int
	stdout, stderr          string
	outputs, summary, event string
}

func runAction(t *testing.T, inputs map[string]string, extra map[string]string) actionRun {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"GITHUB_EVENT_PATH":   filepath.Join(dir, "event.json"),
	}
	for _, f := range files {
		os.WriteFile(f, nil, 0o644)
	}
	if ev, ok := extra["event"]; ok {
		os.WriteFile(files["GITHUB_EVENT_PATH"], []byte(ev), 0o644)
	} else {
		os.WriteFile(files["GITHUB_EVENT_PATH"], []byte("{}"), 0o644)
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "example/fleet", "GITHUB_EVENT_NAME": "push", "PATH": os.Getenv("PATH")}
	for k, v := range files {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	var out, errb bytes.Buffer
	code := Action(t.Context(), Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	read := func(k string) string { b, _ := os.ReadFile(files[k]); return string(b) }
	return actionRun{code, out.String(), errb.String(), read("GITHUB_OUTPUT"), read("GITHUB_STEP_SUMMARY"), read("GITHUB_EVENT_PATH")}
}

// output reads one output from the GITHUB_OUTPUT file (name<<delimiter form).
func output(t *testing.T, r actionRun, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)` + regexp.QuoteMeta(name) + `<<(\S+)\n(.*?)\n(\S+)\n`).FindStringSubmatch(r.outputs)
	if m == nil {
		t.Fatalf("no output %s in:\n%s", name, r.outputs)
	}
	return m[2]
}

func TestActionRender(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	r := runAction(t, map[string]string{"command": "render", "fleet": checkout, "no-push": "true"}, nil)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if got := output(t, r, "changed-clusters"); got != `["dev-us","edge-01","edge-02","prod-eu","prod-us-east","prod-us-west","staging-eu","staging-us"]` {
		t.Errorf("changed-clusters = %s", got)
	}
	if got := output(t, r, "dry-sha"); got != gittest.Git(t, checkout, "rev-parse", "HEAD") {
		t.Errorf("dry-sha = %s", got)
	}
	if !strings.Contains(r.summary, "### render\n\n46 applications for 8 clusters") || !strings.Contains(r.summary, "| `hydrated/prod-eu-next` | updated | 8 | 0 | 0 | 30 |") {
		t.Errorf("summary:\n%s", r.summary)
	}
}

func TestActionAnnotatesInputErrors(t *testing.T) {
	t.Parallel()
	dir := writeFleet(t, map[string]string{"applicationsets/web.yaml": strings.Replace(testAppSet, "- clusters: {}", "- cluster: {}", 1)})
	r := runAction(t, map[string]string{"command": "render", "fleet": dir, "no-push": "true"}, nil)
	want := "::error file=" + dir + "/applicationsets/web.yaml,line=7,title=flotilla%3A StrictDecodingError::unknown generator \"cluster\" in spec.generators[0] (supported: list, clusters, git, matrix, merge)\n"
	if r.code != ExitUsage || !strings.Contains(r.stdout, want) {
		t.Errorf("exit %d; annotations:\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
	r = runAction(t, map[string]string{"command": "deploy"}, nil)
	if r.code != ExitUsage || !strings.Contains(r.stdout, "::error::input command \"deploy\" is not one of render, promote, verify, apply") {
		t.Errorf("bad command: %d %s", r.code, r.stdout)
	}
}

// TestActionFleetDiffOnAPullRequest posts the diff as one sticky comment,
// updated in place on the next run, and never shows the token.
func TestActionFleetDiffOnAPullRequest(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, exampleFleet)
	replaceIn(t, filepath.Join(checkout, "services/api-gateway/overlays/production/kustomization.yaml"), "count: 3", "count: 5")
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "scale")
	fake := forgetest.New(t, origin, "example", "fleet")
	const token = "ghs_Secr3tTokenValue1234567890"
	inputs := map[string]string{"command": "render", "fleet": checkout, "diff-base": "HEAD~1", "token": token}
	extra := map[string]string{"event": `{"pull_request": {"number": 7}}`, "GITHUB_EVENT_NAME": "pull_request", "FLOTILLA_GITHUB_API_URL": fake.URL()}
	for run := 0; run < 2; run++ {
		r := runAction(t, inputs, extra)
		if r.code != ExitOK {
			t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		if got := output(t, r, "summary"); got != "3/46 apps change on 3/8 clusters" {
			t.Errorf("summary output %q", got)
		}
		if got := output(t, r, "changed-clusters"); got != `["prod-eu","prod-us-east","prod-us-west"]` {
			t.Errorf("changed-clusters %s", got)
		}
		if !strings.Contains(r.summary, "```diff") {
			t.Errorf("the job summary lacks the full diff:\n%s", r.summary)
		}
		if !strings.Contains(r.stdout, "::add-mask::"+token) {
			t.Error("the token was not masked")
		}
		for where, text := range map[string]string{"stdout": strings.ReplaceAll(r.stdout, "::add-mask::"+token, ""), "stderr": r.stderr, "outputs": r.outputs, "summary": r.summary} {
			if strings.Contains(text, token) {
				t.Errorf("the token appears in %s", where)
			}
		}
	}
	comments := fake.Comments(7)
	if len(comments) != 1 || !strings.Contains(comments[0], "### Fleet diff: 3/46 apps change on 3/8 clusters") {
		t.Errorf("comments on #7: %d\n%s", len(comments), strings.Join(comments, "\n---\n"))
	}
}

func TestActionPromoteDryRun(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatal(stderr)
	}
	r := runAction(t, map[string]string{"command": "promote", "fleet": checkout, "forge": "local", "dry-run": "true", "cluster": "ignored"}, nil)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if got := output(t, r, "pr-numbers"); got != "[]" {
		t.Errorf("pr-numbers %s", got)
	}
	if !strings.Contains(r.summary, "### Promotion (dry run: nothing changed)\n") || !strings.Contains(r.summary, "| step | app | cluster | state | waiting for |") {
		t.Errorf("summary:\n%s", r.summary)
	}
	if !strings.Contains(r.stdout, "::warning title=flotilla::input cluster is not used by command promote") {
		t.Errorf("no warning for an unused input:\n%s", r.stdout)
	}
}

// TestActionApplyAndVerify runs apply and verify as Actions would, with
// the kubeconfig given as a (masked) input.
func TestActionApplyAndVerify(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t, kubetest.Options{Name: "verify", Workloads: true})
	src := t.TempDir()
	for name, content := range verifyFleet {
		if !strings.HasPrefix(name, "apps/stuck") {
			writeFileAll(t, filepath.Join(src, name), content)
		}
	}
	replaceIn(t, filepath.Join(src, "applicationsets/apps.yaml"), "[{app: web}, {app: stuck}, {app: batch}]", "[{app: web}, {app: batch}]")
	checkout, _ := gittest.Fleet(t, src)
	publish(t, checkout)
	kubeconfig, err := os.ReadFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	common := map[string]string{"repo": checkout, "cluster": "verify", "kubeconfig-data": string(kubeconfig), "forge": "local"}
	apply := map[string]string{"command": "apply"}
	for k, v := range common {
		if k != "forge" {
			apply[k] = v
		}
	}
	r := runAction(t, apply, nil)
	if r.code != ExitOK || output(t, r, "failed-apps") != "[]" || !strings.Contains(r.summary, "| verify | web | 3 | 0 | 0 | 0 | - |") {
		t.Fatalf("apply (exit %d):\n%s\n%s\n%s", r.code, r.stdout, r.stderr, r.summary)
	}
	verify := map[string]string{"command": "verify", "wait": "true", "timeout": "60s"}
	for k, v := range common {
		verify[k] = v
	}
	r = runAction(t, verify, nil)
	if r.code != ExitOK || output(t, r, "result") != "synced" || output(t, r, "drifted-apps") != "[]" {
		t.Fatalf("verify (exit %d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.summary, "| web | Synced | Healthy | 0 | in sync |") || !strings.Contains(r.stdout, "::group::flotilla verify") {
		t.Errorf("summary or log group missing:\n%s\n%s", r.summary, r.stdout)
	}
	var key string
	for _, line := range strings.Split(string(kubeconfig), "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(line), "client-key-data: "); ok {
			key = k
		}
	}
	if key == "" {
		t.Fatal("test kubeconfig has no client-key-data")
	}
	if !strings.Contains(r.stdout, "::add-mask::"+key) {
		t.Errorf("the client key is not masked")
	}
	for where, text := range map[string]string{"outputs": r.outputs, "summary": r.summary, "stderr": r.stderr, "log group": strings.SplitN(r.stdout, "::group::", 2)[1]} {
		if strings.Contains(text, key) {
			t.Errorf("client key in %s", where)
		}
	}
}

// TestActionRenderKeepGoing: the keep-going input writes the healthy
// clusters, annotates each failed app at its ApplicationSet file, sets
// failed-apps and changed-clusters, lists the failures in the job summary,
// and exits 1.
func TestActionRenderKeepGoing(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	breakOneCluster(t, checkout)
	r := runAction(t, map[string]string{"command": "render", "fleet": checkout, "no-push": "true", "keep-going": "true"}, nil)
	if r.code != ExitFailed {
		t.Fatalf("exit %d, want %d: %s%s", r.code, ExitFailed, r.stdout, r.stderr)
	}
	for _, app := range []string{"broken-a", "broken-b"} {
		want := "::error file=" + checkout + "/applicationsets/broken.yaml,title=flotilla%3A RenderError::application " + app + " for cluster prod-eu: "
		if strings.Count(r.stdout, want) != 1 {
			t.Errorf("not one annotation %q in:\n%s", want, r.stdout)
		}
	}
	if got := output(t, r, "failed-apps"); got != `["prod-eu/broken-a","prod-eu/broken-b"]` {
		t.Errorf("failed-apps = %s", got)
	}
	if got := output(t, r, "changed-clusters"); got != `["dev-us","edge-01","edge-02","prod-us-east","prod-us-west","staging-eu","staging-us"]` {
		t.Errorf("changed-clusters = %s", got)
	}
	for _, want := range []string{"| `hydrated/prod-eu-next` | failed: kept as it was |", "| prod-eu | broken-a | applicationsets/broken.yaml: application broken-a for cluster prod-eu: "} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.summary)
		}
	}
	if refs := gittest.Git(t, checkout, "for-each-ref", "refs/heads/hydrated/prod-eu-next"); refs != "" {
		t.Errorf("prod-eu got a branch: %s", refs)
	}
	// Without the input the Action stays all or nothing.
	r = runAction(t, map[string]string{"command": "render", "fleet": checkout, "no-push": "true", "keep-going": "false"}, nil)
	if r.code != ExitUsage {
		t.Errorf("without keep-going: exit %d, want %d", r.code, ExitUsage)
	}
}

// TestActionMasksAndWarningsInOneOrder: the masks of the inputs' URL
// credentials and the warnings about inputs the command does not use come
// out in one order, each once, run after run (they came in map order, and
// an input shared by several commands was masked once per command).
func TestActionMasksAndWarningsInOneOrder(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	inputs := map[string]string{"command": "render", "fleet": checkout, "list-clusters": "true",
		"repo": "https://u1:secret-one@example.com/a.git", "cluster": "c1", "wait": "true", "heal": "true", "app": "web", "kubeconfig": "k", "approve": "x"}
	first := ""
	for i := range 8 {
		r := runAction(t, inputs, nil)
		var lines []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "::add-mask::") || strings.HasPrefix(l, "::warning") {
				lines = append(lines, l)
			}
		}
		got := strings.Join(lines, "\n")
		if strings.Count(got, "::add-mask::secret-one") != 1 {
			t.Fatalf("the repo's password is masked %d times:\n%s", strings.Count(got, "::add-mask::secret-one"), got)
		}
		if i == 0 {
			first = got
			t.Log(got)
		} else if got != first {
			t.Fatalf("run %d:\n%s\nfirst run:\n%s", i, got, first)
		}
	}
}

// TestActionFleetDiffOverGitHubsLimits: a pull request that deletes 200
// objects from an app on every cluster and adds one of 160 KB of
// multi-byte text holding backtick fences makes a fleet diff over every
// limit: the concise comment alone is far over 65,536 characters. The
// comment GitHub (the fake, which refuses longer bodies) receives fits with
// its marker, closes what it opens and points to the rest; the job summary
// stays within 1 MiB, closed too; the log holds the whole diff; a second
// run posts the same bytes.
func TestActionFleetDiffOverGitHubsLimits(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, exampleFleet)
	monitoring := filepath.Join(checkout, "platform/monitoring")
	var many strings.Builder
	for i := range 200 {
		fmt.Fprintf(&many, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: old-dashboard-%04d}\ndata: {k: v}\n", i)
	}
	writeFile(t, filepath.Join(monitoring, "many.yaml"), many.String())
	replaceIn(t, filepath.Join(monitoring, "kustomization.yaml"), "- config.yaml", "- config.yaml\n- many.yaml")
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "200 dashboards")
	var huge strings.Builder
	huge.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: readme}\ndata:\n  README.md: |\n")
	for i := range 4000 {
		fmt.Fprintf(&huge, "    ```\n    Zeile %d: schön ✓ <details>\n", i)
	}
	writeFile(t, filepath.Join(monitoring, "huge.yaml"), huge.String())
	replaceIn(t, filepath.Join(monitoring, "kustomization.yaml"), "- many.yaml", "- huge.yaml")
	gittest.Commit(t, checkout, "2026-01-03T00:00:00Z", "one readme instead")

	fake := forgetest.New(t, origin, "example", "fleet")
	inputs := map[string]string{"command": "render", "fleet": checkout, "diff-base": "HEAD~1", "token": "ghs_Secr3tTokenValue1234567890"}
	extra := map[string]string{"event": `{"pull_request": {"number": 7}}`, "GITHUB_EVENT_NAME": "pull_request", "FLOTILLA_GITHUB_API_URL": fake.URL()}
	var first string
	for run := range 2 {
		r := runAction(t, inputs, extra)
		if r.code != ExitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		comments := fake.Comments(7)
		if len(comments) != 1 {
			t.Fatalf("%d comments on #7", len(comments))
		}
		c := comments[0]
		if run == 0 {
			first = c
		} else if c != first {
			t.Error("the second run posted other bytes")
		}
		if len(c) > rpt.CommentLimit || !utf8.ValidString(c) {
			t.Fatalf("comment of %d bytes (valid UTF-8 %v)", len(c), utf8.ValidString(c))
		}
		for _, want := range []string{"<!-- flotilla:fleet-diff -->\n### Fleet diff: ", "| prod-eu | monitoring-prod-eu | 1 | 0 | 200 |", "**1600 objects will be deleted:**", "**Cut at GitHub's limit for a comment.** The whole fleet diff is in this run's job summary and log"} {
			if !strings.Contains(c, want) {
				t.Errorf("the comment lacks %q", want)
			}
		}
		if u := rpt.Unclosed(c); u != "" {
			t.Errorf("the comment leaves %.200q open", u)
		}
		if len(r.summary) > actions.SummaryLimit || !strings.Contains(r.summary, "this summary reached GitHub's 1 MiB limit; the rest is in the step's log") {
			t.Errorf("summary of %d bytes, or without its pointer", len(r.summary))
		}
		if u := rpt.Unclosed(r.summary); u != "" {
			t.Errorf("the summary leaves %.200q open", u)
		}
		if !strings.Contains(r.stdout, "+    Zeile 3999: schön ✓ <details>\n") || !strings.Contains(r.stdout, "-  name: old-dashboard-0199\n") {
			t.Error("the log lacks the whole diff")
		}
	}
}

// TestVerifyIssueBodyOverGitHubsLimit: a verify shard of 100 clusters with
// 50 drifted apps each — diffs holding backticks, multi-byte text, HTML —
// gives a job summary of megabytes; the issue-body output the drift
// workflow posts (`gh issue create/comment --body`) stays within GitHub's
// 65,536 characters: GitHub (the fake) takes it as an issue comment, and
// it closes what it opens, keeps the first cluster's table and points to
// the rest, the same bytes every time.
func TestVerifyIssueBodyOverGitHubsLimit(t *testing.T) {
	t.Parallel()
	var res []clusterVerify
	for c := range 100 {
		cv := clusterVerify{Cluster: fmt.Sprintf("c%03d", c), Commit: "0123456789abcdef0123"}
		for a := range 50 {
			cv.Apps = append(cv.Apps, &kube.AppStatus{App: fmt.Sprintf("app-%02d", a), Sync: kube.OutOfSync, Health: "Healthy", Message: "1 object drifted",
				Objects: []kube.ObjectStatus{{Object: "ConfigMap/ns/readme", State: kube.StateDrifted,
					Diff: "--- live\n+++ desired\n@@ -1,2 +1,3 @@\n   ```\n-  README.md: \"```\\nalt <b>ä</b>\"\n+  README.md: |\n+    ```\n+    neu ✓ <details>\n"}}})
		}
		res = append(res, cv)
	}
	summary, issue := verifyMarkdown(res)
	if _, again := verifyMarkdown(res); again != issue {
		t.Fatal("the issue body differs between two calls")
	}
	if len(summary) < 10*rpt.CommentLimit {
		t.Fatalf("the test report is too small: %d bytes", len(summary))
	}
	if len(issue) > rpt.CommentLimit || !utf8.ValidString(issue) {
		t.Fatalf("issue body of %d bytes (valid UTF-8 %v)", len(issue), utf8.ValidString(issue))
	}
	if u := rpt.Unclosed(issue); u != "" {
		t.Errorf("the issue body leaves %.200q open", u)
	}
	if u := rpt.Unclosed(summary); u != "" {
		t.Errorf("the summary leaves %.200q open", u)
	}
	for _, want := range []string{"### verify `c000` @ `0123456789ab`\n", "| app-49 | OutOfSync | Healthy | 1 | 1 object drifted |\n", "+    neu ✓ <details>\n", issueCut + "\n"} {
		if !strings.Contains(issue, want) {
			t.Errorf("the issue body lacks %q", want)
		}
	}

	_, bare := gittest.Fleet(t, t.TempDir())
	fake := forgetest.New(t, bare, "example", "fleet")
	payload, _ := json.Marshal(map[string]string{"body": issue})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, fake.URL()+"repos/example/fleet/issues/12/comments", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("GitHub answered %s to the issue body", resp.Status)
	}
	if got := fake.Comments(12); len(got) != 1 || got[0] != issue {
		t.Error("the comment is not the issue body")
	}
}
