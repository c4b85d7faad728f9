package fleet

import (
	"errors"
	"testing"
)

// TestCheckSources attacks Argo CD's source rules: every spec Argo CD's
// application controller marks InvalidSpecError must be refused with its
// message, and every spec it accepts must pass.
func TestCheckSources(t *testing.T) {
	t.Parallel()
	const single = "InvalidSpecError: spec.source.repoURL and either spec.source.path or spec.source.chart are required"
	repo := "https://git.example.com/apps.git"
	tests := []struct {
		name string
		spec ApplicationSpec
		want string // "" when valid
	}{
		{"no source", ApplicationSpec{}, single},
		{"empty source", ApplicationSpec{Source: &ApplicationSource{}}, single},
		{"repoURL without path or chart", ApplicationSpec{Source: &ApplicationSource{RepoURL: repo, TargetRevision: "main"}}, single},
		{"path without repoURL", ApplicationSpec{Source: &ApplicationSource{Path: "web"}}, single},
		{"ref alone as the single source", ApplicationSpec{Source: &ApplicationSource{RepoURL: repo, Ref: "values"}}, single},
		{"chart without targetRevision", ApplicationSpec{Source: &ApplicationSource{RepoURL: repo, Chart: "redis"}},
			"InvalidSpecError: spec.source.targetRevision is required if the manifest source is a helm chart"},
		{"one of several sources without path", ApplicationSpec{Sources: []ApplicationSource{{RepoURL: repo, Path: "web"}, {RepoURL: repo}}},
			`InvalidSpecError: spec.source.repoURL and either source.path, source.chart, or source.ref are required for source sources[1] {repoURL: "https://git.example.com/apps.git", path: "", chart: "", ref: ""}`},
		{"hydrator without dry repoURL", ApplicationSpec{SourceHydrator: &SourceHydrator{SyncSource: SyncSource{TargetBranch: "env/prod"}}},
			"InvalidSpecError: spec.sourceHydrator.drySource.repoURL is required"},
		{"path", ApplicationSpec{Source: &ApplicationSource{RepoURL: repo, Path: "web"}}, ""},
		{"root path", ApplicationSpec{Source: &ApplicationSource{RepoURL: repo, Path: "."}}, ""},
		{"chart with revision", ApplicationSpec{Source: &ApplicationSource{RepoURL: repo, Chart: "redis", TargetRevision: "1.0.0"}}, ""},
		{"ref among several sources", ApplicationSpec{Sources: []ApplicationSource{{RepoURL: repo, Path: "web"}, {RepoURL: repo, Ref: "values"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.spec.CheckSources()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				return
			}
			var ise *InvalidSpecError
			if !errors.As(err, &ise) {
				t.Fatalf("got %v, want an *InvalidSpecError", err)
			}
			if err.Error() != tt.want {
				t.Fatalf("got  %s\nwant %s", err, tt.want)
			}
		})
	}
}
