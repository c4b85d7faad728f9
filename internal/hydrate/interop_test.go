package hydrate

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/gittest"
	"github.com/flotilla-dev/flotilla/internal/layout"
)

// promoterMetadata is the root hydrator.metadata as GitOps Promoter's
// custom hydrator contract documents it (docs/advanced-usage/
// custom-hydrator.md): drySha required, the full SHA of the dry commit;
// repoURL, author ("Name <email>"), date (ISO 8601), subject, body
// (strings) and references (an array of {"commit": {...}}) optional. It
// is also Argo CD's HydratorCommitMetadata (util/hydrator), which its
// commit server writes at the root of the hydrated branch.
type promoterMetadata struct {
	DrySHA     string `json:"drySha"`
	RepoURL    string `json:"repoURL"`
	Author     string `json:"author"`
	Date       string `json:"date"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
	References []struct {
		Commit struct {
			SHA     string `json:"sha"`
			RepoURL string `json:"repoURL"`
			Author  string `json:"author"`
			Date    string `json:"date"`
			Subject string `json:"subject"`
			Body    string `json:"body"`
		} `json:"commit"`
	} `json:"references"`
}

var (
	fullSHA    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	gitAuthor  = regexp.MustCompile(`^[^<>]+ <[^<>]*>$`)
	noteFormat = regexp.MustCompile(`^\{"drySha":"[0-9a-f]{40}"\}\n$`)
)

// checkRootMetadata decodes branch's root hydrator.metadata in origin
// against the documented format (no field of another type, no unknown
// field) and checks each field; it returns the dry commit it names.
func checkRootMetadata(t *testing.T, origin, branch string, dry DryCommit) string {
	t.Helper()
	raw := gittest.Git(t, origin, "cat-file", "blob", branch+":"+MetadataFile)
	var md promoterMetadata
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&md); err != nil {
		t.Fatalf("%s:%s does not decode as the documented hydrator.metadata: %v\n%s", branch, MetadataFile, err, raw)
	}
	var types map[string]any
	if err := json.Unmarshal([]byte(raw), &types); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"drySha", "repoURL", "author", "date", "subject", "body"} {
		if _, ok := types[field].(string); !ok {
			t.Errorf("%s: %q is %T, want a string", branch, field, types[field])
		}
	}
	if !fullSHA.MatchString(md.DrySHA) {
		t.Errorf("%s: drySha %q is not a full commit hash", branch, md.DrySHA)
	}
	if md.RepoURL != dry.RepoURL || md.Author != dry.Author || md.Subject != dry.Subject || md.Body != dry.Body {
		t.Errorf("%s: metadata %+v, want the dry commit's %+v", branch, md, dry)
	}
	if !gitAuthor.MatchString(md.Author) {
		t.Errorf("%s: author %q is not \"Name <email>\"", branch, md.Author)
	}
	if _, err := time.Parse(time.RFC3339, md.Date); err != nil {
		t.Errorf("%s: date %q is not RFC 3339: %v", branch, md.Date, err)
	}
	return md.DrySHA
}

// note returns the hydrator.metadata note on commit in repo, read by the
// git command as Argo CD's commit server and GitOps Promoter read it, and
// checks it against Argo CD's CommitNote format.
func note(t *testing.T, repo, commit string) string {
	t.Helper()
	raw := gittest.Git(t, repo, "notes", "--ref", MetadataFile, "show", commit) + "\n" // Git trims the output
	if !noteFormat.MatchString(raw) {
		t.Fatalf("the note on %s is %q, want {\"drySha\":\"<40 hex>\"}", commit, raw)
	}
	var n Note
	if err := json.Unmarshal([]byte(raw), &n); err != nil {
		t.Fatal(err)
	}
	return n.DrySHA
}

// TestHydratorInterop: the staging branches follow the contract GitOps
// Promoter documents for custom hydrators and what Argo CD's Source
// Hydrator writes — a root hydrator.metadata naming the dry commit, and a
// note {"drySha": ...} under refs/notes/hydrator.metadata on each head.
// As Argo CD's commit server does, a dry commit that changes nothing
// for a branch leaves its commit (and files) as they are and only moves
// the note; the same dry commit again changes nothing; an older dry
// commit never replaces a newer note; the same inputs make the same
// objects; the remote passes git fsck.
func TestHydratorInterop(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	withDetails := func(d DryCommit) DryCommit {
		c := gittest.Git(t, checkout, "log", "-1", "--format=%an <%ae>%n%cI%n%s", d.SHA)
		parts := strings.SplitN(c, "\n", 3)
		d.RepoURL, d.Author, d.Subject = "https://github.com/example/fleet", parts[0], parts[2]
		d.Date = strings.TrimSpace(parts[1])
		if ts, err := time.Parse(time.RFC3339, d.Date); err == nil {
			d.Date = ts.UTC().Format(time.RFC3339)
		}
		return d
	}
	first := withDetails(dry)
	first.Body = "Why: <because> & \"so\"."
	pub := &Publisher{Repo: repo, Remote: origin}
	trees := func(replicas string) []*Tree { return []*Tree{tree("a", replicas), tree("b", "1")} }
	results := publish(t, pub, first, trees("1")...)
	for _, r := range results {
		if got := checkRootMetadata(t, origin, r.Branch, first); got != first.SHA {
			t.Errorf("%s: root drySha %s, want %s", r.Branch, got, first.SHA)
		}
		if got := note(t, origin, r.New); got != first.SHA {
			t.Errorf("%s: note drySha %s, want %s", r.Branch, got, first.SHA)
		}
		if typ := gittest.Git(t, checkout, "cat-file", "-t", first.SHA); typ != "commit" {
			t.Errorf("drySha %s is a %s of the fleet repository, want a commit", first.SHA, typ)
		}
	}
	heads := gittest.Refs(t, origin, "refs/heads/hydrated/")

	// The same inputs, to another remote: the same commits and notes.
	other := filepath.Join(t.TempDir(), "other.git")
	gittest.Bare(t, other)
	publish(t, &Publisher{Repo: repo, Remote: other}, first, trees("1")...)
	ours := func(repo string) string {
		return gittest.Refs(t, repo, "refs/heads/hydrated/") + "\n" + gittest.Refs(t, repo, NotesRef.String())
	}
	if a, b := ours(origin), ours(other); a != b || !strings.Contains(a, NotesRef.String()) {
		t.Errorf("the same inputs made other objects:\n%s\nvs\n%s", a, b)
	}

	// A new dry commit that changes nothing: no new commit, the note moves.
	second := withDetails(DryCommit{SHA: gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "docs only\n\nbody")})
	results = publish(t, pub, second, trees("1")...)
	if got := gittest.Refs(t, origin, "refs/heads/hydrated/"); got != heads {
		t.Errorf("a dry commit that changes nothing moved the branches:\n%s\nwas\n%s", got, heads)
	}
	for _, r := range results {
		if r.Updated {
			t.Errorf("%s updated", r.Branch)
		}
		if got := checkRootMetadata(t, origin, r.Branch, first); got != first.SHA {
			t.Errorf("%s: the root metadata of an unchanged tree moved to %s", r.Branch, got)
		}
		if got := note(t, origin, r.Old); got != second.SHA {
			t.Errorf("%s: note drySha %s, want the new dry commit %s", r.Branch, got, second.SHA)
		}
	}
	notes := gittest.Refs(t, origin, NotesRef.String())

	// The same dry commit again, and an older one: nothing moves.
	for _, d := range []DryCommit{second, first} {
		publish(t, pub, d, trees("1")...)
		if got := gittest.Refs(t, origin, "refs/heads/hydrated/") + "\n" + gittest.Refs(t, origin, NotesRef.String()); got != heads+"\n"+notes {
			t.Errorf("dry commit %s moved refs:\n%s\nwant\n%s\n%s", layout.Short(d.SHA), got, heads, notes)
		}
	}

	// A change: a new commit with the new dry commit in its root metadata
	// and note; the unchanged branch keeps its commit, its note moves.
	third := withDetails(DryCommit{SHA: gittest.Commit(t, checkout, "2026-01-03T00:00:00Z", "scale a")})
	results = publish(t, pub, third, trees("2")...)
	if !results[0].Updated || results[1].Updated {
		t.Fatalf("want only a updated: %+v", results)
	}
	if got := checkRootMetadata(t, origin, results[0].Branch, third); got != third.SHA {
		t.Errorf("changed branch: root drySha %s, want %s", got, third.SHA)
	}
	for _, head := range []string{results[0].New, results[1].Old} {
		if got := note(t, origin, head); got != third.SHA {
			t.Errorf("note on %s: drySha %s, want %s", layout.Short(head), got, third.SHA)
		}
	}
	// Older commits keep their notes: Argo CD never removes one.
	if got := note(t, origin, results[0].Old); got != second.SHA {
		t.Errorf("the replaced head's note: drySha %s, want %s", got, second.SHA)
	}

	// A head with the same files that Flotilla did not commit (its tree is
	// read, not trusted): its files are what a new dry commit makes, root
	// metadata included, so it stays, and only its note moves.
	work := filepath.Join(t.TempDir(), "work")
	gittest.Clone(t, work, "-b", "hydrated/b-next", origin)
	amend := exec.Command("git", "commit", "-q", "--amend", "-m", "re-committed by hand")
	amend.Dir = work
	amend.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Some One", "GIT_AUTHOR_EMAIL=someone@example.com",
		"GIT_COMMITTER_NAME=Some One", "GIT_COMMITTER_EMAIL=someone@example.com")
	if out, err := amend.CombinedOutput(); err != nil {
		t.Fatalf("amend: %v\n%s", err, out)
	}
	gittest.Git(t, work, "push", "-q", "-f", "origin", "hydrated/b-next")
	byHand := gittest.Git(t, work, "rev-parse", "HEAD")
	fourth := withDetails(DryCommit{SHA: gittest.Commit(t, checkout, "2026-01-04T00:00:00Z", "docs again")})
	results = publish(t, pub, fourth, trees("2")...)
	if results[1].Updated || results[1].Old != byHand {
		t.Errorf("a head holding the same files was rewritten: %+v", results[1])
	}
	if got := note(t, origin, byHand); got != fourth.SHA {
		t.Errorf("the note on the hand-made head: drySha %s, want %s", got, fourth.SHA)
	}
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")
}

// TestNotesFanout: past notesFanout notes, the notes are written one
// level deep, and git reads every one of them (and notes written by git
// itself, at its own fan-out, are kept).
func TestNotesFanout(t *testing.T) {
	t.Parallel()
	checkout, origin := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	// A note git wrote, on the dry commit itself (fanned out or not, as git chooses).
	gittest.Git(t, checkout, "notes", "--ref", MetadataFile, "add", "-m", "git's own", dry.SHA)
	gittest.Git(t, checkout, "push", "-q", "origin", NotesRef.String())
	var trees []*Tree
	for i := range notesFanout + 1 {
		trees = append(trees, tree(fmt.Sprintf("c%03d", i), "1"))
	}
	results := publish(t, &Publisher{Repo: repo, Remote: origin}, dry, trees...)
	for _, r := range results[:3] {
		if got := note(t, origin, r.New); got != dry.SHA {
			t.Errorf("%s: note %s", r.Branch, got)
		}
	}
	if got := gittest.Git(t, origin, "notes", "--ref", MetadataFile, "show", dry.SHA); got != "git's own" {
		t.Errorf("git's note was lost: %q", got)
	}
	listed := gittest.Git(t, origin, "notes", "--ref", MetadataFile, "list")
	if n := len(strings.Split(listed, "\n")); n != len(trees)+1 {
		t.Errorf("git lists %d notes, want %d", n, len(trees)+1)
	}
	top := gittest.Git(t, origin, "ls-tree", NotesRef.String())
	for _, line := range strings.Split(top, "\n") {
		if !strings.Contains(line, " tree ") || len(line[strings.Index(line, "\t")+1:]) != 2 {
			t.Errorf("notes are not all fanned out: %q", line)
			break
		}
	}
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")

	// A change to every branch adds a note per new head into the fanned
	// out tree; the old heads keep theirs.
	second := DryCommit{SHA: gittest.Commit(t, checkout, "2026-01-02T00:00:00Z", "scale")}
	for _, tr := range trees {
		tr.Apps[0].Manifest = []byte("kind: Deployment\nspec:\n  replicas: 2\n")
		tr.Apps[0].Info.ContentHash = ""
	}
	again := publish(t, &Publisher{Repo: repo, Remote: origin}, second, trees...)
	for i, r := range again {
		if !r.Updated {
			t.Fatalf("%s not updated", r.Branch)
		}
		if i%50 == 0 {
			if got := note(t, origin, r.New); got != second.SHA {
				t.Errorf("%s: new head's note %s", r.Branch, got)
			}
			if got := note(t, origin, r.Old); got != dry.SHA {
				t.Errorf("%s: old head's note %s", r.Branch, got)
			}
		}
	}
	listed = gittest.Git(t, origin, "notes", "--ref", MetadataFile, "list")
	if n := len(strings.Split(listed, "\n")); n != 2*len(trees)+1 {
		t.Errorf("git lists %d notes, want %d", n, 2*len(trees)+1)
	}
	gittest.Git(t, origin, "fsck", "--strict", "--no-dangling")
}

// TestNotesOnLocalBranches: without a remote (render --no-push), the note
// goes to the checkout's own refs/notes/hydrator.metadata, moved with the
// branches by compare-and-set.
func TestNotesOnLocalBranches(t *testing.T) {
	t.Parallel()
	checkout, _ := gittest.Fleet(t, t.TempDir())
	repo, dry := openFleet(t, checkout)
	results := publish(t, &Publisher{Repo: repo}, dry, tree("a", "1"))
	if got := note(t, checkout, results[0].New); got != dry.SHA {
		t.Errorf("note drySha %s, want %s", got, dry.SHA)
	}
	if got := gittest.Git(t, checkout, "cat-file", "blob", results[0].New+":"+MetadataFile); !strings.Contains(got, `"drySha": "`+dry.SHA+`"`) {
		t.Errorf("root metadata:\n%s", got)
	}
	gittest.Git(t, checkout, "fsck", "--strict", "--no-dangling")
}
