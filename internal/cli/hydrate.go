package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/redact"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/source"
)

// shard is a --shard i/n selection.
type shard struct{ i, n int }

func parseShard(s string) (shard, error) {
	if s == "" {
		return shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return shard{}, fmt.Errorf("%w: --shard %q must be i/n with 0 <= i < n (e.g. 0/4)", errUsage, s)
	}
	return shard{i, n}, nil
}

// select keeps the clusters of the shard: the k-th cluster by name is in
// shard k mod n (the same split as --list-clusters --shards n).
func (s shard) pick(clusters []fleet.Cluster) []fleet.Cluster {
	var out []fleet.Cluster
	for k, c := range clusters {
		if shardOf(k, s.n) == s.i {
			out = append(out, c)
		}
	}
	return out
}

// hydrateResult is render's machine-readable result (-o json).
type hydrateResult struct {
	DrySHA string `json:"drySha"`
	Mode   string `json:"mode"` // push, local, out
	Target string `json:"target"`
	Apps   int    `json:"apps"`
	Builds int64  `json:"builds"`
	// CachedBuilds of Builds were reused from an earlier run.
	CachedBuilds int64           `json:"cachedBuilds"`
	Clusters     []clusterResult `json:"clusters"`
	// Failures are the Applications that did not build (--keep-going):
	// their clusters' branches were kept as they were.
	Failures []appFailure `json:"failures,omitempty"`
	// Warnings are what deserves a word without failing the run: a
	// selector that yields nothing, a deprecated Kustomize field (once
	// per file, naming the Applications whose builds load it).
	Warnings []renderWarning `json:"warnings,omitempty"`
	// Policy is the policy gate's outcome (see policyGate), when it found
	// something.
	Policy *policyResult `json:"policy,omitempty"`
	// Timings are the phases' wall times in seconds: load, generate,
	// render, publish.
	Timings map[string]float64 `json:"timings"`
}

// clusterResult is one cluster's outcome: its branch's, and whether it was
// kept as it was because one of its Applications failed (--keep-going).
type clusterResult struct {
	hydrate.Result
	Failed bool `json:"failed,omitempty"`
}

// appFailure is an Application that failed to build under --keep-going.
type appFailure struct {
	Cluster string `json:"cluster"`
	App     string `json:"app"`
	// Error says what failed, with the ApplicationSet file first.
	Error string `json:"error"`
	err   error
}

// renderPlan is everything rendered, before anything is written.
type renderPlan struct {
	fleet *fleet.Fleet
	dry   hydrate.DryCommit
	when  time.Time
	repo  *git.Repository // nil when the fleet is not a Git checkout
	// trees are the selected clusters' trees, in cluster order; those of
	// failed clusters hold no Applications and must not be written.
	trees []*hydrate.Tree
	// failures are the Applications that did not build (only with
	// --keep-going; otherwise any failure is plan's error), by cluster
	// order, then Application name.
	failures []appFailure
	failed   map[string]bool // clusters with a failure
	apps     int
	builds   int64
	// cachedBuilds of builds were reused from an earlier run.
	cachedBuilds int64
	timer        *timer
	// warnings say what yields nothing (see zeroCheck), then what the
	// builds found (see buildWarnings).
	warnings []renderWarning
}

// timer records phase durations.
type timer struct {
	last   time.Time
	phases map[string]float64
}

func newTimer() *timer { return &timer{last: time.Now(), phases: map[string]float64{}} }

func (t *timer) done(phase string) {
	now := time.Now()
	t.phases[phase] += now.Sub(t.last).Seconds()
	t.last = now
}

