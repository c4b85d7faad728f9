package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/local"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/status"
)

// TestPromoteWithCustomBranchTemplates: a fleet whose flotilla.yaml names
// its branches otherwise (hydrated.branch env/{{cluster}}/live,
// hydrated.staging proposed/{{cluster}}) is promoted end to end against a
// shared remote: promote reads the proposals where render wrote them (it
// tracks the layout's branch folders, not a fixed hydrated/), merges each
// tier into the live branch of the template, gates the next tier on
// verify's status there, and status shows the same heads.
func TestPromoteWithCustomBranchTemplates(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range loopFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	writeFileAll(t, filepath.Join(src, "flotilla.yaml"), loopFleet["flotilla.yaml"]+"hydrated:\n  branch: env/{{cluster}}/live\n  staging: proposed/{{cluster}}\n")
	checkout, remote := gittest.Fleet(t, src)
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--remote", remote); code != ExitOK {
		t.Fatalf("render: %s", stderr)
	}
	if refs := gittest.Refs(t, remote, "refs/heads/proposed/"); strings.Count(refs, "\n") < 2 {
		t.Fatalf("render did not write the proposals to proposed/<cluster>:\n%s", refs)
	}
	// Two others promote, each in a clone of their own that never saw
	// render's tracking refs: what they know of the branches is what
	// promote fetches.
	bob, carol := filepath.Join(t.TempDir(), "bob"), filepath.Join(t.TempDir(), "carol")
	for _, clone := range []string{bob, carol} {
		gittest.Git(t, filepath.Dir(clone), "clone", "-q", remote, clone)
	}
	cache := filepath.Join(t.TempDir(), "tester.git")
	gittest.Git(t, filepath.Dir(cache), "clone", "-q", "--bare", remote, cache)
	tester, err := local.OpenRemote(cache, remote)
	if err != nil {
		t.Fatal(err)
	}
	for i, cluster := range []string{"canary", "early", "general"} {
		who := []string{bob, carol}[i%2]
		code, out, stderr := promoteCmd(t, nil, "--fleet", who, "--forge", "local", "--remote", remote, "-o", "json")
		if code != ExitOK || stderr != "" {
			t.Fatalf("promote (%s): exit %d: %s", cluster, code, stderr)
		}
		var res struct {
			Proposals int `json:"proposals"`
			Actions   []struct {
				Kind, Cluster, Result string
				Done                  bool
			} `json:"actions"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if res.Proposals != 3 || len(res.Actions) != 1 || res.Actions[0].Cluster != cluster || res.Actions[0].Kind != "open+merge" || !res.Actions[0].Done {
			t.Fatalf("pass for %s: %s", cluster, out)
		}
		live := "env/" + cluster + "/live"
		if got, want := gittest.Show(t, remote, live, "web-"+cluster+"/manifest.yaml"), gittest.Show(t, remote, "proposed/"+cluster, "web-"+cluster+"/manifest.yaml"); got != want {
			t.Errorf("%s does not hold the proposal:\n%s", live, got)
		}
		if refs := gittest.Refs(t, remote, "refs/heads/hydrated/"); refs != "" {
			t.Errorf("promote wrote the default branches:\n%s", refs)
		}
		sha := gittest.Git(t, remote, "rev-parse", live)
		if err := tester.SetStatus(t.Context(), sha, forge.Status{Context: layout.VerifyContext("web-" + cluster), State: forge.StateSuccess, Description: "Synced, Healthy"}); err != nil {
			t.Fatal(err)
		}
	}
	prs, err := tester.ListPullRequests(t.Context(), forge.ListOptions{All: true})
	if err != nil || len(prs) != 3 {
		t.Fatalf("pull requests: %+v %v", prs, err)
	}
	for _, pr := range prs {
		c, ok := layout.Default().PromoteCluster(pr.Head)
		if !ok || pr.Base != "env/"+c+"/live" || !pr.Merged {
			t.Errorf("#%d: head %s into %s, merged %v", pr.Number, pr.Head, pr.Base, pr.Merged)
		}
	}
	code, out, stderr := statusCmd(t, nil, "--fleet", carol, "--forge", "local", "--remote", remote, "-o", "json")
	var rep status.Report
	if code != ExitOK || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("status: exit %d: %s%s", code, out, stderr)
	}
	for _, c := range rep.Clusters {
		if !c.Rendered || c.Live != gittest.Git(t, remote, "rev-parse", "env/"+c.Name+"/live") || c.Proposed != gittest.Git(t, remote, "rev-parse", "proposed/"+c.Name) {
			t.Errorf("status of %s: %+v", c.Name, c)
		}
	}
	for _, a := range rep.Apps {
		if a.Verify == nil || a.Verify.State != "success" || a.State != "live" {
			t.Errorf("status of %s on %s: %+v", a.App, a.Cluster, a)
		}
	}
}
