package kube

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

// TestFirstApplyReadsByList: before a first apply, what the app's ApplySet
// does not hold is read with one unfiltered LIST per resource and
// namespace, not one GET per object; the LIST proves absence only when
// complete: with a page smaller than the namespace, what it does not show
// is read one by one. Either way objects that exist outside the ApplySet
// are seen (configured, not created) and one in another app's ApplySet is
// left alone.
func TestFirstApplyReadsByList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		page int64
		gets bool // per-object GETs expected
	}{
		{"complete", 0, false},
		{"paged", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := "first-list-" + tc.name
			c := client(t)
			// Before the app: its namespace, two objects it renders and
			// five it does not, by kubectl; one it renders, in another app.
			pre := ns(n) + cm(n, "pre-0", "old") + cm(n, "pre-1", "old")
			for i := range 5 {
				pre += cm(n, fmt.Sprintf("other-%d", i), "x")
			}
			if out, err := kubectl(t, pre, "apply", "-f", "-"); err != nil {
				t.Fatal(out)
			}
			mustApply(t, c, App{Name: n + "-owner", Objects: objs(t, cm(n, "theirs", "owner"))}, Options{})

			yaml := ns(n) + cm(n, "pre-0", "new") + cm(n, "pre-1", "new") + cm(n, "theirs", "mine")
			for i := range 6 {
				yaml += cm(n, fmt.Sprintf("new-%d", i), "v")
			}
			var gets atomic.Int64
			cfg := rest.CopyConfig(cluster(t).Config)
			cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
				return roundTripper(func(r *http.Request) (*http.Response, error) {
					if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/"+n+"/configmaps/") {
						gets.Add(1)
					}
					return rt.RoundTrip(r)
				})
			}
			fresh, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res := mustApply(t, fresh, App{Name: n, Objects: objs(t, yaml)}, Options{listPage: tc.page})

			want := map[string]Action{
				"Namespace/" + n:             Configured,
				"ConfigMap/" + n + "/pre-0":  Configured,
				"ConfigMap/" + n + "/pre-1":  Configured,
				"ConfigMap/" + n + "/theirs": Skipped,
				"ConfigMap/" + n + "/new-0":  Created,
				"ConfigMap/" + n + "/new-1":  Created,
				"ConfigMap/" + n + "/new-2":  Created,
				"ConfigMap/" + n + "/new-3":  Created,
				"ConfigMap/" + n + "/new-4":  Created,
				"ConfigMap/" + n + "/new-5":  Created,
			}
			if d := cmp.Diff(want, actions(res)); d != "" {
				t.Errorf("actions (-want +got):\n%s", d)
			}
			if v := liveObject(t, c, "ConfigMap/"+n+"/theirs").Object["data"].(map[string]any)["k"]; v != "owner" {
				t.Errorf("the other app's ConfigMap was changed: k=%v", v)
			}
			switch got := gets.Load(); {
			case !tc.gets && got != 0:
				t.Errorf("%d GETs of single ConfigMaps, want none (one LIST proves what is absent)", got)
			case tc.gets && got == 0:
				t.Error("no GET of single ConfigMaps with a page smaller than the namespace: an incomplete LIST was taken as proof of absence")
			}
		})
	}
}
