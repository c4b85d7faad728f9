package fleet

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/flotilla-dev/flotilla/internal/kube/health"
	"github.com/flotilla-dev/flotilla/internal/redact"
)

// Fleet is a loaded fleet repository: its configuration, inventory and
// ApplicationSets. It holds no secrets.
type Fleet struct {
	// Root is the absolute path of the fleet checkout, or "" for a fleet
	// read from an fs.FS (LoadFS).
	Root   string
	Config Config
	// ConfigFile is the path of flotilla.yaml relative to Root, or "".
	ConfigFile string
	// Clusters is the inventory sorted by name (plus the local cluster when
	// argoCD.inCluster is on).
	Clusters        []Cluster
	ApplicationSets []*LoadedApplicationSet
	// Applications are the plain Application documents of the fleet (in
	// files the applicationSets or applications globs match).
	Applications []*LoadedApplication
	// Projects is the set of AppProjects known to exist, or nil when any
	// non-empty project is accepted. When it is set it holds "default":
	// Argo CD always has that project.
	Projects map[string]bool
	// AppProjects are the AppProject documents found beside the
	// ApplicationSets, by name; their rules are enforced (see Project).
	AppProjects map[string]*AppProject
}

// Project returns the rules of the named project: its AppProject document,
// or Argo CD's implicit default project for "default" (or ""), or nil when
// the project's rules are unknown (named in argoCD.projects only, or any
// project accepted).
func (f *Fleet) Project(name string) *AppProject {
	if name == "" {
		name = "default"
	}
	if p, ok := f.AppProjects[name]; ok {
		return p
	}
	if name == "default" {
		return DefaultProject()
	}
	return nil
}

// LoadedApplicationSet is an ApplicationSet with where it came from.
type LoadedApplicationSet struct {
	File string // relative to the fleet root, slash-separated
	Line int
	Doc  Document
	Set  ApplicationSet
}

// LoadedApplication is a plain Application document with where it came
// from.
type LoadedApplication struct {
	File string // relative to the fleet root, slash-separated
	Line int
	Doc  Document
	App  Application
}

// Cluster returns the inventory cluster with that name.
func (f *Fleet) Cluster(name string) (Cluster, bool) {
	i := sort.Search(len(f.Clusters), func(i int) bool { return f.Clusters[i].Name >= name })
	if i < len(f.Clusters) && f.Clusters[i].Name == name {
		return f.Clusters[i], true
	}
	for _, c := range f.Clusters { // the local cluster is appended unsorted
		if c.Name == name {
			return c, true
		}
	}
	return Cluster{}, false
}

// Load reads the fleet rooted at dir. Every problem is returned as a
// *FileError naming the file (and line where the YAML gives one); a
// partially valid fleet is never returned. Symbolic links are followed by
// the operating system; a repos: path may not leave dir through one.
func Load(dir string) (*Fleet, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(root); errors.Is(err, syscall.ELOOP) {
		return nil, &FileError{File: dir, Class: ClassConfig, Msg: "fleet directory", Err: ExplainLoop(root, err)}
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, &FileError{File: dir, Class: ClassConfig, Msg: "fleet directory not found (pass --fleet DIR)"}
	}
	return load(&loader{Fleet: &Fleet{Root: root}})
}

// LoadFS reads the fleet at the root of fsys: a Git revision, a map in a
// test, a directory. It checks what Load checks and reports problems the
// same way, naming files relative to the root of fsys. The Fleet's Root is
// "": the fleet has no directory on disk.
//
// Symbolic links, when fsys is an fs.ReadLinkFS, are resolved inside
// fsys (see ResolveLinks): a link that leads out of it, or loops, is an
// error naming the link, and a repos: path must be a directory of fsys.
// Files are read up to MaxFileSize bytes.
func LoadFS(fsys fs.FS) (*Fleet, error) {
	return load(&loader{Fleet: &Fleet{}, fsys: fsys})
}

// loader reads a fleet's files: from the disk below Root (Load), or
// from fsys (LoadFS).
type loader struct {
	*Fleet
	fsys fs.FS // nil: the disk
	// pausedLine is the line of flotilla.yaml's rollout.pausedApplicationSets.
	pausedLine int
}

