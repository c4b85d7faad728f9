package render

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/gittest"
)

const (
	encA = "ENC[AES256_GCM,data:3Yq5dWrbnmX0Hfsp,iv:8cOu0pV0C1mfCkhyEB8eBb9BWy0sxpvM5MuvlJX/Apo=,tag:2EZmvhCm6l7o9vzLt2pFqA==,type:str]"
	encB = "ENC[AES256_GCM,data:q0g=,iv:PZl0rvd1qC7sAv9dYQxX6B1nrXqQ0Yg4n2m7kQK0nXg=,tag:cJxG2u4Vv3Hk5q0Ewl0B6A==,type:str]"
	mac  = "ENC[AES256_GCM,data:Ue0x4lxb7mZx0mTWkH7u2TtDk0VOp2qN0CEw0aQz8I8AOM8dRpM5J3AXYy8GqLQ0gRk=,iv:tK7n0pS9H6lY1Y0LrYQ9mE8n5lWq6k0YbKq1rLd2WQk=,tag:2f2y0Ywz8Lr1rT0Yb8mJ1A==,type:str]"
	// ageMeta is the sops metadata sops 3.9 writes for one age recipient.
	ageMeta = `sops:
  age:
  - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    enc: |
      -----BEGIN AGE ENCRYPTED FILE-----
      YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBxc2xYdEVkN0ZPQzR2Y0tE
      -----END AGE ENCRYPTED FILE-----
  azure_kv: []
  gcp_kms: []
  hc_vault: []
  kms: []
  lastmodified: "2026-01-01T00:00:00Z"
  mac: ` + mac + `
  pgp: []
  unencrypted_suffix: _unencrypted
  version: 3.9.0
`
)

func secret(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := sigsyaml.Unmarshal([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"+y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSecretGuardCannotBeFooled: a sops key lets a Secret through only
// when every value is encrypted as sops writes it and the metadata is
// what sops writes.
func TestSecretGuardCannotBeFooled(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml string
		want       string // "" passes; "plain" is refused as a plain Secret; else a part of the reason
	}{
		{"no values", "type: Opaque\n", ""},
		{"no values with sops", "data: {}\n" + ageMeta, ""},
		{"plain", "data: {password: aHVudGVyMg==}\n", "plain"},
		{"plain stringData", "stringData: {password: hunter2}\n", "plain"},
		{"encrypted", "data: {password: '" + encA + "', user: '" + encB + "'}\n" + ageMeta, ""},
		{"encrypted stringData", "stringData: {password: '" + encA + "'}\n" + ageMeta, ""},
		{"plain value with sops key", "data: {password: aHVudGVyMg==}\n" + ageMeta, "data.password is not encrypted by sops"},
		{"mix", "data: {password: '" + encA + "'}\nstringData: {user: admin}\n" + ageMeta, "stringData.user is not encrypted by sops"},
		{"mix in data", "data: {a: '" + encA + "', b: YWRtaW4=}\n" + ageMeta, "data.b is not encrypted by sops"},
		{"unencrypted suffix", "data: {password: '" + encA + "', user_unencrypted: YWRtaW4=}\n" + ageMeta, "data.user_unencrypted is not encrypted"},
		{"ENC look-alike", "data: {password: 'ENC[AES256_GCM,data:hunter2]'}\n" + ageMeta, "data.password is not encrypted by sops"},
		{"ENC with trailing text", "data: {password: '" + encA + " hunter2'}\n" + ageMeta, "data.password is not encrypted by sops"},
		{"number value", "stringData: {port: 5432}\n" + ageMeta, "stringData.port is not encrypted by sops"},
		{"empty sops map", "data: {password: '" + encA + "'}\nsops: {}\n", "without the MAC"},
		{"null sops", "data: {password: '" + encA + "'}\nsops: null\n", "without the MAC"},
		{"sops true", "data: {password: '" + encA + "'}\nsops: true\n", "without the MAC"},
		{"plain mac", "data: {password: '" + encA + "'}\nsops: {mac: abc, age: [{recipient: x, enc: y}]}\n", "without the MAC"},
		{"no recipient", "data: {password: '" + encA + "'}\nsops: {mac: '" + mac + "', age: [], kms: []}\n", "without a recipient"},
		{"recipient without enc", "data: {password: '" + encA + "'}\nsops: {mac: '" + mac + "', pgp: [{fp: ABCD}]}\n", "without a recipient"},
		{"key group", "data: {password: '" + encA + "'}\nsops: {mac: '" + mac + "', key_groups: [{kms: [{arn: 'arn:aws:kms:x', enc: abc}]}]}\n", ""},
		{"gcp_kms", "data: {password: '" + encA + "'}\nsops: {mac: '" + mac + "', gcp_kms: [{resource_id: x, enc: abc}]}\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plain, why := secretProblem(secret(t, tt.yaml))
			switch {
			case tt.want == "" && plain:
				t.Errorf("refused%s, want it to pass", why)
			case tt.want != "" && !plain:
				t.Errorf("passed, want it refused (%s)", tt.want)
			case tt.want == "plain" && why != "":
				t.Errorf("refused%s, want refused as plain", why)
			case tt.want != "plain" && !strings.Contains(why, tt.want):
				t.Errorf("refused%s, want the reason to say %q", why, tt.want)
			}
		})
	}
}

// TestSecretGuardInRender: the guard's verdicts through a real build, and
// the error names the Secret and the key.
func TestSecretGuardInRender(t *testing.T) {
	t.Parallel()
	dir := gittest.Files(t, map[string]string{
		"sops/secret.yaml":         "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: '" + encA + "'}\n" + ageMeta,
		"fake/secret.yaml":         "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: aHVudGVyMg==}\nsops: {mac: x}\n",
		"kfake/kustomization.yaml": "resources: [secret.yaml]\n",
		"kfake/secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: aHVudGVyMg==}\nsops: {mac: x}\n",
	})
	b := NewBuilder(diskRepo(dir), fleet.PolicyConfig{})
	if _, err := b.Render(t.Context(), app("ok", "sops", "ns", nil, nil)); err != nil {
		t.Errorf("sops Secret refused: %v", err)
	}
	for _, path := range []string{"fake", "kfake"} {
		_, err := b.Render(t.Context(), app("bad", path, "ns", nil, nil))
		if !errors.Is(err, ErrSecret) || !strings.Contains(err.Error(), "Secret/ns/db") || !strings.Contains(err.Error(), "data.password is not encrypted by sops") {
			t.Errorf("%s: got %v, want the Secret and its key named", path, err)
		}
	}
	allowed := NewBuilder(diskRepo(dir), fleet.PolicyConfig{AllowSecrets: true})
	if _, err := allowed.Render(t.Context(), app("bad", "fake", "ns", nil, nil)); err != nil {
		t.Errorf("policy.allowSecrets: %v", err)
	}
}
