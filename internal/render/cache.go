package render

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// A build cache keeps Kustomize builds across runs. Each entry records
// every filesystem question the build asked — each file it read, each path
// it tested, each directory it listed — with a digest of the answer, and
// the objects it made. A later run asks the same questions of the checkout
// as it is now (through the same repository-rooted filesystem, so the
// escape checks run again); when every answer matches, the build would
// read exactly the same bytes, and Kustomize being deterministic, it
// would make the same objects. Builds that may read anything else —
// remote resources, plugins — are never cached.

// BuildCache stores build records by key.
type BuildCache interface {
	Get(key string) (*CachedBuild, bool)
	Put(key string, b *CachedBuild) error
}

// CachedBuild is one build's record.
type CachedBuild struct {
	Questions []Question      `json:"questions"`
	Objects   json.RawMessage `json:"objects"` // a JSON array, as Kustomize made them
	// Warnings are the build's, given again when it is reused.
	Warnings []Warning `json:"warnings,omitempty"`
}

// Question is one filesystem call of a build and a digest of its answer.
// Paths are relative to the checkout's root, slash-separated.
type Question struct {
	Op     string `json:"op"`
	Path   string `json:"path"`
	Answer string `json:"answer"`
}

// cacheFormat versions the records and the key.
const cacheFormat = "flotilla-build-cache-v1"

// cacheKey names the build of path with opts under policy, by this very
// program: a rebuilt binary does not trust the records of another.
func cacheKey(repoURL, path string, opts []byte, policy fleet.PolicyConfig) string {
	p, _ := json.Marshal(policy)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s", cacheFormat, programID(), repoURL, filepath.ToSlash(filepath.Clean(path)), opts, p)
	return hex.EncodeToString(h.Sum(nil))
}

var programID = sync.OnceValue(func() string {
	var b strings.Builder
	if info, ok := debug.ReadBuildInfo(); ok {
		b.WriteString(info.Main.Path + "@" + info.Main.Version)
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				b.WriteString(" " + s.Value)
			}
		}
		for _, d := range info.Deps {
			if strings.HasPrefix(d.Path, "sigs.k8s.io/kustomize/") {
				b.WriteString(" " + d.Path + "@" + d.Version)
			}
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return b.String()
	}
	// The Go build ID changes with any input of the build: source,
	// dependencies, flags. Where it cannot be read (not ELF), the
	// executable's size and time tell one build from the next.
	if id := goBuildID(exe); id != "" {
		return b.String() + " " + id
	}
	if st, err := os.Stat(exe); err == nil {
		fmt.Fprintf(&b, " %d %d", st.Size(), st.ModTime().UnixNano())
	}
	return b.String()
})

// goBuildID reads the build ID the Go linker writes into an ELF
// executable's .note.go.buildid note ("" when there is none).
func goBuildID(exe string) string {
	f, err := elf.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		return ""
	}
	data, err := sec.Data()
	if err != nil || len(data) < 12 {
		return ""
	}
	// A note: name size, description size, type, then the name ("Go\x00"),
	// padded to four bytes, then the description: the ID.
	namesz, descsz := int(f.ByteOrder.Uint32(data[0:])), int(f.ByteOrder.Uint32(data[4:]))
	start := 12 + (namesz+3)&^3
	if start+descsz > len(data) {
		return ""
	}
	return string(data[start : start+descsz])
}

// cacheable reports whether a build under policy reads only through its
// rooted filesystem.
func cacheable(policy fleet.PolicyConfig) bool {
	return !policy.AllowRemoteResources && !policy.AllowPlugins
}

// recorder collects a build's questions as they are asked.
type recorder struct {
	mu        sync.Mutex
	questions []Question
	asked     map[[2]string]bool
	// uncacheable is set by a call whose answer cannot be recorded.
	uncacheable bool
}

