package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/actions"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// MaxMatrixJobs is GitHub's limit on the jobs one matrix generates.
const MaxMatrixJobs = 256

// defaultMaxJobs is the Action's max-jobs when the input is empty.
const defaultMaxJobs = 32

// shardEntry is one job of a cluster matrix: the clusters it handles,
// comma separated (the Action's clusters input), and its shard i/n.
type shardEntry struct {
	Shard    string `json:"shard"`
	Clusters string `json:"clusters"`
}

// clusterMatrix spreads clusters over at most maxJobs jobs (the k-th
// cluster goes to job k mod n, as render --shards), as the value of a
// job's strategy.matrix: {"include": [...]}. No cluster gives no jobs:
// the calling job must be skipped (its if: the clusters output is not
// "[]"), since GitHub refuses an empty matrix.
func clusterMatrix(clusters []string, maxJobs int) map[string][]shardEntry {
	n := min(len(clusters), maxJobs)
	jobs := make([]shardEntry, n)
	for k, c := range clusters {
		e := &jobs[hydrator.ShardOf(k, n)]
		if e.Clusters != "" {
			e.Clusters += ","
		}
		e.Clusters += c
	}
	for i := range jobs {
		jobs[i].Shard = fmt.Sprintf("%d/%d", i, n)
	}
	return map[string][]shardEntry{"include": jobs}
}

