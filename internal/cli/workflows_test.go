package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/ghflow"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/promote"
)

// fleetSim is a fleet repository on GitHub, as the workflows see it: the
// clusters' branches, promotion pull requests and what apply and verify
// did, with the Action's commands modelled over that state. Promote's
// outputs come from the Action's own code (promotedClusters,
// clusterMatrix).
type fleetSim struct {
	t        *testing.T
	dir      string // the reusable workflows
	caller   *ghflow.Workflow
	tiers    [][]string
	onePass  bool // promote merges the pull request it opens
	main     string
	cl       map[string]*simCluster
	queue    []ghflow.Event
	log      []string // what ran, for failure messages
	diffs    []string // bases of the fleet diffs that ran
	promoted map[string]bool
	failed   []string
	// secrets are the repository's; environments, its GitHub
	// Environments' secrets by name.
	secrets      map[string]any
	environments map[string]map[string]any
}

type simCluster struct{ staging, live, pr, applied, verified string }

func newFleetSim(t *testing.T, dir, caller string, n int, onePass bool) *fleetSim {
	b, err := os.ReadFile(caller)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ghflow.Parse(caller, b)
	if err != nil {
		t.Fatal(err)
	}
	s := &fleetSim{t: t, dir: dir, caller: w, onePass: onePass, cl: map[string]*simCluster{}, promoted: map[string]bool{},
		secrets: map[string]any{"KUBECONFIG": "kubeconfig", "APP_KEY": "pem"}}
	var all []string
	for i := range n {
		all = append(all, fmt.Sprintf("c%03d", i))
		s.cl[all[i]] = &simCluster{}
	}
	s.tiers = [][]string{all[:2], all[2:12], all[12:]} // canary, early, general
	return s
}

// event queues an event and runs everything it and its consequences start.
func (s *fleetSim) event(ev ghflow.Event) {
	s.queue = append(s.queue, ev)
	for len(s.queue) > 0 {
		ev := s.queue[0]
		s.queue = s.queue[1:]
		// Workflows are read from the pushed branch (push), the head
		// merged into the base (pull_request), else the default branch;
		// only main and release-1 hold .github/workflows.
		from := "main"
		if ev.Name == "push" || ev.Name == "pull_request" {
			from = ev.Branch
		}
		ok, err := ghflow.Starts(s.caller, ev, from == "main" || from == "release-1" || strings.HasPrefix(from, "topic/"))
		if err != nil {
			s.t.Fatal(err)
		}
		if !ok {
			continue
		}
		ref := ev.Branch
		if ev.Name == "schedule" || ev.Name == "workflow_dispatch" {
			ref = "main"
		}
		github := map[string]any{"event_name": ev.Name, "ref": "refs/heads/" + ref, "ref_name": ref, "base_ref": ev.Base, "head_ref": "",
			"repository": "example/fleet", "token": "github-token",
			"event": map[string]any{"schedule": ev.Cron, "repository": map[string]any{"default_branch": "main"},
				"pull_request": map[string]any{"head": map[string]any{"repo": map[string]any{"full_name": "example/fleet"}}}}}
		if ev.Name == "pull_request" {
			github["head_ref"], github["ref"] = ev.Branch, "refs/pull/1/merge"
		}
		s.event1(ev)
		run := ghflow.ExecuteWithEnvironments(s.caller, github, s.secrets, s.environments, s)
		if os.Getenv("SIMDEBUG") != "" {
			fmt.Printf("%s %s: %+v\n", ev.Name, ev.Branch+ev.Cron, run.Jobs)
		}
		for _, f := range run.Failed() {
			s.failed = append(s.failed, fmt.Sprintf("%s %s: %s", ev.Name, ev.Branch+ev.Cron, f))
		}
	}
}

func (s *fleetSim) event1(ev ghflow.Event) {
	s.log = append(s.log, fmt.Sprintf("run on %s %s%s by %s", ev.Name, ev.Branch, ev.Cron, ev.Actor))
}

func (s *fleetSim) Workflow(uses string) (*ghflow.Workflow, error) {
	m := regexp.MustCompile(`^flotilla-dev/flotilla/\.github/workflows/([\w.-]+)@\S+$`).FindStringSubmatch(uses)
	if m == nil {
		return nil, fmt.Errorf("unknown workflow %s", uses)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, m[1]))
	if err != nil {
		return nil, err
	}
	return ghflow.Parse(m[1], b)
}