// add records a question the first time it is asked: within one build the
// checkout does not change, so asking again gets the same answer.
func (r *recorder) add(q Question) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{q.Op, q.Path}
	if r.asked[k] {
		return
	}
	if r.asked == nil {
		r.asked = map[[2]string]bool{}
	}
	r.asked[k] = true
	r.questions = append(r.questions, q)
}

func (r *recorder) refuse() {
	r.mu.Lock()
	r.uncacheable = true
	r.mu.Unlock()
}

// Answers, as digests.
func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// answer is a, or the kind of err when there is one.
func answer(a string, err error) string {
	if err != nil {
		return errAnswer(err)
	}
	return a
}

func errAnswer(err error) string {
	switch {
	case errors.Is(err, ErrEscape):
		return "error: escape"
	case errors.Is(err, os.ErrNotExist):
		return "error: not exist"
	default:
		return "error"
	}
}

func boolAnswer(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// rel makes p relative to the root, slash-separated; a path outside the
// root stays absolute (asking about it fails the escape check anyway).
func (f *rootedFS) rel(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	r, err := filepath.Rel(f.base, abs)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return abs
	}
	return filepath.ToSlash(r)
}

func (f *rootedFS) abs(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(f.base, filepath.FromSlash(rel))
}

// ask answers a recorded question again, against the checkout as it is.
func (f *rootedFS) ask(q Question) (string, bool) {
	p := f.abs(q.Path)
	switch q.Op {
	case "read":
		b, err := f.ReadFile(p)
		return answer(digest(b), err), true
	case "exists":
		return boolAnswer(f.Exists(p)), true
	case "isdir":
		return boolAnswer(f.IsDir(p)), true
	case "readdir":
		names, err := f.ReadDir(p)
		return answer(listAnswer(names), err), true
	case "abs":
		d, file, err := f.CleanedAbs(p)
		return answer(f.absAnswer(d, file), err), true
	case "glob":
		m, err := f.Glob(p)
		return answer(f.listRel(m), err), true
	}
	return "", false
}

// absAnswer is the answer to CleanedAbs: the directory, relative to the
// root, and the file.
func (f *rootedFS) absAnswer(d filesys.ConfirmedDir, file string) string {
	return f.rel(string(d)) + "\x00" + file
}

func listAnswer(names []string) string {
	s := append([]string(nil), names...)
	slices.Sort(s)
	return digest([]byte(strings.Join(s, "\x00")))
}

func (f *rootedFS) listRel(paths []string) string {
	rel := make([]string, len(paths))
	for i, p := range paths {
		rel[i] = f.rel(p)
	}
	return listAnswer(rel)
}

// stillValid asks every question of c again.
func stillValid(f *rootedFS, c *CachedBuild) bool {
	for _, q := range c.Questions {
		if a, ok := f.ask(q); !ok || a != q.Answer {
			return false
		}
	}
	return true
}

// decodeObjects turns a record's objects back into what the build made.
func decodeObjects(raw json.RawMessage) ([]*unstructured.Unstructured, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, 0, len(items))
	for _, it := range items {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(it); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// DirCache is a BuildCache in a directory, one file per build, written
// atomically. Unreadable or malformed records are misses.
type DirCache string

// OpenDirCache returns the cache of this program in dir/<program>/ and
// deletes those of other programs (earlier versions, other builds), which
// this one would never use.
func OpenDirCache(dir string) DirCache {
	h := sha256.Sum256([]byte(cacheFormat + "\x00" + programID()))
	mine := hex.EncodeToString(h[:8])
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if e.Name() != mine {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	return DirCache(filepath.Join(dir, mine))
}

// Get reads a record.
func (d DirCache) Get(key string) (*CachedBuild, bool) {
	b, err := os.ReadFile(filepath.Join(string(d), key+".json"))
	if err != nil {
		return nil, false
	}
	var c CachedBuild
	if json.Unmarshal(b, &c) != nil || c.Objects == nil {
		return nil, false
	}
	return &c, true
}

// Put writes a record.
func (d DirCache) Put(key string, c *CachedBuild) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(string(d), ".tmp-")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(string(d), key+".json"))
}
