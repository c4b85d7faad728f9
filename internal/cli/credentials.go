package cli

import (
	"fmt"

	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// ownKubeconfigs reads each cluster's own kubeconfig from the variable
// layout.KubeconfigSecret names ($KUBECONFIG_PROD_US_EAST for
// prod-us-east), adding its secret values to what the output hides.
// Clusters that map to one variable are refused, and so is a cluster
// whose variable is unset or empty, naming the secret to add.
func ownKubeconfigs(env Env, clusters []string) (map[string][]byte, error) {
	if err := layout.CheckKubeconfigSecrets(clusters); err != nil {
		return nil, fmt.Errorf("%w: --kubeconfig-env: %v", errUsage, err)
	}
	own := make(map[string][]byte, len(clusters))
	for _, c := range clusters {
		name := layout.KubeconfigSecret(c)
		data := getenv(env, name)
		if data == "" {
			return nil, fmt.Errorf("%w: cluster %s has no kubeconfig: $%s is unset or empty (on GitHub: add the secret %s to the environment %s or to the repository, and call the workflow with secrets: inherit)",
				errUsage, c, name, name, c)
		}
		if env.secrets != nil {
			secrets, err := kube.KubeconfigSecrets([]byte(data))
			if err != nil {
				secrets = []string{data} // unknown secrets: hide it whole
			}
			env.secrets.Add(secrets...)
		}
		own[c] = []byte(data)
	}
	return own, nil
}
