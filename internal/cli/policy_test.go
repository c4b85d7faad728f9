package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/hydrator"
	"github.com/flotilla-dev/flotilla/internal/policy"
)

// scaleGateway commits a change to the example fleet that its
// deployment-guardrails policy (policies/admission) denies on the three
// production clusters: api-gateway at 30 replicas.
func scaleGateway(t *testing.T) string {
	t.Helper()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	k := filepath.Join(checkout, "services/api-gateway/overlays/production/kustomization.yaml")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, bytes.Replace(b, []byte("count: 3"), []byte("count: 30"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "scale api-gateway")
	return checkout
}

// TestPolicyGateDeniesBeforeWriting: a rendered object that a cluster's own
// ValidatingAdmissionPolicy denies fails render (exit 1) before any branch
// is committed or any folder written, naming every cluster/app/object.
func TestPolicyGateDeniesBeforeWriting(t *testing.T) {
	t.Parallel()
	checkout := scaleGateway(t)
	var annotated []string
	var out, errb bytes.Buffer
	code := Render(t.Context(), []string{"--fleet", checkout, "--no-push"}, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Annotate: func(err error) { annotated = append(annotated, err.Error()) }})
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d: %s%s", code, ExitFailed, out.String(), errb.String())
	}
	for _, want := range []string{
		"Policy gate: 3 objects would be denied on 3 clusters",
		"deny  prod-eu/api-gateway-prod-eu  Deployment api-gateway/api-gateway  deployment-guardrails (deployment-guardrails): replicas must be at most 10, not 30",
		"deny  prod-us-west/api-gateway-prod-us-west",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errb.String(), "nothing was written") {
		t.Errorf("stderr: %s", errb.String())
	}
	if branches := gittest.Git(t, checkout, "branch", "--list", "hydrated/*"); strings.TrimSpace(branches) != "" {
		t.Errorf("a denied render committed branches:\n%s", branches)
	}
	// One error annotation per denial, plus the run's error.
	if len(annotated) != 4 || !strings.Contains(annotated[0], "ValidatingAdmissionPolicy 'deployment-guardrails' with binding 'deployment-guardrails' denied request: replicas must be at most 10, not 30") {
		t.Errorf("annotations: %q", annotated)
	}

	dir := filepath.Join(t.TempDir(), "out")
	code, stdout, _ := renderCmd(t, "--fleet", checkout, "--out", dir, "-o", "json")
	if code != ExitFailed {
		t.Fatalf("--out: exit %d", code)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a denied render wrote %s (%v)", dir, err)
	}
	var res struct{ Policy hydrator.PolicyReport }
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("-o json on a denial: %v\n%s", err, stdout)
	}
	if res.Policy.Denied != 3 || res.Policy.DeniedClusters != 3 || len(res.Policy.Violations) != 3 || res.Policy.Violations[0].Cluster != "prod-eu" {
		t.Errorf("json policy: %+v", res.Policy)
	}
}

// TestPolicyGateReportOnly: --policy-report-only writes the trees, exits 0
// and still reports the denials in -o json.
func TestPolicyGateReportOnly(t *testing.T) {
	t.Parallel()
	checkout := scaleGateway(t)
	out := t.TempDir()
	res, code, stderr := renderJSON(t, "--fleet", checkout, "--out", out, "--policy-report-only")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if res.Policy == nil || res.Policy.Denied != 3 || !res.Policy.ReportOnly {
		t.Fatalf("policy: %+v", res.Policy)
	}
	if _, err := os.Stat(filepath.Join(out, "prod-eu", "api-gateway-prod-eu", "manifest.yaml")); err != nil {
		t.Errorf("report-only did not write: %v", err)
	}
}

