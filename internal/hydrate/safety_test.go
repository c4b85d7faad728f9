package hydrate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestPublishAfterAKill simulates a render killed at each step that
// writes to the checkout — a lock file left while writing the tracking
// refs, a tracking ref or a local branch left as an empty file by a
// writer that truncates before writing (go-git's, older Flotilla's), a
// temporary pack file left while storing the objects — and checks the
// next render: it either succeeds with the right branches and tracking
// refs, or fails naming the file, why and what to do, and succeeds once
// that is done. git fsck passes on the checkout and the remote after.
func TestPublishAfterAKill(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		local  bool   // --no-push: the checkout's own branches
		leave  string // file left under .git, empty
		refuse bool   // the next render must refuse until it is removed
	}{
		{name: "packed-refs.lock", leave: "packed-refs.lock", refuse: true},
		{name: "tracking ref lock", leave: trackingPrefix + "hydrated/a-next.lock", refuse: true},
		{name: "empty tracking ref", leave: trackingPrefix + "hydrated/a-next"},
		{name: "temporary pack", leave: "objects/pack/tmp_flotilla_123"},
		{name: "local packed-refs.lock", local: true, leave: "packed-refs.lock", refuse: true},
		{name: "empty local branch", local: true, leave: "refs/heads/hydrated/a-next", refuse: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkout, origin := gittest.Fleet(t, t.TempDir())
			repo, dry := openFleet(t, checkout)
			pub := &Publisher{Repo: repo, Remote: origin, Attempts: 1}
			target := origin
			if c.local {
				pub.Remote, target = "", checkout
			}
			publish(t, pub, dry, tree("a", "1"), tree("b", "1"))
			if !c.local {
				// A tracking ref as a loose file, as git fetch or go-git
				// writes them.
				a := filepath.Join(checkout, ".git", trackingPrefix+"hydrated/a-next")
				if err := os.MkdirAll(filepath.Dir(a), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(a, []byte(gittest.Git(t, origin, "rev-parse", "hydrated/a-next")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			left := filepath.Join(checkout, ".git", filepath.FromSlash(c.leave))
			if err := os.MkdirAll(filepath.Dir(left), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(left, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			before := gittest.Refs(t, target, "refs/heads/hydrated/")

			trees := []*Tree{tree("a", "2"), tree("b", "2")}
			_, err := pub.Publish(t.Context(), trees, dry, when)
			if c.refuse {
				var le *gitobj.LockedError
				var be *gitobj.BrokenRefError
				if !errors.As(err, &le) && !errors.As(err, &be) || !strings.Contains(err.Error(), left) || !strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), "rm "+left) {
					t.Fatalf("err = %v, want the file %s named, why and what to do", err, left)
				}
				if after := gittest.Refs(t, target, "refs/heads/hydrated/"); after != before {
					t.Errorf("a refused render moved the branches:\n%s\n->\n%s", before, after)
				}
				if err := os.Remove(left); err != nil {
					t.Fatal(err)
				}
				_, err = pub.Publish(t.Context(), trees, dry, when)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []string{"hydrated/a-next", "hydrated/b-next"} {
				if got := gittest.Show(t, target, b, "web/manifest.yaml"); !strings.Contains(got, "replicas: 2") {
					t.Errorf("%s:\n%s", b, got)
				}
			}
			if c.local {
				gittest.Git(t, checkout, "fsck", "--strict", "--no-dangling")
			} else {
				assertTracking(t, checkout, origin)
			}
			gittest.Git(t, checkout, "gc", "-q")
		})
	}
}

// rejectingRemote makes a bare remote whose hook refuses pushes to
// hydrated/b-next with a message: an update hook (per ref) or a
// pre-receive hook (the whole push).
func rejectingRemote(t *testing.T, origin, hook string) {
	t.Helper()
	script := "#!/bin/sh\nrefuse() { echo 'GH006: Protected branch update failed for refs/heads/hydrated/b-next.' >&2; echo 'error: Changes must be made through a pull request.' >&2; exit 1; }\n"
	switch hook {
	case "update":
		script += `[ "$1" = refs/heads/hydrated/b-next ] && refuse` + "\nexit 0\n"
	case "pre-receive":
		script += "while read old new ref; do [ \"$ref\" = refs/heads/hydrated/b-next ] && refuse; done\nexit 0\n"
	}
	if err := os.WriteFile(filepath.Join(origin, "hooks", hook), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestPublishRefusedByTheRemote: the remote's hook refuses one branch
// (a protected-branch rule), through a local remote and through smart
// HTTP. The render fails at once — a refusal is not a lost race, so no
// retry — with the remote's own message and the refused branch; the
// remote keeps every branch as it was (atomic), and the tracking refs
// equal the remote's real heads.
func TestPublishRefusedByTheRemote(t *testing.T) {
	t.Parallel()
	for _, hook := range []string{"update", "pre-receive"} {
		for _, transport := range []string{"file", "http"} {
			t.Run(hook+"/"+transport, func(t *testing.T) {
				t.Parallel()
				checkout, origin := gittest.Fleet(t, t.TempDir())
				repo, dry := openFleet(t, checkout)
				pub := &Publisher{Repo: repo, Remote: origin}
				if transport == "http" {
					pub.Remote = gitHTTPServer(t, filepath.Dir(origin), "s3cret") + "/" + filepath.Base(origin)
					pub.Auth = &githttp.BasicAuth{Username: "x-access-token", Password: "s3cret"}
				}
				publish(t, pub, dry, tree("a", "1"), tree("b", "1"))
				rejectingRemote(t, origin, hook)
				before := gittest.Refs(t, origin, "refs/heads/hydrated/")

				attempts := 0
				pub.BeforePush = func(int) { attempts++ }
				_, err := pub.Publish(t.Context(), []*Tree{tree("a", "2"), tree("b", "2"), tree("c", "2")}, dry, when)
				var pe *PushError
				if !errors.As(err, &pe) || errors.Is(err, ErrRace) {
					t.Fatalf("err = %v, want a refusal that is not a race", err)
				}
				if attempts != 1 {
					t.Errorf("%d attempts, want 1: a refusal is not retried", attempts)
				}
				if c := failure.ClassOf(err); c != failure.Remote {
					t.Errorf("a refused push is a %v failure, want remote (exit 3)", c)
				}
				for _, want := range []string{"remote: GH006: Protected branch update failed for refs/heads/hydrated/b-next.", "remote: error: Changes must be made through a pull request.", "hydrated/b-next"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("the error lacks %q:\n%v", want, err)
					}
				}
				if pe.Refused["hydrated/b-next"] == "" {
					t.Errorf("refused = %v, want hydrated/b-next's reason", pe.Refused)
				}
				if after := gittest.Refs(t, origin, "refs/heads/hydrated/"); after != before {
					t.Errorf("a refused push moved the remote:\n%s\n->\n%s", before, after)
				}
				assertTracking(t, checkout, origin)
			})
		}
	}
}

// landingRemote makes a bare remote whose pre-receive hook lands the push
// (the objects out of quarantine, every ref set) and then fails it, as a
// push whose connection drops after the update does: the pusher hears a
// failure, yet the remote holds exactly its new values.
func landingRemote(t *testing.T, origin string) {
	t.Helper()
	script := `#!/bin/sh
q="$GIT_QUARANTINE_PATH"
cat > landed
cp -R "$q"/. objects/
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
while read old new ref; do git update-ref "$ref" "$new" || exit 2; done < landed
rm -f landed
echo 'connection lost' >&2
exit 1
`
	if err := os.WriteFile(filepath.Join(origin, "hooks", "pre-receive"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestPublishWhosePushLanded: the push fails, but the remote holds every
// new head: that is success (one attempt, no ErrRace, no PushError), and
// the tracking refs equal the remote's heads.
func TestPublishWhosePushLanded(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	pub := &Publisher{Repo: repo, Remote: origin}
	publish(t, pub, dry, tree("a", "1"), tree("b", "1"))
	landingRemote(t, origin)
	attempts := 0
	pub.BeforePush = func(int) { attempts++ }
	results, err := pub.Publish(t.Context(), []*Tree{tree("a", "2"), tree("b", "2"), tree("c", "2")}, dry, when)
	if err != nil {
		t.Fatalf("a push that landed: %v", err)
	}
	if attempts != 1 {
		t.Errorf("%d attempts, want 1", attempts)
	}
	for _, r := range results {
		if !r.Updated {
			t.Errorf("%s not updated", r.Branch)
		} else if got := gittest.Git(t, origin, "rev-parse", "refs/heads/"+r.Branch); got != r.New {
			t.Errorf("%s is at %s on the remote, want %s", r.Branch, got, r.New)
		}
	}
	assertTracking(t, checkout, origin)
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")
}
