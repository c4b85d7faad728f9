package promote

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
)

// FuzzDecideGates: Decide over gates as values takes the same decisions
// as the inline gates it replaced (decideBefore, kept verbatim below) for
// any snapshot: sets of tiered steps with maxUpdate, bakeTime and
// requireApproval, apps in any state, open pull requests, approvals.
func FuzzDecideGates(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{7, 7, 7, 7, 1, 2, 3, 200, 100, 3, 9, 81, 0, 0, 4, 5, 6, 7, 8, 250, 3, 2, 1})
	f.Add([]byte("\x03\x02\x01\x00\x05\x09\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x20\x21\x22\x23\x24\x25"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := fuzzSnapshot(b)
		want, werr := decideBefore(s)
		got, gerr := Decide(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: before %v, now %v", werr, gerr)
		}
		if werr != nil {
			if werr.Error() != gerr.Error() {
				t.Fatalf("errors differ: before %v, now %v", werr, gerr)
			}
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Decide changed (-before +now):\n%s", diff)
		}
	})
}

// TestDecideGatesAgree runs the fuzz target's seeds and a sweep of
// generated snapshots in the ordinary test run.
func TestDecideGatesAgree(t *testing.T) {
	t.Parallel()
	for n := range 3000 {
		b := make([]byte, 8+n%40)
		x := uint32(n*2654435761 + 1)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		s := fuzzSnapshot(b)
		want, werr := decideBefore(s)
		got, gerr := Decide(s)
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Fatalf("input %x: errors differ: before %v, now %v", b, werr, gerr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("input %x: Decide changed (-before +now):\n%s", b, diff)
		}
	}
}

