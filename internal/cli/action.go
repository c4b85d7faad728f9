package cli

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/actions"
	"github.com/flotilla-dev/flotilla/internal/forge"
	"github.com/flotilla-dev/flotilla/internal/forge/github"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/redact"
	rpt "github.com/flotilla-dev/flotilla/internal/report"
)

// actionInputs are the flags each command takes from the Action's inputs
// (an input is named like its flag).
var actionInputs = map[string][]string{
	"render":  {"fleet", "remote", "no-push", "out", "shard", "concurrency", "diff-base", "keep-going", "list-clusters"},
	"apply":   {"repo", "remote", "cluster", "branch", "kubeconfig", "context", "app", "prune", "confirm-prune", "prune-removed", "force-recreate", "dry-run", "concurrency", "clusters-from", "shard"},
	"verify":  {"repo", "remote", "cluster", "branch", "kubeconfig", "context", "app", "wait", "timeout", "heal", "forge", "github-url", "clusters-from", "shard"},
	"promote": {"fleet", "repo", "forge", "remote", "github-url", "approve", "pause", "resume", "rollback", "dry-run", "plan", "execute-plan", "plan-wave"},
}

var (
	boolInputs = map[string]bool{"list-clusters": true, "no-push": true, "keep-going": true, "prune": true, "confirm-prune": true, "prune-removed": true, "force-recreate": true, "dry-run": true, "wait": true, "heal": true, "plan": true}
	listInputs = map[string]bool{"app": true, "approve": true, "pause": true, "resume": true, "rollback": true}
)

