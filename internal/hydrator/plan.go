package hydrator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/redact"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/source"
)

// renderPlan is everything rendered, before anything is written.
type renderPlan struct {
	fleet *fleet.Fleet
	dry   hydrate.DryCommit
	when  time.Time
	repo  *git.Repository // nil when the fleet is not a Git checkout
	// repos and generated are what load found, for build.
	repos     *source.Repos
	generated []appset.Generated
	// trees are the selected clusters' trees, in cluster order; those of
	// failed clusters hold no Applications and must not be written.
	trees []*hydrate.Tree
	// failures are the Applications that did not build (only with
	// KeepGoing; otherwise any failure is build's error), by cluster
	// order, then Application name.
	failures []Failure
	failed   map[string]bool // clusters with a failure
	apps     int
	builds   int64
	// cachedBuilds of builds were reused from an earlier run.
	cachedBuilds int64
	timer        *timer
	// warnings say what yields nothing (see zeroCheck), then what the
	// builds found (see buildWarnings).
	warnings []Warning
	// closers run when the run is over (close), last first.
	closers []func()
}

// close releases what the plan holds open.
func (p *renderPlan) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// timer records phase durations, and tells progress of each.
type timer struct {
	last     time.Time
	phases   map[string]float64
	progress func(phase string, took time.Duration)
}

func newTimer(progress func(string, time.Duration)) *timer {
	return &timer{last: time.Now(), phases: map[string]float64{}, progress: progress}
}

func (t *timer) done(phase string) {
	now := time.Now()
	took := now.Sub(t.last)
	t.phases[phase] += took.Seconds()
	t.last = now
	if t.progress != nil {
		t.progress(phase, took)
	}
}

// orInput is err as the input's fault (failure.Input), unless it is
// already classified (a remote's failure, an interruption, a file error).
func orInput(err error) error {
	if err == nil || failure.ClassOf(err) != failure.Failed {
		return err
	}
	return failure.Mark(failure.Input, err)
}

