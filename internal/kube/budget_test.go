package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-dev/flotilla/internal/kube/order"
)

// cms is a namespace and ConfigMaps named prefix0, prefix1… in it.
func cms(namespace string, names ...string) string {
	out := ns(namespace)
	for _, n := range names {
		out += cm(namespace, n, "1")
	}
	return out
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(prefix, i))
	}
	return out
}

func synced(t *testing.T, c *Client, app string) (int, int) {
	t.Helper()
	inv, err := c.ReadInventory(t.Context(), DefaultInventoryNamespace, app)
	if err != nil {
		t.Fatal(err)
	}
	return inv.Synced, len(inv.Entries)
}

// TestRefusedPruneStaysRefused: v1 has 10 ConfigMaps (and its namespace);
// v2 keeps 2 and renames the other 8. The prune of v2 is over the budget
// and refused. Its run recorded old ∪ new (19 objects) before applying, so
// a budget measured against the inventory would let the next run delete
// the 8 (8 of 19 is under half): every retry, with --prune or after an
// interrupted run, must still be refused. --confirm-prune deletes them,
// and after that a small prune needs no confirmation.
func TestRefusedPruneStaysRefused(t *testing.T) {
	t.Parallel()
	c := client(t)
	const name = "budget"
	v1 := App{Name: name, Prune: true, Objects: objs(t, cms(name, seq("a", 0, 10)...))}
	mustApply(t, c, v1, Options{})
	if n, entries := synced(t, c, name); n != 11 || entries != 11 {
		t.Fatalf("after v1: synced %d, %d entries; want 11, 11", n, entries)
	}
	v2 := App{Name: name, Prune: true, Objects: objs(t, cms(name, append(seq("a", 0, 2), seq("b", 0, 8)...)...))}
	refused := func(step string, o Options) {
		t.Helper()
		res, err := c.Apply(t.Context(), v2, o)
		if !errors.Is(err, ErrPruneBudget) || !strings.Contains(err.Error(), "it would delete 8 objects (73% of the app's 11, more than the 50% budget)") {
			t.Errorf("%s: %v; want the prune refused, 8 of 11", step, err)
		}
		if n := res.Counts()[Deleted]; n != 0 {
			t.Errorf("%s: %d deleted", step, n)
		}
		for _, a := range seq("a", 2, 10) {
			if _, ok := get(t, c, cmGVR, name, a); !ok {
				t.Errorf("%s deleted %s", step, a)
			}
		}
		if n, entries := synced(t, c, name); n != 11 || entries != 19 {
			t.Errorf("%s: synced %d, %d entries; want 11 (v1's), 19 (old ∪ new)", step, n, entries)
		}
	}
	refused("v2", Options{})
	refused("v2 again", Options{})
	refused("v2 with --prune", Options{Prune: true})
	refused("v2 as a dry run", Options{DryRun: true})
	// An interrupted run changes nothing about the budget either.
	killed := errors.New("killed")
	if _, err := c.Apply(t.Context(), v2, Options{BetweenStages: func(int) error { return killed }}); !errors.Is(err, killed) {
		t.Fatalf("interrupted: %v", err)
	}
	refused("v2 after an interrupted run", Options{})

	res := mustApply(t, c, v2, Options{ConfirmPrune: true})
	if n := res.Counts()[Deleted]; n != 8 {
		t.Errorf("with --confirm-prune: %d deleted, want 8: %+v", n, res.Objects)
	}
	if n, entries := synced(t, c, name); n != 11 || entries != 11 {
		t.Errorf("after the confirmed prune: synced %d, %d entries; want 11, 11", n, entries)
	}
	v3 := App{Name: name, Prune: true, Objects: objs(t, cms(name, append(seq("a", 0, 2), seq("b", 0, 6)...)...))}
	res = mustApply(t, c, v3, Options{})
	if n := res.Counts()[Deleted]; n != 2 {
		t.Errorf("a small prune: %d deleted, want 2: %+v", n, res.Objects)
	}
	if n, entries := synced(t, c, name); n != 9 || entries != 9 {
		t.Errorf("after v3: synced %d, %d entries; want 9, 9", n, entries)
	}
}

