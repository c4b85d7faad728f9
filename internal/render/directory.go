package render

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// buildDirectory reads the manifests of a plain directory as Argo CD does:
// *.yaml, *.yml and *.json files, and *.jsonnet files evaluated with the
// directory.jsonnet options (jsonnet.go), in subdirectories only with
// recurse, filtered by include and exclude globs ("{a,b}" alternatives;
// "*" also matches "/") on the path relative to dir. Files leading out of
// the root through a symbolic link are refused.
func buildDirectory(rfs *rootedFS, dir string, opts *fleet.ApplicationSourceDirectory) ([]*unstructured.Unstructured, error) {
	recurse := opts != nil && opts.Recurse
	var include, exclude []string
	var jsonnetOpts fleet.ApplicationSourceJsonnet
	if opts != nil {
		var err error
		if include, err = expandBraces(opts.Include); err != nil {
			return nil, fmt.Errorf("directory.include: %w", err)
		}
		if exclude, err = expandBraces(opts.Exclude); err != nil {
			return nil, fmt.Errorf("directory.exclude: %w", err)
		}
		jsonnetOpts = opts.Jsonnet
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	appDir, err := filepath.Rel(rfs.base, absDir)
	if err != nil {
		return nil, err
	}
	appDir = filepath.ToSlash(appDir)
	var objs []*unstructured.Unstructured
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p != dir && (!recurse || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		isJsonnet := filepath.Ext(p) == ".jsonnet" // as Argo CD: case matters, *.libsonnet is not evaluated
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
		default:
			if !isJsonnet {
				return nil
			}
		}
		if len(include) > 0 && !matchAny(include, rel) || matchAny(exclude, rel) {
			return nil
		}
		if err := rfs.check(p); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		var found []*unstructured.Unstructured
		if isJsonnet {
			found, err = evalJsonnet(rfs, appDir, path.Join(appDir, rel), jsonnetOpts)
			if err != nil {
				return err
			}
			objs = append(objs, found...)
			return nil
		}
		data, err := rfs.readBounded(p)
		if err != nil {
			return err
		}
		found, err = Decode(rel, data)
		if err != nil {
			return err
		}
		objs = append(objs, found...)
		return checkOutput(len(objs), 0)
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	return objs, nil
}

// MaxGlobAlternatives is how many patterns the "{a,b}" alternatives of one
// directory.include or directory.exclude may expand to: each is matched
// against every file, and n groups of two make 2^n.
const MaxGlobAlternatives = 1024

// expandBraces turns "{a,b}" alternatives into separate patterns.
func expandBraces(pattern string) ([]string, error) {
	if pattern == "" {
		return nil, nil
	}
	var out []string
	if err := expandInto(&out, pattern); err != nil {
		return nil, fmt.Errorf("%q: %w", pattern, err)
	}
	return out, nil
}

func expandInto(out *[]string, pattern string) error {
	open := strings.IndexByte(pattern, '{')
	close := strings.IndexByte(pattern, '}')
	if open < 0 || close < open {
		if len(*out) >= MaxGlobAlternatives {
			return fmt.Errorf("%w: the {a,b} alternatives make more than %d patterns", fleet.ErrLimit, MaxGlobAlternatives)
		}
		*out = append(*out, pattern)
		return nil
	}
	for _, alt := range strings.Split(pattern[open+1:close], ",") {
		if err := expandInto(out, pattern[:open]+strings.TrimSpace(alt)+pattern[close+1:]); err != nil {
			return err
		}
	}
	return nil
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if globMatch(p, name) {
			return true
		}
	}
	return false
}

// globMatch matches with "*" crossing "/" (Argo CD's glob without
// separators). It runs in O(len(p)·len(s)) time whatever the pattern: as
// "*" matches anything, only the last star seen needs to be retried, so
// "a*a*a*a*a*b" or "**/**/**/**" cannot make it backtrack exponentially.
func globMatch(p, s string) bool {
	starP, starS := -1, 0 // pattern index after the last star; where its match grows next
	for pi, si := 0, 0; ; {
		if pi < len(p) {
			if p[pi] == '*' {
				for pi < len(p) && p[pi] == '*' {
					pi++
				}
				starP, starS = pi, si
				continue
			}
			if si < len(s) && (p[pi] == '?' || p[pi] == s[si]) {
				pi++
				si++
				continue
			}
		} else if si == len(s) {
			return true
		}
		if starP < 0 || starS >= len(s) {
			return false
		}
		starS++
		pi, si = starP, starS
	}
}
