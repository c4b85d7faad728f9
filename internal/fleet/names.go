package fleet

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// A cluster's name becomes a folder (render --out DIR/<cluster>), part of
// two Git branch names (hydrated/<cluster>, hydrated/<cluster>-next) and a
// word in logs and pull requests. Names are checked once, when the
// inventory is loaded, so that no later step has to.

// CheckClusterName refuses a name that is not a DNS-1123 label: at most 63
// lowercase letters, digits and '-', starting and ending with a letter or
// digit. Such a name is a single, ordinary path segment on every file system
// (never "." or "..", no separator) and a valid component of a Git ref.
func CheckClusterName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// clusterNameError is the load error for an invalid cluster name.
func clusterNameError(file string, line int, what, name string, err error) *FileError {
	return errorf(file, line, ClassInventory,
		"%s %q is not a valid cluster name: %v (cluster names become folder and Git branch names: rename the cluster)", what, name, err)
}

// CheckBranchName refuses a name that Git would not take as a branch
// (git check-ref-format --branch): empty components, a component starting
// with '.' or ending in ".lock", "..", "@{", the name "@" or "HEAD", a
// component "@" (which go-git refuses), a
// leading '-', a trailing '.' or '/', control characters, space and any of
// ~ ^ : ? * [ \.
func CheckBranchName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case name == "@" || name == "HEAD":
		return fmt.Errorf("%q is reserved", name)
	case strings.HasPrefix(name, "-"):
		return errors.New("starts with '-'")
	case strings.HasSuffix(name, "."):
		return errors.New("ends with '.'")
	case strings.Contains(name, ".."):
		return errors.New("contains \"..\"")
	case strings.Contains(name, "@{"):
		return errors.New("contains \"@{\"")
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return errors.New("contains a control character")
		}
		if strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return fmt.Errorf("contains %q", rune(c))
		}
	}
	for _, part := range strings.Split(name, "/") {
		switch {
		case part == "":
			return errors.New("has an empty path component (leading, trailing or double '/')")
		case part == "@":
			return errors.New("has a component \"@\" (go-git refuses it)")
		case strings.HasPrefix(part, "."):
			return fmt.Errorf("component %q starts with '.'", part)
		case strings.HasSuffix(part, ".lock"):
			return fmt.Errorf("component %q ends with \".lock\"", part)
		}
	}
	return nil
}

// branchOwner is one cluster's use of a branch.
type branchOwner struct {
	cluster Cluster
	key     string // hydrated.branch or hydrated.staging
}

func (o branchOwner) role() string {
	if o.key == "hydrated.branch" {
		return "live branch"
	}
	return "staging branch"
}

// checkBranches refuses a cluster whose live or staging branch, as the
// configured templates make them, is not a valid Git branch name, is also a
// branch of another cluster (with the default templates, cluster a's staging
// branch hydrated/a-next is cluster a-next's live branch: promotion would
// move one cluster's manifests into the other's), or is a folder of one
// (Git cannot hold hydrated/a and hydrated/a/b at once). Argo CD's implicit
// local cluster has no branches and is skipped.
func (c *Config) checkBranches(clusters []Cluster) error {
	owners := map[string]branchOwner{}
	var order []string
	fix := fmt.Sprintf("rename one of the clusters, or change hydrated.branch or hydrated.staging in %s", ConfigFile)
	for _, cl := range clusters {
		if cl.Local {
			continue
		}
		for _, b := range []struct{ key, name string }{
			{"hydrated.branch", c.LiveBranch(cl.Name)},
			{"hydrated.staging", c.StagingBranch(cl.Name)},
		} {
			me := branchOwner{cl, b.key}
			if err := CheckBranchName(b.name); err != nil {
				return errorf(cl.File, cl.Line, ClassInventory, "cluster %q: its %s %q (%s in %s) is not a valid Git branch name: %v (rename the cluster or change %s)",
					cl.Name, me.role(), b.name, b.key, ConfigFile, err, b.key)
			}
			if o, ok := owners[b.name]; ok {
				return errorf(cl.File, cl.Line, ClassInventory, "cluster %q: its %s %s is also the %s of cluster %q (%s), so promotion would mix their manifests (%s)",
					cl.Name, me.role(), b.name, o.role(), o.cluster.Name, location(o.cluster.File, o.cluster.Line), fix)
			}
			owners[b.name] = me
			order = append(order, b.name)
		}
	}
	// Git stores refs as paths: a branch that is a folder of another
	// (hydrated/a and hydrated/a/next) cannot be created.
	for _, name := range order {
		for i := range len(name) {
			if name[i] != '/' {
				continue
			}
			o, ok := owners[name[:i]]
			if !ok {
				continue
			}
			me := owners[name]
			if o.cluster.Name == me.cluster.Name {
				return errorf(me.cluster.File, me.cluster.Line, ClassInventory, "cluster %q: its branches %s and %s cannot both exist in Git, one is a folder of the other (change hydrated.branch or hydrated.staging in %s)",
					me.cluster.Name, name[:i], name, ConfigFile)
			}
			return errorf(me.cluster.File, me.cluster.Line, ClassInventory, "cluster %q: its %s %s and the %s %s of cluster %q (%s) cannot both exist in Git, one is a folder of the other (%s)",
				me.cluster.Name, me.role(), name, o.role(), name[:i], o.cluster.Name, location(o.cluster.File, o.cluster.Line), fix)
		}
	}
	return nil
}
