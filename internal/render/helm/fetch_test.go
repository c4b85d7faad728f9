package helm

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/flotilla-dev/flotilla/internal/render/helm/helmtest"
)

// packageChart packages a one-template chart with the SDK into dir.
func packageChart(t testing.TB, dir, name, version string, files int) string {
	t.Helper()
	c := &chartv2.Chart{
		Metadata: &chartv2.Metadata{APIVersion: "v2", Name: name, Version: version},
		Values:   map[string]any{"greeting": "hello"},
		Templates: []*common.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata: {greeting: {{ .Values.greeting | quote }}, version: {{ .Chart.Version | quote }}}\n")}},
	}
	for i := range files {
		c.Files = append(c.Files, &common.File{Name: "extra/" + strings.Repeat("f", 1+i%7) + string(rune('a'+i%26)) + time.Duration(i).String() + ".txt", Data: []byte("x")})
	}
	c.Files = append(c.Files, &common.File{Name: "values-prod.yaml", Data: []byte("greeting: prod\n")})
	p, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFetchHTTPRepository(t *testing.T) {
	t.Parallel()
	srv, hits := helmtest.Repo(t, "u", "s3cret", func(dir string) {
		for _, v := range []string{"1.0.0", "1.2.0", "1.3.0-rc.1", "2.0.0"} {
			packageChart(t, dir, "web", v, 0)
		}
	})
	cache := t.TempDir()
	newFetcher := func() *Fetcher {
		return &Fetcher{CacheDir: cache, Client: helmtest.Client(srv), Credentials: []Credential{{Prefix: srv.URL, Username: "u", Password: "s3cret"}}}
	}
	f := newFetcher()
	for _, tt := range []struct{ version, want string }{
		{"1.0.0", "1.0.0"}, {"^1.0.0", "1.2.0"}, {"~1.2", "1.2.0"}, {"", "2.0.0"}, {"1.x", "1.2.0"}, {">=1.3.0-0 <2", "1.3.0-rc.1"},
	} {
		a, err := f.Fetch(t.Context(), srv.URL, "web", tt.version)
		if err != nil {
			t.Fatalf("%q: %v", tt.version, err)
		}
		if a.Version != tt.want || !strings.HasPrefix(a.Digest, "sha256:") {
			t.Errorf("%q: got %s %s, want %s", tt.version, a.Version, a.Digest, tt.want)
		}
		c, files, err := LoadArchive(a.Data)
		if err != nil || Describe(c) != "chart web version "+tt.want || string(files["values-prod.yaml"]) != "greeting: prod\n" {
			t.Errorf("%q: load: %v %s", tt.version, err, Describe(c))
		}
	}
	// One index and one archive per version, each once, however often asked.
	before := hits.Load()
	for range 3 {
		if _, err := f.Fetch(t.Context(), srv.URL, "web", "^1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() != before || before != 1+4 {
		t.Errorf("%d requests, then %d more for the same charts; want 5 (the index, 4 versions) then none", before, hits.Load()-before)
	}
	// A new run with a warm cache asks nothing for an exact version.
	warm := newFetcher()
	before = hits.Load()
	if _, err := warm.Fetch(t.Context(), srv.URL, "web", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != before || warm.Requests() != 0 {
		t.Errorf("warm cache made %d requests", hits.Load()-before)
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	srv, _ := helmtest.Repo(t, "u", "s3cret", func(dir string) {
		packageChart(t, dir, "web", "1.0.0", 0)
		packageChart(t, dir, "big", "1.0.0", 40)
	})
	good := []Credential{{Prefix: srv.URL, Username: "u", Password: "s3cret"}}
	for _, tt := range []struct {
		name    string
		f       *Fetcher
		chart   string
		version string
		is      error
		want    string
	}{
		{"unknown chart", &Fetcher{Client: helmtest.Client(srv), Credentials: good}, "nope", "1.0.0", ErrChartNotFound, "chart nope version 1.0.0"},
		{"unknown version", &Fetcher{Client: helmtest.Client(srv), Credentials: good}, "web", "9.9.9", ErrChartNotFound, "chart web version 9.9.9"},
		{"not allowed", &Fetcher{Client: helmtest.Client(srv), Credentials: good, Allow: []string{"https://charts.example.com"}}, "web", "1.0.0", ErrNotAllowed, "helm.repositories"},
		{"wrong password, not shown", &Fetcher{Client: helmtest.Client(srv), Credentials: []Credential{{Prefix: srv.URL, Username: "u", Password: "wrong-pw"}}}, "web", "1.0.0", nil, "401"},
		{"untrusted certificate", &Fetcher{Credentials: good}, "web", "1.0.0", nil, "certificate"},
		{"too many files", &Fetcher{Client: helmtest.Client(srv), Credentials: good, MaxFiles: 10}, "big", "1.0.0", nil, "more than 10 files"},
		{"archive too large", &Fetcher{Client: helmtest.Client(srv), Credentials: good, MaxArchiveBytes: 100}, "web", "1.0.0", nil, "larger than 100 bytes"},
	} {
		_, err := tt.f.Fetch(t.Context(), srv.URL, tt.chart, tt.version)
		if err == nil || !strings.Contains(err.Error(), tt.want) || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong-pw")) {
			t.Errorf("%s: error shows a password: %v", tt.name, err)
		}
	}
}

// TestFetchDigestMismatch serves an archive other than the one the index
// announces.
func TestFetchDigestMismatch(t *testing.T) {
	t.Parallel()
	var path string
	srv, _ := helmtest.Repo(t, "", "", func(dir string) { path = packageChart(t, dir, "web", "1.0.0", 0) })
	other := packageChart(t, t.TempDir(), "web", "1.0.0", 3)
	data, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = (&Fetcher{Client: helmtest.Client(srv), CacheDir: t.TempDir()}).Fetch(t.Context(), srv.URL, "web", "1.0.0")
	if !errors.Is(err, ErrDigest) {
		t.Errorf("got %v, want a digest mismatch", err)
	}
}

// TestFetchOCI pushes charts with the SDK's registry client to a real
// OCI registry running in the test, and fetches them as Argo CD names
// them: host/path without a scheme, or oci://.
func TestFetchOCI(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "pw-oci" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v2/charts/broken/") {
			// A registry failing with words that say "not found".
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errors":[{"code":"UNKNOWN","message":"storage backend not found"}]}`)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	client, err := registry.NewClient(registry.ClientOptHTTPClient(helmtest.Client(srv)), registry.ClientOptWriter(io.Discard), registry.ClientOptBasicAuth("u", "pw-oci"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range []string{"0.1.0", "0.2.0", "1.0.0"} {
		data, err := os.ReadFile(packageChart(t, dir, "web", v, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Push(data, host+"/charts/web:"+v); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	creds := []Credential{{Prefix: host, Username: "u", Password: "pw-oci"}}
	if _, err := (&Fetcher{Client: helmtest.Client(srv)}).Fetch(t.Context(), host+"/charts", "web", "0.1.0"); err == nil {
		t.Error("fetched from a registry that needs credentials without any")
	}
	if _, err := (&Fetcher{Client: helmtest.Client(srv), Credentials: []Credential{{Prefix: host, Username: "u", Password: "wrong-oci"}}}).Fetch(t.Context(), host+"/charts", "web", "0.1.0"); err == nil || strings.Contains(err.Error(), "wrong-oci") {
		t.Errorf("wrong password: %v", err)
	}
	f := &Fetcher{Client: helmtest.Client(srv), CacheDir: cache, Credentials: creds}
	for _, tt := range []struct{ repoURL, version, want string }{
		{host + "/charts", "0.1.0", "0.1.0"},
		{"oci://" + host + "/charts", "<1.0.0", "0.2.0"},
		{host + "/charts", "", "1.0.0"},
	} {
		a, err := f.Fetch(t.Context(), tt.repoURL, "web", tt.version)
		if err != nil {
			t.Fatalf("%s %q: %v", tt.repoURL, tt.version, err)
		}
		if c, _, err := LoadArchive(a.Data); err != nil || a.Version != tt.want || Describe(c) != "chart web version "+tt.want {
			t.Errorf("%s %q: got %s (%v)", tt.repoURL, tt.version, a.Version, err)
		}
	}
	if _, err := f.Fetch(t.Context(), host+"/charts", "web", "3.0.0"); !errors.Is(err, ErrChartNotFound) || !strings.Contains(err.Error(), "chart web version 3.0.0") {
		t.Errorf("missing tag: %v", err)
	}
	if _, err := f.Fetch(t.Context(), host+"/charts", "nope", "1.0.0"); !errors.Is(err, ErrChartNotFound) {
		t.Errorf("missing repository: %v", err)
	}
	// Classified by status, not words: a 500 that says "not found" is a
	// registry failure.
	if _, err := f.Fetch(t.Context(), host+"/charts", "broken", "1.0.0"); err == nil || errors.Is(err, ErrChartNotFound) || !strings.Contains(err.Error(), "pull ") {
		t.Errorf("registry failure: %v", err)
	}
	warm := &Fetcher{Client: helmtest.Client(srv), CacheDir: cache, Credentials: creds}
	before := hits.Load()
	if _, err := warm.Fetch(t.Context(), host+"/charts", "web", "0.1.0"); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load() - before; n != 0 {
		t.Errorf("warm cache made %d requests", n)
	}
}

// TestFetchPassCredentials: an index whose archive URLs point to another
// host gets the credentials there only with PassCredentials.
func TestFetchPassCredentials(t *testing.T) {
	t.Parallel()
	archives := t.TempDir()
	packageChart(t, archives, "web", "1.0.0", 0)
	var sawAuth atomic.Bool
	files := http.FileServer(http.Dir(archives))
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			sawAuth.Store(true)
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(other.Close)
	idx, err := repo.IndexDirectory(archives, other.URL)
	if err != nil {
		t.Fatal(err)
	}
	index := t.TempDir()
	if err := idx.WriteFile(filepath.Join(index, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := httptest.NewTLSServer(http.FileServer(http.Dir(index)))
	t.Cleanup(main.Close)
	// One client trusting both test servers.
	client := helmtest.Client(main)
	client.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(other.Certificate())
	creds := []Credential{{Prefix: main.URL, Username: "u", Password: "p"}}
	if _, err := (&Fetcher{Client: client, Credentials: creds}).Fetch(t.Context(), main.URL, "web", "1.0.0"); err != nil || sawAuth.Load() {
		t.Errorf("without passCredentials: %v, credentials sent to the other host: %t", err, sawAuth.Load())
	}
	if _, err := (&Fetcher{Client: client, Credentials: creds}).FetchWith(t.Context(), main.URL, "web", "1.0.0", FetchOptions{PassCredentials: true}); err != nil || !sawAuth.Load() {
		t.Errorf("with passCredentials: %v, credentials sent: %t", err, sawAuth.Load())
	}
}
