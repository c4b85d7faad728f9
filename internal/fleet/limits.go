package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/failure"
	yaml "go.yaml.in/yaml/v3"
)

// ErrLimit means an input is larger, or would take longer, than Flotilla
// accepts: a file, a YAML alias expansion, a template's output or loop, a
// build's output. The error wrapping it says which limit and where; the
// fix is to make the input smaller.
var ErrLimit error = failure.Mark(failure.Input, errors.New("limit exceeded"))

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
	return checkDocs(file, data, false)
}

// MaxInlineDepth is how deep CheckYAMLStrings looks into YAML held in
// strings: a kustomization's inline generator entry (1) holding a
// PatchTransformer whose patch is YAML (2), and one level more.
const MaxInlineDepth = 3

// CheckYAMLStrings is CheckYAML for a file whose string values a parser
// may read as YAML in turn, expanding their aliases too: a kustomization's
// patches[].patch, patchesStrategicMerge and patchesJson6902 patches, its
// inline generators, transformers and validators, a plugin
// configuration's patch. A string value that holds a YAML mapping or
// sequence counts as its nodes, its own aliases expanded, wherever the
// string appears (aliases of the file copy it, and it is parsed once per
// copy), to MaxInlineDepth strings deep; the aliases of the file and of
// every string in it together may add at most MaxAliasNodes nodes. The
// error names the field that holds the string.
func CheckYAMLStrings(file string, data []byte) error {
	if (!bytes.Contains(data, []byte("&")) || !bytes.Contains(data, []byte("*"))) && !bytes.Contains(data, []byte(`\`)) {
		return nil // no anchor or alias at any depth (a double-quoted string may spell them as escapes)
	}
	return checkDocs(file, data, true)
}

// checkAliases counts, in linear time, the nodes a document would have
// with every alias expanded, and refuses more than MaxAliasNodes added.
func checkAliases(file string, root *yaml.Node) error {
	return (&aliasCount{file: file, size: map[*yaml.Node]int{}}).check(root)
}

func checkDocs(file string, data []byte, inline bool) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return nil // io.EOF, or a syntax error for the real parser to report
		}
		c := &aliasCount{file: file, inline: inline, size: map[*yaml.Node]int{}}
		if err := c.check(&n); err != nil {
			return err
		}
	}
}

// aliasCount counts, in linear time, the nodes a document would have with
// every alias expanded (and, when inline, every string holding YAML
// parsed).
type aliasCount struct {
	file   string
	inline bool
	size   map[*yaml.Node]int // expanded size; 0 while being counted
	// path is the field being counted, one segment a level; depth is how
	// many strings deep; line and outer are the line and field of the
	// outermost string.
	path  []string
	depth int
	// anchored counts the anchors around the node being counted: its
	// strings may be copied.
	anchored int
	line     int
	outer    string

	worst      *yaml.Node
	worstLen   int
	worstLine  int
	worstField string
	cycle      *yaml.Node
	cycleLine  int
	cycleField string
}

func (c *aliasCount) check(root *yaml.Node) error {
	total := c.expanded(root)
	if c.cycle != nil {
		return &FileError{File: c.file, Line: c.cycleLine, Class: ClassStrictDecoding, Msg: c.where(c.cycleField) + "invalid YAML: an anchor contains an alias to itself"}
	}
	if added := total - len(c.size); added > MaxAliasNodes {
		more := ""
		if c.worstLen > MaxAliasNodes*2 {
			more = " alone"
		}
		return &FileError{File: c.file, Line: c.worstLine, Class: ClassStrictDecoding,
			Msg: fmt.Sprintf("%sYAML aliases expand to more than %d nodes (alias *%s%s expands to %d): write the values out or use fewer aliases", c.where(c.worstField), MaxAliasNodes, c.worst.Value, more, min(c.worstLen, MaxAliasNodes*2)),
			Err: ErrLimit}
	}
	return nil
}

// where names the string holding the YAML at fault, if it is in one.
func (c *aliasCount) where(field string) string {
	if field == "" {
		return ""
	}
	return field + ": "
}

// field is the path of the outermost string being counted, "" at the
// top level.
func (c *aliasCount) field() string {
	if c.depth == 0 {
		return ""
	}
	return c.outer
}

// pathString is path as written: patches[0].patch.
func (c *aliasCount) pathString() string {
	var b strings.Builder
	for _, s := range c.path {
		if b.Len() > 0 && s != "" && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func (c *aliasCount) at(n *yaml.Node) int {
	if c.depth > 0 {
		return c.line
	}
	return n.Line
}

func (c *aliasCount) expanded(n *yaml.Node) int {
	if s, ok := c.size[n]; ok {
		if s == 0 && c.cycle == nil {
			c.cycle, c.cycleLine, c.cycleField = n, c.at(n), c.field()
		}
		return s
	}
	c.size[n] = 0
	s := 1
	if n.Anchor != "" {
		c.anchored++
		defer func() { c.anchored-- }()
	}
	switch {
	case n.Kind == yaml.AliasNode && n.Alias != nil:
		s = c.expanded(n.Alias)
		if s > c.worstLen {
			c.worst, c.worstLen, c.worstLine, c.worstField = n, s, c.at(n), c.field()
		}
	case n.Kind == yaml.ScalarNode && c.inline && c.depth < MaxInlineDepth && n.ShortTag() == "!!str" &&
		(c.anchored > 0 || mayHaveAliases(n.Value)) && mayBeCollection(n.Value):
		s = min(s+c.inner(n), MaxAliasNodes*2+1)
	}
	for i, ch := range n.Content {
		switch {
		case n.Kind == yaml.MappingNode && i%2 == 1:
			c.path = append(c.path, n.Content[i-1].Value)
		case n.Kind == yaml.SequenceNode:
			c.path = append(c.path, "["+strconv.Itoa(i)+"]")
		default:
			c.path = append(c.path, "")
		}
		s = min(s+c.expanded(ch), MaxAliasNodes*2+1)
		c.path = c.path[:len(c.path)-1]
	}
	c.size[n] = s
	return s
}

// inner counts the nodes of the YAML documents in a string value, its
// aliases expanded.
func (c *aliasCount) inner(n *yaml.Node) int {
	if c.depth == 0 {
		c.line, c.outer = n.Line, c.pathString()
	}
	c.depth++
	defer func() { c.depth-- }()
	s := 0
	dec := yaml.NewDecoder(strings.NewReader(n.Value))
	for {
		doc := new(yaml.Node)
		if err := dec.Decode(doc); err != nil {
			return s // io.EOF, or not YAML: the parser reports it
		}
		s = min(s+c.expanded(doc), MaxAliasNodes*2+1)
	}
}

// mayHaveAliases reports whether s may hold YAML with aliases, at any
// depth: a string that cannot, and that no alias copies, adds no nodes.
func mayHaveAliases(s string) bool {
	return strings.Contains(s, "&") && strings.Contains(s, "*") || strings.Contains(s, `\`)
}

// mayBeCollection reports whether s may hold a YAML mapping or sequence:
// only those have aliases or add nodes.
func mayBeCollection(s string) bool {
	if strings.ContainsAny(s, "[{?") {
		return true
	}
	for _, sep := range []string{":", "-"} {
		if strings.Contains(s, sep+" ") || strings.Contains(s, sep+"\n") || strings.Contains(s, sep+"\t") || strings.HasSuffix(s, sep) {
			return true
		}
	}
	return false
}
