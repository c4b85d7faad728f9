// Package status is the fleet's status view: every cluster and app with
// its rollout tier, live and proposed content, promotion pull request,
// verify's state and its age, and what its gate waits for. It runs a
// promotion pass in dry-run mode (promote.Run with DryRun), so the
// gates it shows are the decisions promote itself would take, then reads
// verify's statuses on every live head; it changes nothing. The views
// (text, Markdown, HTML) are pure functions of the Report.
package status

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// Report is the fleet's status.
type Report struct {
	// GeneratedAt is when the forge was read; ages count from it.
	GeneratedAt time.Time `json:"generatedAt"`
	Clusters    []Cluster `json:"clusters"`
	// Apps in rollout order: ApplicationSet, tier, cluster, app.
	Apps   []App  `json:"apps"`
	Halted []Halt `json:"halted,omitempty"`
	// Paused are the paused rollouts: ApplicationSets (flotilla.yaml's
	// rollout pause), then clusters (the paused label on a promotion pull
	// request, an open rollback), each with why and where it is set.
	Paused []Pause `json:"paused,omitempty"`
}

// Pause is a paused rollout of an ApplicationSet or a cluster.
type Pause struct {
	// Kind is "applicationSet" or "cluster".
	Kind string `json:"kind"`
	Name string `json:"name"`
	By   string `json:"by"`
}

// Cluster is one cluster's branches and promotion.
type Cluster struct {
	Name string `json:"name"`
	// Rendered says the cluster's proposal branch (hydrated/<cluster>-next
	// by default) exists; the rest is empty when it does not.
	Rendered bool `json:"rendered"`
	// ProposedBranch is the proposal branch's name, as the fleet's layout
	// says (not in JSON; "" reads as the default layout's).
	ProposedBranch string `json:"-"`
	// Live and Proposed are the heads of the live branch
	// (hydrated/<cluster> by default) and the proposal branch ("" when
	// absent).
	Live     string `json:"live,omitempty"`
	Proposed string `json:"proposed,omitempty"`
	// Changed counts the apps whose proposed manifests differ from the
	// live ones (added and removed apps included).
	Changed     int          `json:"changed"`
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
	// Next is what the next promote pass would do for the cluster.
	Next *Next `json:"next,omitempty"`
}

// PullRequest is a cluster's open promotion pull request.
type PullRequest struct {
	Number int    `json:"number"`
	URL    string `json:"url,omitempty"`
	Head   string `json:"head"`
	// Apps are the apps it promotes; Current says it holds their current
	// proposal.
	Apps      []string `json:"apps"`
	Current   bool     `json:"current"`
	Approvers []string `json:"approvers,omitempty"`
}

// Next is the action a promote pass would take, with why.
type Next struct {
	Action string   `json:"action"`
	Apps   []string `json:"apps,omitempty"`
	Reason string   `json:"reason"`
}

// Content values: how an app's proposed manifests compare with the live
// ones.
const (
	ContentSame    = "same"    // proposed equals live
	ContentChanged = "changed" // both exist and differ
	ContentAdded   = "added"   // only proposed
	ContentRemoved = "removed" // only live
)

// App is one app on one cluster.
type App struct {
	Cluster string `json:"cluster"`
	App     string `json:"app"`
	Set     string `json:"applicationSet"`
	// Tier is the rollout step's name ("-" when no step selects it).
	Tier string `json:"tier"`
	// Content compares the proposed manifests with the live ones;
	// LiveManifest and ProposedManifest are their blob hashes.
	Content          string `json:"content"`
	LiveManifest     string `json:"liveManifest,omitempty"`
	ProposedManifest string `json:"proposedManifest,omitempty"`
	// InPR says the cluster's open pull request promotes the app.
	InPR bool `json:"inPullRequest"`
	// Verify is verify's status of the app on the live head (nil: none
	// posted).
	Verify *Verify `json:"verify,omitempty"`
	// State and WaitingFor are promote's decision: where the app is in
	// its rollout and what its gate waits for ("" when nothing).
	State      string `json:"state"`
	WaitingFor string `json:"waitingFor,omitempty"`
}

