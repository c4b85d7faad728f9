package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// modulePath is this repository's module; its packages are not external.
const modulePath = "github.com/flotilla-dev/flotilla"

// names maps the friendly library names ARCHITECTURE.md uses to their
// modules. A module's own path (golang.org/x/term, k8s.io/apiserver…) is
// accepted as its name without an entry here.
var names = map[string]string{
	"apimachinery":          "k8s.io/apimachinery",
	"cel-go":                "github.com/google/cel-go",
	"client-go":             "k8s.io/client-go",
	"go-billy":              "github.com/go-git/go-billy/v5",
	"go-containerregistry":  "github.com/google/go-containerregistry",
	"go-git":                "github.com/go-git/go-git/v5",
	"go-github v60":         "github.com/google/go-github/v60",
	"go-githubactions":      "github.com/sethvargo/go-githubactions",
	"go-jsonnet":            "github.com/google/go-jsonnet",
	"gobwas/glob":           "github.com/gobwas/glob",
	"gojq":                  "github.com/itchyny/gojq",
	"kin-openapi":           "github.com/getkin/kin-openapi",
	"kstatus":               "sigs.k8s.io/cli-utils",
	"kustomize api":         "sigs.k8s.io/kustomize/api",
	"kyaml":                 "sigs.k8s.io/kustomize/kyaml",
	"oras-go":               "oras.land/oras-go/v2",
	"semver":                "github.com/Masterminds/semver/v3",
	"Sprig":                 "github.com/Masterminds/sprig/v3",
	"structured-merge-diff": "sigs.k8s.io/structured-merge-diff/v6",
	"yaml.v2":               "go.yaml.in/yaml/v2",
	"yaml.v3":               "go.yaml.in/yaml/v3",
}

// unmentioned are ubiquitous helper modules a row need not name (it may):
// golang.org/x/sync is errgroup and singleflight, bounded concurrency rather
// than a library a package is built around.
var unmentioned = map[string]bool{
	"golang.org/x/sync": true,
}

// row is one line of ARCHITECTURE.md's package table.
type row struct {
	line    int
	folders []string // the backticked entries of the folder cell
	libs    []lib
}

// lib is one entry of a row's "external libraries" cell: a name, then an
// optional parenthetical note. A note that starts with "through `pkg`" says
// the row's packages use the library only through pkg, one of ours, which
// must import it directly (pkg is relative to internal/ or to the root).
type lib struct {
	name, note string
}

func (r row) String() string {
	return fmt.Sprintf("ARCHITECTURE.md:%d (%s)", r.line, strings.Join(r.folders, ", "))
}

// goPackage is what `go list -deps -json` says about one package.
type goPackage struct {
	ImportPath string
	Imports    []string
	Standard   bool
	DepOnly    bool
	Module     *struct{ Path string }
}

// TestArchitectureTable checks ARCHITECTURE.md's table against the code:
// every package of the module (non-test files) is named by exactly one row
// (an exact folder, else a glob such as cmd/*); every folder or file a row
// names exists; a row names every external module its packages import
// directly (golang.org/x/sync excepted) and nothing they do not import:
// directly, or, for an entry noted "through `pkg`", through pkg.
func TestArchitectureTable(t *testing.T) {
	root, pkgs := listModule(t)
	table, err := os.ReadFile(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatalf("read the architecture table: %v", err)
	}
	for _, p := range checkTable(t, root, table, pkgs) {
		t.Error(p)
	}
}

