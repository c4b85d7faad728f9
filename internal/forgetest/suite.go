package forgetest

import (
	"slices"
	"strings"
	"testing"

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