// load loads the fleet, generates its Applications and lays out the
// (still empty) trees of the selected clusters. Any problem with the
// input is returned before anything is built or written. The caller
// closes the plan.
func load(ctx context.Context, o Options) (_ *renderPlan, err error) {
	tm := newTimer(o.Progress)
	f, err := fleet.Load(o.Fleet)
	if err != nil {
		return nil, orInput(err)
	}
	repos, err := source.New(f)
	if err != nil {
		return nil, orInput(err)
	}
	p := &renderPlan{fleet: f, timer: tm, repos: repos, closers: []func(){func() { _ = repos.Close() }}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.generated, err = appset.GenerateFleet(ctx, f, repos); err != nil {
		return nil, orInput(err)
	}
	tm.done("generate")
	if p.repo, p.dry, p.when, err = dryCommit(f); err != nil {
		return nil, err
	}
	tm.done("load")

	// With argoCD.inCluster, Argo CD's local cluster is a cluster like the
	// others: its apps go to its own branch (hydrated/in-cluster-next).
	l := f.Config.Layout()
	for k, c := range f.Clusters {
		if ShardOf(k, o.ShardCount) == o.ShardIndex {
			p.trees = append(p.trees, &hydrate.Tree{Cluster: c, Branch: l.StagingBranch(c.Name)})
		}
	}
	if err := zeroCheck(f, p.generated, p.clusters()); err != nil {
		return nil, err
	}
	return p, nil
}

// clusters are the run's clusters, in inventory order.
func (p *renderPlan) clusters() []fleet.Cluster {
	out := make([]fleet.Cluster, len(p.trees))
	for i, t := range p.trees {
		out[i] = t.Cluster
	}
	return out
}

// build renders the Applications (and the children of apps of apps) and
// fills the selected clusters' trees. With KeepGoing, a failed
// Application keeps its clusters as they were (p.failures); otherwise it
// is build's error.
func (p *renderPlan) build(ctx context.Context, o Options) error {
	f, generated := p.fleet, p.generated
	inRun := map[string]bool{}
	trees := map[string]*hydrate.Tree{}
	for _, t := range p.trees {
		inRun[t.Cluster.Name] = true
		trees[t.Cluster.Name] = t
	}
	builder, err := newBuilder(f, p.repos, p.repo, o)
	if err != nil {
		return err
	}
	b, err := buildTree(ctx, f, p.repos, builder, generated, inRun, o.Concurrency)
	if err != nil {
		return err
	}
	// An Application built only to find its children (another shard's)
	// matters when it failed and may hide some.
	var jobs []renderJob
	var errs []error
	hidden := false
	for i, j := range b.jobs {
		hides := b.errs[i] != nil && b.hidden[i] && b.appOfApps
		if j.write || hides {
			jobs, errs = append(jobs, j), append(errs, b.errs[i])
		}
		hidden = hidden || hides
	}
	if o.KeepGoing {
		p.failures, p.failed = failuresOf(jobs, errs, p.trees, hidden)
	} else if err := collapseRenderErrors(errs); err != nil {
		return orInput(err)
	}
	for _, w := range append(appset.ZeroWarnings(f, generated), emptyClusters(f, p.clusters(), jobs)...) {
		p.warnings = append(p.warnings, Warning{Message: w})
	}
	var written []renderJob
	var warns [][]render.Warning
	for i, j := range b.jobs {
		if j.write {
			written, warns = append(written, j), append(warns, b.warns[i])
		}
	}
	p.warnings = append(p.warnings, buildWarnings(f, written, warns)...)
	p.builds, p.cachedBuilds = builder.Builds(), builder.CachedBuilds()
	for i, j := range b.jobs {
		if j.write {
			p.apps++
		}
		if b.built[i] && !p.failed[j.cluster] {
			trees[j.cluster].Apps = append(trees[j.cluster].Apps, b.apps[i])
		}
	}
	for _, t := range p.trees {
		sort.Slice(t.Apps, func(a, b int) bool { return t.Apps[a].Name < t.Apps[b].Name })
	}
	p.timer.done("render")
	return nil
}

// written returns the trees to write: every cluster's but those with a
// failed Application, which keep their branch (or --out folder) exactly
// as it was. A tree without one of its Applications would read as the
// deletion of that Application downstream.
func (p *renderPlan) written() []*hydrate.Tree {
	out := make([]*hydrate.Tree, 0, len(p.trees))
	for _, t := range p.trees {
		if !p.failed[t.Cluster.Name] {
			out = append(out, t)
		}
	}
	return out
}

// failuresOf lists the Applications that failed, one entry per
// Application (a build shared by several is listed for each), in cluster
// order then by name, and the clusters they fail.
//
// hidden: a failed Application's children are unknown in a fleet that
// uses app of apps, so they may belong to any cluster: every cluster is
// then kept as it was (a child left out would read as its deletion).
func failuresOf(jobs []renderJob, errs []error, trees []*hydrate.Tree, hidden bool) ([]Failure, map[string]bool) {
	rank := map[string]int{}
	for i, t := range trees {
		rank[t.Cluster.Name] = i
	}
	var out []Failure
	failed := map[string]bool{}
	for i, err := range errs {
		if err == nil {
			continue
		}
		j := jobs[i]
		failed[j.cluster] = true
		msg := "application " + j.gen.App.Metadata.Name + renderedBy(j.gen) + " for cluster " + j.cluster
		cause := err
		var re *render.Error
		if errors.As(err, &re) {
			cause = re.Err
			if re.Source != "" {
				msg += ": source " + re.Source
			}
		}
		fe := &fleet.FileError{File: j.gen.File, Class: fleet.ClassRender, Msg: msg, Err: cause}
		out = append(out, Failure{Cluster: j.cluster, App: j.gen.App.Metadata.Name, Error: fe.Error(), Err: fe})
	}
	if hidden {
		for _, t := range trees {
			failed[t.Cluster.Name] = true
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if ra, rb := rank[out[a].Cluster], rank[out[b].Cluster]; ra != rb {
			return ra < rb
		}
		return out[a].App < out[b].App
	})
	return out, failed
}

// buildOrder returns the indexes of jobs with the first Application of
// each set of sources before all the others. Applications of one source
// share its build: in name order (svc-a-cluster-1, svc-a-cluster-2, …)
// the errgroup's slots would all wait on one build instead of running
// different ones.
func buildOrder(jobs []renderJob) []int {
	first := make([]int, 0, len(jobs))
	var rest []int
	seen := map[string]bool{}
	var key strings.Builder
	for i, j := range jobs {
		key.Reset()
		for _, s := range j.gen.App.Spec.AllSources() {
			key.WriteString(s.RepoURL + "\x00" + s.Path + "\x00" + s.TargetRevision + "\x00")
		}
		if k := key.String(); !seen[k] {
			seen[k] = true
			first = append(first, i)
		} else {
			rest = append(rest, i)
		}
	}
	return append(first, rest...)
}

// collapseRenderErrors reports a failed build once, naming every
// Application that shares it, in input order.
func collapseRenderErrors(errs []error) error {
	type group struct {
		file, source string
		apps         []string
		err          error
	}
	var order []*group
	groups := map[string]*group{}
	for _, err := range errs {
		var fe *fleet.FileError
		var re *render.Error
		if err == nil || !errors.As(err, &fe) || !errors.As(err, &re) {
			if err != nil {
				order = append(order, &group{err: err})
			}
			continue
		}
		key := fe.File + "\x00" + re.Source + "\x00" + re.Err.Error()
		if g, ok := groups[key]; ok && re.Source != "" {
			g.apps = append(g.apps, re.App)
			continue
		}
		g := &group{file: fe.File, source: re.Source, apps: []string{re.App}, err: re.Err}
		groups[key] = g
		order = append(order, g)
	}
	var out []error
	for _, g := range order {
		if g.apps == nil {
			out = append(out, g.err)
			continue
		}
		who := "application " + g.apps[0]
		if n := len(g.apps); n > 1 {
			who = "applications " + strings.Join(g.apps[:min(n, 3)], ", ")
			if n > 3 {
				who += fmt.Sprintf(" and %d more", n-3)
			}
		}
		msg := who
		if g.source != "" {
			msg += ": source " + g.source
		}
		out = append(out, &fleet.FileError{File: g.file, Class: fleet.ClassRender, Msg: msg, Err: g.err})
	}
	return errors.Join(out...)
}

// openFleetRepo opens the Git repository that holds the fleet folder,
// seeing only the objects git sees (gitobj.Open): render's publisher
// fetches what it lacks and builds hydrated commits on what it has.
func openFleetRepo(root string) (*git.Repository, error) {
	return gitobj.Open(root)
}

// dryCommit describes the fleet checkout's HEAD (zero values when the fleet
// is not in a Git repository). A checkout that cannot be read is the
// input's fault (failure.Input).
func dryCommit(f *fleet.Fleet) (*git.Repository, hydrate.DryCommit, time.Time, error) {
	repo, err := openFleetRepo(f.Root)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, hydrate.DryCommit{}, time.Unix(0, 0).UTC(), nil
	}
	if err != nil {
		return nil, hydrate.DryCommit{}, time.Time{}, failure.Mark(failure.Input, fmt.Errorf("open the fleet's Git repository: %w", err))
	}
	head, err := repo.Head()
	if err != nil {
		return nil, hydrate.DryCommit{}, time.Time{}, failure.Mark(failure.Input, fmt.Errorf("the fleet checkout has no commit yet: %w", err))
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, hydrate.DryCommit{}, time.Time{}, failure.Mark(failure.Input, err)
	}
	subject, body, _ := strings.Cut(c.Message, "\n")
	repoURL := ""
	for url, p := range f.Config.Repos {
		if filepath.Clean(p) == "." && (repoURL == "" || url < repoURL) {
			repoURL = url
		}
	}
	if repoURL == "" {
		// Written into every hydrated branch: never with credentials.
		repoURL = redact.URL(originURL(repo))
	}
	dry := hydrate.DryCommit{
		SHA: c.Hash.String(), RepoURL: repoURL,
		Author:  fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
		Date:    c.Committer.When.UTC().Format(time.RFC3339),
		Subject: subject, Body: strings.TrimSpace(body),
	}
	return repo, dry, c.Committer.When, nil
}

