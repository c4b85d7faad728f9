package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"sigs.k8s.io/yaml"
)

// Default limits of a chart archive.
const (
	DefaultMaxArchiveBytes = 20 << 20  // compressed
	DefaultMaxFiles        = 5000      // entries
	defaultMaxUnpacked     = 100 << 20 // Helm's own cap, decompressed
	maxIndexBytes          = 64 << 20
)

// Credential is a user name and password for repository URLs starting
// with Prefix.
type Credential struct {
	Prefix   string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Fetcher downloads chart archives from Helm chart repositories (https,
// index.yaml) and OCI registries. Archives are immutable per (repository,
// chart, version): each is fetched at most once per Fetcher (one run),
// checked against the digest the index or the registry manifest gives,
// and kept in a content-addressed cache on disk; a version named exactly
// is found there on a later run without any request.
type Fetcher struct {
	// CacheDir holds the cache ("" keeps nothing across runs).
	CacheDir string
	// Client makes the HTTPS requests (its TLS config carries the CA
	// bundle).
	Client *http.Client
	// Credentials are matched to repository URLs by prefix (the longest
	// wins); they never appear in errors or output.
	Credentials []Credential
	// Allow, when set, lists the repository URL prefixes charts may come
	// from.
	Allow []string
	// MaxArchiveBytes and MaxFiles cap an archive (defaults when 0).
	MaxArchiveBytes int64
	MaxFiles        int

	requests atomic.Int64
	mu       sync.Mutex
	charts   map[string]*fetch
	indexes  map[string]*indexFetch
}

// Archive is a fetched chart archive.
type Archive struct {
	Data    []byte
	Digest  string // sha256:<hex> of Data
	Name    string
	Version string
}

type fetch struct {
	done chan struct{}
	a    *Archive
	err  error
}

type indexFetch struct {
	done chan struct{}
	idx  *repo.IndexFile
	err  error
}

// Requests returns how many network requests the Fetcher made.
func (f *Fetcher) Requests() int64 { return f.requests.Load() }

// ErrNotAllowed means a repository is not in the fleet's allowlist.
var ErrNotAllowed = errors.New("chart repository not allowed")

// ErrChartNotFound means the repository has no such chart or version.
var ErrChartNotFound = errors.New("chart not found")

// ErrDigest means an archive does not have the digest its repository
// announced.
var ErrDigest = errors.New("chart archive digest mismatch")

// IsOCI reports whether repoURL names an OCI registry as Argo CD reads it:
// oci://host/path, or host/path without a scheme.
func IsOCI(repoURL string) bool {
	return strings.HasPrefix(repoURL, "oci://") || !strings.Contains(repoURL, "://")
}

// FetchOptions are per-source options of a fetch.
type FetchOptions struct {
	// PassCredentials sends the repository's credentials with the
	// archive download also when index.yaml points to another host
	// (source.helm.passCredentials, Helm's --pass-credentials).
	PassCredentials bool
}

// Fetch returns the archive of chart at version (exact, or a semver
// constraint resolved as Helm resolves it) from repoURL.
func (f *Fetcher) Fetch(ctx context.Context, repoURL, name, version string) (*Archive, error) {
	return f.FetchWith(ctx, repoURL, name, version, FetchOptions{})
}

// FetchWith is Fetch with options.
func (f *Fetcher) FetchWith(ctx context.Context, repoURL, name, version string, opts FetchOptions) (*Archive, error) {
	if !f.allowed(repoURL) {
		return nil, fmt.Errorf("%w: %s (add it to helm.repositories in flotilla.yaml)", ErrNotAllowed, redact(repoURL))
	}
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%t", repoURL, name, version, opts.PassCredentials)
	f.mu.Lock()
	if f.charts == nil {
		f.charts = map[string]*fetch{}
	}
	if c, ok := f.charts[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.a, c.err
	}
	c := &fetch{done: make(chan struct{})}
	f.charts[key] = c
	f.mu.Unlock()
	defer close(c.done)
	c.a, c.err = f.fetch(ctx, repoURL, name, version, opts)
	if c.err != nil {
		c.err = fmt.Errorf("chart %s version %s from %s: %w", name, orLatest(version), redact(repoURL), c.err)
	}
	return c.a, c.err
}

func orLatest(v string) string {
	if v == "" {
		return "(latest)"
	}
	return v
}

func (f *Fetcher) allowed(repoURL string) bool {
	if len(f.Allow) == 0 {
		return true
	}
	u := strings.TrimPrefix(repoURL, "oci://")
	for _, a := range f.Allow {
		a = strings.TrimPrefix(a, "oci://")
		if u == a || strings.HasPrefix(u, strings.TrimSuffix(a, "/")+"/") {
			return true
		}
	}
	return false
}

// exact reports whether version names one version (no range): only
// those are looked up in the cache without asking the repository.
func exact(version string) bool {
	_, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v"))
	return err == nil
}

func (f *Fetcher) fetch(ctx context.Context, repoURL, name, version string, opts FetchOptions) (*Archive, error) {
	refKey := sha256hex([]byte(repoURL + "\x00" + name + "\x00" + version))
	if exact(version) {
		if a, ok := f.cachedRef(refKey); ok {
			return a, nil
		}
	}
	var (
		a   *Archive
		err error
	)
	if IsOCI(repoURL) {
		a, err = f.fetchOCI(ctx, repoURL, name, version)
	} else {
		a, err = f.fetchHTTP(ctx, repoURL, name, version, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := f.checkArchive(a.Data); err != nil {
		return nil, err
	}
	f.store(refKey, a, exact(version))
	return a, nil
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// cache layout: blobs/sha256/<hex> (archives), refs/<key> ("<digest>
// <name> <version>" of an exact version).
func (f *Fetcher) cachedRef(refKey string) (*Archive, bool) {
	if f.CacheDir == "" {
		return nil, false
	}
	ref, err := os.ReadFile(filepath.Join(f.CacheDir, "refs", refKey))
	if err != nil {
		return nil, false
	}
	fields := strings.Fields(string(ref))
	if len(fields) != 3 || !strings.HasPrefix(fields[0], "sha256:") {
		return nil, false
	}
	data, err := os.ReadFile(filepath.Join(f.CacheDir, "blobs", "sha256", strings.TrimPrefix(fields[0], "sha256:")))
	if err != nil || "sha256:"+sha256hex(data) != fields[0] {
		return nil, false // missing or damaged: fetch again
	}
	return &Archive{Data: data, Digest: fields[0], Name: fields[1], Version: fields[2]}, true
}

func (f *Fetcher) store(refKey string, a *Archive, withRef bool) {
	if f.CacheDir == "" {
		return
	}
	blob := filepath.Join(f.CacheDir, "blobs", "sha256", strings.TrimPrefix(a.Digest, "sha256:"))
	if writeAtomic(blob, a.Data) != nil || !withRef {
		return
	}
	_ = writeAtomic(filepath.Join(f.CacheDir, "refs", refKey), []byte(a.Digest+" "+a.Name+" "+a.Version+"\n"))
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (f *Fetcher) credential(u string) *Credential {
	var best *Credential
	for i, c := range f.Credentials {
		if strings.HasPrefix(strings.TrimPrefix(u, "oci://"), strings.TrimPrefix(c.Prefix, "oci://")) && (best == nil || len(c.Prefix) > len(best.Prefix)) {
			best = &f.Credentials[i]
		}
	}
	return best
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return http.DefaultClient
}

// get fetches u, at most max bytes. Credentials are sent only to
// credHost ("": to any host).
func (f *Fetcher) get(ctx context.Context, u string, cred *Credential, credHost string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if cred != nil && (credHost == "" || req.URL.Host == credHost) {
		req.SetBasicAuth(cred.Username, cred.Password)
	}
	f.requests.Add(1)
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", redact(u), unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", redact(u), resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", redact(u), err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("get %s: larger than %d bytes", redact(u), max)
	}
	return data, nil
}

// unwrapURL drops *url.Error's copy of the URL (it may carry user info).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact removes user info from a URL.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = nil
	return p.String()
}

func (f *Fetcher) index(ctx context.Context, repoURL string) (*repo.IndexFile, error) {
	f.mu.Lock()
	if f.indexes == nil {
		f.indexes = map[string]*indexFetch{}
	}
	if c, ok := f.indexes[repoURL]; ok {
		f.mu.Unlock()
		<-c.done
		return c.idx, c.err
	}
	c := &indexFetch{done: make(chan struct{})}
	f.indexes[repoURL] = c
	f.mu.Unlock()
	defer close(c.done)
	base, err := url.Parse(repoURL)
	if err != nil {
		c.err = err
		return nil, err
	}
	data, err := f.get(ctx, strings.TrimSuffix(repoURL, "/")+"/index.yaml", f.credential(repoURL), base.Host, maxIndexBytes)
	if err != nil {
		c.err = err
		return nil, err
	}
	idx := &repo.IndexFile{}
	if err := yaml.Unmarshal(data, idx); err != nil {
		c.err = fmt.Errorf("read index.yaml: %w", err)
		return nil, c.err
	}
	for name, vs := range idx.Entries {
		kept := vs[:0]
		for _, v := range vs {
			if v != nil && v.Metadata != nil {
				kept = append(kept, v)
			}
		}
		idx.Entries[name] = kept
	}
	idx.SortEntries()
	c.idx = idx
	return idx, nil
}

func (f *Fetcher) fetchHTTP(ctx context.Context, repoURL, name, version string, opts FetchOptions) (*Archive, error) {
	idx, err := f.index(ctx, repoURL)
	if err != nil {
		return nil, err
	}
	cv, err := idx.Get(name, version)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChartNotFound, err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("index.yaml gives no URL for %s %s", name, cv.Version)
	}
	if cv.Digest == "" {
		return nil, fmt.Errorf("index.yaml gives no digest for %s %s: the archive cannot be verified", name, cv.Version)
	}
	digest := "sha256:" + strings.TrimPrefix(cv.Digest, "sha256:")
	a := &Archive{Digest: digest, Name: name, Version: cv.Version}
	if f.CacheDir != "" {
		data, err := os.ReadFile(filepath.Join(f.CacheDir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")))
		if err == nil && "sha256:"+sha256hex(data) == digest {
			a.Data = data
			return a, nil
		}
	}
	u, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(repoURL)
	credHost := base.Host
	if opts.PassCredentials {
		credHost = "" // any host
	}
	data, err := f.get(ctx, u, f.credential(repoURL), credHost, f.maxArchive())
	if err != nil {
		return nil, err
	}
	if got := "sha256:" + sha256hex(data); got != digest {
		return nil, fmt.Errorf("%w: %s is %s, index.yaml says %s", ErrDigest, redact(u), got, digest)
	}
	a.Data = data
	return a, nil
}

func (f *Fetcher) maxArchive() int64 {
	if f.MaxArchiveBytes > 0 {
		return f.MaxArchiveBytes
	}
	return DefaultMaxArchiveBytes
}

func (f *Fetcher) fetchOCI(ctx context.Context, repoURL, name, version string) (*Archive, error) {
	ref := strings.TrimSuffix(strings.TrimPrefix(repoURL, "oci://"), "/") + "/" + name
	// Our own authorizer: credentials come only from the Fetcher, never
	// from Helm's or Docker's credential stores, and only for this host.
	host, _, _ := strings.Cut(ref, "/")
	cred := f.credential(repoURL)
	authz := auth.Client{Client: f.client(), Credential: func(_ context.Context, hostport string) (auth.Credential, error) {
		if cred != nil && hostport == host {
			return auth.Credential{Username: cred.Username, Password: cred.Password}, nil
		}
		return auth.EmptyCredential, nil
	}}
	client, err := registry.NewClient(registry.ClientOptHTTPClient(f.client()), registry.ClientOptWriter(io.Discard), registry.ClientOptAuthorizer(authz))
	if err != nil {
		return nil, err
	}
	tag := version
	if !exact(version) {
		f.requests.Add(1)
		tags, err := client.Tags(ref)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", ref, err)
		}
		c, err := semver.NewConstraint(orStar(version))
		if err != nil {
			return nil, fmt.Errorf("version %q: %w", version, err)
		}
		tag = ""
		for _, t := range tags { // newest first
			if v, err := semver.NewVersion(t); err == nil && c.Check(v) {
				tag = t
				break
			}
		}
		if tag == "" {
			return nil, fmt.Errorf("%w: no tag of %s matches %q", ErrChartNotFound, ref, version)
		}
	}
	f.requests.Add(1)
	res, err := client.Pull(ref+":"+strings.ReplaceAll(tag, "+", "_"), registry.PullOptWithChart(true))
	if err != nil {
		if ociNotFound(err) {
			return nil, fmt.Errorf("%w: %s:%s: %v", ErrChartNotFound, ref, tag, err)
		}
		return nil, fmt.Errorf("pull %s:%s: %w", ref, tag, err)
	}
	if int64(len(res.Chart.Data)) > f.maxArchive() {
		return nil, fmt.Errorf("%s:%s: archive larger than %d bytes", ref, tag, f.maxArchive())
	}
	if got := "sha256:" + sha256hex(res.Chart.Data); got != res.Chart.Digest {
		return nil, fmt.Errorf("%w: %s:%s is %s, the manifest says %s", ErrDigest, ref, tag, got, res.Chart.Digest)
	}
	return &Archive{Data: res.Chart.Data, Digest: res.Chart.Digest, Name: name, Version: tag}, nil
}

// ociNotFound says whether a registry error means the repository, tag or
// blob does not exist: oras's errdef.ErrNotFound (a 404 on resolve or
// fetch), or a registry error response with HTTP status 404.
func ociNotFound(err error) bool {
	var resp *errcode.ErrorResponse
	return errors.Is(err, errdef.ErrNotFound) || errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound
}

func orStar(v string) string {
	if v == "" {
		return "*"
	}
	return v
}

// checkArchive refuses an archive with more than MaxFiles entries or
// more than Helm's decompressed size, before Helm's loader reads it.
func (f *Fetcher) checkArchive(data []byte) error {
	max := f.MaxFiles
	if max <= 0 {
		max = DefaultMaxFiles
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("chart archive: %w", err)
	}
	tr := tar.NewReader(io.LimitReader(zr, defaultMaxUnpacked+1<<20))
	var n int
	var size int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("chart archive: %w", err)
		}
		n++
		size += h.Size
		if n > max {
			return fmt.Errorf("chart archive has more than %d files", max)
		}
		if size > defaultMaxUnpacked {
			return fmt.Errorf("chart archive unpacks to more than %d bytes", defaultMaxUnpacked)
		}
	}
}

// LoadArchive loads a chart archive and returns its files by path in the
// chart (value files of a chart source are read from them).
func LoadArchive(data []byte) (chart.Charter, map[string][]byte, error) {
	files, err := archive.LoadArchiveFiles(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string][]byte, len(files))
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	return c, byName, nil
}
