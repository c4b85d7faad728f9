// Package hydrator is Flotilla's render pipeline, "the hydrator": load the
// fleet → generate its Applications (appset) → build them (render, with
// apps of apps expanded) → the policy gate → publish each cluster's tree
// (hydrate: commits on hydrated branches, pushed atomically; or folders
// with Options.Out). Bad input stops the run before anything is written.
//
// Run returns data: the clusters, Applications, failures, warnings, the
// policy gate's report, a fleet diff or the lists. The package never
// prints and reads no GITHUB_* variable: the render command and the
// GitHub Action map Options from their flags or inputs and the Result to
// text, JSON, outputs, summaries and annotations.
package hydrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
	"github.com/flotilla-dev/flotilla/internal/redact"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
	"github.com/flotilla-dev/flotilla/internal/source"
)

// Options say what to render and where to write it. The zero value
// renders the fleet in "." and pushes to its remote.
type Options struct {
	// Fleet is the fleet repository checkout (default ".").
	Fleet string

	// ListClusters lists the cluster inventory instead of rendering,
	// each cluster with its shard of Shards.
	ListClusters bool
	// Shards is the number of shards ListClusters assigns (default 1).
	Shards int
	// ListApps lists the Applications instead of rendering: those the
	// ApplicationSets generate, the Application documents and, unless
	// NoExpand, the children of apps of apps (every Application is
	// built to find them).
	ListApps bool
	NoExpand bool
	// DiffBase, when set, renders the fleet at this Git revision and as
	// checked out, in memory, and compares them (Result.Diff); nothing
	// is written.
	DiffBase string

	// Out writes each cluster's tree to Out/<cluster>/ and touches no
	// Git. NoPush commits to local branches of the fleet checkout only.
	// Otherwise the trees are pushed to Remote (default: hydrated.repo
	// of flotilla.yaml, else the checkout's origin).
	Out    string
	NoPush bool
	Remote string
	// Auth gives the credentials for a remote URL (nil: none).
	Auth func(remote string) transport.AuthMethod

	// ShardIndex of ShardCount: render only the clusters whose position
	// k in the inventory (by name) has ShardOf(k, ShardCount) ==
	// ShardIndex. ShardCount 0 or 1 is every cluster.
	ShardIndex, ShardCount int
	// Concurrency bounds the builds (and policy evaluations) run at once
	// (default 1).
	Concurrency int
	// NoBuildCache builds every kustomization afresh.
	NoBuildCache bool
	// HelmCredentials, when set, are the chart repositories' credentials
	// (a YAML list of {url, username, password}) instead of
	// helm.credentialsFile (the commands read HelmCredentialsEnv).
	HelmCredentials []byte
	// KeepGoing writes every cluster whose Applications all built and
	// keeps the others as they were (Result.Failures); otherwise any
	// failed Application stops the run before anything is written.
	KeepGoing bool
	// PolicyReportOnly reports the policy gate's denials without
	// failing.
	PolicyReportOnly bool

	// Progress, when set, is called as each phase of a written render
	// ends, with its wall time: generate (the fleet loaded and its
	// ApplicationSets evaluated), load (the fleet commit read), render,
	// policy, publish.
	Progress func(phase string, took time.Duration)
}

// Modes of a written render (Result.Mode).
const (
	ModePush  = "push"
	ModeLocal = "local"
	ModeOut   = "out"
)