// allActionInputs is every command's inputs, sorted, each once: the
// masks and warnings about them come out in one order.
func allActionInputs() []string {
	var all []string
	for _, names := range actionInputs {
		all = append(all, names...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// Action is the entrypoint of the GitHub Action: it masks the secrets,
// turns inputs into the command's flags, runs the command, and writes its
// outputs, job summary and annotations. Everything but Flotilla's own
// workflow commands, the command's stderr included, goes to the log
// through actions.IO's Log, so no data is taken for a workflow command.
func Action(ctx context.Context, env Env) int {
	io := actions.New(env.Getenv, env.Stdout)
	defer io.Close()
	token, kubeconfigData := io.Input("token"), io.Input("kubeconfig-data")
	io.Mask(token)
	maskKubeconfig(io, kubeconfigData)
	for _, name := range allActionInputs() {
		io.Mask(redact.Credentials(io.Input(name))...) // a remote's password
	}

	command := io.Input("command")
	known := actionInputs[command]
	if known == nil {
		io.Annotate("", fmt.Errorf("input command %q is not one of render, promote, verify, apply", command))
		return ExitUsage
	}
	var args []string
	used := map[string]bool{}
	for _, name := range known {
		used[name] = true
		v := io.Input(name)
		switch {
		case v == "":
		case boolInputs[name]:
			if v == "true" {
				args = append(args, "--"+name)
			} else if v != "false" {
				io.Annotate("", fmt.Errorf("input %s must be true or false, not %q", name, v))
				return ExitUsage
			}
		case listInputs[name]:
			for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' }) {
				args = append(args, "--"+name, strings.TrimSpace(item))
			}
		default:
			args = append(args, "--"+name, v)
		}
	}
	for _, name := range allActionInputs() {
		if !used[name] && io.Input(name) != "" {
			io.Warning(fmt.Sprintf("input %s is not used by command %s", name, command))
		}
	}
	mode, err := credentialsMode(io)
	if err != nil {
		io.Annotate("", err)
		return ExitUsage
	}
	// extraEnv are variables the command sees besides the step's: a
	// per-cluster kubeconfig, a credential file's path in the container.
	extraEnv := containerCredentialFiles(env.Getenv)
	for k, v := range extraEnv {
		// The exec credential plugins read the process's environment.
		if err := os.Setenv(k, v); err != nil {
			io.Annotate("", err)
			return ExitFailed
		}
		fmt.Fprintf(io.Log(), "%s: %s is the runner's path; the container's is %s\n", k, env.Getenv(k), v)
	}
	if mode == credPerCluster && (command == "apply" || command == "verify") {
		own, err := perClusterEnv(io, kubeconfigData)
		if err != nil {
			io.Annotate("", err)
			return ExitUsage
		}
		for k, v := range own {
			extraEnv[k] = v
		}
		args = append(args, "--kubeconfig-env")
	} else if kubeconfigData != "" && (command == "apply" || command == "verify") {
		f, err := os.CreateTemp("", "kubeconfig-")
		if err != nil {
			io.Annotate("", err)
			return ExitFailed
		}
		defer os.Remove(f.Name())
		if _, err := f.WriteString(kubeconfigData); err != nil {
			io.Annotate("", err)
			return ExitFailed
		}
		f.Close()
		args = append(args, "--kubeconfig", f.Name())
	}
	if code := actionExtras(io, command, env, &args); code != ExitOK {
		return code
	}
	fleetDir := io.Input("fleet")
	if fleetDir == "" {
		fleetDir = "."
	}
	// The pipelines see the token as GITHUB_TOKEN. They never read the
	// Actions files: the Action maps their results to outputs and
	// summaries itself.
	getenv := func(k string) string {
		if k == "GITHUB_TOKEN" && token != "" {
			return token
		}
		if v, ok := extraEnv[k]; ok {
			return v
		}
		return env.Getenv(k)
	}
	var out bytes.Buffer
	log := io.Log()
	cmdEnv := Env{Stdout: &out, Stderr: log, Getenv: getenv, Annotate: func(err error) { io.Annotate(fleetDir, err) },
		Warn: func(file, msg string) {
			if file != "" {
				file = path.Join(fleetDir, file)
			}
			io.WarningAt(file, msg)
		}}
	io.Group("flotilla " + command + " " + strings.Join(redactArgs(args), " "))
	code := runForAction(ctx, io, command, args, cmdEnv)
	if out.Len() > 0 {
		fmt.Fprintf(log, "%s\n", strings.TrimSpace(out.String()))
	}
	io.EndGroup()
	fmt.Fprintf(log, "flotilla %s: exit %d\n", command, code)
	return code
}

// maskKubeconfig masks exactly the secret values of the kubeconfig-data
// input (kube.KubeconfigSecrets): masking its every line would hide common
// text (apiVersion: v1) all over the log. A kubeconfig that does not parse
// has unknown secrets: all its lines are masked, and apply or verify will
// say what is wrong with it.
func maskKubeconfig(io *actions.IO, data string) {
	if data == "" {
		return
	}
	secrets, err := kube.KubeconfigSecrets([]byte(data))
	if err != nil {
		io.Mask(data)
		return
	}
	io.Mask(secrets...)
}

// redactArgs hides the temporary kubeconfig path (it holds a secret).
func redactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "--kubeconfig" && strings.Contains(out[i+1], os.TempDir()) {
			out[i+1] = "(from kubeconfig-data)"
		}
	}
	return out
}

func runForAction(ctx context.Context, io *actions.IO, command string, args []string, cmdEnv Env) int {
	switch command {
	case "render":
		return actionRender(ctx, io, args, cmdEnv)
	case "apply":
		return actionApply(ctx, io, args, cmdEnv)
	case "verify":
		return actionVerify(ctx, io, args, cmdEnv)
	case "promote":
		return actionPromote(ctx, io, args, cmdEnv)
	}
	return ExitUsage
}

