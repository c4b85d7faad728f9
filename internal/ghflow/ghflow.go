// Package ghflow models how GitHub runs workflows, to test that a set of
// workflow files completes a loop of events: which events start a run
// (triggers with their branches filters, and GitHub's rules on who caused
// the event and where the workflow file is read from), the job graph
// (needs, if conditions, matrices and their limits, reusable workflows
// with inputs, secrets and outputs) and the steps' outputs. What an action
// step does is the caller's (Host). Shell steps (run:) are not executed:
// they succeed and set no output, so nothing a test relies on may come
// from one.
package ghflow

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxMatrixJobs is GitHub's limit on the jobs one matrix generates.
const MaxMatrixJobs = 256

// Workflow is one parsed workflow file.
type Workflow struct {
	File string
	// On maps each event to its configuration (nil when it has none).
	On map[string]map[string]any
	// Inputs, Outputs are workflow_call's (Outputs: name → value expression).
	Inputs  map[string]Input
	Outputs map[string]string
	Jobs    map[string]*Job
}

// Input is a workflow_call input.
type Input struct {
	Type    string
	Default any
}

// Job is one job.
type Job struct {
	ID      string
	Needs   []string
	If      string
	Uses    string         // a reusable workflow
	With    map[string]any // its inputs
	Secrets any            // "inherit" or a map
	Matrix  any
	// Environment is the job's GitHub Environment (an expression, per
	// matrix entry; "" for none): its secrets take the place of the
	// workflow's of the same name, case-insensitively, for that job, and
	// with required reviewers it waits for their approval (Reviewer).
	Environment string
	Outputs     map[string]string
	Steps       []Step
}

// Step is one step.
type Step struct {
	ID, If, Uses, Run string
	With              map[string]any
	ContinueOnError   bool
}

