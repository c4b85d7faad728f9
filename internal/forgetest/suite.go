package forgetest

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/forge"
)

// Harness is what the behavioural suite needs of one implementation.
type Harness struct {
	Forge forge.Forge
	// Branch makes branch from base plus one commit writing file, and
	// returns its head as the forge sees it.
	Branch func(t *testing.T, branch, base, file, content string) string
	// Approve submits an approving review of sha by user.
	Approve func(t *testing.T, number int, user, sha string)
	// Comments returns a pull request's comment bodies.
	Comments func(t *testing.T, number int) []string
	// Parents returns the parents of a branch's head commit.
	Parents func(t *testing.T, branch string) []string
	// Clock sets the time the forge gives the statuses posted from now on.
	Clock func(t *testing.T, now time.Time)
	// SetPermission gives user a permission on the repository; nil when
	// the forge gives every user the same (Permission).
	SetPermission func(t *testing.T, user string, p forge.Permission)
	// Permission is what the forge answers for a user it was told
	// nothing about.
	Permission forge.Permission
	// SetTeam makes users the members of org/team; nil for a forge
	// without teams, whose TeamMember must fail.
	SetTeam func(t *testing.T, org, team string, users ...string)
}

// Suite runs the same behavioural test against a forge implementation.
func Suite(t *testing.T, h Harness) {
	ctx := t.Context()
	f := h.Forge
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	first := h.Branch(t, "flotilla/promote/canary", "main", "a.txt", "one")
	pr, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: "flotilla/promote/canary", Base: "main", Title: "promote canary", Body: "body", Labels: []string{"flotilla", "flotilla/step:canary"}})
	must(err)
	if pr.Number == 0 || pr.HeadSHA != first || !pr.Open || !slices.Contains(pr.Labels, "flotilla/step:canary") {
		t.Fatalf("opened %+v", pr)
	}
	for _, o := range []forge.ListOptions{{Base: "main"}, {Head: "flotilla/promote/canary"}} {
		list, err := f.ListPullRequests(ctx, o)
		must(err)
		if len(list) != 1 || list[0].Number != pr.Number {
			t.Errorf("list %+v: %+v", o, list)
		}
	}
	got, err := f.GetPullRequest(ctx, pr.Number)
	must(err)
	if !got.MergeableState.Ready() || got.HeadSHA != first {
		t.Errorf("get: %+v", got)
	}
	title := "promote canary: 2 apps"
	_, err = f.UpdatePullRequest(ctx, pr.Number, forge.UpdateOptions{Title: &title})
	must(err)
	if got, _ := f.GetPullRequest(ctx, pr.Number); got.Title != title || got.Body != "body" {
		t.Errorf("after update: %+v", got)
	}

	t.Run("statuses: newest per context", func(t *testing.T) {
		for _, s := range []forge.Status{
			{Context: "flotilla/verify/web", State: forge.StatePending, Description: "applying"},
			{Context: "flotilla/verify/db", State: forge.StateFailure, Description: "degraded"},
			{Context: "flotilla/verify/web", State: forge.StateSuccess, Description: "in sync"},
		} {
			must(f.SetStatus(ctx, first, s))
		}
		sts, err := f.Statuses(ctx, first)
		must(err)
		var flat []string
		for _, s := range sts {
			flat = append(flat, s.Context+"="+string(s.State)+":"+s.Description)
		}
		slices.Sort(flat)
		if want := []string{"flotilla/verify/db=failure:degraded", "flotilla/verify/web=success:in sync"}; !slices.Equal(want, flat) {
			t.Errorf("statuses %v, want %v", flat, want)
		}
	})

	t.Run("bake: a success run starts at its first success", func(t *testing.T) {
		const verify = "flotilla/verify/bake"
		t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
		post := func(min int, st forge.State, desc string) {
			t.Helper()
			h.Clock(t, t0.Add(time.Duration(min)*time.Minute))
			must(f.SetStatus(ctx, first, forge.Status{Context: verify, State: st, Description: desc}))
		}
		since := func() (time.Time, bool) {
			t.Helper()
			got, err := f.SuccessSince(ctx, first, []string{verify, "flotilla/verify/never-posted"})
			must(err)
			if _, ok := got["flotilla/verify/never-posted"]; ok || len(got) > 1 {
				t.Errorf("SuccessSince answered for a context without a status: %v", got)
			}
			s, ok := got[verify]
			return s, ok
		}
		bake := 30 * time.Minute
		baked := func(now int) bool {
			s, ok := since()
			return ok && t0.Add(time.Duration(now)*time.Minute).Sub(s) >= bake
		}
		post(0, forge.StateSuccess, "Synced, Healthy")
		post(20, forge.StateSuccess, "Synced, Healthy") // verify's next run
		if s, ok := since(); !ok || !s.Equal(t0) {
			t.Errorf("after success at t0 and t0+20m: run since %v (%v), want t0 %v", s, ok, t0)
		}
		if !baked(31) {
			t.Error("a 30m bake is not over at t0+31m")
		}
		sts, err := f.Statuses(ctx, first)
		must(err)
		for _, s := range sts {
			if s.Context == verify && !s.UpdatedAt.Equal(t0) {
				t.Errorf("the identical success was posted again: newest at %v, want %v", s.UpdatedAt, t0)
			}
		}
		post(22, forge.StateSuccess, "Synced, Healthy: 3 replicas") // still success: the run goes on
		if s, _ := since(); !s.Equal(t0) {
			t.Errorf("another success restarted the run: since %v", s)
		}
		post(25, forge.StateFailure, "Synced, Degraded")
		if s, ok := since(); ok {
			t.Errorf("newest is a failure, yet a run since %v", s)
		}
		post(26, forge.StateSuccess, "Synced, Healthy")
		if s, ok := since(); !ok || !s.Equal(t0.Add(26*time.Minute)) {
			t.Errorf("failure then success: run since %v, want t0+26m", s)
		}
		if baked(31) || !baked(56) {
			t.Error("the bake did not restart at the failure")
		}
	})

	t.Run("permissions", func(t *testing.T) {
		if p, err := f.Permission(ctx, "stranger"); err != nil || p != h.Permission {
			t.Errorf("a user the forge was told nothing of: %q %v, want %q", p, err, h.Permission)
		}
		if h.SetPermission == nil {
			return
		}
		want := map[string]forge.Permission{}
		for user, p := range map[string]forge.Permission{"ada": forge.PermissionAdmin, "max": forge.PermissionMaintain, "wes": forge.PermissionWrite, "tia": forge.PermissionTriage, "rae": forge.PermissionRead} {
			h.SetPermission(t, user, p)
			want[user] = p
		}
		got := map[string]forge.Permission{}
		for user := range want {
			p, err := f.Permission(ctx, user)
			must(err)
			got[user] = p
		}
		// GitHub's permission is the legacy base role: maintain reads as
		// write, triage as read; who can write is unchanged.
		want["max"], want["tia"] = forge.PermissionWrite, forge.PermissionRead
		if !maps.Equal(got, want) {
			t.Errorf("permissions %v, want %v", got, want)
		}
	})

	t.Run("teams", func(t *testing.T) {
		if h.SetTeam == nil {
			if ok, err := f.TeamMember(ctx, "example", "ops", "ada"); err == nil || ok {
				t.Errorf("a forge without teams answered %v, %v", ok, err)
			}
			return
		}
		h.SetTeam(t, "example", "ops", "ada", "wes")
		for _, tt := range []struct {
			team, user string
			want       bool
		}{{"ops", "ada", true}, {"ops", "wes", true}, {"ops", "rita", false}, {"dev", "ada", false}} {
			if ok, err := f.TeamMember(ctx, "example", tt.team, tt.user); err != nil || ok != tt.want {
				t.Errorf("%s in example/%s: %v %v, want %v", tt.user, tt.team, ok, err, tt.want)
			}
		}
	})

	t.Run("sticky comment is updated in place", func(t *testing.T) {
		must(f.UpsertComment(ctx, pr.Number, "plan", "first plan"))
		must(f.UpsertComment(ctx, pr.Number, "plan", "second plan"))
		must(f.UpsertComment(ctx, pr.Number, "other", "another"))
		var plans []string
		for _, c := range h.Comments(t, pr.Number) {
			if strings.Contains(c, forge.CommentMarker("plan")) {
				plans = append(plans, c)
			}
		}
		if len(plans) != 1 || !strings.HasSuffix(plans[0], "second plan") {
			t.Errorf("plan comments: %q", plans)
		}
	})

	t.Run("approvals count only on the current head", func(t *testing.T) {
		h.Approve(t, pr.Number, "alice", first)
		reviews, err := f.Reviews(ctx, pr.Number)
		must(err)
		if a := forge.Approvers(reviews, first); !slices.Equal(a, []string{"alice"}) {
			t.Errorf("approvers of the head: %v", a)
		}
		second := h.Branch(t, "flotilla/promote/canary", "flotilla/promote/canary", "b.txt", "two")
		reviews, _ = f.Reviews(ctx, pr.Number)
		if a := forge.Approvers(reviews, second); len(a) != 0 {
			t.Errorf("an approval of an older head counted: %v", a)
		}
		h.Approve(t, pr.Number, "bob", second)
		reviews, _ = f.Reviews(ctx, pr.Number)
		if a := forge.Approvers(reviews, second); !slices.Equal(a, []string{"bob"}) {
			t.Errorf("approvers of the new head: %v", a)
		}
	})

	t.Run("merge: stale head is not ready, then a real merge commit", func(t *testing.T) {
		res, err := f.MergePullRequest(ctx, pr.Number, forge.MergeOptions{SHA: first})
		must(err)
		if res.Merged || res.NotReady == "" {
			t.Fatalf("merge of a stale head: %+v", res)
		}
		cur, _ := f.GetPullRequest(ctx, pr.Number)
		base, err := f.GetBranch(ctx, "main")
		must(err)
		res, err = f.MergePullRequest(ctx, pr.Number, forge.MergeOptions{SHA: cur.HeadSHA})
		must(err)
		if !res.Merged || res.SHA == "" {
			t.Fatalf("merge: %+v", res)
		}
		if head, _ := f.GetBranch(ctx, "main"); head != res.SHA {
			t.Errorf("main is at %s, want the merge %s", head, res.SHA)
		}
		if parents := h.Parents(t, "main"); !slices.Equal(parents, []string{base, cur.HeadSHA}) {
			t.Errorf("merge parents %v, want [%s %s]", parents, base, cur.HeadSHA)
		}
		after, _ := f.GetPullRequest(ctx, pr.Number)
		if after.Open || !after.Merged || after.MergeCommitSHA != res.SHA {
			t.Errorf("after merge: %+v", after)
		}
		if open, _ := f.ListPullRequests(ctx, forge.ListOptions{Base: "main"}); len(open) != 0 {
			t.Errorf("still listed as open: %+v", open)
		}
	})

	t.Run("close without merging", func(t *testing.T) {
		h.Branch(t, "flotilla/promote/early", "main", "c.txt", "three")
		other, err := f.OpenPullRequest(ctx, forge.OpenOptions{Head: "flotilla/promote/early", Base: "main", Title: "promote early"})
		must(err)
		must(f.ClosePullRequest(ctx, other.Number))
		got, _ := f.GetPullRequest(ctx, other.Number)
		if got.Open || got.Merged {
			t.Errorf("closed: %+v", got)
		}
		all, _ := f.ListPullRequests(ctx, forge.ListOptions{All: true})
		if len(all) != 2 {
			t.Errorf("all pull requests: %d, want 2", len(all))
		}
	})
}
