package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
)

// diffAgainst runs render --diff-base ref on the checkout.
func diffAgainst(t *testing.T, checkout, ref string) (summary string, err error) {
	t.Helper()
	o, err := parseRenderFlags([]string{"--fleet", checkout, "--diff-base", ref}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := hydrator.Run(t.Context(), o.hydratorOptions(Env{}))
	if err != nil {
		return "", err
	}
	return res.Diff.Summary(), nil
}

// TestFleetDiffBaseFollowsLinks: the base is read from the revision with
// its symbolic links resolved inside the fleet, as the checkout is read
// from disk: an ApplicationSet file that is a link renders on both sides
// (before, the base's checkout left links out, and every Application of
// the set read as added).
func TestFleetDiffBaseFollowsLinks(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	set := filepath.Join(checkout, "applicationsets", "orders.yaml")
	if err := os.MkdirAll(filepath.Join(checkout, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(set, filepath.Join(checkout, "shared", "orders.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../shared/orders.yaml", set); err != nil {
		t.Fatal(err)
	}
	// A file above the read limit that no build reads is checked out
	// whole, as git checkout would, and does not stop the diff.
	big, err := os.Create(filepath.Join(checkout, "shared", "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(fleet.MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "the set is a link")
	gittest.Commit(t, checkout, "2026-01-03T00:00:00Z", "nothing changes")
	got, err := diffAgainst(t, checkout, "HEAD~1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "0/46 apps change on 0/8 clusters"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

// TestFleetDiffBaseErrors: what is wrong with the base is named as
// before, files relative to the fleet folder.
func TestFleetDiffBaseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, checkout string) // committed as the base
		ref    string
		fleet  string // below the checkout
		want   string
	}{
		{name: "unknown revision", ref: "no-such-branch",
			want: "usage: --diff-base no-such-branch: no such revision (fetch it first, e.g. git fetch origin main)"},
		{name: "fleet folder missing at the base", ref: "HEAD~1", fleet: "fleet",
			change: func(t *testing.T, checkout string) {
				gittest.Git(t, checkout, "mv", "clusters", "fleet-clusters")
				gittest.Git(t, checkout, "mv", "fleet-clusters", "clusters")
			},
			want: "--diff-base HEAD~1: the fleet folder fleet does not exist there"},
		{name: "base does not load", ref: "HEAD~1",
			change: func(t *testing.T, checkout string) {
				writeFile(t, filepath.Join(checkout, "clusters", "broken.yaml"), "apiVersion: v1\nkind: Cluster\nmetadata:\n  name: a: b\n")
			},
			want: "the base HEAD~1 does not render: clusters/broken.yaml:4: invalid YAML: mapping values are not allowed in this context"},
		{name: "base link loops", ref: "HEAD~1",
			change: func(t *testing.T, checkout string) {
				if err := os.Symlink("loop.yaml", filepath.Join(checkout, "clusters", "loop.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			want: "the base HEAD~1 does not render: clusters/loop.yaml: read: symbolic link loop at clusters/loop.yaml (the link leads back to itself: fix or remove it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkout, _ := gittest.Fleet(t, exampleFleet)
			if tt.change != nil {
				tt.change(t, checkout)
				gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "base")
				// The head is the example fleet again, in tt.fleet.
				gittest.Git(t, checkout, "rm", "-rq", ".")
				gittest.Git(t, checkout, "checkout", "-q", "HEAD~1", "--", ".")
				if tt.fleet != "" {
					moveInto(t, checkout, tt.fleet)
				}
				gittest.Commit(t, checkout, "2026-01-03T00:00:00Z", "head")
			}
			_, err := diffAgainst(t, filepath.Join(checkout, tt.fleet), tt.ref)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// moveInto moves every entry of dir but .git into dir/sub.
func moveInto(t *testing.T, dir, sub string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dir, sub, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}
