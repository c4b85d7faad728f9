// Package hydrate turns rendered Applications into one Git tree per
// cluster — README.md, .gitattributes, a root hydrator.metadata,
// <app>/manifest.yaml and <app>/hydrator.metadata, the layout of Argo CD's
// Source Hydrator and the contract of GitOps Promoter's custom hydrators,
// with Argo CD's git note (refs/notes/hydrator.metadata) on each head — and
// publishes the trees as commits on hydrated branches: only trees that
// changed, whole trees (stale apps vanish), all branches in one atomic push
// with expected-old-value checks, retried when the push loses a race, and
// never replacing a proposal rendered from a newer dry commit.
package hydrate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/kube/health"
	"github.com/flotilla-dev/flotilla/internal/layout"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// File names in a hydrated tree (layout's).
const (
	ManifestFile   = layout.ManifestFile
	MetadataFile   = layout.MetadataFile
	ReadmeFile     = layout.ReadmeFile
	AttributesFile = layout.AttributesFile
)

// DryCommit is the fleet commit that was rendered.
type DryCommit struct {
	SHA     string
	RepoURL string
	Author  string // "Name <email>"
	Date    string // RFC 3339, the commit's committer date
	Subject string
	Body    string
}

// Metadata is hydrator.metadata: Argo CD Source Hydrator's fields plus
// Flotilla's own.
type Metadata struct {
	metadataHead
	Flotilla AppInfo `json:"flotilla"`
}

// metadataHead is Argo CD's part of Metadata, the dry commit's: the same
// for every app of a run, encoded once per tree. Alone it is the root
// hydrator.metadata, the file GitOps Promoter reads (drySha required;
// repoURL, author, date, subject, body and references shown in its UI),
// with the field names and types of Argo CD's HydratorCommitMetadata.
type metadataHead struct {
	RepoURL    string      `json:"repoURL"`
	DrySHA     string      `json:"drySha"`
	Author     string      `json:"author"`
	Date       string      `json:"date"`
	Subject    string      `json:"subject"`
	Body       string      `json:"body"`
	References []Reference `json:"references,omitempty"`
}

// Reference is another commit that contributed to a hydration, as Argo
// CD's RevisionReference and GitOps Promoter's references entries.
type Reference struct {
	Commit *ReferencedCommit `json:"commit,omitempty"`
}

