package render

import (
	"errors"
	"fmt"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// The bounds of one build and one Application's output. A kustomization
// can include a base many times over (each inclusion is read again), and
// Kustomize expands YAML aliases in place, so the reads are bounded
// before Kustomize runs and the output after.
const (
	// MaxBuildRead is how many bytes one build may read, all files
	// counted each time they are read.
	MaxBuildRead = 256 << 20
	// MaxBuildReads is how many file reads one build may make.
	MaxBuildReads = 20000
	// MaxObjects is how many objects one Application may have.
	MaxObjects = 10000
	// MaxManifest is how large one Application's manifest may be.
	MaxManifest = 64 << 20
)

// readBounded reads a file of the build: at most fleet.MaxFileSize bytes,
// within the build's read budget, its YAML aliases checked, those of YAML
// held in its strings too (Kustomize parses a kustomization's inline
// patches and plugin configurations, and a plugin configuration's patch,
// expanding their aliases; the same check holds for every file, as any
// file may be a plugin configuration). A limit
// reached is kept, so that it can be reported whatever Kustomize makes of
// the error.
func (f *rootedFS) readBounded(p string) ([]byte, error) {
	b, err := fleet.ReadFile(p)
	if errors.Is(err, fleet.ErrLimit) {
		return nil, f.limited(fmt.Errorf("%w: %s is larger than %d MiB", fleet.ErrLimit, f.rel(p), fleet.MaxFileSize>>20))
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.reads++
	f.read += len(b)
	reads, read := f.reads, f.read
	f.mu.Unlock()
	switch {
	case reads > MaxBuildReads:
		return nil, f.limited(fmt.Errorf("%w: the build reads more than %d files (is a base included too many times?)", fleet.ErrLimit, MaxBuildReads))
	case read > MaxBuildRead:
		return nil, f.limited(fmt.Errorf("%w: the build reads more than %d MiB (is a base included too many times?)", fleet.ErrLimit, MaxBuildRead>>20))
	}
	if err := fleet.CheckYAMLStrings(f.rel(p), b); err != nil {
		return nil, f.limited(err)
	}
	return b, nil
}

// limited keeps the first limit error of the build and returns err.
func (f *rootedFS) limited(err error) error {
	f.mu.Lock()
	if f.limit == nil {
		f.limit = err
	}
	f.mu.Unlock()
	return err
}

// checkOutput refuses an Application's output beyond MaxObjects objects
// or MaxManifest bytes.
func checkOutput(objects, bytes int) error {
	if objects > MaxObjects {
		return fmt.Errorf("%w: %d objects, more than %d", fleet.ErrLimit, objects, MaxObjects)
	}
	if bytes > MaxManifest {
		return fmt.Errorf("%w: a manifest of %d MiB, more than %d MiB", fleet.ErrLimit, bytes>>20, MaxManifest>>20)
	}
	return nil
}