func load(f *loader) (*Fleet, error) {
	if err := f.loadConfig(); err != nil {
		return nil, err
	}
	files, err := f.listFiles()
	if err != nil {
		return nil, err
	}
	if err := f.loadInventory(files); err != nil {
		return nil, err
	}
	if err := f.loadApplicationSets(files); err != nil {
		return nil, err
	}
	if err := f.checkPausedSets(); err != nil {
		return nil, err
	}
	return f.Fleet, nil
}

// checkPausedSets refuses a name in rollout.pausedApplicationSets that
// is no ApplicationSet of the fleet: a typo would pause nothing.
func (f *loader) checkPausedSets() error {
	known := map[string]bool{}
	for _, ls := range f.ApplicationSets {
		known[ls.Set.Metadata.Name] = true
	}
	for _, name := range f.Config.Rollout.PausedApplicationSets {
		if !known[name] {
			return errorf(ConfigFile, f.pausedLine, ClassConfig, "rollout.pausedApplicationSets: %q is not an ApplicationSet of the fleet (known: %s)",
				name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return nil
}

func (f *loader) loadConfig() error {
	data, err := f.readFile(ConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		f.Config.applyDefaults()
		return nil
	}
	if err != nil {
		return err
	}
	f.ConfigFile = ConfigFile
	docs, err := SplitDocuments(ConfigFile, data)
	if err != nil {
		return err
	}
	switch len(docs) {
	case 0:
	case 1:
		if err := docs[0].Decode(&f.Config); err != nil {
			return err
		}
	default:
		return errorf(ConfigFile, docs[1].Line, ClassConfig, "expected one YAML document, found %d", len(docs))
	}
	f.Config.applyDefaults()
	if err := f.Config.validate(ConfigFile); err != nil {
		return err
	}
	line := func(key string) int {
		if len(docs) == 0 {
			return 0
		}
		if n := MapValue(MapValue(docs[0].Node, "repos"), key); n != nil {
			return n.Line
		}
		return 0
	}
	if len(docs) > 0 {
		if n := MapValue(MapValue(docs[0].Node, "rollout"), "pausedApplicationSets"); n != nil {
			f.pausedLine = n.Line
		}
	}
	if _, err := health.Compile(f.Config.HealthCheckExprs); err != nil {
		return healthError(docs, err)
	}
	seen := map[string]string{}
	for _, url := range slices.Sorted(maps.Keys(f.Config.Repos)) {
		if err := f.checkRepoPath(f.Config.Repos[url]); err != nil {
			return &FileError{File: ConfigFile, Line: line(url), Class: ClassConfig, Msg: fmt.Sprintf("repos[%q]", redact.URL(url)), Err: err}
		}
		// Argo CD takes these spellings for one repository: two of them
		// would map it to two folders, one picked at random.
		n := NormalizeRepoURL(url)
		if other, ok := seen[n]; ok {
			return &FileError{File: ConfigFile, Line: line(url), Class: ClassConfig, Msg: fmt.Sprintf("repos[%q] and repos[%q] are one repository (case, a trailing / and .git do not count): keep one", redact.URL(other), redact.URL(url))}
		}
		seen[n] = url
	}
	if len(f.Config.ArgoCD.Projects) > 0 {
		f.Projects = map[string]bool{"default": true}
		for _, p := range f.Config.ArgoCD.Projects {
			f.Projects[p] = true
		}
	}
	return nil
}

// readFile reads a file of the fleet (slash-separated, relative to the
// root). A symbolic link loop is a *FileError naming the link.
func (f *loader) readFile(file string) ([]byte, error) {
	if f.fsys != nil {
		return f.readFileFS(file)
	}
	p := filepath.Join(f.Root, filepath.FromSlash(file))
	data, err := ReadFile(p) // bounded: limits.go
	if errors.Is(err, syscall.ELOOP) {
		return nil, &FileError{File: file, Class: ClassConfig, Msg: "read", Err: ExplainLoop(p, err)}
	}
	return data, err
}

// checkRepoPath checks a repos: path of flotilla.yaml.
func (f *loader) checkRepoPath(p string) error {
	if f.fsys != nil {
		return f.checkRepoPathFS(p)
	}
	_, err := ResolveRepoPath(f.Root, p)
	return err
}

// listFiles returns every regular file of the fleet (slash-separated,
// relative, sorted), skipping .git.
func (f *loader) listFiles() ([]string, error) {
	if f.fsys != nil {
		return f.listFilesFS()
	}
	return listFiles(f.Root)
}

// ResolveRepoPath turns a repos: path into an absolute one, refusing paths
// that leave the fleet root, directly or through a symbolic link.
func ResolveRepoPath(root, p string) (string, error) {
	if err := checkRelative(p); err != nil {
		return "", errors.New("path " + p + " " + err.Error() + " (repos: paths are relative to the fleet root and stay inside it)")
	}
	abs := filepath.Join(root, filepath.FromSlash(p))
	real, err := EvalSymlinks(abs)
	var loop *SymlinkLoopError
	if errors.As(err, &loop) {
		return "", fmt.Errorf("path %s: %w", p, err)
	}
	if err != nil {
		return "", errors.New("path " + p + " does not exist")
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	if real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
		return "", errors.New("path " + p + " escapes the fleet root through a symbolic link")
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return "", errors.New("path " + p + " is not a directory")
	}
	return abs, nil
}

func (f *loader) loadInventory(files []string) error {
	argoNS := f.Config.ArgoCD.Namespace
	for _, file := range matchGlobs(files, f.Config.Clusters) {
		data, err := f.readFile(file)
		if err != nil {
			return err
		}
		cs, err := parseInventory(file, data, argoNS)
		if err != nil {
			return err
		}
		f.Clusters = append(f.Clusters, cs...)
	}
	if err := sortAndCheckClusters(f.Clusters); err != nil {
		return err
	}
	if err := f.Config.checkBranches(f.Clusters); err != nil {
		return err
	}
	if f.Config.ArgoCD.InCluster {
		hasLocal := false
		for _, c := range f.Clusters {
			hasLocal = hasLocal || c.Server == InClusterServer
		}
		if !hasLocal {
			f.Clusters = append(f.Clusters, Cluster{Name: InClusterName, Server: InClusterServer, Local: true})
		}
	}
	return nil
}

func (f *loader) loadApplicationSets(files []string) error {
	names := map[string]*LoadedApplicationSet{}
	apps := map[string]*LoadedApplication{}
	globs := append(append([]string(nil), f.Config.ApplicationSets...), f.Config.Applications...)
	for _, file := range matchGlobs(files, globs) {
		data, err := f.readFile(file)
		if err != nil {
			return err
		}
		docs, err := SplitDocuments(file, data)
		if err != nil {
			return err
		}
		for _, d := range docs {
			apiVersion, kind := d.Kind()
			switch {
			case kind == "ApplicationSet" && strings.HasPrefix(apiVersion, "argoproj.io/"):
				ls, err := DecodeApplicationSet(d, f.Config.ArgoCD.Namespace)
				if err != nil {
					return err
				}
				key := ls.Set.Metadata.Namespace + "/" + ls.Set.Metadata.Name
				if prev, ok := names[key]; ok {
					return errorf(file, d.Line, ClassConfig, "ApplicationSet %q is defined twice (also at %s)", ls.Set.Metadata.Name, location(prev.File, prev.Line))
				}
				names[key] = ls
				f.ApplicationSets = append(f.ApplicationSets, ls)
			case kind == "Application" && strings.HasPrefix(apiVersion, "argoproj.io/"):
				la, err := DecodeApplication(d, f.Config.ArgoCD.Namespace)
				if err != nil {
					return err
				}
				if prev, ok := apps[la.App.Metadata.Name]; ok {
					return errorf(file, d.Line, ClassConfig, "Application %q is defined twice (also at %s)", la.App.Metadata.Name, location(prev.File, prev.Line))
				}
				apps[la.App.Metadata.Name] = la
				f.Applications = append(f.Applications, la)
			case kind == "AppProject" && strings.HasPrefix(apiVersion, "argoproj.io/"):
				if err := f.addProject(file, d); err != nil {
					return err
				}
			default:
				key, glob := "applicationSets", matchingGlob(file, f.Config.ApplicationSets)
				if glob == "" {
					key, glob = "applications", matchingGlob(file, f.Config.Applications)
				}
				where := "the default " + key + " globs"
				if f.ConfigFile != "" {
					where = key + " in " + ConfigFile
				}
				return errorf(file, d.Line, ClassConfig, "%s %q is not an ApplicationSet: the file matches %q of %s, whose files must hold only ApplicationSet, Application or AppProject documents; narrow the glob so it leaves out %s (for example list the ApplicationSet files), or move the file",
					kindOrUnknown(kind), d.Name(), glob, where, file)
			}
		}
	}
	if len(f.ApplicationSets) == 0 && len(f.Applications) == 0 {
		globs := f.Config.ApplicationSets
		if len(f.Config.Applications) > 0 {
			globs = append(append([]string(nil), globs...), f.Config.Applications...)
		}
		return errorf(f.ConfigFile, 0, ClassConfig, "no ApplicationSet or Application found in %s (set applicationSets: or applications: in %s)", strings.Join(globs, ", "), ConfigFile)
	}
	return nil
}

// DecodeApplicationSet decodes an ApplicationSet document strictly and
// checks the fields its CRD requires; a set without a namespace is put in
// argoNamespace.
func DecodeApplicationSet(d Document, argoNamespace string) (*LoadedApplicationSet, error) {
	ls := &LoadedApplicationSet{File: d.File, Line: d.Line, Doc: d}
	if err := d.Decode(&ls.Set); err != nil {
		return nil, err
	}
	if err := checkRequired(ls); err != nil {
		return nil, err
	}
	if ls.Set.Metadata.Namespace == "" {
		ls.Set.Metadata.Namespace = argoNamespace
	}
	return ls, nil
}

// DecodeApplication decodes a plain Application document strictly and
// checks the fields its CRD requires (metadata.name, spec.destination,
// spec.project); an Application without a namespace is put in
// argoNamespace. Its status and operation, which a copy taken from a
// cluster carries, are dropped.
func DecodeApplication(d Document, argoNamespace string) (*LoadedApplication, error) {
	la := &LoadedApplication{File: d.File, Line: d.Line, Doc: d}
	if err := d.Decode(&la.App); err != nil {
		return nil, err
	}
	la.App.Status, la.App.Operation = nil, nil
	name := la.App.Metadata.Name
	if name == "" {
		return nil, errorf(d.File, d.Line, ClassCRDValidation, "Application has no metadata.name")
	}
	var errs []error
	spec := MapValue(d.Node, "spec")
	if spec == nil {
		errs = append(errs, errorf(d.File, d.Line, ClassCRDValidation, "Application %q is invalid: spec: Required value", name))
	} else {
		for _, k := range []string{"destination", "project"} {
			if MapValue(spec, k) == nil {
				errs = append(errs, errorf(d.File, spec.Line, ClassCRDValidation, "Application %q is invalid: spec.%s: Required value", name, k))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if la.App.Metadata.Namespace == "" {
		la.App.Metadata.Namespace = argoNamespace
	}
	return la, nil
}

// addProject records an AppProject document. Like Argo CD, it reads only
// projects in the Argo CD namespace; "default" exists whether or not a
// document defines it.
func (f *loader) addProject(file string, d Document) error {
	p := &AppProject{File: file, Line: d.Line}
	if err := d.Decode(p); err != nil {
		return err
	}
	if ns := p.Metadata.Namespace; ns != "" && ns != f.Config.ArgoCD.Namespace {
		return nil
	}
	name := p.Metadata.Name
	if name == "" {
		return errorf(file, d.Line, ClassConfig, "AppProject has no metadata.name")
	}
	if prev, ok := f.AppProjects[name]; ok {
		return errorf(file, d.Line, ClassConfig, "AppProject %q is defined twice (also at %s)", name, location(prev.File, prev.Line))
	}
	if f.AppProjects == nil {
		f.AppProjects = map[string]*AppProject{}
	}
	f.AppProjects[name] = p
	if f.Projects == nil {
		f.Projects = map[string]bool{"default": true}
	}
	f.Projects[name] = true
	return nil
}

// checkRequired enforces the fields the ApplicationSet CRD marks required,
// which the API server checks before Argo CD ever sees the object.
func checkRequired(ls *LoadedApplicationSet) error {
	spec := MapValue(ls.Doc.Node, "spec")
	var errs []error
	need := func(n *yamlNode, path string, keys ...string) {
		for _, k := range keys {
			if MapValue(n, k) == nil {
				line := ls.Line
				if n != nil {
					line = n.Line
				}
				errs = append(errs, errorf(ls.File, line, ClassCRDValidation,
					"ApplicationSet %q is invalid: %s: Required value", ls.Set.Metadata.Name, joinPath(path, k)))
			}
		}
	}
	if ls.Set.Metadata.Name == "" {
		errs = append(errs, errorf(ls.File, ls.Line, ClassCRDValidation, "ApplicationSet has no metadata.name"))
	}
	if spec == nil {
		need(ls.Doc.Node, "", "spec")
		return errors.Join(errs...)
	}
	need(spec, "spec", "generators", "template")
	checkTemplate := func(t *yamlNode, path string) {
		if t == nil {
			return
		}
		need(t, path, "spec")
		if s := MapValue(t, "spec"); s != nil {
			need(s, path+".spec", "project", "destination")
		}
	}
	checkTemplate(MapValue(spec, "template"), "spec.template")
	var walk func(gens *yamlNode, path string)
	walk = func(gens *yamlNode, path string) {
		if gens == nil {
			return
		}
		for i, g := range gens.Content {
			gp := path + "[" + itoa(i) + "]"
			for _, kind := range []string{"list", "clusters", "git", "matrix", "merge"} {
				n := MapValue(g, kind)
				if n == nil {
					continue
				}
				checkTemplate(MapValue(n, "template"), gp+"."+kind+".template")
				switch kind {
				case "git":
					need(n, gp+".git", "repoURL", "revision")
				case "matrix":
					need(n, gp+".matrix", "generators")
					walk(MapValue(n, "generators"), gp+".matrix.generators")
				case "merge":
					need(n, gp+".merge", "generators", "mergeKeys")
					walk(MapValue(n, "generators"), gp+".merge.generators")
				}
			}
		}
	}
	walk(MapValue(spec, "generators"), "spec.generators")
	return errors.Join(errs...)
}

// listFiles returns every regular file below root (slash-separated,
// relative, sorted), skipping .git.
func listFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	slices.Sort(out)
	return out, err
}

// matchGlobs returns the files matching any glob, in sorted order. A glob
// segment "**" matches any number of directories.
func matchGlobs(files, globs []string) []string {
	var out []string
	for _, f := range files {
		for _, g := range globs {
			if MatchGlob(path.Clean(g), f) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// matchingGlob returns the first glob that matches file.
func matchingGlob(file string, globs []string) string {
	for _, g := range globs {
		if MatchGlob(path.Clean(g), file) {
			return g
		}
	}
	return ""
}

// MatchGlob matches a slash-separated path against a glob where "**" is a
// whole segment matching zero or more segments and other segments follow
// path.Match.
func MatchGlob(glob, name string) bool {
	return matchSegments(strings.Split(glob, "/"), strings.Split(name, "/"))
}

func matchSegments(g, n []string) bool {
	for len(g) > 0 {
		if g[0] == "**" {
			for i := 0; i <= len(n); i++ {
				if matchSegments(g[1:], n[i:]) {
					return true
				}
			}
			return false
		}
		if len(n) == 0 {
			return false
		}
		if ok, err := path.Match(g[0], n[0]); err != nil || !ok {
			return false
		}
		g, n = g[1:], n[1:]
	}
	return len(n) == 0
}

// healthError places a healthCheckExprs error at the line of the field.
func healthError(docs []Document, err error) error {
	fe := &FileError{File: ConfigFile, Class: ClassConfig, Msg: "healthCheckExprs", Err: err}
	var ee *health.ExprError
	if errors.As(err, &ee) && len(docs) > 0 {
		fe.Msg = ""
		if seq := MapValue(docs[0].Node, "healthCheckExprs"); seq != nil && ee.Index < len(seq.Content) {
			item := seq.Content[ee.Index]
			fe.Line = item.Line
			if n := MapValue(item, ee.Field); n != nil {
				fe.Line = n.Line
			}
		}
	}
	return fe
}

// NormalizeRepoURL makes equivalent spellings of a repository URL equal, as
// Argo CD does: case, a trailing "/" and a ".git" suffix do not matter.
func NormalizeRepoURL(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	u = strings.TrimSuffix(u, "/")
	return strings.TrimSuffix(u, ".git")
}

// CapabilitiesOf returns what the fleet's builds and policy gates take as
// cluster c's capabilities: its inventory's, with flotilla.yaml's helm
// defaults for the fields it leaves empty.
func (f *Fleet) CapabilitiesOf(c Cluster) Capabilities {
	return c.Capabilities.Or(f.Config.Helm.Capabilities())
}