// Verify is verify's status of an app on its cluster's live head.
type Verify struct {
	State       string    `json:"state"`
	Description string    `json:"description,omitempty"`
	URL         string    `json:"url,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// AgeSeconds is GeneratedAt − UpdatedAt.
	AgeSeconds int64 `json:"ageSeconds"`
}

// Halt is an ApplicationSet whose rollout stopped.
type Halt struct {
	Set    string `json:"applicationSet"`
	Reason string `json:"reason"`
}

// Run reads the fleet's status: a dry-run promotion pass with o (whatever
// its DryRun and Approvals said) for the decisions, then verify's
// statuses on every cluster's live head. Nothing is written but the
// tracking refs a pass with a remote keeps.
func Run(ctx context.Context, o promote.Options) (*Report, error) {
	if o.Fleet == nil {
		f, err := fleet.Load(o.FleetDir)
		if err != nil {
			return nil, err
		}
		o.Fleet = f
	}
	o.DryRun, o.Approvals = true, nil
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now()
	o.Now = func() time.Time { return now }
	res, err := promote.Run(ctx, o)
	if err != nil {
		return nil, err
	}
	dry := o
	rep := &Report{GeneratedAt: now.UTC(), Clusters: []Cluster{}, Apps: []App{}}
	verify := map[string]map[string]forge.Status{}
	for _, c := range dry.Fleet.Clusters {
		if c.Local {
			continue
		}
		h, ok := res.Heads[c.Name]
		cl := Cluster{Name: c.Name, Rendered: ok, ProposedBranch: dry.Fleet.Config.StagingBranch(c.Name), Live: h.Live, Proposed: h.Staging}
		if sc := res.Snapshot.Clusters[c.Name]; sc != nil && sc.PR != nil {
			cl.PullRequest = &PullRequest{Number: sc.PR.Number, URL: sc.PR.URL, Head: sc.PR.HeadSHA,
				Apps: append([]string{}, sc.PRApps...), Current: sc.PRCurrent, Approvers: sc.Approvers}
		}
		for _, a := range res.Plan.Actions {
			if a.Cluster == c.Name {
				cl.Next = &Next{Action: string(a.Kind), Apps: a.Apps, Reason: a.Reason}
			}
		}
		if h.Live != "" {
			list, err := dry.Forge.Statuses(ctx, h.Live)
			if err != nil {
				return nil, fmt.Errorf("read the statuses of %s on cluster %s: %w", h.Live, c.Name, err)
			}
			verify[c.Name] = map[string]forge.Status{}
			for _, s := range list {
				verify[c.Name][s.Context] = s
			}
		}
		rep.Clusters = append(rep.Clusters, cl)
	}
	sort.Slice(rep.Clusters, func(i, j int) bool { return rep.Clusters[i].Name < rep.Clusters[j].Name })
	changed := map[string]int{}
	inPR := map[string]bool{}
	for c, sc := range res.Snapshot.Clusters {
		for _, a := range sc.PRApps {
			inPR[c+"/"+a] = true
		}
	}
	for i, a := range res.Snapshot.Apps {
		d := res.Plan.Apps[i]
		app := App{Cluster: a.Cluster, App: a.Name, Set: a.Set, Tier: d.Step, Content: content(a),
			LiveManifest: a.Live, ProposedManifest: a.Staging, InPR: inPR[a.Cluster+"/"+a.Name],
			State: string(d.State), WaitingFor: d.WaitingFor}
		if app.Content != ContentSame {
			changed[a.Cluster]++
		}
		if s, ok := verify[a.Cluster][layout.VerifyContext(a.Name)]; ok {
			app.Verify = &Verify{State: string(s.State), Description: s.Description, URL: s.TargetURL,
				UpdatedAt: s.UpdatedAt.UTC(), AgeSeconds: int64(now.Sub(s.UpdatedAt) / time.Second)}
		}
		rep.Apps = append(rep.Apps, app)
	}
	for i := range rep.Clusters {
		rep.Clusters[i].Changed = changed[rep.Clusters[i].Name]
	}
	for _, p := range res.Paused {
		rep.Paused = append(rep.Paused, Pause{Kind: p.Kind, Name: p.Name, By: p.By})
	}
	for set, why := range res.Halted {
		rep.Halted = append(rep.Halted, Halt{Set: set, Reason: why})
	}
	sort.Slice(rep.Halted, func(i, j int) bool { return rep.Halted[i].Set < rep.Halted[j].Set })
	return rep, nil
}

func content(a promote.App) string {
	switch {
	case a.Live == a.Staging:
		return ContentSame
	case a.Live == "":
		return ContentAdded
	case a.Staging == "":
		return ContentRemoved
	}
	return ContentChanged
}
