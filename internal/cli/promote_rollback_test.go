package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// pauseLoop is loopFleet with the canary step requiring approval, on the
// local forge or the GitHub fake, with no cluster: verify's statuses are
// posted through the forge as verify posts them.
type pauseLoop struct {
	t        *testing.T
	checkout string
	repo     string // where the live branches are read
	args     []string
	env      map[string]string
	forge    forge.Forge       // where verify's statuses go and pull requests are read
	fake     *forgetest.GitHub // nil: the local forge
	version  int
}

func newPauseLoop(t *testing.T, withGitHub bool) *pauseLoop {
	t.Helper()
	src := t.TempDir()
	for name, content := range loopFleet {
		if name == "applicationsets/web.yaml" {
			content = strings.Replace(content, "values: [canary]}]\n        maxUpdate: 1", "values: [canary]}]\n        maxUpdate: 1\n        requireApproval: true", 1)
		}
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, origin := gittest.Fleet(t, src)
	l := &pauseLoop{t: t, checkout: checkout, repo: checkout, args: []string{"--fleet", checkout, "--forge", "local"}, version: 1}
	if withGitHub {
		l.fake = forgetest.New(t, origin, "example", "fleet")
		l.fake.SetPermission("alice", "write") // only writers' approvals count
		l.repo = origin
		l.env = map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet"}
		l.args = []string{"--fleet", checkout, "--forge", "github", "--github-url", l.fake.URL()}
		gh, err := github.New(github.Options{Owner: "example", Repo: "fleet", Token: "ghs_test", BaseURL: l.fake.URL()})
		if err != nil {
			t.Fatal(err)
		}
		l.forge = gh
	} else {
		lf, err := local.Open(checkout)
		if err != nil {
			t.Fatal(err)
		}
		l.forge = lf
	}
	l.render()
	return l
}

// onBothForges runs f in parallel on a pauseLoop with the local forge and
// on one with the GitHub fake.
func onBothForges(t *testing.T, f func(t *testing.T, l *pauseLoop)) {
	for _, withGitHub := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "github"}[withGitHub], func(t *testing.T) {
			t.Parallel()
			f(t, newPauseLoop(t, withGitHub))
		})
	}
}

func (l *pauseLoop) render() {
	l.t.Helper()
	args := []string{"--fleet", l.checkout}
	if l.fake == nil {
		args = append(args, "--no-push")
	}
	if code, _, stderr := renderCmd(l.t, args...); code != ExitOK {
		l.t.Fatalf("render: %s", stderr)
	}
}

// change renders the next version of web.
func (l *pauseLoop) change() {
	l.t.Helper()
	l.version++
	writeFile(l.t, filepath.Join(l.checkout, "apps/web/config.yaml"), fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {version: v%d}\n", l.version))
	gittest.Commit(l.t, l.checkout, fmt.Sprintf("2026-01-%02dT00:00:00Z", l.version), fmt.Sprintf("web v%d", l.version))
	l.render()
}

// run runs promote with args, wanting exit code want; the Result when 0.
func (l *pauseLoop) run(want int, args ...string) (*promote.Result, string) {
	l.t.Helper()
	code, out, stderr := promoteCmd(l.t, l.env, append(append(append([]string{}, l.args...), "-o", "json"), args...)...)
	if code != want {
		l.t.Fatalf("promote %v: exit %d, want %d: %s%s", args, code, want, out, stderr)
	}
	if code != ExitOK {
		return nil, stderr
	}
	var res promote.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		l.t.Fatalf("promote -o json: %v\n%s", err, out)
	}
	checkCamelCase(l.t, "promote -o json", []byte(out))
	return &res, stderr
}

func (l *pauseLoop) promote(args ...string) *promote.Result {
	l.t.Helper()
	res, _ := l.run(ExitOK, args...)
	return res
}

// approve approves pull request number (on cluster, head branch) as it
// is, then runs a pass: with the local forge, the pass that approves.
func (l *pauseLoop) approve(cluster string, number int, head string, rollback bool) *promote.Result {
	l.t.Helper()
	var args []string
	if rollback {
		args = []string{"--rollback", cluster}
	}
	if l.fake != nil {
		l.fake.Review(number, "alice", "APPROVED", gittest.Git(l.t, l.repo, "rev-parse", head))
		return l.promote(args...)
	}
	return l.promote(append(args, "--approve", cluster)...)
}

func (l *pauseLoop) live(cluster string) string {
	return gittest.Git(l.t, l.repo, "rev-parse", "hydrated/"+cluster)
}

// verified posts verify's status for web-<cluster> on the live head.
func (l *pauseLoop) verified(cluster, sha string, state forge.State) {
	l.t.Helper()
	err := l.forge.SetStatus(context.Background(), sha, forge.Status{Context: layout.VerifyContext("web-" + cluster), State: state, Description: "verify " + string(state)})
	if err != nil {
		l.t.Fatal(err)
	}
}

