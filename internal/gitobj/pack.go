package gitobj

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Pack collects new objects in memory and encodes them as one Git packfile
// (version 2: whole objects, and deltas whose base is in the same pack)
// with its index, written once to the local repository and sent as is to
// a remote.
//
// It replaces go-git's packfile encoder on the render path, which searches
// for deltas and compresses every object again on each push (measured: two
// thirds of a full render of 5,000 applications).
type Pack struct {
	known func(plumbing.Hash) bool
	objs  []packObject
	index map[plumbing.Hash]int
}

type packObject struct {
	typ  plumbing.ObjectType
	hash plumbing.Hash
	data []byte
	// delta, when set, makes data from base, another object of the pack:
	// the pack holds the delta instead of data.
	base  plumbing.Hash
	delta []byte
}

// NewPack returns an empty pack. known reports objects the destination has
// already (nil: none); they are not added again.
func NewPack(known func(plumbing.Hash) bool) *Pack {
	if known == nil {
		known = func(plumbing.Hash) bool { return false }
	}
	return &Pack{known: known, index: map[plumbing.Hash]int{}}
}

// NewEncodedObject implements Store.
func (p *Pack) NewEncodedObject() plumbing.EncodedObject { return &plumbing.MemoryObject{} }

// HasEncodedObject implements Store: an object in the pack or known.
func (p *Pack) HasEncodedObject(h plumbing.Hash) error {
	if _, ok := p.index[h]; ok || p.known(h) {
		return nil
	}
	return plumbing.ErrObjectNotFound
}

// SetEncodedObject implements Store.
func (p *Pack) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	h := o.Hash()
	if p.HasEncodedObject(h) == nil {
		return h, nil
	}
	r, err := o.Reader()
	if err != nil {
		return h, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return h, err
	}
	p.add(o.Type(), h, data)
	return h, nil
}

// add appends an object that is not in the pack yet.
func (p *Pack) add(t plumbing.ObjectType, h plumbing.Hash, data []byte) {
	p.index[h] = len(p.objs)
	p.objs = append(p.objs, packObject{typ: t, hash: h, data: data})
}

// DeltaBlob adds content, whose BlobHash is h, as a delta from base when
// base is in this pack (deltas never point outside it, so the pack stays
// whole when stored), else as a whole blob; nothing when the pack has h or
// knows it. delta must make content from base's content.
func (p *Pack) DeltaBlob(h plumbing.Hash, content []byte, base plumbing.Hash, delta []byte) {
	if p.HasEncodedObject(h) == nil {
		return
	}
	p.add(plumbing.BlobObject, h, content)
	if _, ok := p.index[base]; ok && base != h {
		p.objs[len(p.objs)-1].base, p.objs[len(p.objs)-1].delta = base, delta
	}
}

// AddBlob adds content, whose BlobHash is h, unless the pack has or knows
// it.
func (p *Pack) AddBlob(h plumbing.Hash, content []byte) {
	if p.HasEncodedObject(h) != nil {
		p.add(plumbing.BlobObject, h, content)
	}
}

// Len is the number of objects in the pack.
func (p *Pack) Len() int { return len(p.objs) }

// Hashes lists the pack's objects.
func (p *Pack) Hashes() []plumbing.Hash {
	out := make([]plumbing.Hash, len(p.objs))
	for i, o := range p.objs {
		out[i] = o.hash
	}
	return out
}

// Encoded is a pack's bytes and what its index needs.
type Encoded struct {
	Bytes    []byte
	Checksum plumbing.Hash
	offsets  []uint64
	crcs     []uint32
	hashes   []plumbing.Hash
}

// Encode writes the pack: each object compressed on its own (BestSpeed;
// small ones stored), in parallel, then concatenated commits first, then
// trees, then blobs, each kind by hash — the same bytes for the same
// objects, whatever order they were added in.
func (p *Pack) Encode() (*Encoded, error) {
	slices.SortFunc(p.objs, func(a, b packObject) int {
		if a.typ != b.typ {
			return cmp.Compare(a.typ, b.typ)
		}
		return bytes.Compare(a.hash[:], b.hash[:])
	})
	for i, o := range p.objs {
		p.index[o.hash] = i
	}
	entries := make([][]byte, len(p.objs))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(p.objs)/64))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	// Workers take chunks of objects by an atomic counter: a channel of
	// indexes spent a third of the encoding in its lock.
	const chunk = 64
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			fast, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
			stored, _ := zlib.NewWriterLevel(&buf, zlib.NoCompression)
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= len(p.objs) {
					return
				}
				for i := start; i < min(start+chunk, len(p.objs)); i++ {
					o := p.objs[i]
					buf.Reset()
					data := o.data
					if o.delta != nil {
						data = o.delta
						writeEntryHeader(&buf, plumbing.REFDeltaObject, len(data))
						buf.Write(o.base[:])
					} else {
						writeEntryHeader(&buf, o.typ, len(data))
					}
					zw := fast
					if len(data) <= storeBelow {
						zw = stored
					}
					zw.Reset(&buf)
					_, err := zw.Write(data)
					if err == nil {
						err = zw.Close()
					}
					if err != nil {
						mu.Lock()
						ferr = err
						mu.Unlock()
						return
					}
					entries[i] = bytes.Clone(buf.Bytes())
				}
			}
		}()
	}
	wg.Wait()
	if ferr != nil {
		return nil, ferr
	}
	size := 12 + 20
	for _, e := range entries {
		size += len(e)
	}
	out := &Encoded{offsets: make([]uint64, len(entries)), crcs: make([]uint32, len(entries)), hashes: p.Hashes()}
	b := make([]byte, 0, size)
	b = append(b, 'P', 'A', 'C', 'K', 0, 0, 0, 2)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for i, e := range entries {
		out.offsets[i] = uint64(len(b))
		out.crcs[i] = crc32.ChecksumIEEE(e)
		b = append(b, e...)
	}
	sum := sha1.Sum(b)
	copy(out.Checksum[:], sum[:])
	out.Bytes = append(b, sum[:]...)
	return out, nil
}

