package gitobj

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// packFixture fills a pack with blobs of several sizes (one byte to past
// the 16 KiB size-header boundaries), their tree and a commit.
func packFixture(t *testing.T, p *Pack) (commit plumbing.Hash, contents map[plumbing.Hash][]byte) {
	t.Helper()
	contents = map[plumbing.Hash][]byte{}
	files := map[string]plumbing.Hash{}
	for name, size := range map[string]int{"a": 1, "b/c": 15, "b/d": 16, "e": 2048, "f/g/h": 300_000} {
		content := bytes.Repeat([]byte(name+"\n"), size/len(name+"\n")+1)[:size]
		h, err := Blob(p, content)
		if err != nil {
			t.Fatal(err)
		}
		files[name], contents[h] = h, content
	}
	root, err := Files(p, files)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1_700_000_000, 0).UTC()}
	commit, err = Write(p, &object.Commit{Author: sig, Committer: sig, TreeHash: root, Message: "packed\n"})
	if err != nil {
		t.Fatal(err)
	}
	return commit, contents
}

// TestPackIsReadByGit stores a pack in a repository and checks it with git
// itself: the pack verifies, git's own index of it is byte-identical to
// ours, every object reads back, and go-git in the same process sees the
// new objects at once.
func TestPackIsReadByGit(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	gittest.Fsck(t, dir)
	p := NewPack(nil)
	commit, contents := packFixture(t, p)
	if p.Len() != 5+4+1 { // blobs, trees (root, b, f, f/g), commit
		t.Fatalf("pack holds %d objects, want 10", p.Len())
	}
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(repo.Storer, enc); err != nil {
		t.Fatal(err)
	}

	base := filepath.Join(dir, "objects", "pack", "pack-"+enc.Checksum.String())
	gitCmd(t, dir, "verify-pack", base+".idx")
	for _, ext := range []string{".pack", ".idx"} {
		if st, err := os.Stat(base + ext); err != nil || st.Mode().Perm() != 0o444 {
			t.Errorf("%s: %v, mode %v; want a read-only file like git's", ext, err, st.Mode())
		}
	}
	copyDir := t.TempDir()
	copied := filepath.Join(copyDir, "copy.pack")
	if err := os.WriteFile(copied, enc.Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, copyDir, "index-pack", copied)
	ours, _ := os.ReadFile(base + ".idx")
	theirs, _ := os.ReadFile(filepath.Join(copyDir, "copy.idx"))
	if !bytes.Equal(ours, theirs) {
		t.Error("our pack index differs from the one git index-pack writes")
	}
	for h, want := range contents {
		if got := gitCmd(t, dir, "cat-file", "blob", h.String()); got != strings.TrimSpace(string(want)) {
			t.Errorf("blob %s reads back as %d bytes, want %d", h, len(got), len(want))
		}
	}
	gitCmd(t, dir, "update-ref", "refs/heads/main", commit.String())
	gitCmd(t, dir, "fsck", "--strict", "--no-dangling")

	c, err := repo.CommitObject(commit)
	if err != nil {
		t.Fatalf("go-git does not see the stored pack: %v", err)
	}
	f, err := c.File("f/g/h")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Contents(); got != string(contents[f.Hash]) {
		t.Error("go-git reads f/g/h back wrong")
	}
}

// TestPackEncodeIsDeterministic: objects are compressed in parallel (with
// enough of them) but the pack is the same bytes every time.
func TestPackEncodeIsDeterministic(t *testing.T) {
	var first []byte
	for range 3 {
		p := NewPack(nil)
		packFixture(t, p)
		for i := range 1000 {
			if _, err := Blob(p, []byte(strings.Repeat("x", i)+"\n")); err != nil {
				t.Fatal(err)
			}
		}
		enc, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = enc.Bytes
		} else if !bytes.Equal(first, enc.Bytes) {
			t.Fatal("two encodings of the same objects differ")
		}
	}
}

