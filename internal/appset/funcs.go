package appset

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// funcMap is Argo CD's Go-template function set: Sprig without the
// functions that read the environment or the network, plus Argo's own.
// It is built once and never changed. Each Renderer wraps it to bound
// the work (see limits.go); text/template's printing and escaping
// builtins are in it so that they are bounded too, and Sprig's until,
// untilStep and seq are replaced by versions that check their length
// before they allocate.
var funcMap = func() template.FuncMap {
	m := sprig.TxtFuncMap()
	delete(m, "env")
	delete(m, "expandenv")
	delete(m, "getHostByName")
	m["until"] = until
	m["untilStep"] = untilStep
	m["seq"] = seq
	m["print"] = fmt.Sprint
	m["printf"] = fmt.Sprintf
	m["println"] = fmt.Sprintln
	m["html"] = template.HTMLEscaper
	m["js"] = template.JSEscaper
	m["urlquery"] = template.URLQueryEscaper
	m["normalize"] = SanitizeName
	m["slugify"] = slugify
	m["toYaml"] = toYAML
	m["fromYaml"] = fromYAML
	m["fromYamlArray"] = fromYAMLArray
	return m
}()

var invalidDNSNameChars = regexp.MustCompile("[^-a-z0-9.]")

// SanitizeName is Argo CD's name normalisation (nameNormalized,
// basenameNormalized, the normalize function): lower case, characters
// outside [a-z0-9.-] become "-", at most 253 characters, "-" and "." trimmed
// from both ends.
func SanitizeName(name string) string {
	name = strings.ToLower(name)
	name = invalidDNSNameChars.ReplaceAllString(name, "-")
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.Trim(name, "-.")
}

var nonSlugChars = regexp.MustCompile("[^a-z0-9]+")

// slugify is Argo CD's slugify: [maxSize (50)] [smartTruncate (true)] name.
// It sanitises the name, turns every run of other characters (dots too)
// into one "-", and truncates, at a word boundary when smart.
func slugify(args ...any) string {
	maxSize, smart, name := 50, true, ""
	for i, a := range args {
		switch {
		case i == len(args)-1:
			name, _ = a.(string)
		case i == 0:
			if v, ok := a.(int); ok {
				maxSize = v
			}
		case i == 1:
			if v, ok := a.(bool); ok {
				smart = v
			}
		}
	}
	s := strings.Trim(nonSlugChars.ReplaceAllString(SanitizeName(name), "-"), "-")
	if maxSize > 0 && len(s) > maxSize {
		cut := s[:maxSize]
		if smart {
			for i := maxSize; i >= 0; i-- {
				if s[i] == '-' {
					cut = s[:i]
					break
				}
			}
		}
		s = strings.Trim(cut, "-")
	}
	return s
}

func toYAML(v any) (string, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func fromYAML(s string) (map[string]any, error) {
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

func fromYAMLArray(s string) ([]any, error) {
	var a []any
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		return nil, err
	}
	return a, nil
}
