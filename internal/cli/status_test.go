package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/status"
)

func statusCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Status(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

// TestStatusOfAPartlyPromotedFleet: the loop fleet rendered to a bare
// remote, with the general tier behind an approval; canary and early
// promoted and verified (early's verify a hostile message), general's
// pull request open and waiting for its approval. status reads it all
// through the remote and shows, per cluster, the live and proposed heads
// the remote holds, the open pull request and what promote would do; per
// app, the tier, the content comparison, verify's state and age and the
// gate. Its decisions equal promote --dry-run's; it writes nothing; the
// text is plain, the job summary Markdown, the HTML page escapes the
// message.
func TestStatusOfAPartlyPromotedFleet(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		if name == "applicationsets/web.yaml" {
			content = strings.Replace(content, "values: [general]}]\n", "values: [general]}]\n        requireApproval: true\n", 1)
		}
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, remote := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	cache := filepath.Join(t.TempDir(), "tester.git")
	gittest.Bare(t, cache, remote)
	tester, err := local.OpenRemote(cache, remote)
	if err != nil {
		t.Fatal(err)
	}
	const hostile = `<script>alert("x")</script> | **bold** \x1b[31m`
	verified := func(cluster, desc string) {
		t.Helper()
		live := gittest.Git(t, remote, "rev-parse", "hydrated/"+cluster)
		if err := tester.SetStatus(t.Context(), live, forge.Status{Context: "flotilla/verify/web-" + cluster, State: forge.StateSuccess, Description: desc}); err != nil {
			t.Fatal(err)
		}
	}
	promoteArgs := []string{"--fleet", checkout, "--forge", "local", "--remote", remote}
	for _, c := range []string{"canary", "early"} {
		if got := kinds(promoteJSON(t, promoteArgs...)); got != c+":open+merge" {
			t.Fatalf("pass for %s: %q", c, got)
		}
		verified(c, map[string]string{"canary": "Synced, Healthy", "early": hostile + "\x1b[31m"}[c])
	}
	if got := kinds(promoteJSON(t, promoteArgs...)); got != "general:open" {
		t.Fatalf("general's pass: %q", got)
	}
	before := gittest.Refs(t, remote, "") + gittest.Refs(t, checkout, "")
	htmlFile := filepath.Join(t.TempDir(), "status.html")
	summary := filepath.Join(t.TempDir(), "summary.md")
	env := map[string]string{"GITHUB_STEP_SUMMARY": summary}
	code, out, stderr := statusCmd(t, env, append(promoteArgs, "-o", "json", "--html", htmlFile)...)
	if code != ExitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	if after := gittest.Refs(t, remote, "") + gittest.Refs(t, checkout, ""); after != before {
		t.Errorf("status changed refs:\n%s\nwas:\n%s", after, before)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	for _, key := range []string{`"clusters"`, `"rendered"`, `"pullRequest"`, `"inPullRequest"`, `"waitingFor"`, `"ageSeconds"`, `"applicationSet"`, `"liveManifest"`} {
		if !strings.Contains(out, key) {
			t.Errorf("-o json lacks the key %s", key)
		}
	}
	if strings.Contains(out, `"App"`) || strings.Contains(out, `"WaitingFor"`) || strings.Contains(out, "null") {
		t.Errorf("-o json is not camelCase without nulls:\n%s", out)
	}
	if len(rep.Clusters) != 3 || len(rep.Apps) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	for _, c := range rep.Clusters {
		if want := gittest.Git(t, remote, "rev-parse", "hydrated/"+c.Name); c.Live != want {
			t.Errorf("%s: live %s, the remote's hydrated/%s is %s", c.Name, c.Live, c.Name, want)
		}
		if want := gittest.Git(t, remote, "rev-parse", "hydrated/"+c.Name+"-next"); c.Proposed != want || !c.Rendered {
			t.Errorf("%s: proposed %s, the remote's is %s", c.Name, c.Proposed, want)
		}
	}
	general := rep.Clusters[2]
	if general.Name != "general" || general.Changed != 1 || general.PullRequest == nil || general.PullRequest.Number != 3 ||
		!general.PullRequest.Current || strings.Join(general.PullRequest.Apps, ",") != "web-general" ||
		general.Next == nil || general.Next.Action != "wait" || general.Next.Reason != "an approving review of the current head" {
		t.Errorf("general: %+v %+v %+v", general, general.PullRequest, general.Next)
	}
	if c := rep.Clusters[0]; c.Name != "canary" || c.Changed != 0 || c.PullRequest != nil || c.Next != nil {
		t.Errorf("canary: %+v", c)
	}
	type row struct{ tier, cluster, content, verify, state, waiting string }
	var got []row
	for _, a := range rep.Apps {
		v := "none"
		if a.Verify != nil {
			v = a.Verify.State
			if a.Verify.AgeSeconds < 0 || a.Verify.AgeSeconds > 600 || a.Verify.UpdatedAt.IsZero() {
				t.Errorf("%s: verify's age %ds, at %s", a.App, a.Verify.AgeSeconds, a.Verify.UpdatedAt)
			}
		}
		got = append(got, row{a.Tier, a.Cluster, a.Content, v, a.State, a.WaitingFor})
		if a.Content == status.ContentSame && (a.LiveManifest == "" || a.LiveManifest != a.ProposedManifest) {
			t.Errorf("%s: same content, manifests %s vs %s", a.App, a.LiveManifest, a.ProposedManifest)
		}
	}
	want := []row{
		{"canary", "canary", "same", "success", "live", ""},
		{"early", "early", "same", "success", "live", ""},
		{"general", "general", "added", "none", "in-pr", "an approving review"},
	}
	if len(got) != len(want) {
		t.Fatalf("apps:\n%+v\nwant:\n%+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("app %d:\n%+v\nwant:\n%+v", i, got[i], want[i])
		}
	}
	if !rep.Apps[2].InPR || rep.Apps[0].InPR {
		t.Errorf("in PR: %+v", rep.Apps)
	}
	// The gates are promote's own: promote --dry-run decides the same.
	dry := promoteJSON(t, append(promoteArgs, "--dry-run")...)
	for i, d := range dry.Apps {
		if a := rep.Apps[i]; d.App != a.App || string(d.State) != a.State || d.WaitingFor != a.WaitingFor || d.Step != a.Tier {
			t.Errorf("status %+v, promote --dry-run %+v", a, d)
		}
	}

	// Text: plain labelled tables, the message one printable line.
	code, text, stderr := statusCmd(t, nil, promoteArgs...)
	if code != ExitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, s := range []string{"CLUSTER", "LIVE", "PROPOSED", "CHANGED APPS", "PULL REQUEST", "NEXT PROMOTE ACTION", "TIER", "PROPOSED VS LIVE", "VERIFY AGE", "WAITING FOR",
		"#3", "wait: an approving review of the current head", "in-pr"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	for _, s := range []string{"|---", "###", "<", "\x1b"} {
		if strings.Contains(text, s) {
			t.Errorf("text holds %q:\n%s", s, text)
		}
	}
	if len(strings.Split(text, "\n")) != 4+1+4+1+1+1 {
		t.Errorf("text has %d lines:\n%s", len(strings.Split(text, "\n")), text)
	}

	// The job summary: Markdown, the tables.
	md, err := os.ReadFile(summary)
	if err != nil || !strings.HasPrefix(string(md), "### Fleet status\n") || !strings.Contains(string(md), "| general | general | web-general | web | added | yes | none | - | in-pr | an approving review |") {
		t.Errorf("job summary (%v):\n%s", err, md)
	}
	// The HTML page: the hostile message escaped, nothing external.
	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "\x1b", "src=", "http://", "https://", "@import"} {
		if strings.Contains(string(page), bad) {
			t.Errorf("the HTML holds %q", bad)
		}
	}
	if !strings.Contains(string(page), "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") || !strings.Contains(string(page), "<td>web-general</td>") {
		t.Errorf("the HTML:\n%s", page)
	}

	// promote --approve --dry-run records no approval: nothing moves, and
	// the pull request still waits for one.
	code, _, stderr = promoteCmd(t, nil, append(promoteArgs, "--approve", "general", "--approver", "alice", "--dry-run")...)
	if code != ExitOK || !strings.Contains(stderr, "promote: warning: dry run: the approval of general by alice was not recorded (pull request #3)") {
		t.Errorf("--approve --dry-run: exit %d:\n%s", code, stderr)
	}
	if after := gittest.Refs(t, remote, "") + gittest.Refs(t, checkout, ""); after != before {
		t.Errorf("--approve --dry-run changed refs:\n%s\nwas:\n%s", after, before)
	}
	if got := kinds(promoteJSON(t, promoteArgs...)); got != "general:wait" {
		t.Errorf("after --approve --dry-run, general's pass: %q, want it still waiting", got)
	}
}

// TestStatusRefusesWhatDoesNotApply: usage errors name the flag.
func TestStatusRefusesWhatDoesNotApply(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, t.TempDir())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--forge", "local", "--github-url", "https://ghe.example.com/api/v3"}, "status: usage: --github-url does not apply to --forge local (it is for --forge github)\n"},
		{[]string{"-o", "xml"}, "status: usage: -o \"xml\" is not one of text, json, yaml\n"},
		{[]string{"--dry-run"}, "status: usage: flag provided but not defined: -dry-run (see --help)\n"},
	} {
		code, _, stderr := statusCmd(t, nil, append([]string{"--fleet", checkout}, tt.args...)...)
		if code != ExitUsage || stderr != tt.want {
			t.Errorf("%v: exit %d, %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestStatusOnGitHub: with --forge github the statuses come from GitHub
// (the fake, every request checked against GitHub's description): a
// failed verify on canary's live commit shows as failed with its age,
// halts the set, and the tiers behind it wait for a fix, as promote
// would decide.
func TestStatusOnGitHub(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, origin := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	fake := forgetest.New(t, origin, "example", "fleet")
	env := map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet"}
	if code, _, stderr := promoteCmd(t, env, "--fleet", checkout, "--forge", "github", "--github-url", fake.URL()); code != ExitOK {
		t.Fatalf("promote: %s", stderr)
	}
	gh, err := github.New(github.Options{Owner: "example", Repo: "fleet", Token: "ghs_test", BaseURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	live := gittest.Git(t, origin, "rev-parse", "hydrated/canary")
	if err := gh.SetStatus(t.Context(), live, forge.Status{Context: "flotilla/verify/web-canary", State: forge.StateFailure, Description: "Degraded: web 0/2 available"}); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := statusCmd(t, env, "--fleet", checkout, "--forge", "github", "--github-url", fake.URL(), "-o", "json")
	if code != ExitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	canary := rep.Apps[0]
	if canary.App != "web-canary" || canary.Verify == nil || canary.Verify.State != "failure" || canary.Verify.Description != "Degraded: web 0/2 available" ||
		canary.Verify.AgeSeconds < 0 || canary.Verify.AgeSeconds > 600 || canary.State != "failed" {
		t.Errorf("canary: %+v %+v", canary, canary.Verify)
	}
	if len(rep.Halted) != 1 || rep.Halted[0].Set != "web" || !strings.Contains(rep.Halted[0].Reason, "web-canary on canary failed verification") {
		t.Errorf("halted: %+v", rep.Halted)
	}
	for _, a := range rep.Apps[1:] {
		if a.State != "halted" || a.Verify != nil || !strings.HasPrefix(a.WaitingFor, "the rollout is halted: ") {
			t.Errorf("%s: %+v", a.App, a)
		}
	}
	if rep.Clusters[0].Live != live || rep.Clusters[1].Rendered != true {
		t.Errorf("clusters: %+v", rep.Clusters)
	}
}

// TestUseColour: colour only on a terminal (a pseudo-terminal here),
// never when NO_COLOR is set to anything or TERM is dumb, never into a
// file, a pipe or a buffer.
func TestUseColour(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, out := range []io.Writer{&bytes.Buffer{}, file, w} {
		if useColour(out, env()) {
			t.Errorf("colour into %T", out)
		}
	}
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer tty.Close()
	if !useColour(tty, env()) || !useColour(tty, env("NO_COLOR", "")) {
		t.Errorf("no colour on a terminal")
	}
	for _, kv := range [][]string{{"NO_COLOR", "1"}, {"NO_COLOR", "false"}, {"TERM", "dumb"}} {
		if useColour(tty, env(kv...)) {
			t.Errorf("colour with %s=%s", kv[0], kv[1])
		}
	}
}

// TestStatusBeforeRender: a fleet nothing was rendered for is a status
// too: every cluster listed as not rendered, naming the branch looked
// for, no app, exit 0.
func TestStatusBeforeRender(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, _ := gittest.Fleet(t, src)
	code, out, stderr := statusCmd(t, nil, "--fleet", checkout)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, c := range []string{"canary", "early", "general"} {
		if !strings.Contains(out, "not rendered (no hydrated/"+c+"-next)") {
			t.Errorf("%s not shown as not rendered:\n%s", c, out)
		}
	}
	code, out, _ = statusCmd(t, nil, "--fleet", checkout, "-o", "json")
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitOK || len(rep.Clusters) != 3 || rep.Clusters[0].Rendered || len(rep.Apps) != 0 ||
		strings.Contains(out, "null") || !strings.Contains(out, `"apps": []`) {
		t.Errorf("exit %d, %v: %s", code, err, out)
	}
}