// promoteCanary rolls the current version to canary: opened, approved,
// merged; it returns the new live head.
func (l *pauseLoop) promoteCanary() string {
	l.t.Helper()
	res := l.promote()
	if got := kinds(res); got != "canary:open" && got != "canary:update" {
		l.t.Fatalf("promote v%d: %q, want canary:open", l.version, got)
	}
	if got := kinds(l.approve("canary", res.Actions[0].PR, "flotilla/promote/canary", false)); got != "canary:merge" {
		l.t.Fatalf("promote v%d after the approval: %q, want canary:merge", l.version, got)
	}
	return l.live("canary")
}

// setPaused pauses or resumes the canary, then runs a pass.
func (l *pauseLoop) setPaused(number int, paused bool) *promote.Result {
	l.t.Helper()
	switch {
	case paused:
		return l.promote("--pause", "canary")
	case l.fake != nil:
		l.fake.SetLabels(number, layout.Label) // a person removes the label on GitHub
		return l.promote()
	default:
		return l.promote("--resume", "canary")
	}
}

// TestPromotePauseResume: flotilla.yaml's rollout.paused opens nothing
// and reports every app paused with the reason and where it is set. The
// paused label on the canary's promotion pull
// request — put there by promote --pause, on either forge — stops its
// merge even once approved, and holds the next tier; the pass reports the
// cluster paused and why. Removing the label (on GitHub by a person, with
// the local forge by promote --resume) resumes: the next pass merges.
func TestPromotePauseResume(t *testing.T) {
	t.Parallel()
	onBothForges(t, func(t *testing.T, l *pauseLoop) {
		// flotilla.yaml's switch: nothing opens, every app says why.
		config := filepath.Join(l.checkout, "flotilla.yaml")
		writeFile(t, config, loopFleet["flotilla.yaml"]+"rollout:\n  paused: true\n  pauseReason: change freeze\n")
		res := l.promote()
		if got := kinds(res); got != "" {
			t.Fatalf("paused by flotilla.yaml, promote did %q", got)
		}
		if want := "[{applicationSet web flotilla.yaml rollout.paused: change freeze}]"; fmt.Sprint(res.Paused) != want {
			t.Errorf("paused %v, want %s", res.Paused, want)
		}
		for _, a := range res.Apps {
			if a.State != promote.Paused || a.WaitingFor != "a resume: paused by flotilla.yaml rollout.paused: change freeze" {
				t.Errorf("%+v", a)
			}
		}
		writeFile(t, config, loopFleet["flotilla.yaml"])
		res = l.promote()
		if got := kinds(res); got != "canary:open" {
			t.Fatalf("first pass: %q", got)
		}
		number, before := res.Actions[0].PR, l.live("canary")
		if got := kinds(l.setPaused(number, true)); got != "canary:wait" {
			t.Fatalf("paused: %q, want canary:wait", got)
		}
		res = l.approve("canary", number, "flotilla/promote/canary", false)
		if got := kinds(res); got != "canary:wait" {
			t.Fatalf("paused: %q, want canary:wait", got)
		}
		by := fmt.Sprintf("the label flotilla/paused on #%d", number)
		if a := res.Actions[0]; a.Reason != "a resume: paused by "+by {
			t.Errorf("reason %q", a.Reason)
		}
		if want := []promote.Pause{{Kind: "cluster", Name: "canary", By: by}}; fmt.Sprint(res.Paused) != fmt.Sprint(want) {
			t.Errorf("paused %+v, want %+v", res.Paused, want)
		}
		for _, a := range res.Apps {
			if a.Cluster == "canary" && a.State != promote.Paused || a.Cluster == "early" && !strings.Contains(a.WaitingFor, "earlier steps to settle (web-canary on canary, paused)") {
				t.Errorf("%+v", a)
			}
		}
		if l.live("canary") != before {
			t.Fatal("a paused pull request was merged")
		}
		// flotilla status shows it.
		if code, out, stderr := statusCmd(t, l.env, l.args...); code != ExitOK || !strings.Contains(out, "\nPaused: cluster canary: by "+by+"\n") {
			t.Errorf("status: exit %d, lacks the pause:\n%s%s", code, out, stderr)
		}
		if got := kinds(l.setPaused(number, false)); got != "canary:merge" {
			t.Fatalf("resumed: %q, want canary:merge", got)
		}
		if l.live("canary") == before {
			t.Fatal("the resumed pull request was not merged")
		}
	})
}

