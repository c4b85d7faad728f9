package render

import (
	"fmt"
	"io/fs"
	"os"
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
		include, exclude = expandBraces(opts.Include), expandBraces(opts.Exclude)
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
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found, err = Decode(rel, data)
		if err != nil {
			return err
		}
		objs = append(objs, found...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	return objs, nil
}

// expandBraces turns "{a,b}" alternatives into separate patterns.
func expandBraces(pattern string) []string {
	if pattern == "" {
		return nil
	}
	open := strings.IndexByte(pattern, '{')
	close := strings.IndexByte(pattern, '}')
	if open < 0 || close < open {
		return []string{pattern}
	}
	var out []string
	for _, alt := range strings.Split(pattern[open+1:close], ",") {
		out = append(out, expandBraces(pattern[:open]+strings.TrimSpace(alt)+pattern[close+1:])...)
	}
	return out
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
// separators).
func globMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}
