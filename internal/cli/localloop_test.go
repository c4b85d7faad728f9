package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/forgetest"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

func promoteCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Promote(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func promoteJSON(t *testing.T, args ...string) *promote.Result {
	t.Helper()
	code, out, stderr := promoteCmd(t, nil, append(args, "-o", "json")...)
	if code != ExitOK {
		t.Fatalf("promote %v: exit %d: %s", args, code, stderr)
	}
	var res promote.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("promote -o json: %v\n%s", err, out)
	}
	checkCamelCase(t, "promote -o json", []byte(out))
	return &res
}

// checkCamelCase fails when a JSON document has a key that does not
// start with a lower-case letter: one key style (camelCase) everywhere.
func checkCamelCase(t *testing.T, what string, doc []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "" || k[0] < 'a' || k[0] > 'z' {
					t.Errorf("%s: key %q at %s is not camelCase", what, k, path)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("$", v)
}

// TestLocalLoopAgainstABareRemote is the local loop of a team that shares
// one bare remote and no server: render pushes the proposals there, and
// two people, each in a clone of their own, take turns promoting with the
// local forge and --remote. A test step stands in for verify and posts
// each tier's success as a git note on the remote. Every tier takes one
// pass (open and merge together); the live branches, the pull requests
// and the statuses end up in the remote, the clones' own branches are
// untouched, and git fsck finds the remote sound.
func TestLocalLoopAgainstABareRemote(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	alice, remote := gittest.Fleet(t, src)
	bob := filepath.Join(t.TempDir(), "bob")
	gittest.Clone(t, bob, remote)
	if code, _, stderr := renderCmd(t, "--fleet", alice, "--remote", remote); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	// The test's verify: statuses from a third clone of the remote.
	cache := filepath.Join(t.TempDir(), "tester.git")
	gittest.Bare(t, cache, remote)
	tester, err := local.OpenRemote(cache, remote)
	if err != nil {
		t.Fatal(err)
	}
	verified := func(cluster string) {
		t.Helper()
		live := gittest.Git(t, remote, "rev-parse", "hydrated/"+cluster)
		if err := tester.SetStatus(t.Context(), live, forge.Status{Context: "flotilla/verify/web-" + cluster, State: forge.StateSuccess, Description: "Synced, Healthy"}); err != nil {
			t.Fatal(err)
		}
	}
	aliceMain := gittest.Git(t, alice, "rev-parse", "main")
	for i, cluster := range []string{"canary", "early", "general"} {
		who := []string{alice, bob}[i%2]
		res := promoteJSON(t, "--fleet", who, "--forge", "local", "--remote", remote)
		if got, want := kinds(res), cluster+":open+merge"; got != want {
			t.Fatalf("pass %d (%s): %q, want %q in one pass: %+v", i+1, filepath.Base(who), got, want, res.Actions)
		}
		if a := res.Actions[0]; !a.Done || !strings.Contains(a.Result, "merged as ") {
			t.Fatalf("pass %d: %+v", i+1, a)
		}
		live := gittest.Git(t, remote, "rev-parse", "hydrated/"+cluster)
		if _, merged, _ := strings.Cut(res.Actions[0].Result, "merged as "); !strings.HasPrefix(live, merged) {
			t.Errorf("pass %d: the remote's hydrated/%s is %s, the pass merged %s", i+1, cluster, live, res.Actions[0].Result)
		}
		if got, want := gittest.Show(t, remote, "hydrated/"+cluster, "web-"+cluster+"/manifest.yaml"), gittest.Show(t, remote, "hydrated/"+cluster+"-next", "web-"+cluster+"/manifest.yaml"); got != want {
			t.Errorf("the remote's hydrated/%s does not hold the proposal:\n%s", cluster, got)
		}
		verified(cluster)
	}
	if res := promoteJSON(t, "--fleet", bob, "--forge", "local", "--remote", remote); kinds(res) != "" {
		t.Errorf("everything is live and verified, yet promote did %q", kinds(res))
	}
	// The pull requests are the remote's: a fresh clone's forge sees all
	// three merged.
	prs, err := tester.ListPullRequests(t.Context(), forge.ListOptions{All: true})
	if err != nil || len(prs) != 3 {
		t.Fatalf("pull requests on the remote: %+v, %v", prs, err)
	}
	for _, pr := range prs {
		if !pr.Merged {
			t.Errorf("#%d is not merged: %+v", pr.Number, pr)
		}
	}
	for _, clone := range []string{alice, bob} {
		if refs := gittest.Refs(t, clone, "refs/heads/hydrated/") + gittest.Refs(t, clone, "refs/heads/flotilla/"); refs != "" {
			t.Errorf("%s got branches of the remote: %s", filepath.Base(clone), refs)
		}
	}
	if got := gittest.Git(t, alice, "rev-parse", "main"); got != aliceMain {
		t.Errorf("alice's main moved from %s to %s", aliceMain, got)
	}
	gittest.Git(t, remote, "fsck", "--strict", "--no-dangling")
}

// TestPromoteInABareRepository: --repo is a local repository, a checkout
// or a bare one; the bare repository render pushed to is opened as
// itself (never as a checkout found in a parent folder), and the local
// forge works in it directly.
func TestPromoteInABareRepository(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, remote := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	// The bare repository render pushed to (the issue's "repository does
	// not exist"), and one inside a checkout, as the demo's
	// .demo/remote.git (opened as the checkout around it before).
	inside := filepath.Join(checkout, ".demo", "remote.git")
	gittest.Bare(t, inside, remote)
	for _, bare := range []string{remote, inside} {
		res := promoteJSON(t, "--fleet", checkout, "--forge", "local", "--repo", bare)
		if got := kinds(res); got != "canary:open+merge" {
			t.Fatalf("promote --repo %s: %q", bare, got)
		}
		if got, want := gittest.Show(t, bare, "hydrated/canary", "web-canary/manifest.yaml"), gittest.Show(t, bare, "hydrated/canary-next", "web-canary/manifest.yaml"); got != want {
			t.Errorf("hydrated/canary in %s:\n%s", bare, got)
		}
		gittest.Git(t, bare, "fsck", "--strict", "--no-dangling")
	}
	if refs := gittest.Refs(t, checkout, "refs/heads/hydrated/"); refs != "" {
		t.Errorf("the checkout around it got %s", refs)
	}
}

// TestPromoteWarnsWhereItLooked: render pushed to the origin, promote
// looked in the checkout's own branches. The pass has nothing to do and
// exits 0, but says on stderr where it looked, for which branch pattern,
// and how to point it at the remote.
func TestPromoteWarnsWhereItLooked(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, remote := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	code, stdout, stderr := promoteCmd(t, nil, "--fleet", checkout, "--forge", "local")
	want := "promote: warning: nothing to promote: none of the 3 clusters has a branch hydrated/<cluster>-next in the repository " + checkout +
		"; run render first, or, if render pushed to " + remote + " (its default, the origin), pass --remote " + remote + "\n"
	if code != ExitOK || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	if !strings.Contains(stdout, "Nothing to do.") {
		t.Errorf("stdout:\n%s", stdout)
	}
	// Looking in the remote: found, no warning.
	if code, _, stderr := promoteCmd(t, nil, "--fleet", checkout, "--forge", "local", "--remote", remote); code != ExitOK || stderr != "" {
		t.Errorf("with --remote: exit %d, stderr %q", code, stderr)
	}
	// A remote with nothing rendered: the warning names it.
	empty := filepath.Join(t.TempDir(), "empty.git")
	gittest.Bare(t, empty)
	_, _, stderr = promoteCmd(t, nil, "--fleet", checkout, "--forge", "local", "--remote", empty, "--dry-run")
	if want := "promote: warning: nothing to promote: none of the 3 clusters has a branch hydrated/<cluster>-next in the remote " + empty + "; run render first\n"; stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

// TestPromoteRefusesFlagsThatDoNotApply: a flag meant for the other forge
// is a usage error naming it (exit 2), never silently ignored; nothing is
// written.
func TestPromoteRefusesFlagsThatDoNotApply(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, remote := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	gh := map[string]string{"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "example/fleet"}
	before := gittest.Refs(t, checkout, "") + gittest.Refs(t, remote, "")
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--forge", "local", "--github-url", "https://ghe.example.com/api/v3"}, nil, "promote: usage: --github-url does not apply to --forge local (it is for --forge github)\n"},
		{[]string{"--forge", "local", "--github-repo", "example/fleet"}, nil, "promote: usage: --github-repo does not apply to --forge local (it is for --forge github)\n"},
		{[]string{"--forge", "github", "--approve", "canary"}, gh, "promote: usage: --approve does not apply to --forge github (approve the pull request on GitHub)\n"},
		{[]string{"--forge", "github", "--approver", "alice"}, gh, "promote: usage: --approver does not apply to --forge github (approve the pull request on GitHub)\n"},
		{[]string{"--forge", "gitlab"}, nil, "promote: usage: --forge \"gitlab\" is not local or github\n"},
		{[]string{"--forge", "local", "--repo", t.TempDir()}, nil, "promote: usage: --repo "},
	} {
		code, _, stderr := promoteCmd(t, tt.env, append([]string{"--fleet", checkout}, tt.args...)...)
		if code != ExitUsage || !strings.HasPrefix(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
	if after := gittest.Refs(t, checkout, "") + gittest.Refs(t, remote, ""); after != before {
		t.Errorf("a refused command wrote refs:\n%s\nwas:\n%s", after, before)
	}
}

// TestPromoteOnePassGitHub: on GitHub (the fake, every request checked
// against GitHub's description) a pass opens and merges a pull request
// that needs no approval. When GitHub refuses the merge (405: a required
// check, mergeability not computed yet) the pull request stays open with
// the reason, and the next pass merges it; the REST API has no call that
// enables auto-merge.
func TestPromoteOnePassGitHub(t *testing.T) {
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
	pass := func() *promote.Result {
		t.Helper()
		code, out, stderr := promoteCmd(t, env, "--fleet", checkout, "--forge", "github", "--github-url", fake.URL(), "-o", "json")
		if code != ExitOK {
			t.Fatalf("promote: exit %d: %s", code, stderr)
		}
		var res promote.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		return &res
	}
	fake.SetMergeableState(1, "blocked")
	res := pass()
	if got := kinds(res); got != "canary:open+merge" {
		t.Fatalf("first pass: %q", got)
	}
	if a := res.Actions[0]; a.Done || a.Result != "opened #1; not merged yet: Pull Request is not mergeable (405)" {
		t.Errorf("a refused merge: %+v", a)
	}
	fake.SetMergeableState(1, "clean")
	res = pass()
	if got := kinds(res); got != "canary:merge" || !res.Actions[0].Done {
		t.Fatalf("second pass: %q %+v", got, res.Actions)
	}
	live := gittest.Git(t, origin, "rev-parse", "hydrated/canary")
	if got := gittest.Git(t, origin, "rev-parse", "hydrated/canary^2"); got != gittest.Git(t, origin, "rev-parse", "flotilla/promote/canary") {
		t.Errorf("hydrated/canary %s does not merge the promotion branch", live)
	}
}

// TestRepoAndRemoteMeanTheSame: in apply and verify, as in render and
// promote, --repo is a local repository and --remote a Git remote; a URL
// given as --repo, both at once, or a flag of another forge is a usage
// error naming the flag.
func TestRepoAndRemoteMeanTheSame(t *testing.T) {
	t.Parallel()
	checkout, remote := gittest.Fleet(t, t.TempDir())
	for _, tt := range []struct {
		name string
		cmd  func(*testing.T, ...string) (int, string, string)
		args []string
		want string
	}{
		{"apply", applyCmd, []string{"--cluster", "c", "--repo", "https://example.com/fleet.git"}, "apply: usage: --repo https://example.com/fleet.git: a URL goes in --remote (--repo is a local repository, as in every command)\n"},
		{"apply", applyCmd, []string{"--cluster", "c", "--repo", "git@example.com:fleet.git"}, "apply: usage: --repo git@example.com:fleet.git: a URL goes in --remote (--repo is a local repository, as in every command)\n"},
		{"apply", applyCmd, []string{"--cluster", "c", "--repo", checkout, "--remote", remote}, "apply: usage: --repo and --remote exclude each other: the branch is read from one of them\n"},
		{"verify", verifyCmd, []string{"--cluster", "c", "--repo", "https://example.com/fleet.git"}, "verify: usage: --repo https://example.com/fleet.git: a URL goes in --remote (--repo is a local repository, as in every command)\n"},
		{"verify", verifyCmd, []string{"--cluster", "c", "--repo", checkout, "--remote", remote}, "verify: usage: --repo and --remote exclude each other: the branch is read from one of them\n"},
		{"verify", verifyCmd, []string{"--cluster", "c", "--repo", checkout, "--forge", "none", "--github-url", "https://ghe.example.com/api/v3"}, "verify: usage: --github-url does not apply to --forge none (it is for --forge github)\n"},
		{"verify", verifyCmd, []string{"--cluster", "c", "--remote", remote, "--forge", "local", "--github-repo", "example/fleet"}, "verify: usage: --github-repo does not apply to --forge local (it is for --forge github)\n"},
		{"verify", verifyCmd, []string{"--cluster", "c", "--repo", checkout, "--github-token", "t"}, "verify: usage: --github-token does not apply to --forge local (it is for --forge github)\n"},
	} {
		code, _, stderr := tt.cmd(t, tt.args...)
		if code != ExitUsage || stderr != tt.want {
			t.Errorf("%s %v: exit %d, stderr:\n%s\nwant:\n%s", tt.name, tt.args, code, stderr, tt.want)
		}
	}
}

// TestLocalLoopVerifiedOnARealCluster: one tier of the shared-remote loop
// with a real cluster in place of the test step: apply and verify read
// the live branch from the bare remote (--remote, no local repository),
// verify posts its statuses there as git notes, and the next promote pass,
// from another clone, reads them and moves the next tier.
func TestLocalLoopVerifiedOnARealCluster(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t, kubetest.Options{Name: "canary", Workloads: true})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubetest.WriteKubeconfig(kubeconfig, cluster); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	alice, remote := gittest.Fleet(t, src)
	bob := filepath.Join(t.TempDir(), "bob")
	gittest.Clone(t, bob, remote)
	if code, _, stderr := renderCmd(t, "--fleet", alice); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	if got := kinds(promoteJSON(t, "--fleet", alice, "--forge", "local", "--remote", remote)); got != "canary:open+merge" {
		t.Fatalf("first pass: %q", got)
	}
	target := []string{"--remote", remote, "--cluster", "canary", "--kubeconfig", kubeconfig}
	if code, out, stderr := applyCmd(t, target...); code != ExitOK {
		t.Fatalf("apply --remote: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := verifyCmd(t, append(target, "--forge", "local", "--wait", "--timeout", "60s")...); code != ExitOK {
		t.Fatalf("verify --remote: exit %d\n%s%s", code, out, stderr)
	}
	live := gittest.Git(t, remote, "rev-parse", "hydrated/canary")
	if note := gittest.Git(t, remote, "notes", "--ref=flotilla", "show", live); !strings.Contains(note, `"flotilla/verify/web-canary"`) || !strings.Contains(note, `"state": "success"`) {
		t.Fatalf("the remote's note on %s:\n%s", live, note)
	}
	if got := kinds(promoteJSON(t, "--fleet", bob, "--forge", "local", "--remote", remote)); got != "early:open+merge" {
		t.Fatalf("the pass after verify: %q", got)
	}
	gittest.Git(t, remote, "fsck", "--strict", "--no-dangling")
}