// TestArchitectureTableCatches breaks the real table in each way the check
// must notice and expects the problem it reports.
func TestArchitectureTableCatches(t *testing.T) {
	root, pkgs := listModule(t)
	table, err := os.ReadFile(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatalf("read the architecture table: %v", err)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"a library not named", "| go-githubactions |", "| |",
			"internal/actions imports github.com/sethvargo/go-githubactions, which the row does not name"},
		{"a library not imported", "| go-githubactions |", "| go-githubactions, gojq |",
			"names gojq (github.com/itchyny/gojq), which internal/actions does not import"},
		{"a module path not imported", "| go-githubactions |", "| go-githubactions, k8s.io/client-go |",
			"names k8s.io/client-go (k8s.io/client-go), which internal/actions does not import"},
		{"an unknown library", "| go-githubactions |", "| go-githubactions, the git command |",
			`unknown library "the git command"`},
		{"through a package not imported", "cel-go (through `kube/health`", "cel-go (through `textdiff`",
			"cel-go is used through internal/textdiff, but internal/fleet does not import internal/textdiff"},
		{"through a package without the library", "cel-go (through `kube/health`", "cel-go (through `layout`",
			"cel-go is used through internal/layout, but internal/layout does not import cel-go"},
		{"through no package", "cel-go (through `kube/health`", "cel-go (through `nowhere`",
			`"nowhere" is not a package of this module`},
		{"a package without a row", "| `internal/textdiff` |", "| `internal/nosuch` |",
			"package internal/textdiff has no row"},
		{"a folder that does not exist", "| `internal/textdiff` |", "| `internal/textdiff`, `internal/nosuch` |",
			`"internal/nosuch" does not exist`},
		{"a package in two rows", "| `internal/report` |", "| `internal/report`, `internal/textdiff` |",
			"package internal/textdiff is named by 2 rows"},
		{"a glob that matches nothing", "| `cmd/*` |", "| `cmd/*`, `nosuch/*` |",
			`"nosuch/*" matches nothing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(table, []byte(tc.old)) {
				t.Fatalf("ARCHITECTURE.md no longer holds %q: update this case", tc.old)
			}
			if p := matching(checkTable(t, root, table, pkgs), tc.want); p != "" {
				t.Fatalf("the real table already has the problem: %s", p)
			}
			broken := bytes.Replace(table, []byte(tc.old), []byte(tc.new), 1)
			problems := checkTable(t, root, broken, pkgs)
			if matching(problems, tc.want) == "" {
				t.Errorf("replacing %q with %q: no problem mentions %q; got:\n%s", tc.old, tc.new, tc.want, strings.Join(problems, "\n"))
			}
		})
	}
}

// matching returns the first problem that contains want, or "".
func matching(problems []string, want string) string {
	for _, p := range problems {
		if strings.Contains(p, want) {
			return p
		}
	}
	return ""
}

// checkTable returns what is untrue in table, one line per problem.
func checkTable(t *testing.T, root string, table []byte, pkgs []goPackage) []string {
	t.Helper()
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	rows := readTable(t, table)

	// moduleOf maps every dependency package to its module; ours is the set
	// of this module's packages, by path relative to the root.
	moduleOf := map[string]string{}
	known := map[string]bool{}
	ours := map[string]goPackage{}
	for _, p := range pkgs {
		if p.Standard {
			continue
		}
		if p.Module != nil {
			moduleOf[p.ImportPath] = p.Module.Path
			known[p.Module.Path] = true
		}
		if !p.DepOnly {
			rel, ok := strings.CutPrefix(p.ImportPath, modulePath+"/")
			if !ok {
				t.Fatalf("package %s is outside module %s", p.ImportPath, modulePath)
			}
			ours[rel] = p
		}
	}
	// external is the set of external modules a package of ours imports
	// directly, by module path.
	external := func(rel string) map[string]bool {
		mods := map[string]bool{}
		for _, imp := range ours[rel].Imports {
			if imp == modulePath || strings.HasPrefix(imp, modulePath+"/") {
				continue
			}
			if mod, ok := moduleOf[imp]; ok {
				mods[mod] = true
			}
		}
		return mods
	}

	// Each package goes to the row that names it exactly, else to the rows
	// whose glob matches it.
	rowsOf := map[string][]int{}
	for i, r := range rows {
		for _, f := range r.folders {
			if strings.ContainsAny(f, "*?[") {
				if m, _ := filepath.Glob(filepath.Join(root, f)); len(m) == 0 {
					problem("%s: %q matches nothing", r, f)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				problem("%s: %q does not exist: remove it from the table or fix its path", r, f)
			}
			if _, ok := ours[f]; ok {
				rowsOf[f] = append(rowsOf[f], i)
			}
		}
	}
	for rel := range ours {
		if len(rowsOf[rel]) > 0 {
			continue
		}
		for i, r := range rows {
			for _, f := range r.folders {
				if ok, _ := path.Match(f, rel); ok && strings.ContainsAny(f, "*?[") {
					rowsOf[rel] = append(rowsOf[rel], i)
				}
			}
		}
	}
	pkgsOf := make([][]string, len(rows))
	for _, rel := range sortedKeys(ours) {
		switch is := rowsOf[rel]; len(is) {
		case 0:
			problem("package %s has no row in ARCHITECTURE.md's table: add one (folder, purpose, external libraries: %s)",
				rel, orNone(sortedKeys(external(rel))))
		case 1:
			pkgsOf[is[0]] = append(pkgsOf[is[0]], rel)
		default:
			var where []string
			for _, i := range is {
				where = append(where, rows[i].String())
			}
			problem("package %s is named by %d rows: %s; keep one", rel, len(is), strings.Join(where, "; "))
		}
	}

	for i, r := range rows {
		if len(pkgsOf[i]) == 0 {
			// Files, workflows, test data and the separate tool modules:
			// their libraries are not this module's imports.
			continue
		}
		imported := map[string]bool{} // modules the row's packages import directly
		for _, rel := range pkgsOf[i] {
			for mod := range external(rel) {
				imported[mod] = true
			}
		}
		named := map[string]bool{}
		for _, l := range r.libs {
			mod, ok := names[l.name]
			if !ok && known[l.name] {
				mod, ok = l.name, true
			}
			if !ok {
				problem("%s: unknown library %q: name a module this module depends on, or add the name to the names table in %s", r, l.name, "internal/archtest")
				continue
			}
			named[mod] = true
			through, isThrough := throughPackage(l.note)
			switch {
			case isThrough:
				tp := resolve(through, ours)
				if tp == "" {
					problem("%s: %s is used %q, but %q is not a package of this module", r, l.name, "through "+through, through)
					continue
				}
				if !importsAny(ours, pkgsOf[i], modulePath+"/"+tp) {
					problem("%s: %s is used through %s, but %s does not import %s", r, l.name, tp, strings.Join(pkgsOf[i], ", "), tp)
				}
				if !external(tp)[mod] {
					problem("%s: %s is used through %s, but %s does not import %s (%s)", r, l.name, tp, tp, l.name, mod)
				}
			case !imported[mod]:
				problem("%s: names %s (%s), which %s does not import: remove it, or write %q if it comes through another package",
					r, l.name, mod, strings.Join(pkgsOf[i], ", "), l.name+" (through `pkg`)")
			}
		}
		for _, mod := range sortedKeys(imported) {
			if !named[mod] && !unmentioned[mod] {
				problem("%s: %s imports %s, which the row does not name: add %q to the external libraries column",
					r, strings.Join(pkgsOf[i], ", "), mod, friendly(mod))
			}
		}
	}
	return problems
}

// friendly is the name the table uses for mod.
func friendly(mod string) string {
	for name, m := range names {
		if m == mod {
			return name
		}
	}
	return mod
}

// throughPackage returns pkg from a note "through `pkg`…".
func throughPackage(note string) (string, bool) {
	rest, ok := strings.CutPrefix(note, "through `")
	if !ok {
		return "", false
	}
	pkg, _, ok := strings.Cut(rest, "`")
	return pkg, ok
}

// resolve finds a package named relative to internal/ or to the root.
func resolve(name string, ours map[string]goPackage) string {
	for _, rel := range []string{"internal/" + name, name} {
		if _, ok := ours[rel]; ok {
			return rel
		}
	}
	return ""
}

func importsAny(ours map[string]goPackage, rels []string, imp string) bool {
	for _, rel := range rels {
		if slices.Contains(ours[rel].Imports, imp) {
			return true
		}
	}
	return false
}

// module is the module's root and `go list -deps` over its packages, listed
// once for all the tests.
var module = sync.OnceValues(func() (moduleList, error) {
	root, err := moduleRoot()
	if err != nil {
		return moduleList{}, err
	}
	pkgs, err := listPackages(root)
	return moduleList{root, pkgs}, err
})

type moduleList struct {
	root string
	pkgs []goPackage
}

// listModule returns the module's root and packages, or skips without go.
func listModule(t *testing.T) (string, []goPackage) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH: the architecture test lists packages with it")
	}
	m, err := module()
	if err != nil {
		t.Fatal(err)
	}
	return m.root, m.pkgs
}

