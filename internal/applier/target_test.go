package applier

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/kube/drift"
)

// TestIgnoreDifferencesTravel: an Application's ignoreDifferences, every
// kind of entry, reach apply and verify through hydrator.metadata, and the
// sync option RespectIgnoreDifferences=true with them.
func TestIgnoreDifferencesTravel(t *testing.T) {
	t.Parallel()
	ignore := []fleet.ResourceIgnoreDifferences{{
		Group: "apps", Kind: "Deployment", Name: "web", Namespace: "shop",
		JSONPointers:          []string{"/spec/replicas"},
		JQPathExpressions:     []string{`.spec.template.spec.containers[] | select(.name == "proxy") | .image`},
		ManagedFieldsManagers: []string{"kube-controller-manager"},
	}}
	var md hydrate.Metadata
	md.Flotilla.IgnoreDifferences = ignore
	md.Flotilla.SyncPolicy = &fleet.SyncPolicy{SyncOptions: []string{"RespectIgnoreDifferences=true"}}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	var back hydrate.Metadata
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ignore, back.Flotilla.IgnoreDifferences); d != "" {
		t.Fatalf("hydrator.metadata loses ignoreDifferences (-want +got):\n%s", d)
	}
	app, err := KubeApp(hydrate.BranchApp{Name: "shop", Metadata: back}, &hydrate.Snapshot{})
	if err != nil {
		t.Fatal(err)
	}
	if app.Ignore == nil || !app.RespectIgnoreDifferences {
		t.Errorf("ignore %v, respect %v: want both", app.Ignore, app.RespectIgnoreDifferences)
	}

	back.Flotilla.IgnoreDifferences[0].JQPathExpressions = []string{".spec.["}
	_, err = KubeApp(hydrate.BranchApp{Name: "shop", Metadata: back}, &hydrate.Snapshot{})
	if !errors.Is(err, drift.ErrRule) || !strings.Contains(err.Error(), "app shop") || !strings.Contains(err.Error(), ".spec.[") {
		t.Errorf("got %v, want ErrRule naming the app and the expression", err)
	}
}

// TestKubeAppSyncPolicy: the Application's syncOptions and
// managedNamespaceMetadata, recorded in the hydrated metadata, reach apply.
func TestKubeAppSyncPolicy(t *testing.T) {
	t.Parallel()
	a := hydrate.BranchApp{Name: "web", Manifest: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: web}\n")}
	a.Metadata.Flotilla.Destination.Namespace = "web"
	a.Metadata.Flotilla.SyncPolicy = &fleet.SyncPolicy{
		SyncOptions:              []string{"CreateNamespace=true", "PruneLast=true"},
		ManagedNamespaceMetadata: &fleet.ManagedNamespaceMetadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"o": "p"}},
	}
	app, err := KubeApp(a, &hydrate.Snapshot{Branch: "hydrated/x", Commit: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if !app.CreateNamespace || strings.Join(app.SyncOptions, ",") != "CreateNamespace=true,PruneLast=true" ||
		app.NamespaceLabels["team"] != "a" || app.NamespaceAnnotations["o"] != "p" {
		t.Errorf("app: %+v", app)
	}
}
