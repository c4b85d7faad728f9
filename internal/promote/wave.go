package promote

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// Wave is what a pass would move with its approvals given: every live
// branch it would push or merge into, bound by Hash to the commits it
// moves between. promote --plan prints it; --execute-plan HASH executes it
// only when it is still the same.
type Wave struct {
	// Hash is the hex SHA-256 of the wave's canonical encoding (Encode).
	Hash     string        `json:"hash"`
	Clusters []WaveCluster `json:"clusters"`
}

// WaveCluster is one live branch the wave moves.
type WaveCluster struct {
	Cluster string `json:"cluster"`
	// Mode is "push" (pullRequest: false) or "pull-request" (opened,
	// updated or merged).
	Mode string `json:"mode"`
	// Branch is the live branch; From its head now (all zeros when it
	// does not exist yet or holds only its start commit); To the staging
	// head whose apps it takes.
	Branch string    `json:"branch"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Apps   []WaveApp `json:"apps"`
}

// WaveApp is one app a wave promotes, with its object changes.
type WaveApp struct {
	App     string `json:"app"`
	Step    string `json:"step"`
	Added   int    `json:"added"`
	Changed int    `json:"changed"`
	Removed int    `json:"removed"`
	// Deleted are the objects the promotion deletes (kind/namespace/name).
	Deleted []string `json:"deleted,omitempty"`
}

// Wave modes.
const (
	ModePush        = "push"
	ModePullRequest = "pull-request"
)

// Encode is the wave's canonical encoding, which Hash hashes: a version
// line, then per cluster (in name order) its mode, live branch, from and
// to commits and its apps (in name order), one field per line. Object
// counts are not in it: the commits and apps determine them.
func (w *Wave) Encode() string {
	var b strings.Builder
	b.WriteString("flotilla-wave v1\n")
	for _, c := range w.Clusters {
		fmt.Fprintf(&b, "cluster %s\nmode %s\nbranch %s\nfrom %s\nto %s\n", c.Cluster, c.Mode, c.Branch, c.From, c.To)
		for _, a := range c.Apps {
			fmt.Fprintf(&b, "app %s\n", a.App)
		}
	}
	return b.String()
}

// Summary is the wave in one line per cluster, for messages.
func (w *Wave) Summary() string {
	if len(w.Clusters) == 0 {
		return "nothing"
	}
	var parts []string
	for _, c := range w.Clusters {
		apps := make([]string, len(c.Apps))
		for i, a := range c.Apps {
			apps[i] = a.App
		}
		parts = append(parts, fmt.Sprintf("%s %s→%s (%s, %s)", c.Cluster, shortOrNone(c.From), layout.Short(c.To), c.Mode, strings.Join(apps, ", ")))
	}
	return strings.Join(parts, "; ")
}

func shortOrNone(sha string) string {
	if strings.Trim(sha, "0") == "" {
		return "(new)"
	}
	return layout.Short(sha)
}

// NormalizePlanHash accepts a plan hash as printed, with or without a
// "sha256:" prefix, in any case.
func NormalizePlanHash(h string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "sha256:"))
}

// PlanChangedError is an --execute-plan whose wave is no longer the one
// planned: nothing was done.
type PlanChangedError struct {
	// Planned is the hash given; Now the wave as it is now.
	Planned string
	Now     *Wave
	// Changes say what changed, when the planned wave was given
	// (Options.PlannedWave); else nil.
	Changes []string
}

func (e *PlanChangedError) Error() string {
	what := "a staging or live branch moved, or a gate opened or closed"
	if len(e.Changes) > 0 {
		what = strings.Join(e.Changes, "; ")
	}
	return fmt.Sprintf("execute plan %s: the wave changed since it was planned (%s); "+
		"nothing was done. The wave now is %s: %s. Run promote --plan again and approve the new hash",
		layout.Short(e.Planned), what, layout.Short(e.Now.Hash), e.Now.Summary())
}

// HashOf is the hash of the wave's canonical encoding (what Hash holds
// when the wave is as computed).
func (w *Wave) HashOf() string {
	sum := sha256.Sum256([]byte(w.Encode()))
	return hex.EncodeToString(sum[:])
}

// Changes lists what differs from the wave planned to the wave now, per
// cluster in name order: a cluster that joined or left the wave, a mode,
// a live or staging branch that moved, apps that joined or left.
func Changes(planned, now *Wave) []string {
	byName := func(w *Wave) map[string]WaveCluster {
		m := map[string]WaveCluster{}
		for _, c := range w.Clusters {
			m[c.Cluster] = c
		}
		return m
	}
	p, n := byName(planned), byName(now)
	names := map[string]bool{}
	for k := range p {
		names[k] = true
	}
	for k := range n {
		names[k] = true
	}
	var sorted []string
	for k := range names {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	var out []string
	apps := func(c WaveCluster) []string {
		var a []string
		for _, x := range c.Apps {
			a = append(a, x.App)
		}
		return a
	}
	for _, name := range sorted {
		pc, inP := p[name]
		nc, inN := n[name]
		switch {
		case !inN:
			out = append(out, name+" left the wave")
		case !inP:
			out = append(out, name+" joined the wave ("+strings.Join(apps(nc), ", ")+")")
		default:
			if pc.Mode != nc.Mode {
				out = append(out, fmt.Sprintf("%s: %s, planned %s", name, nc.Mode, pc.Mode))
			}
			if pc.From != nc.From {
				out = append(out, fmt.Sprintf("%s: %s moved %s→%s", name, nc.Branch, shortOrNone(pc.From), shortOrNone(nc.From)))
			}
			if pc.To != nc.To {
				out = append(out, fmt.Sprintf("%s: its staging branch moved %s→%s", name, layout.Short(pc.To), layout.Short(nc.To)))
			}
			if pa, na := apps(pc), apps(nc); !slices.Equal(pa, na) {
				out = append(out, fmt.Sprintf("%s: apps %s, planned %s", name, strings.Join(na, ", "), strings.Join(pa, ", ")))
			}
		}
	}
	return out
}

// FailureClass is failure.Conflict: the state moved under the approval.
func (e *PlanChangedError) FailureClass() failure.Class { return failure.Conflict }

// emptyTree is Git's empty tree, the tree of a live branch's start commit.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// wave is the plan's moving actions as a Wave. A live branch holding only
// its start commit (startLiveBranches) reads as absent, so a plan made
// before the first pass started it still matches after.
func (r *runner) wave(p Plan, data map[string]*clusterData) *Wave {
	w := &Wave{Clusters: []WaveCluster{}}
	for _, a := range p.Actions { // in cluster order
		if !a.Kind.Merges() {
			continue
		}
		d := data[a.Cluster]
		c := WaveCluster{Cluster: a.Cluster, Mode: ModePullRequest, Branch: r.Fleet.Config.LiveBranch(a.Cluster),
			From: plumbing.ZeroHash.String(), To: d.stagingHead.String(), Apps: []WaveApp{}}
		if a.Kind == Push {
			c.Mode = ModePush
		}
		if !d.liveHead.IsZero() {
			if lc, err := r.Repo.CommitObject(d.liveHead); err != nil || len(lc.ParentHashes) > 0 || lc.TreeHash != emptyTree {
				c.From = d.liveHead.String()
			}
		}
		for _, app := range a.Apps {
			add, chg, del := r.objectChanges(d, app)
			step := "-"
			for _, dec := range p.Apps {
				if dec.App == app && dec.Cluster == a.Cluster {
					step = dec.Step
				}
			}
			c.Apps = append(c.Apps, WaveApp{App: app, Step: step, Added: len(add), Changed: len(chg), Removed: len(del), Deleted: del})
		}
		w.Clusters = append(w.Clusters, c)
	}
	w.Hash = w.HashOf()
	return w
}