// TestBudgetOfAnAppNeverSynced: an app whose first apply was interrupted
// (after its last stage, before prune and the final inventory write) held
// nothing after a complete sync, so a run that would delete what the
// interrupted one created needs --confirm-prune. An inventory written
// before the synced count was recorded is measured against its entries
// when a run starts, and that is recorded, so a refusal holds there too.
func TestBudgetOfAnAppNeverSynced(t *testing.T) {
	t.Parallel()
	c := client(t)
	const name = "never-synced"
	v1 := App{Name: name, Prune: true, Objects: objs(t, cms(name, "a", "b"))}
	killed := errors.New("killed")
	last := func(stage int) error {
		if stage == order.Stage(v1.Objects[len(v1.Objects)-1]) { // the ConfigMaps'

			return killed
		}
		return nil
	}
	if _, err := c.Apply(t.Context(), v1, Options{BetweenStages: last}); !errors.Is(err, killed) {
		t.Fatalf("interrupted: %v", err)
	}
	if n, entries := synced(t, c, name); n != 0 || entries != 3 {
		t.Fatalf("after the interrupted first run: synced %d, %d entries; want 0, 3", n, entries)
	}
	v2 := App{Name: name, Prune: true, Objects: objs(t, cms(name, "a", "c", "d", "e", "f"))}
	_, err := c.Apply(t.Context(), v2, Options{})
	if !errors.Is(err, ErrPruneBudget) || !strings.Contains(err.Error(), "it would delete 1 object (and the app held none after its last complete sync): ConfigMap/never-synced/b") {
		t.Errorf("v2: %v; want the prune refused", err)
	}
	// Written by an older Flotilla: no synced count. What the inventory
	// holds when a run starts (7: ns, a-f) is the base, recorded then, so
	// that a refusal holds on the retry (5 of 7, not of 7+7).
	if _, err := c.Dynamic.Resource(cmGVR).Namespace(DefaultInventoryNamespace).Patch(t.Context(), name, "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"`+AnnotationSynced+`":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, entries := synced(t, c, name); n != -1 || entries != 7 {
		t.Fatalf("without the annotation: synced %d, %d entries; want -1, 7", n, entries)
	}
	v3 := App{Name: name, Prune: true, Objects: objs(t, cms(name, "a", "g", "h", "i", "j", "k", "l", "m"))}
	for _, step := range []string{"v3", "v3 again"} {
		_, err := c.Apply(t.Context(), v3, Options{})
		if !errors.Is(err, ErrPruneBudget) || !strings.Contains(err.Error(), "it would delete 5 objects (71% of the app's 7, more than the 50% budget)") {
			t.Errorf("%s: %v; want the prune refused, 5 of 7", step, err)
		}
		if n, entries := synced(t, c, name); n != 7 || entries != 14 {
			t.Errorf("%s: synced %d, %d entries; want 7, 14", step, n, entries)
		}
	}
	res := mustApply(t, c, v3, Options{ConfirmPrune: true})
	if n := res.Counts()[Deleted]; n != 5 {
		t.Errorf("v3 --confirm-prune: %d deleted, want 5 (b-f): %+v", n, res.Objects)
	}
	if n, entries := synced(t, c, name); n != 9 || entries != 9 {
		t.Errorf("after v3: synced %d, %d entries; want 9, 9", n, entries)
	}
}

// TestRemovalStaysRefused: removing an app that left its branch deletes
// all of it, so it needs ConfirmPrune on every try, whatever an earlier
// refused prune left in the inventory, and a refused removal changes
// nothing.
func TestRemovalStaysRefused(t *testing.T) {
	t.Parallel()
	c := client(t)
	const name = "removal"
	v1 := App{Name: name, Prune: true, Objects: objs(t, cms(name, seq("a", 0, 4)...))}
	mustApply(t, c, v1, Options{})
	// A refused prune leaves old ∪ new in the inventory.
	v2 := App{Name: name, Prune: true, Objects: objs(t, cms(name, seq("b", 0, 4)...))}
	if _, err := c.Apply(t.Context(), v2, Options{}); !errors.Is(err, ErrPruneBudget) {
		t.Fatalf("v2: %v; want the prune refused", err)
	}
	for i := range 2 {
		_, err := c.Remove(t.Context(), name, nil, Options{})
		if !errors.Is(err, ErrPruneBudget) || !strings.Contains(err.Error(), "it would delete 9 objects (100% of the app's 9") {
			t.Errorf("removal %d: %v; want it refused", i, err)
		}
		if _, entries := synced(t, c, name); entries != 9 {
			t.Errorf("removal %d: %d entries left, want 9", i, entries)
		}
	}
	res, err := c.Remove(t.Context(), name, nil, Options{ConfirmPrune: true})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace is kept (Flotilla created it, but it is not annotated).
	if n := res.Counts()[Deleted]; n != 8 {
		t.Errorf("confirmed removal: %d deleted, want 8: %+v", n, res.Objects)
	}
	if _, ok := get(t, c, cmGVR, DefaultInventoryNamespace, name); ok {
		t.Error("the inventory is still there")
	}
}