// moduleRoot walks up from the test's directory to the go.mod of modulePath.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if bytes.HasPrefix(data, []byte("module "+modulePath+"\n")) {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find the module root: no go.mod of %s above the test's directory", modulePath)
		}
		dir = parent
	}
}

// listPackages runs `go list -deps` once over the module's packages.
func listPackages(root string) ([]goPackage, error) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Standard,DepOnly,Module", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list the module's packages: go list: %w\n%s", err, stderr.Bytes())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode go list's output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

// readTable parses the table whose header is
// "| folder | purpose | external libraries |". The folder cell is a list of
// backticked paths; the libraries cell is split on commas outside
// parentheses. The purpose cell may itself hold "|".
func readTable(t *testing.T, table []byte) []row {
	t.Helper()
	const file = "ARCHITECTURE.md"
	var rows []row
	in := false
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if !in {
			in = strings.HasPrefix(line, "| folder | purpose | external libraries |")
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		if strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|"), "|")
		if len(cells) < 3 {
			t.Fatalf("%s:%d: a row needs three cells: %s", file, n, line)
		}
		r := row{line: n}
		for _, part := range strings.Split(cells[0], ",") {
			part = strings.TrimSpace(part)
			name, opened := strings.CutPrefix(part, "`")
			name, closed := strings.CutSuffix(name, "`")
			if !opened || !closed || name == "" {
				t.Fatalf("%s:%d: folder %q is not a backticked path", file, n, part)
			}
			r.folders = append(r.folders, name)
		}
		r.libs = parseLibs(cells[len(cells)-1])
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read the architecture table: %v", err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table with the header | folder | purpose | external libraries |", file)
	}
	return rows
}

// parseLibs splits "a, b (note, with commas), c" into its entries.
func parseLibs(cell string) []lib {
	var libs []lib
	depth, start := 0, 0
	cell = strings.TrimSpace(cell)
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		name, note, _ := strings.Cut(s, "(")
		libs = append(libs, lib{name: strings.TrimSpace(name), note: strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(note), ")"))})
	}
	for i, c := range cell {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				add(cell[start:i])
				start = i + 1
			}
		}
	}
	add(cell[start:])
	return libs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