// Result is what a run did. Its JSON is render's -o json.
type Result struct {
	DrySHA string `json:"drySha"`
	// Mode is where the trees went: ModePush, ModeLocal or ModeOut;
	// Target names the remote (without credentials), the checkout or
	// the folder.
	Mode   string `json:"mode"`
	Target string `json:"target"`
	// Apps is the number of Applications rendered for the run's
	// clusters.
	Apps   int   `json:"apps"`
	Builds int64 `json:"builds"`
	// CachedBuilds of Builds were reused from an earlier run.
	CachedBuilds int64           `json:"cachedBuilds"`
	Clusters     []ClusterResult `json:"clusters"`
	// Failures are the Applications that did not build (KeepGoing):
	// their clusters' branches were kept as they were.
	Failures []Failure `json:"failures,omitempty"`
	// Warnings are what deserves a word without failing the run: a
	// selector that yields nothing, a deprecated Kustomize field (once
	// per file, naming the Applications whose builds load it).
	Warnings []Warning `json:"warnings,omitempty"`
	// Policy is the policy gate's outcome (see policyGate), when it found
	// something.
	Policy *PolicyReport `json:"policy,omitempty"`
	// Timings are the phases' wall times in seconds (see
	// Options.Progress).
	Timings map[string]float64 `json:"timings"`

	// Inventory is the cluster inventory, by name, each cluster with its
	// shard of Shards (ListClusters, ListApps).
	Inventory []ListedCluster `json:"-"`
	// Applications is ListApps' result, sorted by name when expanded.
	Applications []appset.Generated `json:"-"`
	// Diff is DiffBase's result.
	Diff *rpt.FleetDiff `json:"-"`
}

// ListedCluster is a cluster of the inventory and its shard.
type ListedCluster struct {
	fleet.Cluster
	Shard int
}

// ClusterResult is one cluster's outcome: its branch's, and whether it
// was kept as it was because one of its Applications failed (KeepGoing).
type ClusterResult struct {
	hydrate.Result
	Failed bool `json:"failed,omitempty"`
}

// Failure is an Application that failed to build under KeepGoing.
type Failure struct {
	Cluster string `json:"cluster"`
	App     string `json:"app"`
	// Error says what failed, with the ApplicationSet file first.
	Error string `json:"error"`
	// Err is the error itself (a *fleet.FileError).
	Err error `json:"-"`
}

// ErrPolicyDenied means the policy gate found objects a cluster would
// deny: nothing was written, and Result.Policy holds the report.
var ErrPolicyDenied = errors.New("policy gate")

// errUsage marks an error in what the caller asked (a flag's value): its
// text is the word these messages have always begun with.
var errUsage error = failure.Mark(failure.Usage, errors.New("usage"))

// ShardOf returns the shard (0..n-1) of the k-th cluster by name: round
// robin, so shards differ in size by at most one.
func ShardOf(k, n int) int {
	if n <= 1 {
		return 0
	}
	return k % n
}

// Run runs the pipeline o asks for. On error the Result is nil, unless
// the Applications were rendered: then it holds the warnings and the
// policy gate's report (with ErrPolicyDenied, what was denied), and
// nothing was written unless the error came from writing itself.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Fleet == "" {
		o.Fleet = "."
	}
	o.Concurrency = max(1, o.Concurrency)
	if o.ShardCount < 1 {
		o.ShardIndex, o.ShardCount = 0, 1
	}
	if o.ShardIndex < 0 || o.ShardIndex >= o.ShardCount {
		return nil, fmt.Errorf("%w: shard %d/%d must be i/n with 0 <= i < n", errUsage, o.ShardIndex, o.ShardCount)
	}
	switch {
	case o.DiffBase != "":
		d, err := runDiff(ctx, o)
		if err != nil {
			return nil, err
		}
		return &Result{Diff: d}, nil
	case o.ListClusters:
		return listClusters(o)
	case o.ListApps:
		return listApps(ctx, o)
	}
	return hydrateRun(ctx, o)
}

func listClusters(o Options) (*Result, error) {
	f, err := fleet.Load(o.Fleet)
	if err != nil {
		return nil, err
	}
	return &Result{Inventory: inventory(f, o.Shards)}, nil
}

// inventory is the fleet's clusters with their shards of n.
func inventory(f *fleet.Fleet, n int) []ListedCluster {
	out := make([]ListedCluster, 0, len(f.Clusters))
	for k, c := range f.Clusters {
		out = append(out, ListedCluster{Cluster: c, Shard: ShardOf(k, n)})
	}
	return out
}