func actorOf(token string) ghflow.Actor {
	if token == "app-token" {
		return ghflow.App
	}
	return ghflow.GitHubToken // the Action's default: github.token
}

func (s *fleetSim) Action(uses string, with map[string]string) (map[string]string, error) {
	switch {
	case strings.HasPrefix(uses, "actions/create-github-app-token@"):
		if with["app-id"] == "" || with["private-key"] == "" {
			return nil, fmt.Errorf("create-github-app-token: app-id and private-key are required")
		}
		return map[string]string{"token": "app-token"}, nil
	case !strings.HasPrefix(uses, "flotilla-dev/flotilla@"):
		return nil, nil // checkout and the like
	}
	actor := actorOf(with["token"])
	maxJobs, err := parseMaxJobs(with["max-jobs"])
	if err != nil {
		return nil, err
	}
	switch cmd := with["command"]; cmd {
	case "render":
		switch {
		case with["diff-base"] != "":
			s.diffs = append(s.diffs, with["diff-base"])
			return nil, nil
		case with["list-clusters"] == "true":
			names := slices.Sorted(maps.Keys(s.cl))
			if with["clusters"] != "" {
				names = strings.Split(with["clusters"], ",")
			}
			matrix, _, err := matrixOutput(cmp.Or(with["credentials"], credShared), names, maxJobs, true)
			if err != nil {
				return nil, err
			}
			return outputs("clusters", names, "matrix", matrix), nil
		}
		sh, err := parseShard(with["shard"])
		if err != nil {
			return nil, err
		}
		var changed []string
		for k, c := range slices.Sorted(maps.Keys(s.cl)) {
			if hydrator.ShardOf(k, sh.n) == sh.i && s.cl[c].staging != s.main {
				s.cl[c].staging = s.main
				changed = append(changed, c)
				s.queue = append(s.queue, ghflow.Event{Name: "push", Branch: "hydrated/" + c + "-next", Actor: actor})
			}
		}
		return outputs("changed-clusters", nonNil(changed)), nil
	case "promote":
		return s.promote(actor, maxJobs, cmp.Or(with["credentials"], credShared))
	case "apply", "verify":
		names := strings.FieldsFunc(with["clusters"], func(r rune) bool { return r == ',' })
		if with["cluster"] != "" {
			names = append(names, with["cluster"])
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no cluster", cmd)
		}
		// The kubeconfig must be the one for these clusters: the
		// repository's shared one, or the cluster's own secret.
		want := "kubeconfig"
		if with["credentials"] == credPerCluster {
			if len(names) != 1 {
				return nil, fmt.Errorf("%s: credentials per-cluster with clusters %v", cmd, names)
			}
			want = "kubeconfig-" + names[0]
		}
		if with["kubeconfig"] != "" && with["kubeconfig-data"] == "" {
			want = "" // cloud identity: a kubeconfig file with exec users, no secret
		}
		if with["kubeconfig-data"] != want {
			return nil, fmt.Errorf("%s %v: kubeconfig-data %q, want %q", cmd, names, with["kubeconfig-data"], want)
		}
		for _, n := range names {
			c, ok := s.cl[n]
			if !ok {
				return nil, fmt.Errorf("%s: no cluster %q", cmd, n)
			}
			if cmd == "apply" {
				c.applied = c.live
			} else if c.applied == c.live {
				c.verified = c.live
			}
		}
		return map[string]string{"result": "synced", "drifted-apps": "[]"}, nil
	}
	return nil, fmt.Errorf("unknown command %q", with["command"])
}

// promote is the promotion decision over the tiers: the first tier not
// settled (live is staging and verified) gets its pull requests opened,
// and merged once current (in the same pass with onePass).
func (s *fleetSim) promote(actor ghflow.Actor, maxJobs int, credentials string) (map[string]string, error) {
	var res promote.Result
	for _, tier := range s.tiers {
		settled := true
		for _, n := range tier {
			c := s.cl[n]
			if c.live != c.staging || c.verified != c.live {
				settled = false
			}
			if c.live != "" && c.live == c.staging && c.verified != c.live {
				res.Apps = append(res.Apps, promote.AppDecision{App: "web", Cluster: n, State: promote.Verifying})
			}
			if c.live == c.staging {
				continue
			}
			if c.pr != c.staging {
				c.pr = c.staging
				res.Actions = append(res.Actions, promote.ActionResult{Action: promote.Action{Kind: promote.Open, Cluster: n}, Done: true})
				s.queue = append(s.queue, ghflow.Event{Name: "pull_request", Branch: "flotilla/promote/" + n, Base: "hydrated/" + n, Actor: actor})
				if !s.onePass {
					continue
				}
			}
			c.live, c.pr = c.pr, ""
			s.promoted[n] = true
			res.Actions = append(res.Actions, promote.ActionResult{Action: promote.Action{Kind: promote.Merge, Cluster: n}, Done: true})
			s.queue = append(s.queue, ghflow.Event{Name: "push", Branch: "hydrated/" + n, Actor: actor})
		}
		if !settled {
			break
		}
	}
	merged, apply := promotedClusters(res)
	matrix, _, err := matrixOutput(credentials, apply, maxJobs, false)
	if err != nil {
		return nil, err
	}
	return outputs("merged-clusters", merged, "apply-clusters", apply, "apply-matrix", matrix, "pr-numbers", []int{}), nil
}

