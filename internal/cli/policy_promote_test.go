package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// policyFleet is one cluster with three ApplicationSets: policies (a
// ValidatingAdmissionPolicy denying more than 5 replicas, and its
// binding), web (2 replicas) and api (30 replicas: denied).
var policyFleet = map[string]string{
	"flotilla.yaml": "repos:\n  https://example.com/fleet.git: .\n",
	"clusters/clusters.yaml": `apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: prod}
spec: {server: https://prod.example.com}
`,
	"applicationsets/policies.yaml": appSetYAML("policies", "policies", "kube-system"),
	"applicationsets/web.yaml":      appSetYAML("web", "apps/web", "web"),
	"applicationsets/api.yaml":      appSetYAML("api", "apps/api", "api"),
	"policies/vap.yaml": `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: max-replicas}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  validations:
  - expression: "object.spec.replicas <= 5"
    messageExpression: "'replicas must be at most 5, not ' + string(object.spec.replicas)"
  - expression: "object.metadata.name != 'forbidden'"
    message: "warned only"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: max-replicas}
spec:
  policyName: max-replicas
  validationActions: [Deny]
`,
	"apps/web/deployment.yaml": replicasYAML("web", 2),
	"apps/api/deployment.yaml": replicasYAML("api", 30),
}

func appSetYAML(name, path, namespace string) string {
	return `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: ` + name + `}
spec:
  generators:
  - clusters: {}
  template:
    metadata:
      name: "` + name + `-{{name}}"
    spec:
      project: default
      source: {repoURL: https://example.com/fleet.git, path: ` + path + `}
      destination: {server: "{{server}}", namespace: ` + namespace + `}
`
}

func replicasYAML(name string, replicas int) string {
	return strings.NewReplacer("NAME", name, "N", string(rune('0'+replicas/10))+string(rune('0'+replicas%10))).Replace(`apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: N
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      containers: [{name: NAME, image: nginx:1.27}]
`)
}

// TestPromotePolicyGate: content render let through with
// --policy-report-only (a Deployment the cluster's own policy denies) does
// not enter the promotion pull request; the cluster's other apps do, and
// status says what the denied app waits for. Once the app is fixed and
// rendered again, it is promoted.
func TestPromotePolicyGate(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, content := range policyFleet {
		writeFileAll(t, filepath.Join(src, name), content)
	}
	checkout, remote := gittest.Fleet(t, src)
	if code, _, _ := renderCmd(t, "--fleet", checkout, "--no-push"); code != ExitFailed {
		t.Fatalf("render without --policy-report-only: exit %d, want %d", code, ExitFailed)
	}
	if code, _, stderr := renderCmd(t, "--fleet", checkout, "--policy-report-only"); code != ExitOK {
		t.Fatalf("render --policy-report-only: exit %d: %s", code, stderr)
	}
	promoteArgs := []string{"--fleet", checkout, "--forge", "local", "--remote", remote}
	res := promoteJSON(t, promoteArgs...)
	if len(res.Actions) != 1 || strings.Join(res.Actions[0].Apps, ",") != "policies-prod,web-prod" {
		t.Fatalf("actions: %+v", res.Actions)
	}
	want := "a policy fix: max-replicas denies Deployment api/api: replicas must be at most 5, not 30"
	for _, a := range res.Apps {
		if a.App == "api-prod" && (a.Promote || a.State != "waiting" || a.WaitingFor != want) {
			t.Errorf("api-prod: %+v", a)
		}
	}
	if got := gittest.Git(t, remote, "ls-tree", "--name-only", "hydrated/prod"); strings.Contains(got, "api-prod") || !strings.Contains(got, "web-prod") {
		t.Errorf("the live branch holds:\n%s", got)
	}
	code, out, stderr := statusCmd(t, nil, promoteArgs...)
	if code != ExitOK || !strings.Contains(out, want) {
		t.Errorf("status: exit %d: %s%s", code, out, stderr)
	}

	// Fixed: it goes.
	writeFileAll(t, filepath.Join(checkout, "apps/api/deployment.yaml"), replicasYAML("api", 3))
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "api: 3 replicas")
	if code, _, stderr := renderCmd(t, "--fleet", checkout); code != ExitOK {
		t.Fatalf("render: exit %d: %s", code, stderr)
	}
	res = promoteJSON(t, promoteArgs...)
	if len(res.Actions) != 1 || strings.Join(res.Actions[0].Apps, ",") != "api-prod" {
		t.Errorf("after the fix: %+v", res.Actions)
	}
}