func listApps(ctx context.Context, o Options) (*Result, error) {
	f, err := fleet.Load(o.Fleet)
	if err != nil {
		return nil, err
	}
	repos, err := source.New(f)
	if err != nil {
		return nil, err
	}
	defer repos.Close()
	apps, err := appset.GenerateFleet(ctx, f, repos)
	if err != nil {
		return nil, err
	}
	res := &Result{Inventory: inventory(f, o.Shards)}
	for _, w := range appset.ZeroWarnings(f, apps) {
		res.Warnings = append(res.Warnings, Warning{Message: w})
	}
	if !o.NoExpand {
		if apps, err = expandApps(ctx, f, repos, apps, o); err != nil {
			return nil, err
		}
	}
	res.Applications = apps
	return res, nil
}

// expandApps builds every Application to add the children of apps of
// apps (see buildTree), sorted by name; any failure is the list's error.
func expandApps(ctx context.Context, f *fleet.Fleet, repos *source.Repos, apps []appset.Generated, o Options) ([]appset.Generated, error) {
	repo, _ := openFleetRepo(f.Root) // only for the build cache
	builder, err := newBuilder(f, repos, repo, o)
	if err != nil {
		return nil, err
	}
	b, err := buildTree(ctx, f, repos, builder, apps, nil, o.Concurrency)
	if err != nil {
		return nil, err
	}
	if err := collapseRenderErrors(b.errs); err != nil {
		return nil, err
	}
	out := make([]appset.Generated, len(b.jobs))
	for i, j := range b.jobs {
		out[i] = j.gen
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].App.Metadata.Name < out[j].App.Metadata.Name })
	return out, nil
}

// hydrateRun renders and writes: to Out, to local branches (NoPush) or
// to the remote. Reading the branches (a fetch) starts as soon as the
// clusters are known and runs while the Applications are built.
func hydrateRun(ctx context.Context, o Options) (*Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		p   *renderPlan
		pub *hydrate.Publisher
	)
	defer func() { // in this order: the prefetch reads the checkout
		cancel()
		if pub != nil {
			pub.Close()
		}
		if p != nil {
			p.close()
		}
	}()
	p, err := load(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &Result{Mode: ModeOut, Target: o.Out}
	if o.Out == "" {
		if pub, err = p.publisher(ctx, o, res); err != nil {
			return nil, err
		}
	}
	if err := p.build(ctx, o); err != nil {
		return nil, err
	}
	res.DrySHA, res.Apps, res.Builds, res.CachedBuilds = p.dry.SHA, p.apps, p.builds, p.cachedBuilds
	res.Failures, res.Warnings = p.failures, p.warnings
	gate, err := p.checkPolicy(ctx, o)
	res.Policy = gate
	if err != nil {
		return res, err
	}
	var written []hydrate.Result
	if o.Out != "" {
		written, err = writeOut(o.Out, p, os.WriteFile)
	} else {
		written, err = pub.Publish(ctx, p.written(), p.dry, p.when)
	}
	if err != nil {
		return res, err
	}
	res.Clusters = clusterResults(p, written)
	p.timer.done("publish")
	res.Timings = p.timer.phases
	return res, nil
}

// publisher opens the fleet checkout for publishing and starts reading
// the branches, and says in res where the trees go.
func (p *renderPlan) publisher(ctx context.Context, o Options, res *Result) (*hydrate.Publisher, error) {
	if p.repo == nil {
		return nil, fmt.Errorf("%w: %s is not in a Git repository: use --out DIR to write the trees without Git", errUsage, p.fleet.Root)
	}
	remote := ""
	res.Mode, res.Target = ModeLocal, p.fleet.Root
	if !o.NoPush {
		remote = o.Remote
		if remote == "" {
			remote = p.fleet.Config.Hydrated.Repo
		}
		if remote == "" {
			remote = originURL(p.repo)
		}
		if remote == "" {
			return nil, fmt.Errorf("%w: nowhere to push: pass --remote URL, set hydrated.repo in %s, add an origin remote, or use --no-push", errUsage, fleet.ConfigFile)
		}
		res.Mode, res.Target = ModePush, redact.URL(remote)
	}
	repo, closeFn, err := keepPacksOpen(p.repo)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, closeFn)
	pub := &hydrate.Publisher{Repo: repo}
	if remote != "" {
		pub.Remote = remote
		if o.Auth != nil {
			pub.Auth = o.Auth(remote)
		}
	}
	pub.Prefetch(ctx, p.trees)
	return pub, nil
}
