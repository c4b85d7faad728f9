// Package verifier is the verify pipeline: for each cluster, read its live
// hydrated branch, compare every selected app with the cluster (sync and
// health, internal/kube), optionally heal drifted apps by applying them
// and poll until the apps settle, then post one commit status per app on
// the branch head. Results are data, errors values with their class
// (internal/failure); nothing is printed.
package verifier

import (
	"context"
	"fmt"
	"time"

	"github.com/flotilla-dev/flotilla/internal/applier"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// Options are one verify run.
type Options struct {
	applier.Target
	// Clusters are verified one after the other, in this order.
	Clusters []string
	// Wait polls until every app is healthy, or settled (healthy or
	// degraded), or Timeout passes.
	Wait bool
	// Timeout is how long Wait waits.
	Timeout time.Duration
	// Heal applies the apps found OutOfSync, then verifies again.
	Heal bool
	// Tooling is the ApplySet tooling heal records ("flotilla/<version>").
	Tooling string
	// Statuses is where the commit statuses go (one per app, context
	// layout.VerifyContext(app), on the branch head); nil posts none. A
	// forge that implements BranchFetcher is asked for each branch first.
	Statuses forge.Statuses
	// Poll is the interval between Wait's checks (default 2s).
	Poll time.Duration
	// Waiting, when set, is called after each of Wait's checks that
	// leaves the cluster unsettled, with the time waited so far and the
	// apps not settled yet (progress for a terminal).
	Waiting func(cluster string, waited time.Duration, unsettled []*kube.AppStatus)
}

// BranchFetcher is implemented by a forge that holds a branch's commits
// only once fetched (the local forge over a remote, kept in memory): the
// verifier fetches each branch before posting statuses on its head.
type BranchFetcher interface {
	FetchBranch(ctx context.Context, branch string) error
}

// Result is a run's outcome, one Cluster per Options.Clusters verified.
type Result struct {
	Clusters []*Cluster
}

// Cluster is one cluster's outcome.
type Cluster struct {
	Name   string
	Branch string
	Commit string
	// Apps are the selected apps' statuses, in the branch's order (or
	// Target.Apps's).
	Apps []*kube.AppStatus
	// Healed are the apps Heal applied.
	Healed []string
	// HealErrors are the apps Heal could not apply, with why (their
	// statuses' messages say it too).
	HealErrors map[string]error
	// Removed are apps that left the branch but whose objects are still in
	// the cluster (their inventory says so), with their object counts.
	Removed map[string]int
}

// InSync reports whether every app is Synced and Healthy and no app that
// left the branch still has objects in the cluster.
func (c *Cluster) InSync() bool {
	for _, a := range c.Apps {
		if a.Sync != kube.Synced || a.Health != kube.Healthy {
			return false
		}
	}
	return len(c.Removed) == 0
}

// Run verifies every cluster of o. It stops at the first cluster that
// cannot be verified (its branch, its kubeconfig, the API server, the
// forge): the error names the cluster, and the Result holds the clusters
// verified before it, whose statuses were posted.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	res := &Result{}
	for _, name := range o.Clusters {
		c, err := verifyCluster(ctx, o, name)
		if err != nil {
			return res, fmt.Errorf("cluster %s: %w", name, err)
		}
		res.Clusters = append(res.Clusters, c)
	}
	return res, nil
}

func verifyCluster(ctx context.Context, o Options, cluster string) (*Cluster, error) {
	c, err := o.Open(ctx, cluster)
	if err != nil {
		return nil, err
	}
	snap, client, apps := c.Snapshot, c.Client, c.Apps
	res := &Cluster{Name: cluster, Branch: c.Branch, Commit: snap.Commit}
	run := func() error {
		res.Apps = res.Apps[:0]
		for _, a := range apps {
			app, err := applier.KubeApp(a, snap)
			if err != nil {
				return err
			}
			st, err := client.Verify(ctx, app, kube.Options{})
			if err != nil {
				return err
			}
			res.Apps = append(res.Apps, st)
		}
		return nil
	}
	if err := run(); err != nil {
		return nil, err
	}
	if len(o.Apps) == 0 {
		removed, err := c.Removed(ctx)
		if err != nil {
			return nil, err
		}
		if len(removed) > 0 {
			res.Removed = removed
		}
	}
	if o.Heal {
		for i, st := range res.Apps {
			if st.Sync != kube.OutOfSync {
				continue
			}
			app, err := applier.KubeApp(apps[i], snap)
			if err != nil {
				return nil, err
			}
			if _, err := client.Apply(ctx, app, kube.Options{Tooling: o.Tooling}); err != nil {
				st.Message += "; heal failed: " + err.Error()
				if res.HealErrors == nil {
					res.HealErrors = map[string]error{}
				}
				res.HealErrors[st.App] = err
				continue
			}
			res.Healed = append(res.Healed, st.App)
		}
		if len(res.Healed) > 0 {
			if err := run(); err != nil {
				return nil, err
			}
		}
	}
	if o.Wait {
		start := time.Now()
		deadline := start.Add(o.Timeout)
		for !settled(res.Apps) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(o.Poll):
			}
			if err := run(); err != nil {
				return nil, err
			}
			if o.Waiting != nil && !settled(res.Apps) {
				var unsettled []*kube.AppStatus
				for _, a := range res.Apps {
					if !settled([]*kube.AppStatus{a}) {
						unsettled = append(unsettled, a)
					}
				}
				o.Waiting(cluster, time.Since(start), unsettled)
			}
		}
		if !settled(res.Apps) {
			for _, st := range res.Apps {
				if st.Health == kube.Progressing {
					st.Message = fmt.Sprintf("still progressing after %s: %s", o.Timeout, st.Message)
				}
			}
		}
	}
	if o.Statuses != nil {
		if f, ok := o.Statuses.(BranchFetcher); ok {
			if err := f.FetchBranch(ctx, c.Branch); err != nil {
				return nil, err
			}
		}
		for _, st := range res.Apps {
			if err := o.Statuses.SetStatus(ctx, snap.Commit, StatusOf(st)); err != nil {
				return nil, fmt.Errorf("post status for %s: %w", st.App, err)
			}
		}
	}
	return res, nil
}

// settled: every app healthy, or healthy/degraded with nothing progressing.
func settled(apps []*kube.AppStatus) bool {
	for _, a := range apps {
		if a.Health == kube.Progressing || a.Health == kube.Missing && a.Sync == kube.Pending {
			return false
		}
	}
	return true
}

// StatusOf is the commit status verify posts for an app.
func StatusOf(st *kube.AppStatus) forge.Status {
	s := forge.Status{Context: layout.VerifyContext(st.App), Description: fmt.Sprintf("%s, %s: %s", st.Sync, st.Health, st.Message)}
	switch {
	case st.Sync == kube.Synced && st.Health == kube.Healthy:
		s.State = forge.StateSuccess
	case st.Sync == kube.Pending || st.Health == kube.Progressing && st.Sync == kube.Synced:
		s.State = forge.StatePending
	default:
		s.State = forge.StateFailure
	}
	return s
}
