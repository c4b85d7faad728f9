package layout

import (
	"fmt"
	"slices"
	"strings"
)

// KubeconfigSecretPrefix begins the name of a cluster's own kubeconfig
// secret: KubeconfigSecretPrefix + the cluster's name mapped by
// KubeconfigSecret.
const KubeconfigSecretPrefix = "KUBECONFIG_"

// KubeconfigSecret is the name of the GitHub secret (or environment
// variable) holding cluster's own kubeconfig: KUBECONFIG_ and the
// cluster's name upper-cased, every character that is not an ASCII
// letter or digit turned into '_' — prod-us-east is
// KUBECONFIG_PROD_US_EAST. GitHub secret names are [A-Z0-9_] and
// case-insensitive, so this is the one spelling of it. A fleet's cluster
// names are DNS-1123 labels (a-z, 0-9, '-'), which map one to one; names
// from elsewhere may not (a.b and a-b): CheckKubeconfigSecrets refuses
// those.
func KubeconfigSecret(cluster string) string {
	var b strings.Builder
	b.Grow(len(KubeconfigSecretPrefix) + len(cluster))
	b.WriteString(KubeconfigSecretPrefix)
	for _, r := range cluster {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// SecretCollisionError is two or more clusters whose kubeconfig secrets
// (KubeconfigSecret) have one name: no secret could tell them apart.
type SecretCollisionError struct {
	Secret   string
	Clusters []string // sorted
}

func (e *SecretCollisionError) Error() string {
	return fmt.Sprintf("clusters %s all map to the kubeconfig secret %s (upper-cased, every character but A-Z and 0-9 turned into _): rename one, or use one kubeconfig for all of them",
		strings.Join(e.Clusters, ", "), e.Secret)
}

// CheckKubeconfigSecrets refuses clusters two of which map to one
// kubeconfig secret; the error (a *SecretCollisionError) names the first
// such secret in name order and all its clusters.
func CheckKubeconfigSecrets(clusters []string) error {
	by := map[string][]string{}
	for _, c := range clusters {
		s := KubeconfigSecret(c)
		if !slices.Contains(by[s], c) {
			by[s] = append(by[s], c)
		}
	}
	var first *SecretCollisionError
	for s, cs := range by {
		if len(cs) > 1 && (first == nil || s < first.Secret) {
			slices.Sort(cs)
			first = &SecretCollisionError{Secret: s, Clusters: cs}
		}
	}
	if first != nil {
		return first
	}
	return nil
}
