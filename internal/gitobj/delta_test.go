package gitobj

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// TestTemplateDeltaMakesTheTarget applies deltas with go-git's own
// patcher: empty segments, names longer than one insert instruction,
// segments longer than one copy instruction, offsets past 16 and 24 bits.
func TestTemplateDeltaMakesTheTarget(t *testing.T) {
	big := bytes.Repeat([]byte("spec: x\n"), 70_000) // 560 KB: several copies, offsets past 2^16
	long := strings.Repeat("n", 300)
	for _, c := range []struct {
		name       string
		segs       [][]byte
		base, tgtN string
	}{
		{"one segment", [][]byte{[]byte("kind: ConfigMap\n")}, "a", "b"},
		{"names", [][]byte{[]byte("app: "), []byte("\nname: "), []byte("\n")}, "web-dev", "web-production-eu"},
		{"empty segments", [][]byte{{}, {}, []byte("x"), {}}, "base", "target"},
		{"long name", [][]byte{[]byte("a: "), []byte("\n")}, "short", long},
		{"big segments", [][]byte{big, []byte("\nname: "), big}, "cluster-001", "cluster-199"},
		{"shorter name", [][]byte{[]byte("a"), []byte("b")}, long, "x"},
	} {
		base, want := Join(c.segs, c.base), Join(c.segs, c.tgtN)
		got, err := packfile.PatchDelta(base, TemplateDelta(c.segs, c.base, c.tgtN))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the delta makes %d bytes, want %d", c.name, len(got), len(want))
		}
	}
}

// TestLineDeltaMakesTheTarget applies line deltas with go-git's patcher:
// files that share lines in place, moved, repeated or not at all, without
// a final newline, empty, and longer than one instruction.
func TestLineDeltaMakesTheTarget(t *testing.T) {
	meta := func(server, hash string) []byte {
		return []byte("{\n  \"repoURL\": \"https://git.example.com/fleet.git\",\n  \"destination\": {\n    \"server\": \"" + server +
			"\",\n    \"namespace\": \"web\"\n  },\n  \"objects\": 3,\n  \"contentHash\": \"sha256:" + hash + "\"\n}\n")
	}
	big := bytes.Repeat([]byte("line of a big file\n"), 20_000) // 380 KB: copies past 2^16
	long := strings.Repeat("x", 300) + "\n"
	for _, c := range []struct {
		name         string
		base, target []byte
		max          int // the delta's size at most, 0: any
	}{
		{"metadata of two clusters", meta("https://a.example.com", "0123"), meta("https://b.example.com", "4567"), 90},
		{"same", meta("s", "h"), meta("s", "h"), 8},
		{"nothing shared", []byte("a\nb\n"), []byte("c\nd\n"), 0},
		{"moved and repeated lines", []byte("a\nb\nc\n"), []byte("c\na\nb\na\nz\n"), 0},
		{"no final newline", []byte("a\nb"), []byte("b\na\nb"), 0},
		{"empty target", []byte("a\n"), nil, 0},
		{"long inserted line", []byte("a\n"), []byte("a\n" + long + "a\n"), 0},
		{"big", big, append(append([]byte("head\n"), big...), "tail\n"...), 40},
	} {
		d := NewLineBase(c.base).Delta(c.target)
		got, err := packfile.PatchDelta(c.base, d)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.Equal(got, c.target) {
			t.Errorf("%s: the delta makes %q, want %q", c.name, got, c.target)
		}
		if c.max > 0 && len(d) > c.max {
			t.Errorf("%s: delta of %d bytes, want at most %d", c.name, len(d), c.max)
		}
	}
}

// FuzzLineDelta checks that a line delta makes its target from any base.
func FuzzLineDelta(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), []byte("c\na\nx\n"))
	f.Add([]byte(""), []byte("\n\n"))
	f.Fuzz(func(t *testing.T, base, target []byte) {
		got, err := packfile.PatchDelta(base, NewLineBase(base).Delta(target))
		if len(base) == 0 && err != nil {
			return // go-git refuses any delta against an empty base
		}
		if err != nil || !bytes.Equal(got, target) {
			t.Fatalf("PatchDelta = %q, %v; want %q", got, err, target)
		}
	})
}