// TestPromoteRollback: four versions reach canary (v1 verified, v2 failed
// verify later, v3 never verified, v4 the live head). promote --rollback
// canary opens a pull request back to v1's commit — skipping v3 and v2 and
// saying why — that waits for the canary step's approval; run again it
// updates the same pull request; approved, it merges without conflict
// (the live head is kept in history, the tree is v1's). The canary is then
// paused: the next pass does not promote v4 back. A cluster with no
// earlier verified commit makes the whole command fail with exit 2,
// pushing nothing.
func TestPromoteRollback(t *testing.T) {
	t.Parallel()
	onBothForges(t, func(t *testing.T, l *pauseLoop) {
		m1 := l.promoteCanary()
		l.verified("canary", m1, forge.StateSuccess)
		// v1 is settled on canary: early takes it too (one pass).
		l.change()
		m2 := l.promoteCanary()
		l.change()
		m3 := l.promoteCanary()
		l.change()
		m4 := l.promoteCanary()
		l.verified("canary", m2, forge.StateFailure) // a late verify of v2
		l.verified("canary", m4, forge.StateFailure)

		// Nothing is pushed when a cluster has nothing to go back to.
		refs := gittest.Refs(t, l.repo, "")
		_, stderr := l.run(ExitUsage, "--rollback", "canary,general")
		if !strings.Contains(stderr, "roll back general: none of the 0 earlier commits of hydrated/general has verify's success") {
			t.Errorf("no verified commit: %s", stderr)
		}
		if after := gittest.Refs(t, l.repo, ""); after != refs {
			t.Errorf("a refused rollback changed refs:\n%s\nwere:\n%s", after, refs)
		}

		res := l.promote("--rollback", "canary")
		if len(res.Actions) != 1 || res.Actions[0].Kind != promote.Rollback || res.Actions[0].Done || !strings.Contains(res.Actions[0].Result, "waiting for an approving review of the rollback") {
			t.Fatalf("rollback: %+v", res.Actions)
		}
		number := res.Actions[0].PR
		head := gittest.Git(t, l.repo, "rev-parse", "flotilla/rollback/canary")
		if tree, want := gittest.Git(t, l.repo, "rev-parse", head+"^{tree}"), gittest.Git(t, l.repo, "rev-parse", m1+"^{tree}"); tree != want {
			t.Errorf("rollback tree %s, want v1's %s", tree, want)
		}
		if parent := gittest.Git(t, l.repo, "rev-parse", head+"^"); parent != m4 {
			t.Errorf("rollback commit's parent %s, want the live head %s", parent, m4)
		}
		body := l.prBody(number)
		if testing.Verbose() {
			t.Log(body)
		}
		for _, want := range []string{"back from `" + m4 + "` to `" + m1 + "`", "The live head `" + layout.Short(m4) + "`: verify reported failure for web-canary.", layout.Short(m3) + ": not verified (web-canary)", layout.Short(m2) + ": verify reported failure for web-canary", "remove the label `flotilla/paused`"} {
			if !strings.Contains(body, want) {
				t.Errorf("rollback body lacks %q:\n%s", want, body)
			}
		}
		// Run again: the same pull request, the same commit.
		again := l.promote("--rollback", "canary")
		if a := again.Actions[0]; a.PR != number || !strings.HasPrefix(a.Result, fmt.Sprintf("updated #%d", number)) {
			t.Errorf("re-run: %+v, want #%d updated", a, number)
		}
		if h := gittest.Git(t, l.repo, "rev-parse", "flotilla/rollback/canary"); h != head {
			t.Errorf("re-run moved the rollback branch to %s", h)
		}
		if l.live("canary") != m4 {
			t.Fatal("an unapproved rollback merged")
		}
		if l.fake == nil {
			// A dry run's approval of the rollback is checked, not
			// recorded, and the pass says so.
			_, stderr := l.run(ExitOK, "--rollback", "canary", "--approve", "canary", "--dry-run")
			if !strings.Contains(stderr, "not recorded") || l.live("canary") != m4 {
				t.Errorf("dry-run approval of the rollback does not say it was not recorded:\n%s", stderr)
			}
		}
		if l.fake != nil {
			// A reader's approval does not count for a rollback either.
			l.fake.SetPermission("rita", "read")
			l.fake.Review(number, "rita", "APPROVED", head)
			if a := l.promote("--rollback", "canary").Actions[0]; a.Done || !strings.Contains(a.Result, "review by @rita does not count: read access") || l.live("canary") != m4 {
				t.Fatalf("a reader's approval: %+v", a)
			}
		}
		res = l.approve("canary", number, "flotilla/rollback/canary", true)
		if a := res.Actions[0]; !a.Done || !strings.Contains(a.Result, "merged as") {
			t.Fatalf("approved rollback: %+v", a)
		}
		// The Action applies and verifies the rolled-back cluster.
		if merged, apply := promotedClusters(*res); fmt.Sprint(merged, apply) != "[canary] [canary]" {
			t.Errorf("merged %v, apply %v: want the rolled-back canary in both", merged, apply)
		}
		live := l.live("canary")
		if subject, want := gittest.Git(t, l.repo, "log", "-1", "--format=%s", live), "rollback canary: back to "+layout.Short(m1); subject != want {
			t.Errorf("rollback merged as %q, want %q", subject, want)
		}
		if tree, want := gittest.Git(t, l.repo, "rev-parse", live+"^{tree}"), gittest.Git(t, l.repo, "rev-parse", m1+"^{tree}"); tree != want {
			t.Errorf("live tree after the rollback %s, want v1's %s", tree, want)
		}
		gittest.Git(t, l.repo, "merge-base", "--is-ancestor", m4, live) // no history rewritten
		if manifest := gittest.Show(t, l.repo, "hydrated/canary", "web-canary/manifest.yaml"); !strings.Contains(manifest, "version: v1") {
			t.Errorf("live canary is not v1:\n%s", manifest)
		}

		// Paused: the next pass does not promote v4 back.
		res = l.promote()
		if got := kinds(res); got != "canary:wait" {
			t.Errorf("after the rollback: %q, want canary:wait", got)
		}
		if len(res.Paused) != 1 || res.Paused[0].Name != "canary" || !strings.Contains(res.Paused[0].By, "flotilla/paused") {
			t.Errorf("paused %+v", res.Paused)
		}
		if l.live("canary") != live {
			t.Error("the rolled-back cluster was promoted again")
		}
	})
}

