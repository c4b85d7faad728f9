package hydrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/flotilla-dev/flotilla/internal/redact"
)

// Snapshot is the content of a hydrated branch at one commit.
type Snapshot struct {
	Branch string
	Commit string
	Apps   []BranchApp // sorted by name
}

// BranchApp is one application folder of a hydrated branch.
type BranchApp struct {
	Name     string
	Manifest []byte
	Metadata Metadata
}

// ErrNoBranch means the branch does not exist.
var ErrNoBranch = errors.New("branch not found")

// ReadBranch reads a hydrated branch from a repository: a local path (its
// branch, else origin's remote-tracking branch) or a URL (cloned in memory,
// that branch only).
func ReadBranch(ctx context.Context, repo, branch string, auth transport.AuthMethod) (*Snapshot, error) {
	var (
		r   *git.Repository
		err error
	)
	if st, statErr := os.Stat(repo); statErr == nil && st.IsDir() {
		r, err = git.PlainOpen(repo) // a bare repository or a checkout's root
		if errors.Is(err, git.ErrRepositoryNotExists) {
			r, err = git.PlainOpenWithOptions(repo, &git.PlainOpenOptions{DetectDotGit: true})
		}
	} else {
		r, err = git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
			URL: repo, Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(branch),
			SingleBranch: true, Depth: 1, Tags: git.NoTags,
		})
		if err != nil && strings.Contains(err.Error(), "reference not found") {
			return nil, fmt.Errorf("%w: %s in %s", ErrNoBranch, branch, redact.URL(repo))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact.URL(repo), err)
	}
	var head plumbing.Hash
	for _, name := range []string{"refs/heads/" + branch, "refs/remotes/origin/" + branch} {
		if ref, err := r.Reference(plumbing.ReferenceName(name), true); err == nil {
			head = ref.Hash()
			break
		}
	}
	if head.IsZero() {
		return nil, fmt.Errorf("%w: %s in %s", ErrNoBranch, branch, redact.URL(repo))
	}
	c, err := r.CommitObject(head)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", branch, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Branch: branch, Commit: head.String()}
	apps := map[string]*BranchApp{}
	err = tree.Files().ForEach(func(f *object.File) error {
		dir, file := path.Split(f.Name)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" || strings.Contains(dir, "/") || (file != ManifestFile && file != MetadataFile) {
			return nil
		}
		content, err := f.Contents()
		if err != nil {
			return err
		}
		a := apps[dir]
		if a == nil {
			a = &BranchApp{Name: dir}
			apps[dir] = a
		}
		if file == ManifestFile {
			a.Manifest = []byte(content)
		} else if err := json.Unmarshal([]byte(content), &a.Metadata); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", branch, short(snap.Commit), err)
	}
	for _, a := range apps {
		snap.Apps = append(snap.Apps, *a)
	}
	sort.Slice(snap.Apps, func(i, j int) bool { return snap.Apps[i].Name < snap.Apps[j].Name })
	return snap, nil
}