func outputs(kv ...any) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		b, _ := json.Marshal(kv[i+1])
		out[kv[i].(string)] = string(b)
	}
	return out
}

// rollout pushes v1 to main, opens two pull requests (one to main, one to
// another branch holding workflows), then lets the schedule tick for two
// simulated days; it returns what did not happen.
func (s *fleetSim) rollout() []string {
	s.main = "v1"
	s.event(ghflow.Event{Name: "push", Branch: "main", Actor: ghflow.User})
	s.event(ghflow.Event{Name: "pull_request", Branch: "topic/a", Base: "main", Actor: ghflow.User})
	s.event(ghflow.Event{Name: "pull_request", Branch: "topic/b", Base: "release-1", Actor: ghflow.User})
	for tick := range 4 * 48 {
		if tick%4 == 0 {
			s.event(ghflow.Event{Name: "schedule", Cron: "0 * * * *", Actor: ghflow.User})
		}
		s.event(ghflow.Event{Name: "schedule", Cron: "*/15 * * * *", Actor: ghflow.User})
	}
	var problems []string
	problems = append(problems, s.failed...)
	var stuck []string
	for _, n := range slices.Sorted(maps.Keys(s.cl)) {
		c := s.cl[n]
		if c.staging != "v1" || c.live != "v1" || c.applied != "v1" || c.verified != "v1" {
			stuck = append(stuck, fmt.Sprintf("%s %+v", n, *c))
		}
	}
	if len(stuck) > 0 {
		problems = append(problems, fmt.Sprintf("%d/%d clusters not rendered, promoted, applied and verified, e.g. %s", len(stuck), len(s.cl), stuck[0]))
	}
	if !slices.Equal(s.diffs, []string{"origin/main"}) {
		problems = append(problems, fmt.Sprintf("fleet diffs ran against %q, want only the pull request to main", s.diffs))
	}
	return problems
}

// TestRolloutOnGitHub simulates a tiered rollout (canary 2, early 10,
// general 288 clusters) through the example caller and the reusable
// workflows under GitHub's rules — GITHUB_TOKEN's events start no run,
// workflows are read from the pushed branch — and checks that every
// cluster is rendered, promoted, applied and verified, that matrices stay
// within GitHub's 256 jobs, and that the fleet diff runs for pull requests
// to the default branch only. Promote both as today (open, then merge in
// a later run) and in one pass; with GITHUB_TOKEN and with an App token.
func TestRolloutOnGitHub(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		onePass, app bool
	}{{"two passes", false, false}, {"one pass", true, false}, {"app token", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFleetSim(t, "../../.github/workflows", "../../examples/github/fleet.yml", 300, tc.onePass)
			if tc.app {
				j := s.caller.Jobs["promote"]
				j.With = map[string]any{"app-id": "123"}
				j.Secrets.(map[string]any)["app-private-key"] = "${{ secrets.APP_KEY }}"
			}
			if p := s.rollout(); len(p) > 0 {
				t.Errorf("the rollout did not complete:\n%s", strings.Join(p, "\n"))
			}
			if len(s.promoted) != 300 {
				t.Errorf("%d clusters promoted", len(s.promoted))
			}
		})
	}
}