// prBody reads a pull request's body from the forge.
func (l *pauseLoop) prBody(number int) string {
	l.t.Helper()
	pr, err := l.forge.GetPullRequest(context.Background(), number)
	if err != nil {
		l.t.Fatal(err)
	}
	return pr.Body
}

// TestHaltCommentOnlyOnThePullRequestThatBroughtIt: canary took v1 by a
// pull request, then its step turned to pullRequest: false and v2 went
// live by a direct push. When verify fails on v2, the rollout halts, and
// the halt comment goes nowhere: the merged pull request of v1 did not
// bring the failing version, so it must not be blamed for it.
func TestHaltCommentOnlyOnThePullRequestThatBroughtIt(t *testing.T) {
	t.Parallel()
	onBothForges(t, func(t *testing.T, l *pauseLoop) {
		m1 := l.promoteCanary()
		l.verified("canary", m1, forge.StateSuccess)
		var number int
		for _, pr := range l.pulls() {
			if pr.Merged {
				number = pr.Number
			}
		}
		if number == 0 {
			t.Fatal("no merged pull request for v1")
		}

		sets := filepath.Join(l.checkout, "applicationsets/web.yaml")
		data, err := os.ReadFile(sets)
		if err != nil {
			t.Fatal(err)
		}
		content := string(data)
		direct := strings.Replace(content, "        requireApproval: true\n", "        pullRequest: false\n", 1)
		if direct == content {
			t.Fatal("the canary step has no requireApproval to replace")
		}
		writeFile(t, sets, direct)
		l.change()
		if got := kinds(l.promote()); got != "canary:push" {
			t.Fatalf("v2: %q, want canary:push", got)
		}
		m2 := l.live("canary")
		l.verified("canary", m2, forge.StateFailure)
		res := l.promote()
		if why := res.Halted["web"]; !strings.Contains(why, "web-canary on canary failed verification") {
			t.Fatalf("halt not reported: %v", res.Halted)
		}
		if comments := l.commentsOn(number); strings.Contains(comments, "halted") {
			t.Errorf("v1's pull request #%d is blamed for v2, which a direct push brought:\n%s", number, comments)
		}
	})
}

// pulls lists the canary's promotion pull requests, closed ones too.
func (l *pauseLoop) pulls() []forge.PullRequest {
	l.t.Helper()
	prs, err := l.forge.ListPullRequests(l.t.Context(), forge.ListOptions{Head: "flotilla/promote/canary", Base: "hydrated/canary", All: true})
	if err != nil {
		l.t.Fatal(err)
	}
	return prs
}

// commentsOn is every comment on pull request number.
func (l *pauseLoop) commentsOn(number int) string {
	l.t.Helper()
	if l.fake != nil {
		return strings.Join(l.fake.Comments(number), "\n")
	}
	cs, err := l.forge.(*local.Forge).Comments(l.t.Context(), number)
	if err != nil {
		l.t.Fatal(err)
	}
	var all []string
	for _, key := range slices.Sorted(maps.Keys(cs)) {
		all = append(all, key+": "+cs[key])
	}
	return strings.Join(all, "\n")
}
