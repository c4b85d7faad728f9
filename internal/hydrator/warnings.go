package hydrator

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// Warning is a warning of a render: a selector that yields nothing
// (Message alone), or what a build found in a file (a deprecated
// Kustomize field), once per file and message however many Applications
// and clusters share the build.
type Warning struct {
	// File is the file at fault, slash-separated, relative to the fleet
	// directory (through the repos: mapping of its repository).
	File string `json:"file,omitempty"`
	// RepoURL is the file's repository.
	RepoURL string `json:"repoURL,omitempty"`
	Message string `json:"message"`
	// Apps are the Applications whose builds load the file, sorted.
	Apps []string `json:"apps,omitempty"`
}

// String is the warning as render prints it.
func (w Warning) String() string {
	if w.File == "" {
		return w.Message
	}
	return fmt.Sprintf("%s: %s (%s)", w.File, w.Message, w.Who())
}

// Who names a few of the warning's Applications and counts the rest:
// "applications a, b, c and 2 more".
func (w Warning) Who() string {
	apps := w.Apps
	const shown = 3
	word := "application "
	if len(apps) > 1 {
		word = "applications "
	}
	if len(apps) <= shown {
		return word + strings.Join(apps, ", ")
	}
	return fmt.Sprintf("%s%s and %d more", word, strings.Join(apps[:shown], ", "), len(apps)-shown)
}

// buildWarnings gathers the builds' warnings of jobs (warns[i] is job i's),
// one per repository, file and message with every Application that met
// it, sorted by file then message.
func buildWarnings(f *fleet.Fleet, jobs []renderJob, warns [][]render.Warning) []Warning {
	type key struct{ repo, file, msg string }
	apps := map[key]map[string]bool{}
	for i, ws := range warns {
		for _, w := range ws {
			k := key{w.RepoURL, w.File, w.Message}
			if apps[k] == nil {
				apps[k] = map[string]bool{}
			}
			apps[k][jobs[i].gen.App.Metadata.Name] = true
		}
	}
	mapped := map[string]string{}
	for url, dir := range f.Config.Repos {
		mapped[fleet.NormalizeRepoURL(url)] = dir
	}
	out := make([]Warning, 0, len(apps))
	for k, names := range apps {
		file := k.file
		if dir, ok := mapped[fleet.NormalizeRepoURL(k.repo)]; ok {
			file = path.Join(filepath.ToSlash(dir), k.file)
		}
		w := Warning{File: file, RepoURL: k.repo, Message: k.msg}
		for n := range names {
			w.Apps = append(w.Apps, n)
		}
		slices.Sort(w.Apps)
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Message != b.Message {
			return a.Message < b.Message
		}
		return a.RepoURL < b.RepoURL
	})
	return out
}