// storeBelow is the size up to which objects are stored, not compressed:
// the two-entry trees of app folders (binary hashes that do not compress)
// and the deltas of near-copies (mostly the inserted lines), where
// deflate's per-stream cost is all cost. Measured with BenchmarkPackEncode
// (15,000 objects): 128 bytes against none, 57 ms -> 42 ms at the same size;
// 256 against 128, once metadata files went as deltas, 25 ms -> 11 ms for
// 18% more bytes (the hex digests the deltas insert do compress): 3% on
// make bench's first push, 2.36 -> 2.44 MB, whose encoding fell 40 -> 22 ms.
const storeBelow = 256

// writeEntryHeader writes an object entry's type and size: the size's low
// four bits with the type in the first byte, then seven bits a byte.
func writeEntryHeader(w *bytes.Buffer, t plumbing.ObjectType, size int) {
	c := byte(t)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		w.WriteByte(c | 0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	w.WriteByte(c)
}

// Index returns the pack's index (version 2).
func (e *Encoded) Index() (*idxfile.MemoryIndex, error) {
	w := new(idxfile.Writer)
	if err := w.OnHeader(uint32(len(e.hashes))); err != nil {
		return nil, err
	}
	for i, h := range e.hashes {
		w.Add(h, e.offsets[i], e.crcs[i])
	}
	if err := w.OnFooter(e.Checksum); err != nil {
		return nil, err
	}
	return w.Index()
}

// Store writes the pack into a repository's object storage: as a packfile
// and its index in objects/pack when it is on disk, else object by object.
func (p *Pack) Store(s storer.EncodedObjectStorer, e *Encoded) error {
	if len(p.objs) == 0 {
		return nil
	}
	fsStore, ok := s.(*filesystem.Storage)
	if !ok {
		for _, o := range p.objs {
			if _, err := writeRaw(s, o.typ, o.data); err != nil {
				return err
			}
		}
		return nil
	}
	idx, err := e.Index()
	if err != nil {
		return err
	}
	var ib bytes.Buffer
	if _, err := idxfile.NewEncoder(&ib).Encode(idx); err != nil {
		return err
	}
	fs := fsStore.Filesystem()
	dir := fs.Join("objects", "pack")
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := fs.Join(dir, "pack-"+e.Checksum.String())
	// The pack first, then its index: readers find packs by their index.
	for _, f := range []struct {
		name string
		data []byte
	}{{base + ".pack", e.Bytes}, {base + ".idx", ib.Bytes()}} {
		if err := writeFileAtomic(fs, dir, f.name, f.data); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	fsStore.Reindex()
	return nil
}

// writeFileAtomic writes data to a temporary file in dir and renames it to
// name, so no reader sees half a file. On disk the file is fsynced before
// the rename: the refs that will point at its objects must not outlive it
// in a crash. The file is read-only, as git leaves its packs; a temporary
// file a killed run leaves is named tmp_*, which git prune removes.
func writeFileAtomic(fs billy.Filesystem, dir, name string, data []byte) (err error) {
	f, err := fs.TempFile(dir, "tmp_flotilla_")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = fs.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if root, ok := diskRoot(fs); ok {
		p := f.Name()
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		if err = syncFile(p); err != nil {
			return err
		}
	}
	if c, ok := fs.(billy.Chmod); ok {
		_ = c.Chmod(f.Name(), 0o444)
	}
	return fs.Rename(f.Name(), name)
}

// diskRoot returns the directory on disk a billy filesystem is rooted at.
func diskRoot(fs billy.Filesystem) (string, bool) {
	root := fs.Root()
	if !filepath.IsAbs(root) {
		return "", false
	}
	if st, err := os.Stat(filepath.Join(root, "HEAD")); err != nil || st.IsDir() {
		return "", false
	}
	return root, true
}

// syncFile flushes a written file to the disk.
func syncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
