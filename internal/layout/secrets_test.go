package layout

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// TestKubeconfigSecret pins the documented mapping.
func TestKubeconfigSecret(t *testing.T) {
	t.Parallel()
	for cluster, want := range map[string]string{
		"prod-us-east": "KUBECONFIG_PROD_US_EAST",
		"edge.01":      "KUBECONFIG_EDGE_01",
		"Mixed_Case9":  "KUBECONFIG_MIXED_CASE9",
		"é":            "KUBECONFIG__", // one rune, one _
	} {
		if got := KubeconfigSecret(cluster); got != want {
			t.Errorf("KubeconfigSecret(%q) = %q, want %q", cluster, got, want)
		}
	}
}

// TestCheckKubeconfigSecrets: clusters that map to one secret are
// refused, naming the secret and every one of them; distinct ones pass.
func TestCheckKubeconfigSecrets(t *testing.T) {
	t.Parallel()
	if err := CheckKubeconfigSecrets([]string{"a", "b", "a-b", "a", "ab"}); err != nil {
		t.Errorf("distinct secrets refused: %v", err)
	}
	err := CheckKubeconfigSecrets([]string{"z.1", "z-1", "b-c", "a.b", "a-b", "a_b"})
	var coll *SecretCollisionError
	if !errors.As(err, &coll) {
		t.Fatalf("want a *SecretCollisionError, got %v", err)
	}
	if coll.Secret != "KUBECONFIG_A_B" || strings.Join(coll.Clusters, " ") != "a-b a.b a_b" {
		t.Errorf("got %+v", coll)
	}
	if !strings.Contains(err.Error(), "clusters a-b, a.b, a_b all map to the kubeconfig secret KUBECONFIG_A_B") {
		t.Errorf("message: %v", err)
	}
}

var secretName = regexp.MustCompile(`^KUBECONFIG_[A-Z0-9_]*$`)

// FuzzKubeconfigSecret: every name maps to a valid GitHub secret name,
// the same for every spelling GitHub treats alike (upper/lower case),
// and CheckKubeconfigSecrets refuses exactly the pairs that collide.
func FuzzKubeconfigSecret(f *testing.F) {
	for _, s := range []string{"prod-us-east", "a.b", "A-B", "", "ü-1"} {
		f.Add(s, strings.ToUpper(s))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, sb := KubeconfigSecret(a), KubeconfigSecret(b)
		if !secretName.MatchString(sa) {
			t.Fatalf("KubeconfigSecret(%q) = %q is not a secret name", a, sa)
		}
		if KubeconfigSecret(strings.ToUpper(a)) != KubeconfigSecret(strings.ToLower(a)) && isASCII(a) {
			t.Fatalf("%q: upper and lower case map apart", a)
		}
		err := CheckKubeconfigSecrets([]string{a, b})
		if collide := a != b && sa == sb; collide != (err != nil) {
			t.Fatalf("%q %q: secrets %q %q, check says %v", a, b, sa, sb, err)
		}
	})
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