// actionApply runs applier.Run with the inputs' flags and maps its result
// to the failed-apps and result outputs and the job summary. The log gets
// the result as JSON.
func actionApply(ctx context.Context, io *actions.IO, args []string, cmdEnv Env) int {
	env, flush := cmdEnv.redacting(args)
	defer flush()
	listed, err := actionClusters(io)
	if err != nil {
		io.Annotate("", err)
		return ExitUsage
	}
	o, err := parseApplyFlags(args, env, listed)
	if err != nil {
		return report(env, "apply", err)
	}
	o.output = "json"
	res, code, err := runApply(ctx, o, env)
	if err != nil {
		return report(env, "apply", err)
	}
	if err := writeJSON(env.Stdout, res); err != nil {
		return report(env, "apply", err)
	}
	var failed []string
	var md strings.Builder
	md.WriteString("### apply\n\n| cluster | app | created | configured | unchanged | deleted | error |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, c := range res {
		for _, a := range c.Apps {
			n := a.Counts()
			fmt.Fprintf(&md, "| %s | %s | %d | %d | %d | %d | %s |\n", c.Cluster, a.App, n[kube.Created], n[kube.Configured], n[kube.Unchanged], n[kube.Deleted], orDash(a.Error))
			if a.Error != "" {
				failed = append(failed, c.Cluster+"/"+a.App)
			}
		}
		for _, app := range slices.Sorted(maps.Keys(c.Removed)) {
			fmt.Fprintf(&md, "| %s | %s | - | - | - | - | left the branch; %d objects remain (prune-removed deletes them) |\n", c.Cluster, app, c.Removed[app])
		}
	}
	io.SetJSONOutput("failed-apps", nonNil(failed))
	io.SetJSONOutput("result", res)
	io.Summary(md.String())
	return code
}

// actionClusters is the clusters input of apply and verify, nil when it
// is empty.
func actionClusters(io *actions.IO) (*[]string, error) {
	input := io.Input("clusters")
	if input == "" {
		return nil, nil
	}
	names, err := inputClusters(input)
	if err != nil {
		return nil, err
	}
	return &names, nil
}

// actionVerify runs verifier.Run with the inputs' flags and maps its
// result to the result, drifted-apps and issue-body outputs and the job
// summary. The log gets the result as JSON.
func actionVerify(ctx context.Context, io *actions.IO, args []string, cmdEnv Env) int {
	env, flush := cmdEnv.redacting(args)
	defer flush()
	listed, err := actionClusters(io)
	if err != nil {
		io.Annotate("", err)
		return ExitUsage
	}
	o, err := parseVerifyFlags(args, env, listed)
	if err != nil {
		return report(env, "verify", err)
	}
	o.output = "json"
	res, code, err := runVerify(ctx, o, env)
	if err != nil {
		return report(env, "verify", err)
	}
	if err := writeJSON(env.Stdout, res); err != nil {
		return report(env, "verify", err)
	}
	result, drifted := "synced", []string{}
	for _, c := range res {
		for _, a := range c.Apps {
			switch {
			case a.Health == kube.Degraded || a.Health == kube.Missing:
				result = "unhealthy"
			case a.Sync == kube.OutOfSync && result != "unhealthy":
				result = "drift"
			case a.Sync == kube.Pending && result == "synced":
				result = "pending"
			}
			if a.Sync == kube.OutOfSync {
				drifted = append(drifted, c.Cluster+"/"+a.App)
			}
		}
		for _, app := range slices.Sorted(maps.Keys(c.Removed)) {
			drifted = append(drifted, c.Cluster+"/"+app)
			if result != "unhealthy" {
				result = "drift"
			}
		}
	}
	io.SetOutput("result", result)
	io.SetJSONOutput("drifted-apps", drifted)
	summary, issue := verifyMarkdown(res)
	io.SetOutput("issue-body", issue)
	io.Summary(summary)
	return code
}

// issueCut points from a drift issue cut at GitHub's limit to the rest.
const issueCut = "**Cut at GitHub's limit for an issue.** The whole report is in the job summary and log of the verify run that wrote this; `flotilla verify` prints it."

// verifyMarkdown is verify's report for the job summary (cut by
// actions.IO.Summary at 1 MiB) and for a drift issue or its comment,
// within GitHub's limit on a body.
func verifyMarkdown(res []clusterVerify) (summary, issue string) {
	var md bytes.Buffer
	for _, c := range res {
		writeVerifyMarkdown(&md, c)
	}
	return md.String(), rpt.Fit(md.String(), rpt.CommentLimit, issueCut)
}

