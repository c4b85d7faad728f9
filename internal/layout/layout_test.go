package layout

import (
	"slices"
	"strings"
	"testing"
)

func TestBranches(t *testing.T) {
	for _, tc := range []struct {
		l             Layout
		cluster       string
		live, staging string
		prefixes      []string
	}{
		{Layout{}, "prod-1", "hydrated/prod-1", "hydrated/prod-1-next", []string{"flotilla/promote/", "hydrated/"}},
		{Default(), "a", "hydrated/a", "hydrated/a-next", []string{"flotilla/promote/", "hydrated/"}},
		{Layout{Live: "env/{{cluster}}/live", Staging: "proposed/{{cluster}}"}, "eu", "env/eu/live", "proposed/eu", []string{"env/", "flotilla/promote/", "proposed/"}},
		{Layout{Live: "{{cluster}}", Staging: "next/{{cluster}}"}, "x", "x", "next/x", []string{""}},
		{Layout{Live: "deploy/{{cluster}}/{{cluster}}", Staging: "deploy/next-{{cluster}}"}, "c1", "deploy/c1/c1", "deploy/next-c1", []string{"deploy/", "flotilla/promote/"}},
	} {
		if got := tc.l.LiveBranch(tc.cluster); got != tc.live {
			t.Errorf("%+v LiveBranch = %q, want %q", tc.l, got, tc.live)
		}
		if got := tc.l.StagingBranch(tc.cluster); got != tc.staging {
			t.Errorf("%+v StagingBranch = %q, want %q", tc.l, got, tc.staging)
		}
		if c, ok := tc.l.LiveCluster(tc.live); !ok || c != tc.cluster {
			t.Errorf("%+v LiveCluster(%q) = %q, %v", tc.l, tc.live, c, ok)
		}
		if c, ok := tc.l.StagingCluster(tc.staging); !ok || c != tc.cluster {
			t.Errorf("%+v StagingCluster(%q) = %q, %v", tc.l, tc.staging, c, ok)
		}
		if got := tc.l.TrackPrefixes(); !slices.Equal(got, tc.prefixes) {
			t.Errorf("%+v TrackPrefixes = %q, want %q", tc.l, got, tc.prefixes)
		}
		if c, ok := tc.l.PromoteCluster(tc.l.PromoteHead(tc.cluster)); !ok || c != tc.cluster {
			t.Errorf("PromoteCluster round trip = %q, %v", c, ok)
		}
		if c, ok := tc.l.RollbackCluster(tc.l.RollbackHead(tc.cluster)); !ok || c != tc.cluster {
			t.Errorf("RollbackCluster round trip = %q, %v", c, ok)
		}
		if _, ok := tc.l.PromoteCluster(tc.l.RollbackHead(tc.cluster)); ok {
			t.Errorf("a rollback head %q parsed as a promotion head", tc.l.RollbackHead(tc.cluster))
		}
	}
}

func TestParseRefuses(t *testing.T) {
	l := Layout{Live: "deploy/{{cluster}}/{{cluster}}"}
	for _, b := range []string{"deploy/a/b", "deploy//", "deploy/a", "other/a/a", "hydrated/a"} {
		if c, ok := l.LiveCluster(b); ok {
			t.Errorf("LiveCluster(%q) = %q, want no match", b, c)
		}
	}
	d := Default()
	// hydrated/a-next has both shapes: the caller decides with the fleet.
	if c, ok := d.LiveCluster("hydrated/a-next"); !ok || c != "a-next" {
		t.Errorf("LiveCluster(hydrated/a-next) = %q, %v", c, ok)
	}
	if c, ok := d.StagingCluster("hydrated/a-next"); !ok || c != "a" {
		t.Errorf("StagingCluster(hydrated/a-next) = %q, %v", c, ok)
	}
	for _, b := range []string{"hydrated/", "hydrated/-next", "main"} {
		if c, ok := d.StagingCluster(b); ok {
			t.Errorf("StagingCluster(%q) = %q, want no match", b, c)
		}
	}
	if _, ok := d.PromoteCluster("flotilla/promote/"); ok {
		t.Error("empty promote head matched")
	}
	if _, ok := d.RollbackCluster("flotilla/rollback/"); ok {
		t.Error("empty rollback head matched")
	}
	if a, ok := VerifyApp(VerifyContext("web")); !ok || a != "web" {
		t.Error("VerifyApp round trip")
	}
	if _, ok := VerifyApp("ci/build"); ok {
		t.Error("foreign context matched")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("hydrated/{{cluster}}-next", "prod")
	f.Add("{{cluster}}/{{cluster}}", "a/b")
	f.Fuzz(func(t *testing.T, template, cluster string) {
		l := Layout{Live: template}
		if template == "" || cluster == "" || !containsVar(template) {
			return
		}
		b := l.LiveBranch(cluster)
		c, ok := l.LiveCluster(b)
		if !ok || l.LiveBranch(c) != b {
			t.Fatalf("LiveCluster(%q) = %q, %v; template %q", b, c, ok, template)
		}
	})
}

func containsVar(s string) bool { return strings.Contains(s, ClusterVar) }

func TestShort(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "abc", "0123456789ab": "0123456789ab", "0123456789abcdef": "0123456789ab"} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
}
