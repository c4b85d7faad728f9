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

	"github.com/flotilla-dev/flotilla/internal/gitobj"
	"github.com/flotilla-dev/flotilla/internal/layout"
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

// ReadBranch reads a hydrated branch from a repository: a URL (cloned in
// memory, that branch only) or a local path. On disk, the branch and the
// remote's tracking branch (its upstream's, else origin's) are compared by
// ancestry, never by date, and the newer one is read: a stale local branch
// never takes a cluster back in time (see branchHead). auth gives the
// credentials for a URL: the repository's, or the remote a shallow clone is
// deepened from.
func ReadBranch(ctx context.Context, repo, branch string, auth func(url string) transport.AuthMethod) (*Snapshot, error) {
	var (
		r   *git.Repository
		err error
	)
	if st, statErr := os.Stat(repo); statErr == nil && st.IsDir() {
		// A bare repository or a checkout's root, seeing only the objects
		// git sees: a have or a tracking ref never names a quarantined one.
		r, err = gitobj.Open(repo)
	} else {
		r, err = git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
			URL: repo, Auth: authOf(auth, repo), ReferenceName: plumbing.NewBranchReferenceName(branch),
			SingleBranch: true, Depth: 1, Tags: git.NoTags,
		})
		var noRef git.NoMatchingRefSpecError
		if errors.As(err, &noRef) || errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil, fmt.Errorf("%w: %s in %s", ErrNoBranch, branch, redact.URL(repo))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact.URL(repo), redact.Error(err))
	}
	head, err := branchHead(ctx, r, repo, branch, auth)
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("read %s at %s: %w", branch, layout.Short(snap.Commit), err)
	}
	for _, a := range apps {
		snap.Apps = append(snap.Apps, *a)
	}
	sort.Slice(snap.Apps, func(i, j int) bool { return snap.Apps[i].Name < snap.Apps[j].Name })
	return snap, nil
}

func authOf(auth func(url string) transport.AuthMethod, url string) transport.AuthMethod {
	if auth == nil {
		return nil
	}
	return auth(url)
}
