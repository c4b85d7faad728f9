package gitobj

import (
	"bytes"
	"encoding/binary"
)

// TemplateDelta is the Git delta that makes target from base, when both
// are the same segments joined by a different name: base is segs joined
// by baseName, target segs joined by targetName. The delta copies each
// segment from base and inserts targetName between them — a few bytes
// for a manifest that differs from another only in the application name,
// with no search for common strings.
func TemplateDelta(segs [][]byte, baseName, targetName string) []byte {
	baseLen, targetLen := 0, 0
	for _, s := range segs {
		baseLen += len(s)
		targetLen += len(s)
	}
	if n := len(segs) - 1; n > 0 {
		baseLen += n * len(baseName)
		targetLen += n * len(targetName)
	}
	d := binary.AppendUvarint(nil, uint64(baseLen))
	d = binary.AppendUvarint(d, uint64(targetLen))
	off := 0
	for i, s := range segs {
		if i > 0 {
			d = appendInsert(d, targetName)
			off += len(baseName)
		}
		d = appendCopy(d, off, len(s))
		off += len(s)
	}
	return d
}

// appendCopy appends copy instructions for base[off:off+n], in pieces of
// at most 64 KiB as git writes them.
func appendCopy(d []byte, off, n int) []byte {
	for n > 0 {
		size := min(n, 0x10000)
		op := byte(0x80)
		var args [7]byte
		k := 0
		for i := range 4 {
			if b := byte(off >> (8 * i)); b != 0 {
				op |= 1 << i
				args[k] = b
				k++
			}
		}
		if size != 0x10000 { // 0x10000 is encoded as no size bytes
			for i := range 3 {
				if b := byte(size >> (8 * i)); b != 0 {
					op |= 0x10 << i
					args[k] = b
					k++
				}
			}
		}
		d = append(append(d, op), args[:k]...)
		off += size
		n -= size
	}
	return d
}

// appendInsert appends s as literal data, at most 127 bytes an instruction.
func appendInsert(d []byte, s string) []byte {
	for len(s) > 0 {
		n := min(len(s), 0x7f)
		d = append(append(d, byte(n)), s[:n]...)
		s = s[n:]
	}
	return d
}

// Join is segs joined by name (the inverse of splitting a text at every
// place a name appears).
func Join(segs [][]byte, name string) []byte {
	return bytes.Join(segs, []byte(name))
}