// Parse reads a workflow file.
func Parse(file string, b []byte) (*Workflow, error) {
	var raw struct {
		On   yaml.Node `yaml:"on"`
		Jobs map[string]struct {
			Needs       any                  `yaml:"needs"`
			If          any                  `yaml:"if"`
			Uses        string               `yaml:"uses"`
			With        map[string]any       `yaml:"with"`
			Secrets     any                  `yaml:"secrets"`
			Strategy    struct{ Matrix any } `yaml:"strategy"`
			Environment any                  `yaml:"environment"`
			Outputs     map[string]string    `yaml:"outputs"`
			Steps       []struct {
				ID              string         `yaml:"id"`
				If              any            `yaml:"if"`
				Uses            string         `yaml:"uses"`
				Run             string         `yaml:"run"`
				With            map[string]any `yaml:"with"`
				ContinueOnError any            `yaml:"continue-on-error"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	w := &Workflow{File: file, On: map[string]map[string]any{}, Inputs: map[string]Input{}, Outputs: map[string]string{}, Jobs: map[string]*Job{}}
	var on any
	if err := raw.On.Decode(&on); err != nil {
		return nil, fmt.Errorf("parse %s: on: %w", file, err)
	}
	switch on := on.(type) {
	case string:
		w.On[on] = nil
	case []any:
		for _, e := range on {
			w.On[fmt.Sprint(e)] = nil
		}
	case map[string]any:
		for e, cfg := range on {
			m, _ := cfg.(map[string]any)
			w.On[e] = m
			if l, ok := cfg.([]any); ok && e == "schedule" {
				w.On[e] = map[string]any{"schedule": l}
			}
		}
	default:
		return nil, fmt.Errorf("parse %s: no on: key", file)
	}
	if call, ok := w.On["workflow_call"]; ok {
		in, _ := call["inputs"].(map[string]any)
		for name, v := range in {
			m, _ := v.(map[string]any)
			typ, _ := m["type"].(string)
			def := m["default"]
			if n, ok := def.(int); ok {
				def = float64(n)
			}
			w.Inputs[name] = Input{Type: typ, Default: def}
		}
		out, _ := call["outputs"].(map[string]any)
		for name, v := range out {
			m, _ := v.(map[string]any)
			w.Outputs[name], _ = m["value"].(string)
		}
	}
	for id, j := range raw.Jobs {
		job := &Job{ID: id, If: cond(j.If), Uses: j.Uses, With: j.With, Secrets: j.Secrets, Matrix: j.Strategy.Matrix, Outputs: j.Outputs}
		switch e := j.Environment.(type) { // a name, or {name, url}
		case string:
			job.Environment = e
		case map[string]any:
			job.Environment, _ = e["name"].(string)
		}
		switch n := j.Needs.(type) {
		case string:
			job.Needs = []string{n}
		case []any:
			for _, x := range n {
				job.Needs = append(job.Needs, fmt.Sprint(x))
			}
		}
		for _, s := range j.Steps {
			coe, _ := s.ContinueOnError.(bool)
			job.Steps = append(job.Steps, Step{ID: s.ID, If: cond(s.If), Uses: s.Uses, Run: s.Run, With: s.With, ContinueOnError: coe})
		}
		w.Jobs[id] = job
	}
	return w, nil
}

func cond(v any) string {
	if v == nil {
		return ""
	}
	s := strings.TrimSpace(fmt.Sprint(v))
	if strings.HasPrefix(s, "${{") && strings.HasSuffix(s, "}}") {
		s = strings.TrimSpace(s[3 : len(s)-2])
	}
	return s
}

// Actor is who caused an event.
type Actor string

// Actors.
const (
	// GitHubToken: the workflow's own GITHUB_TOKEN. Its events start no
	// workflow run, except workflow_dispatch and repository_dispatch.
	GitHubToken Actor = "github-token"
	App         Actor = "app" // a GitHub App installation token
	User        Actor = "user"
)

// Event is one event in the repository.
type Event struct {
	Name string // push, pull_request, schedule, workflow_dispatch
	// Branch is the branch pushed (push) or the head (pull_request).
	Branch string
	// Base is a pull request's base branch.
	Base  string
	Cron  string
	Actor Actor
}

// Starts reports whether the event starts a run of w, by GitHub's rules:
// not when GITHUB_TOKEN caused it (but workflow_dispatch and
// repository_dispatch), not when the commit the workflow is read from has
// no such workflow (hasWorkflow: for push the pushed branch, for
// pull_request the head merged into the base, else the default branch),
// and only when w's triggers and their filters match.
func Starts(w *Workflow, ev Event, hasWorkflow bool) (bool, error) {
	if ev.Actor == GitHubToken && ev.Name != "workflow_dispatch" && ev.Name != "repository_dispatch" {
		return false, nil
	}
	if !hasWorkflow {
		return false, nil
	}
	cfg, ok := w.On[ev.Name]
	if !ok {
		return false, nil
	}
	for _, k := range []string{"paths", "paths-ignore", "tags", "tags-ignore", "types"} {
		if _, ok := cfg[k]; ok {
			return false, fmt.Errorf("%s: on.%s.%s is not modelled", w.File, ev.Name, k)
		}
	}
	switch ev.Name {
	case "push":
		return branchFilter(cfg, ev.Branch), nil
	case "pull_request", "pull_request_target":
		return branchFilter(cfg, ev.Base), nil
	case "schedule":
		list, _ := cfg["schedule"].([]any)
		for _, e := range list {
			if m, _ := e.(map[string]any); m != nil && m["cron"] == ev.Cron {
				return true, nil
			}
		}
		return false, nil
	}
	return true, nil
}

// branchFilter applies branches / branches-ignore: patterns in order,
// '!' negates, the last match wins; * matches within a path segment, **
// across.
func branchFilter(cfg map[string]any, branch string) bool {
	if ign, ok := cfg["branches-ignore"].([]any); ok {
		for _, p := range ign {
			if globMatch(fmt.Sprint(p), branch) {
				return false
			}
		}
		return true
	}
	pats, ok := cfg["branches"].([]any)
	if !ok {
		return true
	}
	match := false
	for _, p := range pats {
		ps := fmt.Sprint(p)
		if neg, ok := strings.CutPrefix(ps, "!"); ok {
			if globMatch(neg, branch) {
				match = false
			}
		} else if globMatch(ps, branch) {
			match = true
		}
	}
	return match
}

func globMatch(pattern, s string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()).MatchString(s)
}

// Host carries out what the model does not: action steps.
type Host interface {
	// Action runs a step that uses an action (not a reusable workflow)
	// with its interpolated inputs and returns its outputs, or an error
	// for a failed step.
	Action(uses string, with map[string]string) (map[string]string, error)
	// Workflow returns the reusable workflow a job's uses: names.
	Workflow(uses string) (*Workflow, error)
}

// Reviewer is a Host that models GitHub Environments' required
// reviewers: a job naming an environment runs only if Review approves it
// (a rejected job fails, so the jobs that need it are skipped). A Host
// that is no Reviewer approves every deployment.
type Reviewer interface {
	Review(environment, job string) bool
}

// JobRun is what came of one job (one entry of a matrix: ID[i]).
type JobRun struct {
	ID     string
	Result string // success, failure, skipped
	Err    string
	// Environment is the environment the job deployed to ("" for none).
	Environment string
}

// Run is one workflow run.
type Run struct {
	Jobs []JobRun
	// environments are the repository's environments' secrets.
	environments map[string]map[string]any
}

// Execute runs w for the event, with github as the github context and
// the repository's secrets.
func Execute(w *Workflow, github, secrets map[string]any, host Host) *Run {
	return ExecuteWithEnvironments(w, github, secrets, nil, host)
}

// ExecuteWithEnvironments is Execute in a repository with GitHub
// Environments: environments maps each one's name to its secrets, which
// a job naming that environment sees over the repository's. A job that
// names an environment the repository lacks runs, with none of its
// secrets (GitHub creates the environment, empty).
func ExecuteWithEnvironments(w *Workflow, github, secrets map[string]any, environments map[string]map[string]any, host Host) *Run {
	r := &Run{environments: environments}
	execute(r, "", w, github, map[string]any{}, secretsOf(secrets), host)
	return r
}

// withEnvironment returns the secrets a job of environment env sees.
func (r *Run) withEnvironment(secrets map[string]any, env string) map[string]any {
	out := map[string]any{}
	for k, v := range secrets {
		out[strings.ToUpper(k)] = v
	}
	// GitHub matches environment names case-insensitively.
	for name, es := range r.environments {
		if !strings.EqualFold(name, env) {
			continue
		}
		for k, v := range es {
			out[strings.ToUpper(k)] = v
		}
	}
	return out
}

func secretsOf(m map[string]any) map[string]any {
	out := map[string]any{"GITHUB_TOKEN": "github-token"}
	maps.Copy(out, m)
	return out
}

// execute runs w's jobs and returns their results (for jobs.<id>).
func execute(r *Run, prefix string, w *Workflow, github, inputs, secrets map[string]any, host Host) map[string]any {
	results := map[string]string{}
	outputs := map[string]map[string]any{}
	ids := slices.Sorted(maps.Keys(w.Jobs))
	for len(results) < len(ids) {
		progress := false
		for _, id := range ids {
			job := w.Jobs[id]
			if _, done := results[id]; done {
				continue
			}
			ready := true
			for _, n := range job.Needs {
				if _, ok := results[n]; !ok {
					ready = false
				}
			}
			if !ready {
				continue
			}
			progress = true
			needs := map[string]any{}
			status := "success"
			for _, n := range job.Needs {
				needs[n] = map[string]any{"result": results[n], "outputs": outputs[n]}
				if results[n] == "failure" {
					status = "failure"
				} else if results[n] != "success" && status == "success" {
					status = "skipped"
				}
			}
			ctx := map[string]any{"github": github, "inputs": inputs, "secrets": secrets, "needs": needs, "vars": map[string]any{}, "env": map[string]any{}, "status": status}
			res, out, err := runJob(r, prefix+id, job, ctx, host)
			results[id], outputs[id] = res, out
			if err != nil {
				r.Jobs = append(r.Jobs, JobRun{ID: prefix + id, Result: res, Err: err.Error()})
			}
		}
		if !progress {
			for _, id := range ids {
				if _, done := results[id]; !done {
					results[id] = "failure"
					r.Jobs = append(r.Jobs, JobRun{ID: prefix + id, Result: "failure", Err: "needs a job that does not exist or a cycle"})
				}
			}
		}
	}
	jobs := map[string]any{}
	for id := range w.Jobs {
		jobs[id] = map[string]any{"result": results[id], "outputs": outputs[id]}
	}
	return jobs
}

// statusFunc: an if: with one of these is not wrapped in success().
var statusFunc = regexp.MustCompile(`(?i)\b(success|always|failure|cancelled)\s*\(`)

func check(cond string, ctx map[string]any) (bool, error) {
	if cond == "" {
		cond = "success()"
	} else if !statusFunc.MatchString(cond) {
		cond = "success() && (" + cond + ")"
	}
	v, err := Eval(cond, ctx)
	return Truthy(v), err
}

func runJob(r *Run, id string, job *Job, ctx map[string]any, host Host) (string, map[string]any, error) {
	ok, err := check(job.If, ctx)
	if err != nil {
		return "failure", nil, err
	}
	if !ok {
		r.Jobs = append(r.Jobs, JobRun{ID: id, Result: "skipped"})
		return "skipped", nil, nil
	}
	if job.Uses != "" {
		return callWorkflow(r, id, job, ctx, host)
	}
	combos, err := expandMatrix(job.Matrix, ctx)
	if err != nil {
		return "failure", nil, err
	}
	result, outputs := "success", map[string]any{}
	for i, m := range combos {
		jctx := maps.Clone(ctx)
		jctx["matrix"] = m
		jid := id
		if job.Matrix != nil {
			jid = fmt.Sprintf("%s[%d]", id, i)
		}
		// The job's environment, per matrix entry: its secrets over the
		// repository's, and its required reviewers' approval first.
		var env string
		if job.Environment != "" {
			v, err := Interpolate(job.Environment, jctx)
			if err != nil {
				return "failure", nil, err
			}
			if env = String(v); env != "" {
				if rv, ok := host.(Reviewer); ok && !rv.Review(env, jid) {
					r.Jobs = append(r.Jobs, JobRun{ID: jid, Result: "failure", Err: "deployment to " + env + " rejected", Environment: env})
					result = "failure"
					continue
				}
				jctx["secrets"] = r.withEnvironment(ctx["secrets"].(map[string]any), env)
			}
		}
		steps := map[string]any{}
		jctx["steps"] = steps
		res := "success"
		var why []string
		for _, s := range job.Steps {
			jctx["status"] = res
			ok, err := check(s.If, jctx)
			if err != nil {
				return "failure", nil, err
			}
			if !ok {
				continue
			}
			out, err := runStep(s, jctx, host)
			outcome := "success"
			if err != nil {
				outcome = "failure"
				if !s.ContinueOnError {
					res = "failure"
					why = append(why, fmt.Sprintf("step %s: %v", cmp.Or(s.ID, s.Uses), err))
				}
			}
			if s.ID != "" {
				o := map[string]any{}
				for k, v := range out {
					o[k] = v
				}
				steps[s.ID] = map[string]any{"outputs": o, "outcome": outcome}
			}
		}
		r.Jobs = append(r.Jobs, JobRun{ID: jid, Result: res, Err: strings.Join(why, "; "), Environment: env})
		if res != "success" {
			result = "failure"
		}
		// A matrix job's outputs are those of the entry that set them last.
		for k, expr := range job.Outputs {
			v, err := Interpolate(expr, jctx)
			if err != nil {
				return "failure", nil, err
			}
			if s := String(v); s != "" {
				outputs[k] = s
			}
		}
	}
	return result, outputs, nil
}

func runStep(s Step, ctx map[string]any, host Host) (map[string]string, error) {
	if s.Uses == "" {
		return nil, nil // run: not executed
	}
	with := map[string]string{}
	for k, v := range s.With {
		x, err := Interpolate(fmt.Sprint(v), ctx)
		if err != nil {
			return nil, err
		}
		with[k] = String(x)
	}
	return host.Action(s.Uses, with)
}

// expandMatrix returns a job's matrix entries ([nil] without a matrix).
func expandMatrix(m any, ctx map[string]any) ([]map[string]any, error) {
	if m == nil {
		return []map[string]any{nil}, nil
	}
	if s, ok := m.(string); ok {
		v, err := Interpolate(s, ctx)
		if err != nil {
			return nil, err
		}
		m = v
	}
	mm, ok := m.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("matrix is not an object: %v", m)
	}
	combos := []map[string]any{{}}
	keys := slices.Sorted(maps.Keys(mm))
	base := false
	for _, k := range keys {
		if k == "include" || k == "exclude" {
			continue
		}
		v := mm[k]
		if s, ok := v.(string); ok {
			x, err := Interpolate(s, ctx)
			if err != nil {
				return nil, err
			}
			v = x
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("matrix.%s is not a list: %v", k, v)
		}
		base = true
		var next []map[string]any
		for _, c := range combos {
			for _, x := range list {
				n := maps.Clone(c)
				n[k] = x
				next = append(next, n)
			}
		}
		combos = next
	}
	if !base {
		combos = nil
	}
	inc, _ := mm["include"].([]any)
	for _, e := range inc {
		em, _ := e.(map[string]any)
		merged := false
		for _, c := range combos {
			fits := true
			for k, v := range em {
				if x, ok := c[k]; ok && base && !equal(x, v) {
					fits = false
				}
			}
			if fits && base {
				maps.Copy(c, em)
				merged = true
			}
		}
		if !merged {
			combos = append(combos, maps.Clone(em))
		}
	}
	switch {
	case len(combos) == 0:
		return nil, fmt.Errorf("the matrix has no entries (GitHub fails the job)")
	case len(combos) > MaxMatrixJobs:
		return nil, fmt.Errorf("the matrix has %d entries, more than GitHub's %d", len(combos), MaxMatrixJobs)
	}
	return combos, nil
}

func callWorkflow(r *Run, id string, job *Job, ctx map[string]any, host Host) (string, map[string]any, error) {
	w, err := host.Workflow(job.Uses)
	if err != nil {
		return "failure", nil, err
	}
	if _, ok := w.On["workflow_call"]; !ok {
		return "failure", nil, fmt.Errorf("%s is not a reusable workflow (no on.workflow_call)", job.Uses)
	}
	inputs := map[string]any{}
	for name, in := range w.Inputs {
		inputs[name] = in.Default
	}
	for k, v := range job.With {
		in, ok := w.Inputs[k]
		if !ok {
			return "failure", nil, fmt.Errorf("%s has no input %s", job.Uses, k)
		}
		if s, ok := v.(string); ok {
			x, err := Interpolate(s, ctx)
			if err != nil {
				return "failure", nil, err
			}
			v = x
		}
		if n, ok := v.(int); ok {
			v = float64(n)
		}
		if in.Type == "number" {
			v = number(v)
		}
		inputs[k] = v
	}
	secrets := map[string]any{}
	switch s := job.Secrets.(type) {
	case string:
		if s == "inherit" {
			secrets = ctx["secrets"].(map[string]any)
		}
	case map[string]any:
		for k, v := range s {
			x, err := Interpolate(fmt.Sprint(v), ctx)
			if err != nil {
				return "failure", nil, err
			}
			secrets[k] = x
		}
	}
	before := len(r.Jobs)
	jobs := execute(r, id+"/", w, ctx["github"].(map[string]any), inputs, secretsOf(secrets), host)
	result := "success"
	for _, j := range r.Jobs[before:] {
		if j.Result == "failure" {
			result = "failure"
		}
	}
	outputs := map[string]any{}
	for name, expr := range w.Outputs {
		v, err := Interpolate(expr, map[string]any{"jobs": jobs, "inputs": inputs, "github": ctx["github"]})
		if err != nil {
			return "failure", nil, err
		}
		outputs[name] = String(v)
	}
	return result, outputs, nil
}

// Failed lists the run's failed jobs with why, sorted.
func (r *Run) Failed() []string {
	var out []string
	for _, j := range r.Jobs {
		if j.Result == "failure" {
			out = append(out, j.ID+": "+j.Err)
		}
	}
	slices.Sort(out)
	return out
}
