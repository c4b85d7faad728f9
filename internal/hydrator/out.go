package hydrator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/hydrate"
)

// render --out DIR writes each cluster's tree aside, in a new folder
// inside DIR, then puts it in place by renames: the old tree moves aside,
// the new one in, the old one is removed. A run killed at any point leaves
// DIR/<cluster> as it was or complete, never half-written; the next run
// removes the folders a killed run left and puts back an old tree that
// was moved aside but not replaced. Cluster names are DNS-1123 labels
// (fleet.Load), so DIR/<cluster> is always a folder of DIR.
//
// OutNewPrefix and OutOldPrefix begin the names of the folders a run
// writes aside and moves aside.
const (
	OutNewPrefix = ".flotilla-new."
	OutOldPrefix = ".flotilla-old."
)

// writeFileFunc writes one file (os.WriteFile, or a failing one in tests).
type writeFileFunc func(name string, data []byte, perm fs.FileMode) error

// writeOut writes each cluster's tree to dir/<cluster>/, replacing what
// was there, and touches no Git and nothing outside dir. The folder of a
// cluster with a failed Application (--keep-going) is left as it was.
func writeOut(dir string, p *renderPlan, writeFile writeFileFunc) ([]hydrate.Result, error) {
	if err := recoverOut(dir); err != nil {
		return nil, err
	}
	var results []hydrate.Result
	for _, t := range p.written() {
		cdir := filepath.Join(dir, t.Cluster.Name)
		old, err := readDir(cdir)
		if err != nil {
			return nil, err
		}
		files, change, err := t.Files(old, p.dry)
		if err != nil {
			return nil, err
		}
		r := hydrate.Result{Cluster: t.Cluster.Name, Branch: t.Branch, Change: change}
		if !hydrate.Unchanged(files, old) {
			if err := replaceTree(dir, t.Cluster.Name, files, writeFile); err != nil {
				return nil, err
			}
			r.Updated = true
		} else {
			r.Change = hydrate.Change{Objects: change.Objects}
		}
		results = append(results, r)
	}
	return results, nil
}

// recoverOut makes dir and cleans up after a killed run: half-written
// trees are removed, an old tree moved aside is put back when nothing
// replaced it, else removed.
func recoverOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create --out folder: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read --out folder: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, OutNewPrefix):
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("remove the half-written tree %s of an interrupted run: %w", p, err)
			}
		case strings.HasPrefix(name, OutOldPrefix):
			cluster := name[strings.LastIndexByte(name, '.')+1:]
			target := filepath.Join(dir, cluster)
			if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) && fleet.CheckClusterName(cluster) == nil {
				if err := os.Rename(p, target); err != nil {
					return fmt.Errorf("put back the tree %s of an interrupted run: %w", p, err)
				}
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("remove the old tree %s of an interrupted run: %w", p, err)
			}
		}
	}
	return nil
}

// replaceTree writes files into a new folder of dir and puts it in place
// of dir/cluster. On error dir/cluster is as it was.
func replaceTree(dir, cluster string, files map[string][]byte, writeFile writeFileFunc) (err error) {
	target := filepath.Join(dir, cluster)
	fail := func(err error) error {
		return fmt.Errorf("write the tree of cluster %s to %s (left as it was): %w", cluster, target, err)
	}
	tmp, err := os.MkdirTemp(dir, OutNewPrefix+"*."+cluster)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return fail(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fail(err)
		}
		if err := writeFile(p, files[name], 0o644); err != nil {
			return fail(err)
		}
	}
	old := filepath.Join(dir, OutOldPrefix+strings.TrimPrefix(filepath.Base(tmp), OutNewPrefix))
	moved := true
	if err := os.Rename(target, old); errors.Is(err, fs.ErrNotExist) {
		moved = false
	} else if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, target); err != nil {
		if moved {
			if back := os.Rename(old, target); back != nil {
				return fail(fmt.Errorf("%w; the old tree is in %s, the next run puts it back", err, old))
			}
		}
		return fail(err)
	}
	if moved {
		_ = os.RemoveAll(old) // a leftover is removed by the next run
	}
	return nil
}

// readDir reads a cluster's tree as written by replaceTree; a missing
// folder is an empty tree.
func readDir(dir string) (hydrate.MapFiles, error) {
	files := hydrate.MapFiles{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p == dir {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	return files, err
}