// TestPackSkipsKnownObjects: what the destination has is not packed
// again, and storing into a repository without packfiles writes object
// by object.
func TestPackSkipsKnownObjects(t *testing.T) {
	known := plumbing.ComputeHash(plumbing.BlobObject, []byte("old\n"))
	p := NewPack(func(h plumbing.Hash) bool { return h == known })
	if _, err := Blob(p, []byte("old\n")); err != nil {
		t.Fatal(err)
	}
	h, err := Blob(p, []byte("new\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Blob(p, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 {
		t.Fatalf("pack holds %d objects, want only the new blob", p.Len())
	}
	mem := memory.NewStorage()
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(mem, enc); err != nil {
		t.Fatal(err)
	}
	if mem.HasEncodedObject(h) != nil {
		t.Error("the new blob is not in the memory storage")
	}
}

// BenchmarkPackEncode encodes what one full render of 5,000 applications
// writes: per app a ~1.2 KB manifest and a ~700 B metadata file, as
// deltas of the first app's (go-git's DiffDelta, as hydrate makes them)
// but for the first, and a two-entry tree.
func BenchmarkPackEncode(b *testing.B) {
	p := NewPack(nil)
	segs := [][]byte{[]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    flotilla.dev/app: "), []byte(strings.Repeat("\n  name: web\nspec:\n  replicas: 3\n", 30))}
	var (
		firstManifest, firstMeta plumbing.Hash
		manifestBase, metaBase   []byte
	)
	for i := range 5000 {
		name := fmt.Sprintf("svc-%02d-cluster-%03d", i%25, i/25)
		manifest := Join(segs, name)
		meta := []byte(fmt.Sprintf("{\n  \"repoURL\": \"https://git.example.com/fleet.git\",\n  \"drySha\": \"%040d\",\n  \"flotilla\": {\n    \"applicationSet\": \"services\",\n"+
			"    \"sources\": [{\"path\": \"services/svc-00/overlays/dev\", \"targetRevision\": \"main\"}],\n    \"destination\": {\"server\": \"https://cluster-%03d.example.com\", \"namespace\": \"svc-00\"},\n"+
			"    \"objects\": 3,\n    \"contentHash\": \"sha256:%064x\"\n  }\n}\n", 1, i/25, i))
		mh, dh := BlobHash(manifest), BlobHash(meta)
		if i == 0 {
			p.AddBlob(mh, manifest)
			p.AddBlob(dh, meta)
			firstManifest, firstMeta, manifestBase, metaBase = mh, dh, manifest, meta
		} else {
			p.DeltaBlob(mh, manifest, firstManifest, packfile.DiffDelta(manifestBase, manifest))
			p.DeltaBlob(dh, meta, firstMeta, packfile.DiffDelta(metaBase, meta))
		}
		if _, err := Files(p, map[string]plumbing.Hash{"manifest.yaml": mh, "hydrator.metadata": dh}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var size int
	for range b.N {
		enc, err := p.Encode()
		if err != nil {
			b.Fatal(err)
		}
		size = len(enc.Bytes)
	}
	b.ReportMetric(float64(size)/(1<<10), "KiB")
}

// TestPackDeltasAreReadByGit: blobs added as deltas from a blob of the
// same pack are stored and read back by git and go-git; a delta whose base
// is only known (not in the pack) is stored whole.
func TestPackDeltasAreReadByGit(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	gittest.Fsck(t, dir)
	segs := [][]byte{[]byte("metadata:\n  annotations:\n    flotilla.dev/app: "), []byte("\n  name: web\n" + strings.Repeat("spec: {}\n", 100))}
	outside := plumbing.ComputeHash(plumbing.BlobObject, Join(segs, "elsewhere"))
	p := NewPack(func(h plumbing.Hash) bool { return h == outside })
	baseData := Join(segs, "web-dev")
	base, err := Blob(p, baseData)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]plumbing.Hash{"base": base}
	want := map[plumbing.Hash][]byte{}
	for _, name := range []string{"web-staging", "web-production-eu", strings.Repeat("x", 200)} {
		content := Join(segs, name)
		h := BlobHash(content)
		p.DeltaBlob(h, content, base, packfile.DiffDelta(baseData, content))
		files[name[:3]], want[h] = h, content
	}
	lone := Join(segs, "lone")
	loneHash := BlobHash(lone)
	p.DeltaBlob(loneHash, lone, outside, packfile.DiffDelta(Join(segs, "elsewhere"), lone))
	files["lone"], want[loneHash] = loneHash, lone
	root, err := Files(p, files)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(repo.Storer, enc); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "objects", "pack", "pack-"+enc.Checksum.String()+".idx")
	verify := gitCmd(t, dir, "verify-pack", "-v", idx)
	// A delta's line ends with the depth and its base.
	if got := strings.Count(verify, " 1 "+base.String()+"\n"); got != 3 {
		t.Errorf("verify-pack shows %d objects as deltas of the base, want 3:\n%s", got, verify)
	}
	for _, line := range strings.Split(verify, "\n") {
		if strings.HasPrefix(line, loneHash.String()) && len(strings.Fields(line)) != 5 {
			t.Errorf("the blob whose base is outside the pack is stored as a delta: %s", line)
		}
	}
	copyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(copyDir, "copy.pack"), enc.Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, copyDir, "index-pack", filepath.Join(copyDir, "copy.pack"))
	ours, _ := os.ReadFile(idx)
	theirs, _ := os.ReadFile(filepath.Join(copyDir, "copy.idx"))
	if !bytes.Equal(ours, theirs) {
		t.Error("our pack index differs from the one git index-pack writes")
	}
	gitCmd(t, dir, "update-ref", "refs/flotilla/tree", root.String())
	gitCmd(t, dir, "fsck", "--strict", "--no-dangling")
	for h, content := range want {
		if got := gitCmd(t, dir, "cat-file", "blob", h.String()); got != strings.TrimSpace(string(content)) {
			t.Errorf("git reads %s back wrong", h)
		}
		b, err := repo.BlobObject(h)
		if err != nil {
			t.Fatalf("go-git: %v", err)
		}
		r, _ := b.Reader()
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, content) {
			t.Errorf("go-git reads %s back wrong", h)
		}
	}
}

// Join is segs joined by name: the manifest of the application name in a
// group that shares its YAML.
func Join(segs [][]byte, name string) []byte {
	return bytes.Join(segs, []byte(name))
}
