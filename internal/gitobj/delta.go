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

// LineBase is a base for line deltas: its text and where each distinct
// line first starts, indexed once for any number of targets.
type LineBase struct {
	data []byte
	at   map[string]int
}

// NewLineBase indexes base, which must not be empty (go-git refuses any
// delta against an empty base).
func NewLineBase(base []byte) *LineBase {
	at := map[string]int{}
	for off := 0; off < len(base); {
		n := lineLen(base[off:])
		if _, ok := at[string(base[off:off+n])]; !ok {
			at[string(base[off:off+n])] = off
		}
		off += n
	}
	return &LineBase{base, at}
}

// Delta is a Git delta that makes target from the base by copying every
// line of target that the base holds and inserting the others; a line
// that continues the copy before it extends it, others are copied from
// the first place the base has them. Between two files laid out alike —
// the metadata of two applications — it is a few copies and the lines
// that differ, with one map lookup a line and no search for common
// substrings.
func (l *LineBase) Delta(target []byte) []byte {
	base := l.data
	d := binary.AppendUvarint(nil, uint64(len(base)))
	d = binary.AppendUvarint(d, uint64(len(target)))
	copyOff, copyLen, insert := 0, 0, 0 // the pending copy; target[insert:] not yet written
	flush := func(upTo int) {
		if copyLen > 0 {
			d = appendCopy(d, copyOff, copyLen)
			copyLen = 0
		} else if upTo > insert {
			d = appendInsert(d, string(target[insert:upTo]))
		}
		insert = upTo
	}
	for off := 0; off < len(target); {
		n := lineLen(target[off:])
		line := target[off : off+n]
		if copyLen > 0 && bytes.HasPrefix(base[copyOff+copyLen:], line) {
			copyLen += n // the next line of base too
			off += n
			insert = off
			continue
		}
		b, ok := l.at[string(line)]
		switch {
		case ok:
			flush(off)
			copyOff, copyLen = b, n
		case copyLen > 0:
			flush(off)
		}
		off += n
		if copyLen > 0 {
			insert = off
		}
	}
	flush(len(target))
	return d
}

// lineLen is the length of b's first line, its newline included.
func lineLen(b []byte) int {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return i + 1
	}
	return len(b)
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
