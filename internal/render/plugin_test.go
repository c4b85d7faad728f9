package render

import (
	"errors"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// TestPluginSourceNamesThePlugin: a config management plugin source is
// refused with ErrPlugin, naming the plugin and saying to pre-render it.
func TestPluginSourceNamesThePlugin(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	for _, tt := range []struct {
		plugin *fleet.ApplicationSourcePlugin
		want   string
	}{
		{&fleet.ApplicationSourcePlugin{Name: "envsubst-v1.0"}, `config management plugin "envsubst-v1.0" (spec.source.plugin.name)`},
		{&fleet.ApplicationSourcePlugin{}, "a config management plugin chosen by its discovery rules"},
	} {
		a := app("web-dev", "web", "web", nil, nil)
		a.Spec.Source.Plugin = tt.plugin
		_, err := b.Render(t.Context(), a)
		if !errors.Is(err, ErrPlugin) {
			t.Fatalf("got %v, want ErrPlugin", err)
		}
		for _, w := range []string{tt.want, "pre-render the plugin's output into the repository", "application web-dev"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q does not say %q", err, w)
			}
		}
	}
}