// fuzzSnapshot builds a snapshot from bytes: up to 2 sets of up to 3
// steps, up to 10 apps on up to 4 clusters.
func fuzzSnapshot(b []byte) Snapshot {
	next := func() int {
		if len(b) == 0 {
			return 0
		}
		v := int(b[0])
		b = b[1:]
		return v
	}
	s := Snapshot{Now: now, Sets: map[string][]Step{}, Clusters: map[string]*Cluster{}}
	maxUpdates := []*fleet.IntOrString{nil, ptr(intstr.FromInt32(0)), ptr(intstr.FromInt32(1)), ptr(intstr.FromInt32(2)),
		ptr(intstr.FromString("50%")), ptr(intstr.FromString("0%")), ptr(intstr.FromString("lots")), ptr(intstr.FromInt32(-1))}
	sets := []string{"web", "api"}[:1+next()%2]
	for _, set := range sets {
		n := 1 + next()%3
		var steps []Step
		for k := range n {
			st := Step{Name: fmt.Sprintf("s%d", k), MaxUpdate: maxUpdates[next()%len(maxUpdates)], RequireApproval: next()%4 == 0}
			if next()%3 == 0 {
				st.BakeTime = time.Duration(next()%60) * time.Minute
			}
			steps = append(steps, st)
		}
		s.Sets[set] = steps
	}
	contents := []string{"", "v1", "v2"}
	states := []forge.State{"", forge.StatePending, forge.StateSuccess, forge.StateSuccess, forge.StateFailure, forge.StateError}
	clusters := []string{"a", "b", "c", "d"}
	seen := map[string]bool{}
	for range next() % 11 {
		set := sets[next()%len(sets)]
		a := App{Name: fmt.Sprintf("%s-%d", set, next()%4), Cluster: clusters[next()%len(clusters)], Set: set}
		if seen[a.Cluster+"/"+a.Name] {
			continue
		}
		seen[a.Cluster+"/"+a.Name] = true
		a.Step = next()%(len(s.Sets[set])+1) - 1 // Unmatched included
		a.Live, a.Staging = contents[next()%3], contents[next()%3]
		if st := states[next()%len(states)]; st != "" {
			a.Status = &forge.Status{State: st, Description: "d", UpdatedAt: now.Add(-time.Duration(next()%90) * time.Minute)}
		}
		s.Apps = append(s.Apps, a)
		if s.Clusters[a.Cluster] == nil {
			s.Clusters[a.Cluster] = &Cluster{Name: a.Cluster}
		}
	}
	for _, name := range clusters {
		c := s.Clusters[name]
		if c == nil || next()%2 == 0 {
			continue
		}
		c.PR = &forge.PullRequest{Number: 1 + next()%9, MergeableState: []forge.MergeableState{"", forge.MergeableClean, forge.MergeableUnknown, "blocked"}[next()%4]}
		for _, a := range s.Apps {
			if a.Cluster == name && next()%2 == 0 {
				c.PRApps = append(c.PRApps, a.Name)
			}
		}
		slices.Sort(c.PRApps)
		c.PRCurrent = next()%2 == 0
		if next()%2 == 0 {
			c.Approvers = []string{"alice"}
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// decideBefore is Decide as it was before the gates became values (the
// inline gates), the reference the fuzz target compares with.
func decideBefore(s Snapshot) (Plan, error) {
	plan := Plan{Halted: map[string]string{}}
	bySet := map[string][]int{}
	for i, a := range s.Apps {
		bySet[a.Set] = append(bySet[a.Set], i)
	}
	inPR := map[string]bool{} // cluster/app
	for _, c := range s.Clusters {
		for _, app := range c.PRApps {
			inPR[c.Name+"/"+app] = true
		}
	}
	settled := func(a App) (bool, State, string) {
		steps := s.Sets[a.Set]
		switch {
		case a.Differs():
			return false, Waiting, ""
		case a.Status == nil || a.Status.State == forge.StatePending:
			return false, Verifying, "verify's success on the live commit"
		case a.Status.State != forge.StateSuccess:
			return false, Failed, "a fix: verify reported " + string(a.Status.State) + ": " + a.Status.Description
		}
		if a.Step != Unmatched {
			if bake := steps[a.Step].BakeTime; bake > 0 && s.Now.Sub(a.Status.UpdatedAt) < bake {
				left := bake - s.Now.Sub(a.Status.UpdatedAt)
				return false, Baking, fmt.Sprintf("bake time (%s left)", left.Round(time.Second))
			}
		}
		return true, Live, ""
	}

	decisions := make([]AppDecision, len(s.Apps))
	sets := make([]string, 0, len(bySet))
	for set := range bySet {
		sets = append(sets, set)
	}
	slices.Sort(sets)
	for _, set := range sets {
		idx := bySet[set]
		steps := s.Sets[set]
		// A failed verify anywhere in the set halts it.
		for _, i := range idx {
			a := s.Apps[i]
			if !a.Differs() && a.Status != nil && (a.Status.State == forge.StateFailure || a.Status.State == forge.StateError) {
				plan.Halted[set] = fmt.Sprintf("%s on %s failed verification: %s", a.Name, a.Cluster, a.Status.Description)
				break
			}
		}
		prevSettled := true
		var firstUnsettled string
		for k := range steps {
			var stepApps []int
			for _, i := range idx {
				if s.Apps[i].Step == k {
					stepApps = append(stepApps, i)
				}
			}
			limit, err := MaxUpdate(steps[k].MaxUpdate, len(stepApps))
			if err != nil {
				return Plan{}, fmt.Errorf("ApplicationSet %s, step %s: %w", set, steps[k].Name, err)
			}
			needsApproval := limit == 0
			// In flight: in an open pull request, or live but not settled.
			inFlight := 0
			for _, i := range stepApps {
				a := s.Apps[i]
				ok, _, _ := settled(a)
				if inPR[a.Cluster+"/"+a.Name] || !a.Differs() && !ok {
					inFlight++
				}
			}
			allSettled := true
			for _, i := range stepApps {
				a := s.Apps[i]
				d := AppDecision{App: a.Name, Cluster: a.Cluster, Set: set, Step: steps[k].Name}
				ok, st, why := settled(a)
				d.State, d.WaitingFor = st, why
				if !ok {
					allSettled = false
					if firstUnsettled == "" {
						firstUnsettled = a.Name + " on " + a.Cluster
					}
				}
				if a.Differs() {
					gateOpen := prevSettled && plan.Halted[set] == ""
					switch {
					case plan.Halted[set] != "":
						d.State, d.WaitingFor = Halted, "the rollout is halted: "+plan.Halted[set]
					case !prevSettled:
						d.WaitingFor = "earlier steps to settle (" + firstUnsettled + ")"
					case inPR[a.Cluster+"/"+a.Name]:
						d.State, d.Promote = InPR, true
					case needsApproval || inFlight < limit:
						d.State, d.Promote = InPR, true
						inFlight++
					default:
						d.WaitingFor = fmt.Sprintf("a free slot (maxUpdate %d, %d in flight)", limit, inFlight)
					}
					if !gateOpen {
						d.Promote = false
					}
					if d.Promote && (needsApproval || steps[k].RequireApproval) {
						d.WaitingFor = "an approving review"
					}
				}
				decisions[i] = d
			}
			prevSettled = prevSettled && allSettled
		}
		for _, i := range idx {
			a := s.Apps[i]
			if a.Step != Unmatched {
				continue
			}
			d := AppDecision{App: a.Name, Cluster: a.Cluster, Set: set, Step: "-", State: NotMatched}
			if a.Differs() {
				d.Promote, d.WaitingFor = true, "a person to merge (no rollout step selects it)"
			} else if _, st, why := settled(a); st != Live {
				d.State, d.WaitingFor = st, why
			}
			decisions[i] = d
		}
	}
	plan.Apps = decisions

	// Per cluster: the pull request holds the apps to promote.
	names := make([]string, 0, len(s.Clusters))
	for n := range s.Clusters {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		c := s.Clusters[name]
		var apps, steps []string
		manual, approval := false, false
		for i, d := range decisions {
			if d.Cluster != name || !d.Promote {
				continue
			}
			apps = append(apps, d.App)
			steps = append(steps, d.Step)
			a := s.Apps[i]
			if a.Step == Unmatched {
				manual = true
				continue
			}
			st := s.Sets[a.Set][a.Step]
			if lim, _ := MaxUpdate(st.MaxUpdate, 1); st.RequireApproval || st.MaxUpdate != nil && lim == 0 {
				approval = true
			}
		}
		slices.Sort(apps)
		steps = uniq(steps)
		act := Action{Cluster: name, Apps: apps, Steps: steps}
		switch {
		case len(apps) == 0 && c.PR != nil:
			act.Kind, act.Reason = Close, "nothing on this cluster may be promoted now"
		case len(apps) == 0:
			continue
		case c.PR == nil && (manual || approval):
			act.Kind, act.Reason = Open, "promote "+strings.Join(apps, ", ")
		case c.PR == nil:
			act.Kind, act.Reason = OpenMerge, "promote "+strings.Join(apps, ", ")+"; every app's gate is open and none needs approval"
		case (!equalStrings(apps, sortedCopy(c.PRApps)) || !c.PRCurrent) && (manual || approval):
			act.Kind, act.Reason = Update, "the apps to promote or their content changed (release latest)"
		case !equalStrings(apps, sortedCopy(c.PRApps)) || !c.PRCurrent:
			act.Kind, act.Reason = UpdateMerge, "the apps to promote or their content changed (release latest); every app's gate is open and none needs approval"
		case manual:
			act.Kind, act.Reason = Wait, "a person must merge: it holds apps no rollout step selects"
		case approval && len(c.Approvers) == 0:
			act.Kind, act.Reason = Wait, "an approving review of the current head"
		case c.PR.MergeableState != "" && !c.PR.MergeableState.Ready() && c.PR.MergeableState != forge.MergeableUnknown:
			act.Kind, act.Reason = Wait, "GitHub reports the pull request "+string(c.PR.MergeableState)
		default:
			act.Kind, act.Reason = Merge, "every app's gate is open"
			if approval {
				act.Reason += "; approved by " + strings.Join(c.Approvers, ", ")
			}
		}
		plan.Actions = append(plan.Actions, act)
	}
	return plan, nil
}
