package promote

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWaveHashAndChanges: the hash covers every cluster's mode, branch,
// from and to commits and apps (and nothing else: object counts follow
// from them), and Changes names each difference.
func TestWaveHashAndChanges(t *testing.T) {
	t.Parallel()
	sha := func(c string) string { return strings.Repeat(c, 40) }
	base := func() *Wave {
		return &Wave{Clusters: []WaveCluster{
			{Cluster: "a", Mode: ModePush, Branch: "hydrated/a", From: sha("1"), To: sha("2"), Apps: []WaveApp{{App: "web-a", Added: 1}}},
			{Cluster: "b", Mode: ModePush, Branch: "hydrated/b", From: sha("0"), To: sha("3"), Apps: []WaveApp{{App: "web-b"}}},
		}}
	}
	planned := base()
	counts := base()
	counts.Clusters[0].Apps[0].Added = 9
	if counts.HashOf() != planned.HashOf() {
		t.Errorf("object counts change the hash")
	}
	for _, tt := range []struct {
		name   string
		change func(w *Wave)
		want   []string
	}{
		{"live moved", func(w *Wave) { w.Clusters[0].From = sha("4") }, []string{"a: hydrated/a moved 111111111111→444444444444"}},
		{"staging moved", func(w *Wave) { w.Clusters[1].To = sha("5") }, []string{"b: its staging branch moved 333333333333→555555555555"}},
		{"mode", func(w *Wave) { w.Clusters[0].Mode = ModePullRequest }, []string{"a: pull-request, planned push"}},
		{"apps", func(w *Wave) { w.Clusters[0].Apps = append(w.Clusters[0].Apps, WaveApp{App: "web-z"}) }, []string{"a: apps web-a, web-z, planned web-a"}},
		{"left", func(w *Wave) { w.Clusters = w.Clusters[:1] }, []string{"b left the wave"}},
		{"joined", func(w *Wave) {
			w.Clusters = append(w.Clusters, WaveCluster{Cluster: "c", Mode: ModePush, Branch: "hydrated/c", From: sha("0"), To: sha("6"), Apps: []WaveApp{{App: "web-c"}}})
		}, []string{"c joined the wave (web-c)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := base()
			tt.change(now)
			if now.HashOf() == planned.HashOf() {
				t.Errorf("the hash did not change")
			}
			if diff := cmp.Diff(tt.want, Changes(planned, now)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