func originURL(repo *git.Repository) string {
	r, err := repo.Remote("origin")
	if err != nil || len(r.Config().URLs) == 0 {
		return ""
	}
	return r.Config().URLs[0]
}

// clusterResults is every selected cluster's result in cluster order: the
// written ones', and a failed entry for each cluster kept for a failure.
func clusterResults(p *renderPlan, written []hydrate.Result) []ClusterResult {
	byCluster := make(map[string]hydrate.Result, len(written))
	for _, r := range written {
		byCluster[r.Cluster] = r
	}
	out := make([]ClusterResult, 0, len(p.trees))
	for _, t := range p.trees {
		if p.failed[t.Cluster.Name] {
			out = append(out, ClusterResult{Result: hydrate.Result{Cluster: t.Cluster.Name, Branch: t.Branch}, Failed: true})
			continue
		}
		out = append(out, ClusterResult{Result: byCluster[t.Cluster.Name]})
	}
	return out
}

// keepPacksOpen reopens repo keeping its packfiles open until the returned
// func runs: publishing reads thousands of objects, and go-git otherwise
// opens the packfile again for each (measured: a third of a no-change run
// of 5,000 apps). Exclusive access, which lists the loose objects once
// instead of trying to open one per lookup, was measured and left off: it
// saves 0.3 s on a first run and costs 0.3 s on an incremental one.
func keepPacksOpen(repo *git.Repository) (*git.Repository, func(), error) {
	st, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return repo, func() {}, nil
	}
	var wt billy.Filesystem
	if w, err := repo.Worktree(); err == nil {
		wt = w.Filesystem
	}
	s := filesystem.NewStorageWithOptions(gitobj.HideQuarantine(st.Filesystem()), cache.NewObjectLRUDefault(), filesystem.Options{KeepDescriptors: true})
	r, err := git.Open(s, wt)
	if err != nil {
		return nil, nil, fmt.Errorf("open the fleet's Git repository: %w", err)
	}
	return r, func() { _ = s.Close() }, nil
}
