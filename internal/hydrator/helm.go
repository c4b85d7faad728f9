package hydrator

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/render/helm"
)

// HelmCredentialsEnv is the environment variable whose value the
// commands pass as Options.HelmCredentials.
const HelmCredentialsEnv = "FLOTILLA_HELM_CREDENTIALS"

// chartFetcher configures chart downloads from flotilla.yaml's helm
// section; cacheDir keeps archives across runs ("" for none); creds, when
// set, are the credentials instead of helm.credentialsFile.
func chartFetcher(c fleet.HelmConfig, cacheDir string, creds []byte) (*helm.Fetcher, error) {
	f := &helm.Fetcher{CacheDir: cacheDir, Allow: c.Repositories, MaxArchiveBytes: c.MaxArchiveBytes, MaxFiles: c.MaxFiles}
	if len(creds) == 0 {
		creds = nil
	}
	if creds == nil && c.CredentialsFile != "" {
		b, err := os.ReadFile(c.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("read helm.credentialsFile: %w", err)
		}
		creds = b
	}
	if creds != nil {
		if err := yaml.UnmarshalStrict(creds, &f.Credentials); err != nil {
			// The content is secret: say where, not what.
			return nil, fmt.Errorf("helm credentials are not a YAML list of {url, username, password}")
		}
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read helm.caFile: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("helm.caFile %s holds no PEM certificate", c.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsWithRoots(pool)
		f.Client = &http.Client{Transport: tr}
	}
	return f, nil
}

func tlsWithRoots(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
