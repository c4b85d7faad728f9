package kube

import (
	"encoding/base64"
	"errors"
	"io"
	"os"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-dev/flotilla/internal/redact"
)

// maxTokenFile bounds what KubeconfigSecrets reads of a user's tokenFile.
const maxTokenFile = 64 << 10

// KubeconfigSecrets returns the secret values of a kubeconfig, in YAML or
// JSON of any style, sorted: for every user its token, password,
// client-key-data (as written, base64, and each line of the decoded PEM
// key between its BEGIN and END lines), the contents of its tokenFile
// when that file can be read, and the values of the auth-provider config
// keys and exec plugin env variables whose names say they hold a
// credential (redact.SecretName: id-token, client-secret, VAULT_TOKEN,
// AWS_SECRET_ACCESS_KEY). User names, certificates, servers, the other
// config keys and env variables (client-id, AWS_REGION=us-east-1,
// DEBUG=1) and everything else are not secret: masking them would hide
// their common text all over the log. The Action masks exactly
// these values; the error never quotes the kubeconfig.
func KubeconfigSecrets(data []byte) ([]string, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		// The parser's message may quote a piece of the input, which
		// holds secrets: say only what is wrong.
		return nil, errors.New("the kubeconfig does not parse as a kubeconfig (YAML or JSON)")
	}
	var out []string
	add := func(v string) {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, u := range cfg.AuthInfos {
		add(u.Token)
		add(u.Password)
		if len(u.ClientKeyData) > 0 {
			add(base64.StdEncoding.EncodeToString(u.ClientKeyData))
			for _, line := range strings.Split(string(u.ClientKeyData), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(line), "-----") {
					add(line)
				}
			}
		}
		if u.TokenFile != "" {
			if f, err := os.Open(u.TokenFile); err == nil {
				b, _ := io.ReadAll(io.LimitReader(f, maxTokenFile))
				f.Close()
				add(string(b))
			}
		}
		if p := u.AuthProvider; p != nil {
			for k, v := range p.Config {
				if redact.SecretName(k) {
					add(v)
				}
			}
		}
		if e := u.Exec; e != nil {
			for _, env := range e.Env {
				if redact.SecretName(env.Name) {
					add(env.Value)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