// ReferencedCommit is a Reference's commit.
type ReferencedCommit struct {
	SHA     string `json:"sha,omitempty"`
	RepoURL string `json:"repoURL,omitempty"`
	Author  string `json:"author,omitempty"`
	Date    string `json:"date,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
}

// AppInfo is what Flotilla records about an app in its metadata.
type AppInfo struct {
	ApplicationSet string                       `json:"applicationSet"`
	Sources        []render.Source              `json:"sources"`
	Destination    fleet.ApplicationDestination `json:"destination"`
	SyncPolicy     *fleet.SyncPolicy            `json:"syncPolicy,omitempty"`
	SyncOptions    []string                     `json:"syncOptions,omitempty"`
	Labels         map[string]string            `json:"labels,omitempty"`
	// IgnoreDifferences is the Application's, for verify.
	IgnoreDifferences []fleet.ResourceIgnoreDifferences `json:"ignoreDifferences,omitempty"`
	// HealthCheckExprs are flotilla.yaml's custom health checks for the
	// kinds among the app's objects, for verify and apply.
	HealthCheckExprs []health.Check `json:"healthCheckExprs,omitempty"`
	Objects          int            `json:"objects"`
	ContentHash      string         `json:"contentHash"`
}

// App is one rendered Application of a cluster.
type App struct {
	Name     string
	Manifest []byte
	Info     AppInfo
	// infoJSON is Info as JSON, made once (nil: not yet).
	infoJSON []byte
	// shared, when set, is the manifest this app shares with others,
	// which the pack stores as deltas of one another.
	shared *render.Shared
	// Output is the render output the app was made from (nil for an app
	// read back from Git): its objects, without decoding Manifest.
	Output *render.Output
}

// manifestHash is the manifest's content hash: Info.ContentHash, which
// NewApp computes, else computed here.
func (a *App) manifestHash() string {
	if a.Info.ContentHash != "" {
		return a.Info.ContentHash
	}
	h := sha256.Sum256(a.Manifest)
	return "sha256:" + hex.EncodeToString(h[:])
}

// InfoJSON returns the app's Info as compact JSON, HTML characters
// unescaped as in hydrator.metadata.
func (a *App) InfoJSON() []byte {
	if a.infoJSON == nil {
		a.infoJSON = compactJSON(a.Info)
	}
	return a.infoJSON
}

// compactJSON is v as json.Encoder writes it with HTML escaping off,
// without the final newline. v is plain data: encoding cannot fail.
func compactJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// metadataFile is hydrator.metadata: Metadata{head, Flotilla: info} as a
// json.Encoder writes it with HTML escaping off and two-space indent, from
// head encoded by compactJSON and info by InfoJSON.
func metadataFile(head, info []byte) []byte {
	compact := make([]byte, 0, len(head)+len(info)+16)
	compact = append(compact, head[:len(head)-1]...) // without its "}"
	compact = append(compact, `,"flotilla":`...)
	compact = append(append(compact, info...), '}')
	out := make([]byte, 0, len(compact)*3/2)
	return append(appendIndent(out, compact), '\n')
}

// appendIndent appends src, compact JSON as encoding/json writes it,
// indented as json.Indent(dst, src, "", "  ") indents it: empty objects
// and arrays stay {} and [], a colon is followed by a space. It does not
// validate; json.Indent's scanner, which does, was a twentieth of a
// render's CPU spent on input made by the encoder a moment before.
func appendIndent(dst, src []byte) []byte {
	depth := 0
	opened := false // after { or [, the newline waits for a first element
	for i := 0; i < len(src); i++ {
		c := src[i]
		if opened && c != '}' && c != ']' {
			opened = false
			depth++
			dst = appendNewline(dst, depth)
		}
		switch c {
		case '"':
			end := i + 1
			for {
				k := bytes.IndexAny(src[end:], `"\`)
				if k < 0 {
					end = len(src)
					break
				}
				end += k
				if src[end] == '"' {
					end++
					break
				}
				end += 2 // an escape: \x or the start of \uXXXX
			}
			end = min(end, len(src))
			dst = append(dst, src[i:end]...)
			i = end - 1
		case '{', '[':
			opened = true
			dst = append(dst, c)
		case ',':
			dst = appendNewline(append(dst, c), depth)
		case ':':
			dst = append(dst, ':', ' ')
		case '}', ']':
			if opened {
				opened = false
			} else {
				depth--
				dst = appendNewline(dst, depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendNewline(dst []byte, depth int) []byte {
	dst = append(dst, '\n')
	for range depth {
		dst = append(dst, ' ', ' ')
	}
	return dst
}

// NewApp describes a rendered Application. checks are the fleet's custom
// health checks; the app keeps those for kinds it holds, in their order.
func NewApp(app *fleet.Application, appSet string, out *render.Output, checks []health.Check) App {
	h := sha256.Sum256(out.Manifest)
	info := AppInfo{
		ApplicationSet:    appSet,
		Sources:           out.Sources,
		Destination:       app.Spec.Destination,
		SyncPolicy:        app.Spec.SyncPolicy,
		Labels:            app.Metadata.Labels,
		IgnoreDifferences: app.Spec.IgnoreDifferences,
		Objects:           out.Len(),
		ContentHash:       "sha256:" + hex.EncodeToString(h[:]),
	}
	if app.Spec.SyncPolicy != nil {
		info.SyncOptions = app.Spec.SyncPolicy.SyncOptions
	}
	if len(checks) > 0 {
		kinds := map[string]bool{}
		for _, u := range out.Objects() {
			kinds[u.GetAPIVersion()+"/"+u.GetKind()] = true
		}
		for _, c := range checks {
			if kinds[c.APIVersion+"/"+c.Kind] {
				info.HealthCheckExprs = append(info.HealthCheckExprs, c)
			}
		}
	}
	a := App{Name: app.Metadata.Name, Manifest: out.Manifest, Info: info, shared: out.Shared, Output: out}
	a.InfoJSON() // here, in the render's parallel workers
	return a
}

// Tree is the desired content of one cluster's hydrated branch.
type Tree struct {
	Cluster fleet.Cluster
	Branch  string
	Apps    []App // sorted by name
}

// treeFormat names the layout and contents of hydrated trees that Digest
// covers: change it whenever the files made from the same apps change.
const treeFormat = "flotilla-tree-v2" // v2: the root hydrator.metadata

// Digest is a digest of everything the tree's files are made from except
// the dry commit: the format, the cluster, and each app's name, manifest
// hash and info. A branch written from a tree with the same digest already
// holds exactly the files Files would make, because an app whose manifest
// and info are unchanged keeps its old hydrator.metadata, and a tree none
// of whose other files changed keeps its root one. Hydrated commits
// carry it as the Flotilla-Content trailer, so an unchanged branch is
// known without reading its tree.
func (t *Tree) Digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00", treeFormat, t.Cluster.Name, t.Cluster.Server, len(t.Apps))
	for i := range t.Apps {
		a := &t.Apps[i]
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", a.Name, a.manifestHash(), a.InfoJSON())
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// objects counts the objects of all apps.
func (t *Tree) objects() int {
	n := 0
	for _, a := range t.Apps {
		n += a.Info.Objects
	}
	return n
}

// Change says what a new tree does to each app of the old one.
type Change struct {
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
	Objects int      `json:"objects"`
}

// MarshalJSON writes empty lists as [] (never null), for scripts.
func (c Change) MarshalJSON() ([]byte, error) {
	type plain Change
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return json.Marshal(plain{Added: orEmpty(c.Added), Changed: orEmpty(c.Changed), Removed: orEmpty(c.Removed), Objects: c.Objects})
}

// Old is the current content of a branch.
type Old interface {
	// Paths lists its files.
	Paths() []string
	// Has reports whether path exists.
	Has(path string) bool
	// Same reports whether path exists with exactly this content.
	Same(path string, content []byte) bool
	// Read returns a file's content.
	Read(path string) ([]byte, bool)
}

// MapFiles is an Old held in memory (nil: an empty branch).
type MapFiles map[string][]byte

// Paths lists the files.
func (m MapFiles) Paths() []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Has reports whether a file exists.
func (m MapFiles) Has(path string) bool {
	_, ok := m[path]
	return ok
}

// Same compares a file's content.
func (m MapFiles) Same(path string, content []byte) bool {
	b, ok := m[path]
	return ok && bytes.Equal(b, content)
}

// Read returns a file.
func (m MapFiles) Read(path string) ([]byte, bool) {
	b, ok := m[path]
	return b, ok
}

// Unchanged reports whether files equal old exactly.
func Unchanged(files map[string][]byte, old Old) bool {
	paths := old.Paths()
	if len(paths) != len(files) {
		return false
	}
	for _, p := range paths {
		if c, ok := files[p]; !ok || !old.Same(p, c) {
			return false
		}
	}
	return true
}

// Files returns the tree's files. An app whose manifest and Flotilla
// metadata are unchanged keeps its old hydrator.metadata, and a tree whose
// other files are all unchanged keeps its root hydrator.metadata, so a new
// dry commit that changes nothing for a cluster changes nothing on its
// branch (as Argo CD's Source Hydrator, which then only moves the branch
// head's git note to the new dry commit: see Publisher).
func (t *Tree) Files(old Old, dry DryCommit) (map[string][]byte, Change, error) {
	files := map[string][]byte{
		ReadmeFile:     Readme(t.Cluster, t.Apps),
		AttributesFile: []byte(attributes),
	}
	var (
		ch   Change
		head []byte // the metadata's dry-commit fields
	)
	present := map[string]bool{}
	for i := range t.Apps {
		a := &t.Apps[i]
		present[a.Name] = true
		ch.Objects += a.Info.Objects
		mPath, mdPath := a.Name+"/"+ManifestFile, a.Name+"/"+MetadataFile
		files[mPath] = a.Manifest
		had := old.Has(mPath)
		if old.Same(mPath, a.Manifest) {
			if oldMeta, ok := old.Read(mdPath); ok && sameInfo(oldMeta, a.InfoJSON()) {
				files[mdPath] = oldMeta
				continue
			}
		}
		if head == nil {
			head = dryHead(dry)
		}
		files[mdPath] = metadataFile(head, a.InfoJSON())
		switch {
		case !had:
			ch.Added = append(ch.Added, a.Name)
		default:
			ch.Changed = append(ch.Changed, a.Name)
		}
	}
	for _, p := range old.Paths() {
		if app, file, ok := strings.Cut(p, "/"); ok && file == ManifestFile && !present[app] {
			ch.Removed = append(ch.Removed, app)
		}
	}
	slices.Sort(ch.Removed)
	files[MetadataFile] = rootMetadata(dryHead(dry))
	if len(ch.Added)+len(ch.Changed)+len(ch.Removed) == 0 {
		if oldRoot, ok := old.Read(MetadataFile); ok && canonicalRoot(oldRoot) && sameOthers(files, old) {
			files[MetadataFile] = oldRoot
		}
	}
	return files, ch, nil
}

// dryHead is the dry commit's metadata fields as compact JSON.
func dryHead(dry DryCommit) []byte {
	return compactJSON(metadataHead{RepoURL: dry.RepoURL, DrySHA: dry.SHA, Author: dry.Author, Date: dry.Date,
		Subject: dry.Subject, Body: dry.Body})
}

// rootMetadata is the root hydrator.metadata: the dry commit's fields as
// Argo CD's commit server writes them (json.Encoder, two-space indent,
// HTML characters unescaped, a final newline).
func rootMetadata(head []byte) []byte {
	return append(appendIndent(make([]byte, 0, len(head)*3/2), head), '\n')
}

// canonicalRoot reports whether b is a root hydrator.metadata as
// rootMetadata writes it, naming a dry commit: only such a file is kept
// for an unchanged tree.
func canonicalRoot(b []byte) bool {
	var h metadataHead
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil || h.DrySHA == "" {
		return false
	}
	return bytes.Equal(rootMetadata(compactJSON(h)), b)
}

// sameOthers reports whether old holds exactly files, the root
// hydrator.metadata aside.
func sameOthers(files map[string][]byte, old Old) bool {
	paths := old.Paths()
	if len(paths) != len(files) {
		return false // files has the root metadata, old must too
	}
	for _, p := range paths {
		if p == MetadataFile {
			continue
		}
		if c, ok := files[p]; !ok || !old.Same(p, c) {
			return false
		}
	}
	return true
}

// sameInfo compares recorded metadata with new info (as JSON), ignoring
// the dry commit fields.
func sameInfo(old []byte, info []byte) bool {
	var md Metadata
	if err := json.Unmarshal(old, &md); err != nil {
		return false
	}
	return bytes.Equal(compactJSON(md.Flotilla), info)
}

const attributes = `README.md linguist-generated=true
hydrator.metadata linguist-generated=true
`

// Readme is the generated README.md of a cluster's branch.
func Readme(c fleet.Cluster, apps []App) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Hydrated manifests for cluster `%s`\n\n", c.Name)
	fmt.Fprintf(&b, "Generated by Flotilla from the fleet repository: do not edit. Each folder is one\n")
	fmt.Fprintf(&b, "Application: `manifest.yaml` holds exactly what the cluster should run,\n")
	fmt.Fprintf(&b, "`hydrator.metadata` says which dry commit and source produced it; the root\n")
	fmt.Fprintf(&b, "`hydrator.metadata` names the dry commit of the last change to this branch.\n\n")
	fmt.Fprintf(&b, "Server: `%s`\n\n", c.Server)
	if len(apps) == 0 {
		b.WriteString("No applications target this cluster.\n")
		return []byte(b.String())
	}
	b.WriteString("| application | namespace | objects | source |\n|---|---|---|---|\n")
	for _, a := range apps { // a row per app: written without fmt
		b.WriteString("| " + a.Name + " | " + orDash(a.Info.Destination.Namespace) + " | " + strconv.Itoa(a.Info.Objects) + " | ")
		for i, s := range a.Info.Sources {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strings.TrimSuffix(s.RepoURL, ".git") + " `" + s.Path + "`")
		}
		b.WriteString(" |\n")
	}
	return []byte(b.String())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// CommitMessage is the message of a hydrated commit of tree t.
func CommitMessage(t *Tree, dry DryCommit) string {
	return fmt.Sprintf("hydrate %s: %s %s\n\nFlotilla-Dry-Sha: %s\nFlotilla-Apps: %d\nFlotilla-Content: %s\n",
		t.Cluster.Name, layout.Short(dry.SHA), dry.Subject, dry.SHA, len(t.Apps), t.Digest())
}

// DrySHAOf reads the Flotilla-Dry-Sha trailer of a commit message.
func DrySHAOf(message string) string { return trailer(message, "Flotilla-Dry-Sha") }

// ContentOf reads the Flotilla-Content trailer (a tree's Digest).
func ContentOf(message string) string { return trailer(message, "Flotilla-Content") }

func trailer(message, key string) string {
	for _, line := range strings.Split(message, "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
