package render

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/failure"
	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// errPolicyInput marks a bad policy.policiesDir (failure.Input), with the
// leading word render's configuration errors have always had.
var errPolicyInput error = failure.Mark(failure.Input, errors.New("usage"))

// FleetPolicies reads flotilla.yaml's policy.policiesDir: the objects of
// every .yaml, .yml and .json file in it, sorted by path (nil when the
// fleet names no folder). Render's policy gate and promote's read the same
// fleet-level policies through it. Its errors are failure.Input.
func FleetPolicies(f *fleet.Fleet) ([]*unstructured.Unstructured, error) {
	dir := f.Config.Policy.PoliciesDir
	if dir == "" {
		return nil, nil
	}
	if !filepath.IsLocal(filepath.FromSlash(dir)) {
		return nil, fmt.Errorf("%w: %s: policy.policiesDir %q must be a folder inside the fleet", errPolicyInput, fleet.ConfigFile, dir)
	}
	root := filepath.Join(f.Root, filepath.FromSlash(dir))
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read policy.policiesDir: %w", errPolicyInput, fleet.ConfigFile, err)
	}
	slices.Sort(files)
	var out []*unstructured.Unstructured
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, failure.Mark(failure.Input, fmt.Errorf("read fleet policy: %w", err))
		}
		rel, _ := filepath.Rel(f.Root, p)
		objs, err := Decode(path.Clean(filepath.ToSlash(rel)), data)
		if err != nil {
			return nil, fmt.Errorf("%w: decode fleet policy: %w", errPolicyInput, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}
