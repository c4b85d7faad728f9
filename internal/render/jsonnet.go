package render

// All use of go-jsonnet is in this file.
//
// A directory source evaluates its *.jsonnet files as Argo CD's repo server
// does (reposerver/repository: findManifests, makeJsonnetVm): one VM per
// file, with the source's directory.jsonnet extVars and tlas (code: true
// means the value is Jsonnet code, otherwise a string) and an import path
// made of the application's directory and then the libs, which are relative
// to the repository root. An import is looked up next to the importing
// file, then in the libs from the last to the first, then in the
// application's directory (go-jsonnet's FileImporter order). *.libsonnet
// files are only imported, never evaluated. The result may be an object, a
// list kind (expanded) or an array of objects.
//
// Argo CD expands $VAR in extVars and tlas from its build environment;
// Flotilla has none yet and refuses values holding "$".
//
// Unlike Argo CD's FileImporter, imports read the repository only: an
// import, a lib or a symbolic link leading out of it is refused (ErrEscape).
//
// Limits: go-jsonnet cannot be interrupted, so an evaluation runs in its own
// goroutine and is abandoned (left to finish, its result dropped) when it
// takes longer than jsonnetLimits.Timeout; its stack depth is bounded by
// MaxStack (go-jsonnet's and Argo CD's default, 500 frames) and its output
// by MaxOutput. Memory used while evaluating is bounded only through these.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	jsonnet "github.com/google/go-jsonnet"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// ErrJsonnetLimit means a Jsonnet evaluation ran longer or produced more
// than Flotilla allows (see jsonnetLimits).
var ErrJsonnetLimit = errors.New("jsonnet evaluation exceeds a limit")

// jsonnetLimits bound one evaluation. Tests lower them.
var jsonnetLimits = struct {
	Timeout   time.Duration
	MaxOutput int // bytes of JSON
	MaxStack  int // frames
}{Timeout: 60 * time.Second, MaxOutput: 32 << 20, MaxStack: 500}

// evalJsonnet evaluates the file rel (relative to the repository root, as
// every path here) of the application directory appDir and returns its
// objects.
func evalJsonnet(rfs *rootedFS, appDir, rel string, opts fleet.ApplicationSourceJsonnet) ([]*unstructured.Unstructured, error) {
	for _, kv := range []struct {
		kind string
		vars []fleet.JsonnetVar
	}{{"extVars", opts.ExtVars}, {"tlas", opts.TLAs}} {
		kind := kv.kind
		for _, v := range kv.vars {
			if strings.Contains(v.Value, "$") {
				// Argo CD expands $VAR and ${VAR} here from the build
				// environment (ARGOCD_APP_NAME...), unknown names to "";
				// passing the text on would render something else.
				return nil, fmt.Errorf("directory.jsonnet.%s %s: the value holds \"$\", which Argo CD expands from its build environment (ARGOCD_APP_NAME...); Flotilla does not support build environment variables yet: write the value out", kind, v.Name)
			}
		}
	}
	jpaths := []string{appDir}
	for _, lib := range opts.Libs {
		// A leading slash is the repository root too, as Argo CD reads it.
		p := path.Clean(strings.TrimLeft(filepath.ToSlash(lib), "/"))
		if p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("directory.jsonnet.libs %q: %w", lib, ErrEscape)
		}
		if err := rfs.check(filepath.Join(rfs.base, filepath.FromSlash(p))); err != nil {
			return nil, fmt.Errorf("directory.jsonnet.libs %q: %w", lib, err)
		}
		jpaths = append(jpaths, p)
	}
	vm := jsonnet.MakeVM()
	vm.MaxStack = jsonnetLimits.MaxStack
	for _, v := range opts.ExtVars {
		if v.Code {
			vm.ExtCode(v.Name, v.Value)
		} else {
			vm.ExtVar(v.Name, v.Value)
		}
	}
	for _, v := range opts.TLAs {
		if v.Code {
			vm.TLACode(v.Name, v.Value)
		} else {
			vm.TLAVar(v.Name, v.Value)
		}
	}
	im := &jsonnetImporter{rfs: rfs, jpaths: jpaths, files: map[string]jsonnetFile{}}
	vm.Importer(im)

	out, err := runJsonnet(vm, rel)
	if err != nil {
		// go-jsonnet keeps only the text of an importer's error: the
		// importer's own refusal keeps its type (ErrEscape).
		if refused := im.refusal(); refused != nil {
			return nil, fmt.Errorf("evaluate jsonnet %s: %w\n%v", rel, refused, err)
		}
		return nil, fmt.Errorf("evaluate jsonnet %s: %w", rel, err)
	}
	return jsonnetObjects(rel, out)
}