// parseMaxJobs reads the max-jobs input: 1 to MaxMatrixJobs, default 32.
func parseMaxJobs(s string) (int, error) {
	if s == "" {
		return defaultMaxJobs, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxMatrixJobs {
		return 0, fmt.Errorf("%w: input max-jobs %q must be a number from 1 to %d (GitHub runs at most %d jobs per matrix)", errUsage, s, MaxMatrixJobs, MaxMatrixJobs)
	}
	return n, nil
}

// actionPromote is promote for a workflow: the options from the inputs
// (as flags), one pass through promote.Run, and its Result as the
// outputs (pr-numbers, merged-clusters, apply-clusters, apply-matrix,
// actions) and the job summary; the log gets promote's text.
func actionPromote(ctx context.Context, io *actions.IO, args []string, cmdEnv Env) int {
	env, flush := cmdEnv.redacting(args)
	defer flush()
	o, set, err := parsePromoteFlags(args, env)
	if err != nil {
		return report(env, "promote", err)
	}
	res, gh, err := runPromote(ctx, &o, set, env)
	if err != nil {
		return report(env, "promote", err)
	}
	writePromoteText(env.Stdout, res, o.dryRun || o.plan)
	writeWaveText(env.Stdout, res.Wave, o.plan)
	if gh != nil {
		u := gh.Usage()
		fmt.Fprintf(env.Stdout, "\nGitHub API: %d requests (%d answered 304, free); %d left this hour.\n", u.Requests, u.NotModified, u.Remaining)
	}
	if res.Wave != nil {
		io.SetOutput("plan-hash", res.Wave.Hash)
		io.SetJSONOutput("wave", res.Wave)
	}
	prs := []int{}
	for _, a := range res.Actions {
		if a.PR != 0 {
			prs = append(prs, a.PR)
		}
	}
	slices.Sort(prs)
	io.SetJSONOutput("pr-numbers", prs)
	merged, apply := promotedClusters(*res)
	maxJobs, _ := parseMaxJobs(io.Input("max-jobs")) // checked in actionExtras
	io.SetJSONOutput("merged-clusters", merged)
	io.SetJSONOutput("apply-clusters", apply)
	mode, _ := credentialsMode(io) // checked in Action
	matrix, later, err := matrixOutput(mode, apply, maxJobs, false)
	if err != nil {
		return report(env, "promote", err)
	}
	if len(later) > 0 {
		// They stay live but not verified: the next run applies them.
		io.Warning(fmt.Sprintf("credentials per-cluster: %d clusters to apply are past max-jobs %d; the next promote run applies them: %s", len(later), maxJobs, strings.Join(later, ", ")))
	}
	io.SetJSONOutput("apply-matrix", matrix)
	io.SetJSONOutput("actions", res.Actions)
	var md bytes.Buffer
	writePromoteSummary(&md, res, o.dryRun || o.plan)
	writeWaveSummary(&md, res.Wave, o.plan)
	io.Summary(md.String())
	return ExitOK
}

// promotedClusters returns the clusters whose live branch promote merged
// in this run, and the clusters to apply and verify now: those merged and
// those with an app live but not verified yet (verify's status missing or
// pending on the live head). The second set makes the loop level
// triggered: a cluster whose apply did not run — a failed job, a pull
// request merged by hand, a merge GitHub made later for auto-merge — is
// applied by the next promote run.
func promotedClusters(res promote.Result) (merged, apply []string) {
	for _, a := range res.Actions {
		if a.Kind.Merges() && a.Done {
			merged = append(merged, a.Cluster)
		}
	}
	apply = append(apply, merged...)
	for _, a := range res.Apps {
		if a.State == promote.Verifying {
			apply = append(apply, a.Cluster)
		}
	}
	slices.Sort(merged)
	slices.Sort(apply)
	return slices.Compact(nonNil(merged)), slices.Compact(nonNil(apply))
}

// inputClusters reads the Action's clusters input: names separated by
// commas or newlines, or a JSON array of names, each a valid cluster name.
func inputClusters(input string) ([]string, error) {
	var names []string
	if strings.HasPrefix(input, "[") {
		if err := json.Unmarshal([]byte(input), &names); err != nil {
			return nil, fmt.Errorf("%w: input clusters is not a JSON array of cluster names: %v", errUsage, err)
		}
	} else {
		for _, n := range strings.FieldsFunc(input, func(r rune) bool { return r == ',' || r == '\n' }) {
			names = append(names, strings.TrimSpace(n))
		}
	}
	for _, n := range names {
		if err := checkClusterFlag("input clusters:", n); err != nil {
			return nil, err
		}
	}
	return nonNil(names), nil
}

// clustersFile writes the clusters input (inputClusters) as a
// --clusters-from file in dir.
func clustersFile(dir, input string) (string, error) {
	names, err := inputClusters(input)
	if err != nil {
		return "", err
	}
	list := make([]clusterEntry, 0, len(names))
	for _, n := range names {
		list = append(list, clusterEntry{Name: n})
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	f := filepath.Join(dir, "clusters.json")
	return f, os.WriteFile(f, b, 0o600)
}

// hasGit reports whether git is on PATH (the local forge merges with it).
func hasGit(path string) bool {
	for _, dir := range filepath.SplitList(path) {
		if fi, err := os.Stat(filepath.Join(dir, "git")); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// actionOnlyInputs are the Action's inputs that are no command's flag.
var actionOnlyInputs = []string{"clusters", "max-jobs", "credentials"}

// actionExtras handles the inputs that are no flag: clusters (a warning
// where it does not apply; apply and verify read it themselves) and max-jobs
// (checked here, used for the matrix outputs); and refuses the local forge
// where git is missing — the published image has none.
func actionExtras(io *actions.IO, command string, env Env, args *[]string) int {
	if _, err := parseMaxJobs(io.Input("max-jobs")); err != nil {
		io.Annotate("", err)
		return ExitUsage
	}
	if clusters := io.Input("clusters"); clusters != "" {
		if command == "render" && io.Input("list-clusters") == "true" {
			// actionListClusters keeps these clusters.
		} else if command != "apply" && command != "verify" {
			io.Warning("input clusters is not used by command " + command)
		}
		// apply and verify take these clusters themselves (actionApply,
		// actionVerify).
	}
	if io.Input("forge") == "local" && (command == "promote" || command == "verify") && !hasGit(env.Getenv("PATH")) {
		io.Annotate("", fmt.Errorf("%w: forge local needs git (2.38 or later) on PATH, and this image has none: use forge: github, or run the flotilla commands on the runner (go install) where git is", errUsage))
		return ExitUsage
	}
	return ExitOK
}

// actionListClusters is render --list-clusters for a workflow: the
// clusters output (a JSON array of names) and the matrix output, at most
// max-jobs jobs each handling a share of the clusters.
func actionListClusters(ctx context.Context, io *actions.IO, o renderOptions, env Env) int {
	res, code := runRender(ctx, o, env)
	if res == nil {
		return code
	}
	names := make([]string, 0, len(res.Inventory))
	for _, c := range res.Inventory {
		names = append(names, c.Name)
	}
	if only := io.Input("clusters"); only != "" {
		var want []string
		dir, err := os.MkdirTemp("", "flotilla-clusters-")
		if err == nil {
			defer os.RemoveAll(dir)
			var f string
			if f, err = clustersFile(dir, only); err == nil {
				want, err = shardClusters(f, "")
			}
		}
		for _, w := range want {
			if err == nil && !slices.Contains(names, w) {
				err = fmt.Errorf("%w: input clusters: the fleet has no cluster %q (it has %s)", errUsage, w, strings.Join(names, ", "))
			}
		}
		if err != nil {
			io.Annotate("", err)
			return ExitUsage
		}
		names = want
	}
	maxJobs, _ := parseMaxJobs(io.Input("max-jobs"))
	io.SetJSONOutput("clusters", names)
	mode, _ := credentialsMode(io) // checked in Action
	matrix, _, err := matrixOutput(mode, names, maxJobs, true)
	if err != nil {
		io.Annotate("", err)
		return ExitUsage
	}
	io.SetJSONOutput("matrix", matrix)
	return code
}
