package render

import (
	"fmt"
	"regexp"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// sopsValue is a value as sops encrypts it: AES256-GCM data, IV and tag in
// base64, and the type of the clear value.
var sopsValue = regexp.MustCompile(`^ENC\[AES256_GCM,data:[A-Za-z0-9+/]*={0,2},iv:[A-Za-z0-9+/]+={0,2},tag:[A-Za-z0-9+/]+={0,2},type:[a-z]+\]$`)

// sopsRecipients are the key sources sops writes in its metadata, each a
// list of entries holding the data key encrypted for one recipient (enc).
var sopsRecipients = []string{"age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"}

// secretProblem reports a Secret that may not be committed, and for a
// SOPS-marked one why (": ..."). A Secret may be committed when it holds
// no values, or when it is a SOPS file whose every value is encrypted and
// whose metadata is what sops writes (a MAC and at least one recipient): a
// top-level sops key alone proves nothing.
func secretProblem(o *unstructured.Unstructured) (plain bool, why string) {
	values := map[string]any{}
	for _, field := range []string{"data", "stringData"} {
		m, _ := o.Object[field].(map[string]any)
		for k, v := range m {
			values[field+"."+k] = v
		}
	}
	meta, sops := o.Object["sops"]
	if len(values) == 0 {
		return false, ""
	}
	if !sops {
		return true, ""
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if s, ok := values[k].(string); !ok || !sopsValue.MatchString(s) {
			return true, fmt.Sprintf(": it has a sops key but %s is not encrypted by sops (ENC[AES256_GCM,...])", k)
		}
	}
	m, _ := meta.(map[string]any)
	if mac, _ := m["mac"].(string); !sopsValue.MatchString(mac) {
		return true, ": it has a sops key without the MAC sops writes (sops.mac)"
	}
	if !hasRecipient(m) {
		return true, ": it has a sops key without a recipient (sops.age, pgp, kms, gcp_kms, azure_kv, hc_vault or key_groups)"
	}
	return false, ""
}

// hasRecipient reports a key source with an encrypted data key, at the top
// of the sops metadata or in one of its key groups.
func hasRecipient(m map[string]any) bool {
	groups := []map[string]any{m}
	if kg, ok := m["key_groups"].([]any); ok {
		for _, g := range kg {
			if g, ok := g.(map[string]any); ok {
				groups = append(groups, g)
			}
		}
	}
	for _, g := range groups {
		for _, src := range sopsRecipients {
			list, _ := g[src].([]any)
			for _, e := range list {
				if e, ok := e.(map[string]any); ok {
					if enc, _ := e["enc"].(string); enc != "" {
						return true
					}
				}
			}
		}
	}
	return false
}
