package gitobj

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// SlowPathEnv names the pieces of the Git fast path that a run replaces
// with go-git's own code, comma-separated, to measure what each piece
// saves (hack/bench --slowpath): "pack" (Pack's encoder and Store: objects
// stored through go-git's object storage, the pushed pack made by go-git's
// packfile encoder with its delta search), "nodelta" (no deltas: every
// blob whole), "push" (go-git's Remote.List for the heads and Remote.Push,
// which walks the objects and encodes its own pack, instead of the
// receive-pack session whose advertisement gave the heads) and "refs"
// (go-git's reference storage instead of UpdateRefs' one packed-refs
// rewrite). For measurement only: the slow paths keep the results, not
// every guarantee (go-git's refs are not crash-safe).
const SlowPathEnv = "FLOTILLA_GIT_SLOWPATH"

var slowPaths = sync.OnceValue(func() []string {
	return strings.Split(os.Getenv(SlowPathEnv), ",")
})

// SlowPath reports whether SlowPathEnv names piece.
func SlowPath(piece string) bool { return slices.Contains(slowPaths(), piece) }

// StoreGoGit is Encode and Store done by go-git: every object written
// through s's own object storage (loose objects on disk), and the pack
// for a push encoded from there by go-git's encoder (delta search window
// 10, as go-git's push uses). For SlowPath("pack") only.
func (p *Pack) StoreGoGit(s storer.EncodedObjectStorer) ([]byte, error) {
	for _, o := range p.objs {
		if _, err := writeRaw(s, o.typ, o.data); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	if _, err := packfile.NewEncoder(&b, s, false).Encode(p.Hashes(), 10); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
