package fleet

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// TestRolloutPause: rollout.paused pauses every set, pausedApplicationSets
// the named ones, each saying where it is set and why; a name that is no
// ApplicationSet of the fleet is refused at load with its line (a typo
// would pause nothing), and an unknown key under rollout stays refused.
func TestRolloutPause(t *testing.T) {
	t.Parallel()
	set := "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: web}\nspec:\n  generators: [{list: {elements: []}}]\n" +
		"  template:\n    metadata: {name: web}\n    spec:\n      project: default\n      source: {repoURL: https://example.com/x.git, path: web}\n      destination: {server: https://x.example.com, namespace: web}\n"
	for _, tt := range []struct {
		name, config string
		web, other   string
		wantErr      string
		wantErrLine  int
	}{
		{"all", "rollout:\n  paused: true\n  pauseReason: change freeze\n", "flotilla.yaml rollout.paused: change freeze", "flotilla.yaml rollout.paused: change freeze", "", 0},
		{"one set", "rollout:\n  pausedApplicationSets: [web]\n", "flotilla.yaml rollout.pausedApplicationSets", "", "", 0},
		{"none", "rollout: {}\n", "", "", "", 0},
		{"unknown set", "repos: {}\nrollout:\n  pausedApplicationSets: [wbe]\n", "", "", `flotilla.yaml:3: rollout.pausedApplicationSets: "wbe" is not an ApplicationSet of the fleet (known: web)`, 3},
		{"unknown key", "rollout:\n  pause: true\n", "", "", "pause", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := LoadFS(fstest.MapFS{"flotilla.yaml": {Data: []byte(tt.config)}, "applicationsets/web.yaml": {Data: []byte(set)}})
			if tt.wantErr != "" {
				var fe *FileError
				if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) || (tt.wantErrLine != 0 && fe.Line != tt.wantErrLine) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Config.Rollout.PausedBy("web"); got != tt.web {
				t.Errorf("PausedBy(web) = %q, want %q", got, tt.web)
			}
			if got := f.Config.Rollout.PausedBy("other"); got != tt.other {
				t.Errorf("PausedBy(other) = %q, want %q", got, tt.other)
			}
		})
	}
}
