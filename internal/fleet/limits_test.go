package fleet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/flotilla-dev/flotilla/internal/gittest"
)

// laughs is "billion laughs": nine anchors of nine aliases each, 9^9
// (387 million) strings once expanded, from under a kilobyte.
func laughs(indent string) string {
	s := indent + "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	for c := 'b'; c <= 'i'; c++ {
		p := "*" + string(c-1)
		s += indent + string(c) + ": &" + string(c) + " [" + strings.Repeat(p+",", 8) + p + "]\n"
	}
	return s
}

// TestYAMLv3RefusesExcessiveAliasing pins the check of yaml.v3 that the
// decoding into Go values relies on.
func TestYAMLv3RefusesExcessiveAliasing(t *testing.T) {
	t.Parallel()
	var v any
	err := yaml.Unmarshal([]byte(laughs("")), &v)
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("yaml.v3 decoded billion laughs: %v", err)
	}
}

// TestAliasBombInFleetFile loads an ApplicationSet whose generator
// elements are a billion laughs: the loader refuses it with the file and
// the line of the alias, before anything expands it.
func TestAliasBombInFleetFile(t *testing.T) {
	t.Parallel()
	set := `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: a}
spec:
  generators:
  - list:
      elements:
      - ` + strings.TrimPrefix(laughs("        "), "        ") + `  template:
    metadata: {name: x}
    spec: {project: default, destination: {}}
`
	_, err := Load(gittest.Files(t, map[string]string{"applicationsets/a.yaml": set}))
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != "applicationsets/a.yaml" || fe.Line != 15 || !errors.Is(err, ErrLimit) {
		t.Fatalf("error = %v, want ErrLimit at applicationsets/a.yaml:15", err)
	}
	if !strings.Contains(err.Error(), "alias *g alone expands to 2097152") {
		t.Errorf("error = %v, want it to name the alias", err)
	}
}

func TestCheckYAML(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in string
		limit    bool
	}{
		{"no anchors", "a: b\n", false},
		{"a few aliases", "a: &x {b: c}\nd: *x\ne: [*x, *x]\n", false},
		{"not YAML", "x: [& *\n", false},
		{"a shell script", "ls *.yaml && echo done\n", false},
		{"laughs", laughs(""), true},
		{"laughs in a second document", "a: b\n---\n" + laughs(""), true},
	} {
		err := CheckYAML("f.yaml", []byte(tt.in))
		if got := errors.Is(err, ErrLimit); got != tt.limit {
			t.Errorf("%s: CheckYAML = %v, want limit %v", tt.name, err, tt.limit)
		}
	}
	var fe *FileError
	if err := CheckYAML("f.yaml", []byte("a: &a [1, *a]\n")); !errors.As(err, &fe) || fe.Line != 1 {
		t.Errorf("a recursive anchor: %v", err)
	}
}

// TestCheckYAMLStrings: YAML held in strings counts, its aliases
// expanded, as many times as the file's aliases copy it, however the
// string is written (block, quoted, escaped), to MaxInlineDepth deep.
func TestCheckYAMLStrings(t *testing.T) {
	t.Parallel()
	small := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n" // 66k nodes
	block := func(s string) string { return "|\n" + strings.TrimSuffix(indentLines(s, "    "), "\n") }
	escaped := strings.NewReplacer("&", `\x26`, "*", `\u002a`, "\n", `\n`).Replace(laughs(""))
	for _, tt := range []struct {
		name, in, field string
		limit           bool
	}{
		{"a patch", "patches:\n- patch: " + block(laughs("")), "patches[0].patch", true},
		{"escaped anchors in a quoted string", "patches:\n- patch: \"" + escaped + "\"", "patches[0].patch", true},
		{"a string in a string", "transformers:\n- " + block("kind: PatchTransformer\npatch: "+block(laughs(""))), "transformers[0]", true},
		{"a small string", "patches:\n- patch: " + block(small), "", false},
		{"a small string copied 20 times", "patches:\n- patch: &p " + block(small) + "\n" + strings.Repeat("- patch: *p\n", 20), "", true},
		{"a string without aliases copied 200 times", "patches:\n- patch: &p \"[" + strings.Repeat("x,", 6000) + "x]\"\n" + strings.Repeat("- patch: *p\n", 200), "", true},
		{"a string without aliases copied 20 times", "patches:\n- patch: &p \"[" + strings.Repeat("x,", 6000) + "x]\"\n" + strings.Repeat("- patch: *p\n", 20), "", false},
		{"20 small strings", "patches:\n" + strings.Repeat("- patch: "+block(small)+"\n", 20), "", true},
		{"not YAML", "patches:\n- patch: \"ls *.yaml && echo [\"\n", "", false},
		{"a number", "a: &a 1\nb: *a\n", "", false},
		{"deeper than MaxInlineDepth", "a: " + block("a: "+block("a: "+block("a: "+block(laughs(""))))), "", false},
	} {
		err := CheckYAMLStrings("k.yaml", []byte(tt.in))
		if got := errors.Is(err, ErrLimit); got != tt.limit || err != nil && !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: CheckYAMLStrings = %v, want limit %v naming %q", tt.name, err, tt.limit, tt.field)
		}
		if err := CheckYAML("k.yaml", []byte(tt.in)); err != nil {
			t.Errorf("%s: CheckYAML = %v, want nil (it does not read strings)", tt.name, err)
		}
	}
}

// indentLines indents every line of s.
func indentLines(s, indent string) string {
	return indent + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+indent) + "\n"
}

func TestReadFileIsBounded(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := ReadFile(p); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "big.yaml is larger than 16 MiB") {
		t.Fatalf("ReadFile of 16 MiB + 1 = %v, want ErrLimit", err)
	}
	if err := os.Truncate(p, MaxFileSize); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err != nil {
		t.Fatalf("ReadFile of 16 MiB: %v", err)
	}
}

// FuzzCheckYAML: any input is accepted or refused, never panics, and what
// it accepts decodes.
func FuzzCheckYAML(f *testing.F) {
	for _, s := range []string{"a: &x {b: c}\nd: *x\n", laughs(""), "p: |\n" + laughs("  "), "a: &a [1, *a]\n", "x: [& *\n", "&a a: *a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := CheckYAMLStrings("f.yaml", []byte(s)); err != nil {
			return
		}
		if err := CheckYAML("f.yaml", []byte(s)); err != nil {
			t.Fatalf("CheckYAMLStrings passes what CheckYAML refuses: %v", err)
		}
		var v any
		_ = yaml.Unmarshal([]byte(s), &v)
	})
}
