package kube

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testKey is a PEM key as client-key-data holds it (not a real key: only
// its shape matters).
const testKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKeyLineOneSECRET0123456789abcdefghijklmnopqrstuvwx\noAoGCCqGSM49AwEHoUQDQgAEKeyLineTwoSECRET0123456789abcdefghij\n-----END EC PRIVATE KEY-----\n"

// TestKubeconfigSecrets reads the same kubeconfig written as block YAML,
// JSON and flow-style YAML: exactly the secret values come out, and
// nothing common (apiVersion: v1, a user name, a server, a certificate,
// exec env values whose names are not secret: AWS_REGION=us-east-1,
// DEBUG=1, AWS_ACCESS_KEY_ID; the gcp token-key JSONPath).
func TestKubeconfigSecrets(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("SECRET-from-token-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString([]byte(testKey))
	cert := base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nNOTSECRETcert\n-----END CERTIFICATE-----\n"))
	yamlConfig := `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster:
    server: https://a.example.com
    certificate-authority-data: ` + cert + `
contexts:
- name: a
  context: {cluster: a, user: a}
users:
- name: a
  user:
    token: SECRET-token
    client-certificate-data: ` + cert + `
    client-key-data: ` + key + `
- name: b
  user:
    username: admin
    password: "12345678"
- name: c
  user:
    tokenFile: ` + tokenFile + `
- name: d
  user:
    auth-provider:
      name: oidc
      config:
        client-id: flotilla
        client-secret: SECRET-client
        id-token: SECRET-id
        refresh-token: SECRET-refresh
        idp-issuer-url: https://issuer.example.com
        token-key: '{.credential.access_token}'
- name: e
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: get-token
      args: [--cluster, a]
      env:
      - {name: API_KEY, value: SECRET-exec}
      - {name: AWS_SECRET_ACCESS_KEY, value: SECRET-aws-key}
      - {name: AWS_SESSION_TOKEN, value: SECRET-aws-session}
      - {name: VAULT_TOKEN, value: SECRET-vault}
      - {name: AWS_REGION, value: us-east-1}
      - {name: AWS_ACCESS_KEY_ID, value: AKIAEXAMPLE}
      - {name: DEBUG, value: "1"}
      interactiveMode: Never
`
	jsonConfig := `{"apiVersion": "v1", "kind": "Config", "current-context": "a",
 "clusters": [{"name": "a", "cluster": {"server": "https://a.example.com", "certificate-authority-data": "` + cert + `"}}],
 "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}],
 "users": [
  {"name": "a", "user": {"token": "SECRET-token", "client-certificate-data": "` + cert + `", "client-key-data": "` + key + `"}},
  {"name": "b", "user": {"username": "admin", "password": "12345678"}},
  {"name": "c", "user": {"tokenFile": "` + tokenFile + `"}},
  {"name": "d", "user": {"auth-provider": {"name": "oidc", "config": {"client-id": "flotilla", "client-secret": "SECRET-client", "id-token": "SECRET-id", "refresh-token": "SECRET-refresh", "idp-issuer-url": "https://issuer.example.com", "token-key": "{.credential.access_token}"}}}},
  {"name": "e", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "get-token", "args": ["--cluster", "a"], "env": [{"name": "API_KEY", "value": "SECRET-exec"}, {"name": "AWS_SECRET_ACCESS_KEY", "value": "SECRET-aws-key"}, {"name": "AWS_SESSION_TOKEN", "value": "SECRET-aws-session"}, {"name": "VAULT_TOKEN", "value": "SECRET-vault"}, {"name": "AWS_REGION", "value": "us-east-1"}, {"name": "AWS_ACCESS_KEY_ID", "value": "AKIAEXAMPLE"}, {"name": "DEBUG", "value": "1"}], "interactiveMode": "Never"}}}]}`
	flowConfig := `{apiVersion: v1, kind: Config, current-context: a,
 clusters: [{name: a, cluster: {server: "https://a.example.com", certificate-authority-data: ` + cert + `}}],
 contexts: [{name: a, context: {cluster: a, user: a}}],
 users: [
  {name: a, user: {token: SECRET-token, client-certificate-data: ` + cert + `, client-key-data: ` + key + `}},
  {name: b, user: {username: admin, password: "12345678"}},
  {name: c, user: {tokenFile: ` + tokenFile + `}},
  {name: d, user: {auth-provider: {name: oidc, config: {client-id: flotilla, client-secret: SECRET-client, id-token: SECRET-id, refresh-token: SECRET-refresh, idp-issuer-url: "https://issuer.example.com", token-key: "{.credential.access_token}"}}}},
  {name: e, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: get-token, args: [--cluster, a], env: [{name: API_KEY, value: SECRET-exec}, {name: AWS_SECRET_ACCESS_KEY, value: SECRET-aws-key}, {name: AWS_SESSION_TOKEN, value: SECRET-aws-session}, {name: VAULT_TOKEN, value: SECRET-vault}, {name: AWS_REGION, value: us-east-1}, {name: AWS_ACCESS_KEY_ID, value: AKIAEXAMPLE}, {name: DEBUG, value: "1"}], interactiveMode: Never}}}]}`
	lines := strings.Split(testKey, "\n")
	want := []string{"12345678", "SECRET-aws-key", "SECRET-aws-session", "SECRET-client", "SECRET-exec", "SECRET-from-token-file", "SECRET-id", "SECRET-refresh", "SECRET-token", "SECRET-vault", key, lines[1], lines[2]}
	for name, config := range map[string]string{"yaml": yamlConfig, "json": jsonConfig, "flow": flowConfig} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := KubeconfigSecrets([]byte(config))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sortedCopy(want), got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestKubeconfigSecretsErrorQuotesNothing gives kubeconfigs that do not
// parse, around a secret: the error must not show it.
func TestKubeconfigSecretsErrorQuotesNothing(t *testing.T) {
	t.Parallel()
	for _, config := range []string{
		"users:\n- name: a\n  user:\n    token: [SECRET-token\n",
		`{"users": [{"name": "a", "user": {"password": 12345678}}], "SECRET": 1, "x": "SECRET-token}`,
		"users:\n- name: a\n  user:\n    password: 12345678SECRET\n    password: 1\n",
		"users:\n- name: a\n  user:\n    client-key-data: SECRET-not-base64!\n",
		"users:\n- name: a\n  user:\n    token: {SECRET-token: 1}\n",
	} {
		_, err := KubeconfigSecrets([]byte(config))
		if err == nil {
			t.Errorf("no error for %q", config)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error quotes a secret: %v", err)
		}
	}
}

func sortedCopy(s []string) []string {
	return slices.Sorted(slices.Values(s))
}
