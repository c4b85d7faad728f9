package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/kubetest"
)

// execKubeconfig starts a real control plane and returns a kubeconfig
// for it whose user is an exec credential plugin — a shell script that
// prints an ExecCredential holding a ServiceAccount token (bound to
// cluster-admin) and appends a line to the returned log on every call —
// as aws-iam-authenticator, kubelogin and gke-gcloud-auth-plugin are.
// Its only context is named as those tools name theirs (an ARN), not
// after the cluster: the cluster's own kubeconfig is read at its
// current-context. The namespace web exists.
func execKubeconfig(t *testing.T, cluster string) (kubeconfig []byte, calls string) {
	t.Helper()
	c := kubetest.Start(t, kubetest.Options{Name: cluster})
	admin := kubernetes.NewForConfigOrDie(c.Config)
	ctx := t.Context()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: "default"}}
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: "default"}}}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "deployer", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile, calls := filepath.Join(dir, "token"), filepath.Join(dir, "calls")
	cred, _ := json.Marshal(map[string]any{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": map[string]any{"token": tr.Status.Token}})
	writeFile(t, tokenFile, string(cred))
	plugin := filepath.Join(dir, "token-plugin")
	if err := os.WriteFile(plugin, fmt.Appendf(nil, "#!/bin/sh\necho \"$*\" >> %s\ncat %s\n", calls, tokenFile), 0o755); err != nil {
		t.Fatal(err)
	}
	admincfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	name := "arn:aws:eks:eu-west-1:123456789012:cluster/" + cluster
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: admincfg.Clusters[cluster].CertificateAuthorityData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: plugin,
		Args: []string{"token", "-i", cluster}, InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	kubeconfig, err = clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kubeconfig, calls
}

// TestPerClusterKubeconfigWithExecPlugin: apply and verify reach a real
// API server through a cluster's own kubeconfig whose user is an exec
// credential plugin (the form cloud identity takes: EKS, GKE, AKS), read
// from $KUBECONFIG_<CLUSTER> with --kubeconfig-env and from the Action's
// kubeconfig-data with credentials per-cluster; the plugin is called
// and its token is what the API server authenticated (the objects are
// created). Without the variable, the error names the cluster and the
// secret to add; two clusters mapping to one variable are refused.
func TestPerClusterKubeconfigWithExecPlugin(t *testing.T) {
	t.Parallel()
	kc, calls := execKubeconfig(t, "c1")
	repo := hydratedRepo(t)
	env := map[string]string{"KUBECONFIG_C1": string(kc)}
	var out, errb bytes.Buffer
	code := Apply(t.Context(), []string{"--repo", repo, "--cluster", "c1", "--kubeconfig-env"}, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	if code != ExitOK || !strings.Contains(out.String(), "created") {
		t.Fatalf("apply --kubeconfig-env: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if b, _ := os.ReadFile(calls); !strings.Contains(string(b), "token -i c1") {
		t.Errorf("the exec plugin was not called: %q", b)
	}

	// The Action: kubeconfig-data is the matrix entry's secret.
	r := runAction(t, map[string]string{"command": "verify", "repo": repo, "clusters": "c1", "credentials": "per-cluster", "kubeconfig-data": string(kc), "forge": "none"}, nil)
	if r.code != ExitOK || output(t, r, "result") != "synced" {
		t.Fatalf("Action verify per-cluster: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A job of several clusters written by hand: each one's variable in
	// the step's env, no kubeconfig-data.
	r = runAction(t, map[string]string{"command": "apply", "repo": repo, "clusters": "c1", "credentials": "per-cluster"}, map[string]string{"KUBECONFIG_C1": string(kc)})
	if r.code != ExitOK || output(t, r, "failed-apps") != "[]" {
		t.Fatalf("Action apply per-cluster from the step's env: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A secret GitHub resolved to nothing: name it.
	for _, command := range []string{"apply", "verify"} {
		r = runAction(t, map[string]string{"command": command, "repo": repo, "clusters": "c1", "credentials": "per-cluster", "kubeconfig-data": "", "forge": "none"}, nil)
		want := "cluster c1 has no kubeconfig: $KUBECONFIG_C1 is unset or empty (on GitHub: add the secret KUBECONFIG_C1 to the environment c1 or to the repository, and call the workflow with secrets: inherit)"
		if r.code != ExitUsage || !strings.Contains(r.stdout, want) {
			t.Errorf("%s without the secret: exit %d, want 2 and %q:\n%s", command, r.code, want, r.stdout)
		}
	}
	// Without --kubeconfig-env the same kubeconfig has no context c1.
	code, _, stderr := applyCmd(t, "--repo", repo, "--cluster", "c1", "--kubeconfig", writeTemp(t, kc))
	if code != ExitUsage || !strings.Contains(stderr, `context "c1"`) {
		t.Errorf("apply --kubeconfig: exit %d, want 2 for the missing context c1:\n%s", code, stderr)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, p, string(b))
	return p
}

// TestKubeconfigEnvRefuses: --kubeconfig-env with --kubeconfig,
// kubeconfig-data for a job of several clusters
// and an unknown credentials mode are usage errors that say what to do.
func TestKubeconfigEnvRefuses(t *testing.T) {
	t.Parallel()
	repo := hydratedRepo(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "c1", "--kubeconfig-env", "--kubeconfig", "x"}, "--kubeconfig and --kubeconfig-env exclude each other"},
	} {
		for name, cmd := range targetCommands {
			code, stdout, stderr := cmd(t, append([]string{"--repo", repo}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s %v: exit %d, want 2 and %q:\n%s%s", name, tc.args, code, tc.want, stdout, stderr)
			}
		}
	}
	r := runAction(t, map[string]string{"command": "apply", "repo": repo, "clusters": "c1,c2", "credentials": "per-cluster", "kubeconfig-data": "x"}, nil)
	if r.code != ExitUsage || !strings.Contains(r.stdout, "kubeconfig-data is one cluster's kubeconfig, and this job has 2 clusters (c1, c2)") {
		t.Errorf("kubeconfig-data for two clusters: exit %d\n%s", r.code, r.stdout)
	}
	r = runAction(t, map[string]string{"command": "apply", "repo": repo, "cluster": "c1", "credentials": "each"}, nil)
	if r.code != ExitUsage || !strings.Contains(r.stdout, `input credentials \"each\" must be shared or per-cluster`) && !strings.Contains(r.stdout, `input credentials "each" must be shared or per-cluster`) {
		t.Errorf("credentials each: exit %d\n%s", r.code, r.stdout)
	}
}

// TestPerClusterMatrix: with credentials per-cluster, render
// --list-clusters and promote give one job per cluster with the name of
// its secret and its environment; more clusters than max-jobs is refused
// for a listing (naming the count and what to do), left to the next run
// by promote; clusters whose secrets collide are refused.
func TestPerClusterMatrix(t *testing.T) {
	t.Parallel()
	m, left, err := matrixOutput(credPerCluster, []string{"prod-us-east", "edge.01", "b"}, 2, false)
	got, _ := json.Marshal(m)
	if err != nil || string(got) != `{"include":[{"shard":"0/2","clusters":"prod-us-east","cluster":"prod-us-east","secret":"KUBECONFIG_PROD_US_EAST","environment":"prod-us-east"},{"shard":"1/2","clusters":"edge.01","cluster":"edge.01","secret":"KUBECONFIG_EDGE_01","environment":"edge.01"}]}` || strings.Join(left, ",") != "b" {
		t.Errorf("matrix %s, left %v, err %v", got, left, err)
	}
	if _, _, err := matrixOutput(credPerCluster, []string{"a", "b", "c"}, 2, true); err == nil || !strings.Contains(err.Error(), "3 clusters need more than max-jobs 2") {
		t.Errorf("strict: %v", err)
	}
	if _, _, err := matrixOutput(credPerCluster, []string{"a-b", "a.b"}, 2, false); err == nil || !strings.Contains(err.Error(), "KUBECONFIG_A_B") {
		t.Errorf("collision: %v", err)
	}
	checkout, _ := gittest.Fleet(t, exampleFleet)
	r := runAction(t, map[string]string{"command": "render", "fleet": checkout, "list-clusters": "true", "clusters": "prod-eu,dev-us", "credentials": "per-cluster"}, nil)
	if r.code != ExitOK || output(t, r, "matrix") != `{"include":[{"shard":"0/2","clusters":"prod-eu","cluster":"prod-eu","secret":"KUBECONFIG_PROD_EU","environment":"prod-eu"},{"shard":"1/2","clusters":"dev-us","cluster":"dev-us","secret":"KUBECONFIG_DEV_US","environment":"dev-us"}]}` {
		t.Errorf("list-clusters per-cluster: exit %d, outputs %s\n%s", r.code, r.outputs, r.stdout)
	}
	r = runAction(t, map[string]string{"command": "render", "fleet": checkout, "list-clusters": "true", "max-jobs": "3", "credentials": "per-cluster"}, nil)
	if r.code != ExitUsage || !strings.Contains(r.stdout, "8 clusters need more than max-jobs 3") {
		t.Errorf("list-clusters per-cluster over max-jobs: exit %d\n%s", r.code, r.stdout)
	}
}

// TestContainerCredentialFiles: a credential file named by its path on
// the runner (google-github-actions/auth's gha-creds-….json in the
// workspace) is found in the container's workspace; a path that exists,
// a relative one, a file the workspace lacks and other variables are
// left alone.
func TestContainerCredentialFiles(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "gha-creds-1a2b.json"), "{}")
	writeFileAll(t, filepath.Join(ws, "sub", "token"), "t")
	present := filepath.Join(t.TempDir(), "here")
	writeFile(t, present, "x")
	env := map[string]string{
		"GITHUB_WORKSPACE":                       ws,
		"GOOGLE_APPLICATION_CREDENTIALS":         "/home/runner/work/fleet/fleet/gha-creds-1a2b.json",
		"AZURE_FEDERATED_TOKEN_FILE":             "/home/runner/work/fleet/fleet/sub/token",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            present,
		"CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": "/home/runner/work/fleet/fleet/missing.json",
		"KUBECONFIG":                             "/home/runner/work/fleet/fleet/gha-creds-1a2b.json",
	}
	got := containerCredentialFiles(func(k string) string { return env[k] })
	want := map[string]string{
		"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(ws, "gha-creds-1a2b.json"),
		"AZURE_FEDERATED_TOKEN_FILE":     filepath.Join(ws, "sub", "token"),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	env["GITHUB_WORKSPACE"] = ""
	if got := containerCredentialFiles(func(k string) string { return env[k] }); len(got) != 0 {
		t.Errorf("outside a container workspace: %v", got)
	}
}