// TestRolloutOnGitHubPerClusterSecrets: the same rollout of 200 clusters
// through examples/github/fleet-per-cluster.yml, the repository holding
// no shared kubeconfig and each cluster's KUBECONFIG_<CLUSTER> only in
// the GitHub Environment named after it: every apply, verify and drift
// job gets exactly its one cluster's kubeconfig (the simulated Action
// refuses any other), and every cluster is promoted, applied and
// verified. A cluster whose secret is missing fails its jobs, and only
// its own.
func TestRolloutOnGitHubPerClusterSecrets(t *testing.T) {
	t.Parallel()
	s := newFleetSim(t, "../../.github/workflows", "../../examples/github/fleet-per-cluster.yml", 200, true)
	s.secrets = map[string]any{}
	s.environments = map[string]map[string]any{}
	for name := range s.cl {
		s.environments[name] = map[string]any{layout.KubeconfigSecret(name): "kubeconfig-" + name}
	}
	if p := s.rollout(); len(p) > 0 {
		t.Errorf("the rollout did not complete:\n%s", strings.Join(p, "\n"))
	}

	s = newFleetSim(t, "../../.github/workflows", "../../examples/github/fleet-per-cluster.yml", 20, true)
	s.secrets = map[string]any{}
	s.environments = map[string]map[string]any{}
	for name := range s.cl {
		if name != "c013" {
			s.environments[name] = map[string]any{layout.KubeconfigSecret(name): "kubeconfig-" + name}
		}
	}
	p := s.rollout()
	stuck := 0
	for _, line := range p {
		if strings.Contains(line, "failure") || strings.Contains(line, "kubeconfig-data") {
			if !strings.Contains(line, `apply [c013]: kubeconfig-data "", want "kubeconfig-c013"`) && !strings.Contains(line, `verify [c013]: kubeconfig-data "", want "kubeconfig-c013"`) {
				t.Errorf("a job other than c013's failed: %s", line)
			}
		}
		if strings.Contains(line, "clusters not rendered, promoted, applied and verified") {
			stuck++
			if !strings.HasPrefix(line, "1/20 clusters") || !strings.Contains(line, "c013") {
				t.Errorf("want only c013 stuck: %s", line)
			}
		}
	}
	if stuck != 1 {
		t.Errorf("c013 has no secret, yet the rollout completed:\n%s", strings.Join(p, "\n"))
	}
}

// TestRolloutOnGitHubCloudIdentity: the same rollout through each cloud
// example (EKS, GKE, AKS): promote with apply false, the caller's apply
// job with cloud identity and a committed kubeconfig. The repository has
// no kubeconfig secret at all, so a job that needed one fails the test.
func TestRolloutOnGitHubCloudIdentity(t *testing.T) {
	t.Parallel()
	for _, cloud := range []string{"eks", "gke", "aks"} {
		t.Run(cloud, func(t *testing.T) {
			s := newFleetSim(t, "../../.github/workflows", "../../examples/github/"+cloud+".yml", 300, true)
			s.secrets = map[string]any{}
			if p := s.rollout(); len(p) > 0 {
				t.Errorf("the rollout did not complete:\n%s", strings.Join(p, "\n"))
			}
		})
	}
}

// TestRolloutOnGitHubV0Stalls: the same simulation over the workflows and
// the README caller of v0 (testdata/workflows-v0) stalls — the apply on
// push to hydrated/** never runs — so the simulation does catch it.
func TestRolloutOnGitHubV0Stalls(t *testing.T) {
	t.Parallel()
	s := newFleetSim(t, "testdata/workflows-v0", "testdata/workflows-v0/fleet.yml", 300, true)
	p := strings.Join(s.rollout(), "\n")
	for _, want := range []string{"300/300 clusters not rendered, promoted, applied and verified, e.g. c000 {staging:v1 live:v1 pr: applied: verified:}",
		`fleet diffs ran against ["origin/main" "origin/release-1"]`} {
		if !strings.Contains(p, want) {
			t.Errorf("want %q in:\n%s", want, p)
		}
	}
}

// TestReadmeCallerIsTheExample: the caller workflow the README tells users
// to copy is examples/github/fleet.yml, the file the rollout simulation
// runs, byte for byte.
func TestReadmeCallerIsTheExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../examples/github/fleet.yml")
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(example), "\n", 2)[0]
	start := strings.Index(string(readme), "```yaml\n"+first+"\n")
	if start < 0 {
		t.Fatalf("README.md has no yaml block starting with %q", first)
	}
	block := string(readme[start+len("```yaml\n"):])
	end := strings.Index(block, "\n```\n")
	if end < 0 {
		t.Fatal("README.md: the caller's yaml block does not end")
	}
	if got := block[:end+1]; got != string(example) {
		t.Errorf("README.md's caller workflow differs from examples/github/fleet.yml: copy the file into the README")
	}
}