// TestPolicyGateFleetPolicies: policy.policiesDir adds fleet-level policies
// (with a param) to every cluster; Warn is reported and annotated as a
// warning without failing; a policiesDir outside the fleet is a usage error.
func TestPolicyGateFleetPolicies(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	cfg := filepath.Join(checkout, "flotilla.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte("  allowSecrets: false\n"), []byte("  allowSecrets: false\n  policiesDir: fleet-policies\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(checkout, "fleet-policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(checkout, "fleet-policies", "services.yaml"), []byte(`
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: service-owner}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [services]}]
  validations:
  - expression: "has(object.metadata.labels) && params.data.label in object.metadata.labels"
    messageExpression: "'Service needs the ' + params.data.label + ' label'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: service-owner}
spec:
  policyName: service-owner
  validationActions: [Warn]
  paramRef: {name: service-owner, namespace: kube-system, parameterNotFoundAction: Deny}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: service-owner, namespace: kube-system}
data: {label: owner}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "fleet policies")
	var warned []string
	var stdout, stderr bytes.Buffer
	code := Render(t.Context(), []string{"--fleet", checkout, "--out", t.TempDir(), "-o", "json"}, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Warn: func(file, msg string) { warned = append(warned, msg) }})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res hydrator.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Policy == nil || res.Policy.Warned == 0 || res.Policy.Denied != 0 {
		t.Fatalf("policy: %+v", res.Policy)
	}
	for _, v := range res.Policy.Violations {
		if v.Policy != "service-owner" || v.Action != policy.Warn || v.Kind != "Service" || v.Message != "Service needs the owner label" {
			t.Errorf("violation %+v", v)
		}
	}
	if len(warned) != len(res.Policy.Violations) {
		t.Errorf("%d warning annotations for %d warnings", len(warned), len(res.Policy.Violations))
	}

	if err := os.WriteFile(cfg, bytes.Replace(b, []byte("  allowSecrets: false\n"), []byte("  allowSecrets: false\n  policiesDir: ../elsewhere\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-03T00:00:00Z", "bad dir")
	code, _, errs := renderCmd(t, "--fleet", checkout, "--out", t.TempDir())
	if code != ExitUsage || !strings.Contains(errs, "policy.policiesDir") {
		t.Errorf("policiesDir outside the fleet: exit %d: %s", code, errs)
	}
}

// TestPolicyGateKubeVersionDefault: a cluster whose inventory names no
// kubeVersion is checked with flotilla.yaml's helm.kubeVersion, as its
// Helm builds are: a policy using a CEL library that version lacks (the
// ip library, Kubernetes 1.31) fails to compile there and denies by its
// failurePolicy, while prod-eu (spec.kubeVersion v1.35.1) evaluates it.
func TestPolicyGateKubeVersionDefault(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, exampleFleet)
	cfg := filepath.Join(checkout, "flotilla.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("  allowSecrets: false\n"), []byte("  allowSecrets: false\n  policiesDir: fleet-policies\n"), 1)
	b = bytes.Replace(b, []byte("kubeVersion: v1.34.0"), []byte("kubeVersion: v1.29.0"), 1)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(checkout, "fleet-policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(checkout, "fleet-policies", "ip.yaml"), []byte(`
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ip}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [services]}]
  validations:
  - expression: "!has(object.spec.clusterIP) || isIP(object.spec.clusterIP)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ip}
spec: {policyName: ip, validationActions: [Deny]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "an ip policy")
	code, stdout, stderr := renderCmd(t, "--fleet", checkout, "--out", t.TempDir(), "--policy-report-only", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res hydrator.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Policy == nil {
		t.Fatal("no policy report: the ip policy compiled on every cluster")
	}
	denied := map[string]bool{}
	for _, v := range res.Policy.Violations {
		if v.Policy == "ip" && v.Action == policy.Deny {
			denied[v.Cluster] = true
		}
	}
	if denied["prod-eu"] || len(denied) == 0 {
		t.Errorf("clusters denied by the ip policy: %v, want every cluster but prod-eu", denied)
	}
}