// plan loads, generates and renders the selected clusters. Any problem
// with the input is returned before anything is written. ready, when set,
// runs once the clusters and their (still empty) trees are known, before
// anything is built: publishing starts reading the branches there.
func plan(ctx context.Context, o renderOptions, ready func(*renderPlan) error) (*renderPlan, error) {
	tm := newTimer()
	f, err := fleet.Load(o.fleet)
	if err != nil {
		return nil, err
	}
	sh, err := parseShard(o.shard)
	if err != nil {
		return nil, err
	}
	repos, err := source.New(f)
	if err != nil {
		return nil, err
	}
	defer repos.Close()
	generated, err := appset.GenerateFleet(ctx, f, repos)
	if err != nil {
		return nil, err
	}
	tm.done("generate")
	p := &renderPlan{fleet: f, timer: tm}
	if p.repo, p.dry, p.when, err = dryCommit(f); err != nil {
		return nil, err
	}
	tm.done("load")

	// With argoCD.inCluster, Argo CD's local cluster is a cluster like the
	// others: its apps go to its own branch (hydrated/in-cluster-next).
	clusters := sh.pick(f.Clusters)
	inRun := map[string]bool{}
	trees := map[string]*hydrate.Tree{}
	for _, c := range clusters {
		inRun[c.Name] = true
		t := &hydrate.Tree{Cluster: c, Branch: f.Config.StagingBranch(c.Name)}
		trees[c.Name] = t
		p.trees = append(p.trees, t)
	}
	if err := zeroCheck(f, generated, clusters); err != nil {
		return nil, err
	}
	if ready != nil {
		if err := ready(p); err != nil {
			return nil, err
		}
	}

	builder, err := newBuilder(f, repos, p.repo, o.noBuildCache)
	if err != nil {
		return nil, err
	}
	b, err := buildTree(ctx, f, repos, builder, generated, inRun, o.concurrency)
	if err != nil {
		return nil, err
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
	if o.keepGoing {
		p.failures, p.failed = failuresOf(jobs, errs, p.trees, hidden)
	} else if err := collapseRenderErrors(errs); err != nil {
		return nil, err
	}
	for _, w := range append(appset.ZeroWarnings(f, generated), emptyClusters(f, clusters, jobs)...) {
		p.warnings = append(p.warnings, renderWarning{Message: w})
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
	tm.done("render")
	return p, nil
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
func failuresOf(jobs []renderJob, errs []error, trees []*hydrate.Tree, hidden bool) ([]appFailure, map[string]bool) {
	rank := map[string]int{}
	for i, t := range trees {
		rank[t.Cluster.Name] = i
	}
	var out []appFailure
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
		out = append(out, appFailure{Cluster: j.cluster, App: j.gen.App.Metadata.Name, Error: fe.Error(), err: fe})
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

// dryCommit describes the fleet checkout's HEAD (zero values when the fleet
// is not in a Git repository).
func dryCommit(f *fleet.Fleet) (*git.Repository, hydrate.DryCommit, time.Time, error) {
	repo, err := git.PlainOpenWithOptions(f.Root, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, hydrate.DryCommit{}, time.Unix(0, 0).UTC(), nil
	}
	if err != nil {
		return nil, hydrate.DryCommit{}, time.Time{}, fmt.Errorf("open the fleet's Git repository: %w", err)
	}
	head, err := repo.Head()
	if err != nil {
		return nil, hydrate.DryCommit{}, time.Time{}, fmt.Errorf("the fleet checkout has no commit yet: %w", err)
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, hydrate.DryCommit{}, time.Time{}, err
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

// runHydrate renders and writes: to --out, to local branches (--no-push) or
// to the remote. Reading the branches (a fetch) starts as soon as the
// clusters are known and runs while the Applications are built.
func runHydrate(ctx context.Context, o renderOptions, env Env) (int, error) {
	var (
		pub          *hydrate.Publisher
		closeRepo    func()
		mode, target string
		setupCode    = ExitUsage // the input's fault, unless opening the checkout failed
	)
	ctx, cancel := context.WithCancel(ctx)
	defer func() { // in this order: the prefetch reads the checkout
		cancel()
		if pub != nil {
			pub.Close()
		}
		if closeRepo != nil {
			closeRepo()
		}
	}()
	ready := func(p *renderPlan) error {
		if o.out != "" {
			mode, target = "out", o.out
			return nil
		}
		if p.repo == nil {
			return fmt.Errorf("%w: %s is not in a Git repository: use --out DIR to write the trees without Git", errUsage, p.fleet.Root)
		}
		remote := ""
		mode, target = "local", p.fleet.Root
		if !o.noPush {
			remote = o.remote
			if remote == "" {
				remote = p.fleet.Config.Hydrated.Repo
			}
			if remote == "" {
				remote = originURL(p.repo)
			}
			if remote == "" {
				return fmt.Errorf("%w: nowhere to push: pass --remote URL, set hydrated.repo in %s, add an origin remote, or use --no-push", errUsage, fleet.ConfigFile)
			}
			mode, target = "push", redact.URL(remote)
		}
		repo, closeFn, err := keepPacksOpen(p.repo)
		if err != nil {
			setupCode = ExitFailed
			return err
		}
		closeRepo = closeFn
		pub = &hydrate.Publisher{Repo: repo}
		if remote != "" {
			pub.Remote, pub.Auth = remote, authFor(remote, env)
		}
		pub.Prefetch(ctx, p.trees)
		return nil
	}
	p, err := plan(ctx, o, ready)
	if err != nil {
		return setupCode, err
	}
	writeRenderWarnings(env, p.warnings)
	gate, code, err := checkPolicy(ctx, p, o, env)
	if err != nil {
		return code, err
	}
	res := hydrateResult{DrySHA: p.dry.SHA, Apps: p.apps, Builds: p.builds, CachedBuilds: p.cachedBuilds, Mode: mode, Target: target, Failures: p.failures, Warnings: p.warnings, Policy: gate}
	var written []hydrate.Result
	if o.out != "" {
		written, err = writeOut(o.out, p, os.WriteFile)
	} else {
		written, err = pub.Publish(ctx, p.written(), p.dry, p.when)
	}
	if err != nil {
		return ExitFailed, err
	}
	res.Clusters = clusterResults(p, written)
	p.timer.done("publish")
	res.Timings = p.timer.phases
	if o.output == "json" {
		err = writeJSON(env.Stdout, res)
	} else {
		err = writeHydrateSummary(env.Stdout, res)
		if err == nil && gate != nil {
			writePolicyText(env.Stdout, gate)
		}
	}
	if err != nil || len(p.failures) == 0 {
		return ExitOK, err
	}
	failures := make([]error, len(p.failures))
	for i, f := range p.failures {
		failures[i] = f.err
	}
	return ExitFailed, errors.Join(failures...)
}

// clusterResults is every selected cluster's result in cluster order: the
// written ones', and a failed entry for each cluster kept for a failure.
func clusterResults(p *renderPlan, written []hydrate.Result) []clusterResult {
	byCluster := make(map[string]hydrate.Result, len(written))
	for _, r := range written {
		byCluster[r.Cluster] = r
	}
	out := make([]clusterResult, 0, len(p.trees))
	for _, t := range p.trees {
		if p.failed[t.Cluster.Name] {
			out = append(out, clusterResult{Result: hydrate.Result{Cluster: t.Cluster.Name, Branch: t.Branch}, Failed: true})
			continue
		}
		out = append(out, clusterResult{Result: byCluster[t.Cluster.Name]})
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
	s := filesystem.NewStorageWithOptions(st.Filesystem(), cache.NewObjectLRUDefault(), filesystem.Options{KeepDescriptors: true})
	r, err := git.Open(s, wt)
	if err != nil {
		return nil, nil, fmt.Errorf("open the fleet's Git repository: %w", err)
	}
	return r, func() { _ = s.Close() }, nil
}

// authFor uses GITHUB_TOKEN (or FLOTILLA_GIT_TOKEN) for https remotes.
func authFor(remote string, env Env) transport.AuthMethod {
	if !strings.HasPrefix(remote, "https://") || env.Getenv == nil {
		return nil
	}
	for _, k := range []string{"FLOTILLA_GIT_TOKEN", "GITHUB_TOKEN"} {
		if tok := env.Getenv(k); tok != "" {
			return &githttp.BasicAuth{Username: "x-access-token", Password: tok}
		}
	}
	return nil
}

func writeHydrateSummary(w io.Writer, r hydrateResult) error {
	updated, failed := 0, 0
	for _, c := range r.Clusters {
		if c.Updated {
			updated++
		}
		if c.Failed {
			failed++
		}
	}
	dry := r.DrySHA
	if len(dry) > 12 {
		dry = dry[:12]
	}
	if dry == "" {
		dry = "(no commit)"
	}
	builds := fmt.Sprintf("%d distinct builds", r.Builds)
	if r.CachedBuilds > 0 {
		builds += fmt.Sprintf(", %d reused from an earlier run", r.CachedBuilds)
	}
	apps := strconv.Itoa(r.Apps)
	if len(r.Failures) > 0 {
		apps = fmt.Sprintf("%d of %d", r.Apps-len(r.Failures), r.Apps)
	}
	fmt.Fprintf(w, "Rendered %s applications for %d clusters from %s (%s).\n", apps, len(r.Clusters), dry, builds)
	var phases []string
	for _, ph := range []string{"load", "generate", "render", "publish"} {
		phases = append(phases, fmt.Sprintf("%s %.2fs", ph, r.Timings[ph]))
	}
	fmt.Fprintf(w, "Time: %s.\n\n", strings.Join(phases, ", "))
	for _, c := range r.Clusters {
		state := "unchanged"
		switch {
		case c.Failed:
			fmt.Fprintf(w, "  %-32s %-9s kept as it was: an application failed\n", c.Branch, "failed")
			continue
		case c.Kept != "":
			state = "kept"
		case c.Updated:
			state = "updated"
		}
		fmt.Fprintf(w, "  %-32s %-9s +%d ~%d -%d  %4d objects", c.Branch, state, len(c.Change.Added), len(c.Change.Changed), len(c.Change.Removed), c.Change.Objects)
		if c.Kept != "" {
			fmt.Fprintf(w, "  (%s)", c.Kept)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "%d applications failed; the branches of their %d clusters were kept as they were:\n", len(r.Failures), failed)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  %s/%s: %s\n", f.Cluster, f.App, strings.ReplaceAll(f.Error, "\n", "\n    "))
		}
		fmt.Fprintln(w)
	}
	switch r.Mode {
	case "out":
		fmt.Fprintf(w, "%d of %d cluster trees written under %s.\n", updated, len(r.Clusters), r.Target)
	case "local":
		fmt.Fprintf(w, "%d of %d branches committed in %s (not pushed).\n", updated, len(r.Clusters), r.Target)
	default:
		fmt.Fprintf(w, "%d of %d branches pushed to %s.\n", updated, len(r.Clusters), r.Target)
	}
	return nil
}

func defaultConcurrency() int { return max(2, runtime.GOMAXPROCS(0)*2) }
