package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Document is one YAML document of a file, with where it starts.
type Document struct {
	File string
	Line int
	Node *yaml.Node // the document's root (not the DocumentNode wrapper)
}

// SplitDocuments parses a multi-document YAML stream. Empty documents are
// skipped. A syntax error is returned as a *FileError with its line.
func SplitDocuments(file string, data []byte) ([]Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Document
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, yamlSyntaxError(file, err)
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if err := checkAliases(file, root); err != nil {
			return nil, err
		}
		docs = append(docs, Document{File: file, Line: root.Line, Node: root})
	}
}

// yamlSyntaxError turns a yaml.v3 error ("yaml: line 7: did not find …")
// into a FileError carrying the line.
func yamlSyntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		// yaml.v3 counts lines from 0 for parser errors (from 1 for scanner
		// errors); its parser problems are the ones below.
		for _, p := range []string{"did not find expected", "found duplicate", "found incompatible", "found undefined tag"} {
			if strings.HasPrefix(msg, p) {
				line++
				break
			}
		}
	}
	return &FileError{File: file, Line: line, Class: ClassStrictDecoding, Msg: "invalid YAML: " + msg}
}

// Kind returns the document's apiVersion and kind.
func (d Document) Kind() (apiVersion, kind string) {
	return scalarAt(d.Node, "apiVersion"), scalarAt(d.Node, "kind")
}

// Name returns metadata.name, or "".
func (d Document) Name() string {
	return scalarAt(MapValue(d.Node, "metadata"), "name")
}

// MapValue returns the value node of key in a mapping node, or nil.
func MapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalarAt(n *yaml.Node, key string) string {
	c := MapValue(n, key)
	if c == nil || c.Kind != yaml.ScalarNode {
		return ""
	}
	return c.Value
}

// Decode checks the document strictly against out's type (unknown fields and
// wrong types are errors naming the field path and line, like the Kubernetes
// API server's strict decoding), then decodes it through JSON so that
// omitempty and the JSON names behave exactly as they do in the API server.
func (d Document) Decode(out any) error { return d.decode(out, false) }

// DecodeSecret is Decode for a document that holds secret material (a
// Secret's data and stringData): its errors name the field, file and line
// and never quote a value, not even one of the wrong type.
func (d Document) DecodeSecret(out any) error { return d.decode(out, true) }

func (d Document) decode(out any, secret bool) error {
	var errs []error
	checkNode(d.Node, reflect.TypeOf(out).Elem(), "", d.File, secret, &errs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The decoders' messages below may quote a value (yaml.v3: "cannot
	// decode !!str `...` as a !!int").
	fail := func(err error) error {
		msg := err.Error()
		if secret {
			msg = "a value does not decode (check its tag and type; the value is secret, so it is not shown)"
		}
		return &FileError{File: d.File, Line: d.Line, Class: ClassStrictDecoding, Msg: msg}
	}
	var v any
	if err := d.Node.Decode(&v); err != nil {
		return fail(err)
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fail(err)
	}
	return nil
}

// jsonable converts yaml.v3's decoded values into values encoding/json
// accepts (map keys become strings).
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonable(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = jsonable(e)
		}
		return t
	default:
		return v
	}
}

var (
	rawJSONType     = reflect.TypeOf(RawJSON{})
	intOrStringType = reflect.TypeOf(IntOrString{})
	generatorType   = reflect.TypeOf(ApplicationSetGenerator{})
)

// checkNode walks a YAML node alongside a Go type and records unknown
// fields and scalar type mismatches with their path and line; secret:
// never quoting a value.
func checkNode(n *yaml.Node, t reflect.Type, path, file string, secret bool, errs *[]error) {
	if n == nil {
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, &FileError{File: file, Line: n.Line, Class: ClassStrictDecoding, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case t == rawJSONType || t.Kind() == reflect.Interface:
		return
	case t == intOrStringType:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
			fail("%s: expected an integer or a string", displayPath(path))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			fail("%s: expected an object, got %s", displayPath(path), describe(n))
			return
		}
		fields := jsonFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field %q", joinPath(path, k.Value))
				if t == generatorType {
					if k.Value == "template" {
						msg += " (a generator's template goes inside the generator: list.template, clusters.template…)"
					} else {
						msg = fmt.Sprintf("unknown generator %q in %s (supported: list, clusters, git, matrix, merge)", k.Value, path)
					}
				}
				*errs = append(*errs, &FileError{File: file, Line: k.Line, Class: ClassStrictDecoding, Msg: msg})
				continue
			}
			checkNode(v, ft, joinPath(path, k.Value), file, secret, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			fail("%s: expected an object, got %s", displayPath(path), describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), file, secret, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fail("%s: expected a list, got %s", displayPath(path), describe(n))
			return
		}
		for i, e := range n.Content {
			checkNode(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), file, secret, errs)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			fail("%s: expected a string, got %s", displayPath(path), describe(n))
		} else if n.Tag != "!!str" && n.Tag != "!!binary" && n.Style == 0 {
			if secret {
				fail("%s: expected a string, got %s (quote it; the value is secret, so it is not shown)", displayPath(path), describe(n))
			} else {
				fail("%s: expected a string, got %s %s (quote it)", displayPath(path), describe(n), n.Value)
			}
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			fail("%s: expected true or false, got %s", displayPath(path), describe(n))
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			fail("%s: expected an integer, got %s", displayPath(path), describe(n))
		}
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!str":
		return "a string"
	}
	return strings.TrimPrefix(n.Tag, "!!")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func displayPath(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// jsonFields maps JSON names to field types, flattening embedded structs the
// way encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if name == "" && f.Anonymous {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range jsonFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

type yamlNode = yaml.Node

func itoa(i int) string { return fmt.Sprint(i) }
