// Package helmtest serves real Helm chart repositories in tests: charts
// packaged with Helm's SDK and an index.yaml made by its repo package,
// over TLS.
package helmtest

import (
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// Chart packages a chart of the given templates (path → text) and
// values into dir and returns the archive's path.
func Chart(t testing.TB, dir, name, version string, templates map[string]string, values map[string]any) string {
	t.Helper()
	c := &chartv2.Chart{Metadata: &chartv2.Metadata{APIVersion: "v2", Name: name, Version: version}, Values: values}
	if values != nil {
		y, err := yaml.Marshal(values)
		if err != nil {
			t.Fatal(err)
		}
		c.Raw = append(c.Raw, &common.File{Name: "values.yaml", Data: y})
	}
	for p, text := range templates {
		f := &common.File{Name: p, Data: []byte(text)}
		if filepath.Dir(p) == "templates" || filepath.Dir(filepath.Dir(p)) == "templates" {
			c.Templates = append(c.Templates, f)
		} else {
			c.Files = append(c.Files, f)
		}
	}
	p, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// PackageDir packages the chart directory src into dir, as `helm package`.
func PackageDir(t testing.TB, src, dir string) string {
	t.Helper()
	c, err := loader.LoadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Repo serves dir (filled by fill) as a chart repository over TLS,
// counting requests; with user set, it requires that basic auth.
func Repo(t testing.TB, user, pass string, fill func(dir string)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	fill(dir)
	var hits atomic.Int64
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if u, p, ok := r.BasicAuth(); user != "" && (!ok || u != user || p != pass) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, &hits
}

// Client trusts only srv's certificate, as a CA bundle naming it would.
func Client(srv *httptest.Server) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tr.TLSClientConfig.RootCAs = pool
	return &http.Client{Transport: tr}
}
