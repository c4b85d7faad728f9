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