// actionRender runs the hydrator for the Action and maps its result to the
// outputs and the job summary; the log gets the result as render -o json
// prints it.
func actionRender(ctx context.Context, io *actions.IO, args []string, cmdEnv Env) int {
	env, flush := cmdEnv.redacting(args)
	defer flush()
	o, err := parseRenderFlags(args, env)
	if err != nil {
		return report(env, "render", err)
	}
	o.output = "json"
	switch {
	case o.diffBase != "":
		return actionDiff(ctx, io, o, cmdEnv)
	case o.listClusters:
		return actionListClusters(ctx, io, o, env)
	}
	// A result with exit 1 is --keep-going with failed apps: the other
	// clusters were written, and their outputs stand.
	res, code := runRender(ctx, o, env)
	if res == nil {
		return code
	}
	var changed, failed []string
	for _, c := range res.Clusters {
		if c.Updated {
			changed = append(changed, c.Cluster)
		}
	}
	for _, f := range res.Failures {
		failed = append(failed, f.Cluster+"/"+f.App)
	}
	io.SetJSONOutput("changed-clusters", nonNil(changed))
	io.SetJSONOutput("failed-apps", nonNil(failed))
	io.SetOutput("dry-sha", res.DrySHA)
	io.SetJSONOutput("result", res)
	var md bytes.Buffer
	writeHydrateMarkdown(&md, res)
	io.Summary(md.String())
	return code
}

// actionDiff posts the fleet diff as one sticky pull-request comment and
// puts the full diff in the job summary (cut at 1 MiB) and, whole, in the
// log, where the comment's and the summary's pointers send a reader.
func actionDiff(ctx context.Context, io *actions.IO, o renderOptions, cmdEnv Env) int {
	res, err := hydrator.Run(ctx, o.hydratorOptions(cmdEnv))
	if err != nil {
		return report(cmdEnv, "render", err)
	}
	d := res.Diff
	// The forge puts the sticky marker before the body: the whole comment
	// stays within GitHub's limit.
	comment, full := d.Markdown(forge.CommentRoom(rpt.CommentLimit, "fleet-diff"))
	io.SetOutput("summary", d.Summary())
	io.SetJSONOutput("changed-clusters", nonNil(d.ChangedClusters))
	io.Summary(full)
	fmt.Fprintln(io.Log(), d.Summary())
	io.Group("the whole fleet diff")
	fmt.Fprint(io.Log(), full)
	io.EndGroup()
	if n := io.PullRequest(); n > 0 {
		owner, name := io.Repository()
		f, err := github.New(github.Options{Owner: owner, Repo: name, Token: cmdEnv.Getenv("GITHUB_TOKEN"), BaseURL: cmdEnv.Getenv("FLOTILLA_GITHUB_API_URL")})
		if err == nil {
			err = f.UpsertComment(ctx, n, "fleet-diff", comment)
		}
		if err != nil {
			report(cmdEnv, "render", fmt.Errorf("post the fleet diff on pull request #%d: %w", n, err))
			return ExitFailed
		}
	}
	return ExitOK
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeHydrateMarkdown is render's result as a job-summary table.
func writeHydrateMarkdown(w *bytes.Buffer, r *hydrator.Result) {
	fmt.Fprintf(w, "### render\n\n%d applications for %d clusters from `%s`, %d builds.\n\n| branch | state | added | changed | removed | objects |\n|---|---|---:|---:|---:|---:|\n",
		r.Apps, len(r.Clusters), layout.Short(r.DrySHA), r.Builds)
	for _, c := range r.Clusters {
		state := "unchanged"
		switch {
		case c.Failed:
			fmt.Fprintf(w, "| `%s` | failed: kept as it was | - | - | - | - |\n", c.Branch)
			continue
		case c.Kept != "":
			state = "kept: " + c.Kept
		case c.Updated:
			state = "updated"
		}
		fmt.Fprintf(w, "| `%s` | %s | %d | %d | %d | %d |\n", c.Branch, state, len(c.Change.Added), len(c.Change.Changed), len(c.Change.Removed), c.Change.Objects)
	}
	if len(r.Failures) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%d applications failed; their clusters' branches were kept as they were.\n\n| cluster | app | error |\n|---|---|---|\n", len(r.Failures))
	for _, f := range r.Failures {
		fmt.Fprintf(w, "| %s | %s | %s |\n", f.Cluster, f.App, markdownCell(f.Error))
	}
}

// markdownCell makes text fit in one Markdown table cell.
func markdownCell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "<br>")
}
