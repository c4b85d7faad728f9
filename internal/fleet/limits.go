package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	yaml "go.yaml.in/yaml/v3"
)

// ErrLimit means an input is larger, or would take longer, than Flotilla
// accepts: a file, a YAML alias expansion, a template's output or loop, a
// build's output. The error wrapping it says which limit and where; the
// fix is to make the input smaller.
var ErrLimit = errors.New("limit exceeded")

// MaxFileSize is the largest file Flotilla reads: a fleet file, or a file
// of a repository read by a build.
const MaxFileSize = 16 << 20

// MaxAliasNodes is how many YAML nodes the aliases of one file may add
// when expanded. Kustomize copies every alias in place (kyaml's DeAnchor),
// so nine anchors of nine aliases each ("billion laughs") would make 9^9
// nodes from a few hundred bytes.
const MaxAliasNodes = 1 << 20

// ReadFile reads a file of at most MaxFileSize bytes.
func ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d MiB", ErrLimit, name, MaxFileSize>>20)
	}
	return data, nil
}

// CheckYAML refuses YAML whose aliases expand to more than MaxAliasNodes
// nodes, before a parser that expands them sees it. Text that is not
// YAML, or has no anchors, passes: the parser reading it reports its own
// errors.
func CheckYAML(file string, data []byte) error {
	if !bytes.Contains(data, []byte("&")) || !bytes.Contains(data, []byte("*")) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return nil // io.EOF, or a syntax error for the real parser to report
		}
		if err := checkAliases(file, &n); err != nil {
			return err
		}
	}
}

// checkAliases counts, in linear time, the nodes a document would have
// with every alias expanded.
func checkAliases(file string, root *yaml.Node) error {
	size := map[*yaml.Node]int{} // expanded size; 0 while being counted
	var (
		worst    *yaml.Node
		worstLen int
		cycle    *yaml.Node
	)
	var expanded func(n *yaml.Node) int
	expanded = func(n *yaml.Node) int {
		if s, ok := size[n]; ok {
			if s == 0 && cycle == nil {
				cycle = n
			}
			return s
		}
		size[n] = 0
		s := 1
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			s = expanded(n.Alias)
			if s > worstLen {
				worst, worstLen = n, s
			}
		}
		for _, c := range n.Content {
			s = min(s+expanded(c), MaxAliasNodes*2+1)
		}
		size[n] = s
		return s
	}
	total := expanded(root)
	if cycle != nil {
		return &FileError{File: file, Line: cycle.Line, Class: ClassStrictDecoding, Msg: "invalid YAML: an anchor contains an alias to itself"}
	}
	if added := total - len(size); added > MaxAliasNodes {
		more := ""
		if worstLen > MaxAliasNodes*2 {
			more = " alone"
		}
		return &FileError{File: file, Line: worst.Line, Class: ClassStrictDecoding,
			Msg: fmt.Sprintf("YAML aliases expand to more than %d nodes (alias *%s%s expands to %d): write the values out or use fewer aliases", MaxAliasNodes, worst.Value, more, min(worstLen, MaxAliasNodes*2)),
			Err: ErrLimit}
	}
	return nil
}
