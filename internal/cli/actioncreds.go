package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/actions"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// Credentials modes of the Action's credentials input.
const (
	// credShared: one kubeconfig (kubeconfig, kubeconfig-data) with a
	// context per cluster; the matrices put several clusters in a job.
	credShared = "shared"
	// credPerCluster: each cluster's own kubeconfig, the secret
	// layout.KubeconfigSecret names; the matrices put one cluster in a
	// job, with its secret's name and its GitHub Environment.
	credPerCluster = "per-cluster"
)

// credentialsMode reads the credentials input.
func credentialsMode(io *actions.IO) (string, error) {
	switch v := io.Input("credentials"); v {
	case "", credShared:
		return credShared, nil
	case credPerCluster:
		return credPerCluster, nil
	default:
		return "", fmt.Errorf("%w: input credentials %q must be shared or per-cluster", errUsage, v)
	}
}

// perClusterEntry is one job of a per-cluster matrix (credentials
// per-cluster): the cluster, as clusters for the steps that read a
// shard's, the name of its kubeconfig secret, and its GitHub
// Environment (named after the cluster), so that the job reads
// secrets[matrix.secret] from that environment, behind its protection
// rules.
type perClusterEntry struct {
	Shard       string `json:"shard"`
	Clusters    string `json:"clusters"`
	Cluster     string `json:"cluster"`
	Secret      string `json:"secret"`
	Environment string `json:"environment"`
}

// perClusterMatrix puts each cluster in a job of its own, at most
// maxJobs of them: the clusters past maxJobs are returned as left (the
// caller refuses them, or leaves them to a later run). Clusters whose
// secrets collide are refused (layout.CheckKubeconfigSecrets).
func perClusterMatrix(clusters []string, maxJobs int) (matrix map[string][]perClusterEntry, left []string, err error) {
	if err := layout.CheckKubeconfigSecrets(clusters); err != nil {
		return nil, nil, fmt.Errorf("%w: credentials per-cluster: %v", errUsage, err)
	}
	n := min(len(clusters), maxJobs)
	jobs := make([]perClusterEntry, n)
	for i, c := range clusters[:n] {
		jobs[i] = perClusterEntry{Shard: fmt.Sprintf("%d/%d", i, n), Clusters: c, Cluster: c, Secret: layout.KubeconfigSecret(c), Environment: c}
	}
	return map[string][]perClusterEntry{"include": jobs}, clusters[n:], nil
}

// matrixOutput is the matrix output for clusters in the credentials
// mode: shards of several clusters (shared), or one job per cluster.
// With per-cluster, more clusters than maxJobs is an error for a listing
// (strict) and otherwise leaves the rest, returned, to the next run.
func matrixOutput(mode string, clusters []string, maxJobs int, strict bool) (any, []string, error) {
	if mode != credPerCluster {
		return clusterMatrix(clusters, maxJobs), nil, nil
	}
	m, left, err := perClusterMatrix(clusters, maxJobs)
	if err == nil && strict && len(left) > 0 {
		err = fmt.Errorf("%w: credentials per-cluster runs one job per cluster, and %d clusters need more than max-jobs %d (GitHub runs at most %d jobs per matrix): raise max-jobs, split the clusters input over several calls, or use one kubeconfig (credentials shared, or cloud identity)",
			errUsage, len(clusters), maxJobs, MaxMatrixJobs)
	}
	return m, left, err
}

// perClusterEnv is, for apply and verify with credentials per-cluster,
// the kubeconfig-data input as the variable of the job's one cluster
// (what --kubeconfig-env reads): kubeconfig-data is
// secrets[matrix.secret] in the per-cluster matrix. Without
// kubeconfig-data the variables come from the step's env. A
// kubeconfig-data for a job of several clusters is refused: it cannot be
// each one's.
func perClusterEnv(io *actions.IO, data string) (map[string]string, error) {
	if data == "" {
		return nil, nil
	}
	var clusters []string
	if c := io.Input("cluster"); c != "" {
		clusters = append(clusters, c)
	}
	listed, err := actionClusters(io)
	if err != nil {
		return nil, err
	}
	if listed != nil {
		clusters = append(clusters, *listed...)
	}
	if len(clusters) != 1 {
		return nil, fmt.Errorf("%w: credentials per-cluster: kubeconfig-data is one cluster's kubeconfig, and this job has %d clusters (%s): run one cluster per job (the per-cluster matrix), or set each cluster's KUBECONFIG_<CLUSTER> in the step's env",
			errUsage, len(clusters), strings.Join(clusters, ", "))
	}
	return map[string]string{layout.KubeconfigSecret(clusters[0]): data}, nil
}

// credentialFileVars are the variables the cloud credential actions set
// to the path of a file that the exec credential plugins read.
var credentialFileVars = []string{"GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE"}

// containerCredentialFiles maps the credential files the runner named by
// their path on the host (google-github-actions/auth writes
// $GITHUB_WORKSPACE/gha-creds-….json on the host) to the same file in
// the container's workspace, where a Docker action sees it: a variable
// whose file does not exist but whose file name does under
// $GITHUB_WORKSPACE (a file or one folder down) gets that path. The
// result is the variables to change.
func containerCredentialFiles(getenv func(string) string) map[string]string {
	out := map[string]string{}
	ws := getenv("GITHUB_WORKSPACE")
	if ws == "" {
		return out
	}
	for _, k := range credentialFileVars {
		p := getenv(k)
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			continue
		}
		for _, cand := range []string{filepath.Join(ws, filepath.Base(p)), filepath.Join(ws, filepath.Base(filepath.Dir(p)), filepath.Base(p))} {
			if fi, err := os.Stat(cand); err == nil && fi.Mode().IsRegular() {
				out[k] = cand
				break
			}
		}
	}
	return out
}