// runJsonnet evaluates file within the time limit.
func runJsonnet(vm *jsonnet.VM, file string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jsonnetLimits.Timeout)
	defer cancel()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned evaluation does not block
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("jsonnet interpreter failed: %v", p)}
			}
		}()
		out, err := vm.EvaluateFile(file)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", r.err
		}
		if len(r.out) > jsonnetLimits.MaxOutput {
			return "", fmt.Errorf("%w: output is %d bytes, more than %d (split the application or render it into the repository)", ErrJsonnetLimit, len(r.out), jsonnetLimits.MaxOutput)
		}
		return r.out, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%w: still running after %s (look for unbounded recursion or render it into the repository)", ErrJsonnetLimit, jsonnetLimits.Timeout)
	}
}

// jsonnetObjects reads the JSON a file evaluated to: an array of objects or
// one object (a list kind is expanded).
func jsonnetObjects(file, out string) ([]*unstructured.Unstructured, error) {
	trimmed := strings.TrimSpace(out)
	if !strings.HasPrefix(trimmed, "[") {
		return decodeJSON(file, "its output", []byte(trimmed))
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(trimmed), &items); err != nil {
		return nil, fmt.Errorf("%s: read jsonnet output: %w", file, err)
	}
	var objs []*unstructured.Unstructured
	for i, item := range items {
		found, err := decodeJSON(file, fmt.Sprintf("element %d of its output", i), item)
		if err != nil {
			return nil, err
		}
		objs = append(objs, found...)
	}
	return objs, nil
}

// jsonnetImporter reads imports from the repository only. Paths are
// slash-separated and relative to the repository root; they are also the
// names go-jsonnet shows in its messages (file:line:column).
type jsonnetImporter struct {
	rfs    *rootedFS
	jpaths []string
	// files caches every path tried: go-jsonnet requires the same
	// contents for the same path each time.
	files map[string]jsonnetFile

	mu      sync.Mutex
	refused error // the first import refused for leaving the repository
}

func (im *jsonnetImporter) refuse(err error) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.refused == nil {
		im.refused = err
	}
	return err
}

func (im *jsonnetImporter) refusal() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.refused
}

type jsonnetFile struct {
	contents jsonnet.Contents
	found    bool
}

// Import implements jsonnet.Importer.
func (im *jsonnetImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	if path.IsAbs(importedPath) || filepath.IsAbs(importedPath) {
		return jsonnet.Contents{}, "", im.refuse(fmt.Errorf("import %q: %w (import paths are relative to the file or to directory.jsonnet.libs)", importedPath, ErrEscape))
	}
	dirs := []string{path.Dir(importedFrom)}
	for i := len(im.jpaths) - 1; i >= 0; i-- {
		dirs = append(dirs, im.jpaths[i])
	}
	for _, dir := range dirs {
		p := path.Join(dir, importedPath)
		if p == ".." || strings.HasPrefix(p, "../") {
			return jsonnet.Contents{}, "", im.refuse(fmt.Errorf("import %q from %s: %w", importedPath, dir, ErrEscape))
		}
		f, err := im.read(p)
		if err != nil {
			err = fmt.Errorf("import %q: %w", importedPath, err)
			if errors.Is(err, ErrEscape) {
				im.refuse(err)
			}
			return jsonnet.Contents{}, "", err
		}
		if f.found {
			return f.contents, p, nil
		}
	}
	return jsonnet.Contents{}, "", fmt.Errorf("couldn't open import %q: no match next to the file or in directory.jsonnet.libs", importedPath)
}

func (im *jsonnetImporter) read(p string) (jsonnetFile, error) {
	if f, ok := im.files[p]; ok {
		return f, nil
	}
	abs := filepath.Join(im.rfs.base, filepath.FromSlash(p))
	if err := im.rfs.check(abs); err != nil {
		if errors.Is(err, ErrEscape) {
			return jsonnetFile{}, fmt.Errorf("%s: %w (through a symbolic link)", p, ErrEscape)
		}
		return jsonnetFile{}, err
	}
	data, err := im.rfs.readBounded(abs) // size and read-count bounds (limits.go)
	var f jsonnetFile
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return jsonnetFile{}, err
	default:
		f = jsonnetFile{contents: jsonnet.MakeContentsRaw(data), found: true}
	}
	im.files[p] = f
	return f, nil
}
