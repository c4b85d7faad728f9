// Package layout is the one description of where Flotilla keeps things in
// a fleet's Git repository and on its forge: the hydrated branches (from
// flotilla.yaml's hydrated.branch and hydrated.staging), the promotion
// pull requests' head branches and labels, verify's commit status
// contexts, and the file names of a hydrated tree. Every command names
// and parses them through a Layout, so a fleet that renames its branches
// is read the same way by render, promote, apply, verify and status.
package layout

import (
	"path"
	"slices"
	"strings"
)

// ClusterVar is the placeholder a branch template holds for the cluster.
const ClusterVar = "{{cluster}}"

// Default branch templates (flotilla.yaml's defaults).
const (
	DefaultLive    = "hydrated/" + ClusterVar
	DefaultStaging = "hydrated/" + ClusterVar + "-next"
)

// Fixed names on the forge.
const (
	// PromoteHeadPrefix is the head branch prefix of promotion pull
	// requests: PromoteHeadPrefix + cluster.
	PromoteHeadPrefix = "flotilla/promote/"
	// VerifyContextPrefix is the commit status context prefix verify
	// posts per app: VerifyContextPrefix + app.
	VerifyContextPrefix = "flotilla/verify/"
	// StepLabelPrefix is the pull request label prefix naming a rollout
	// step: StepLabelPrefix + step.
	StepLabelPrefix = "flotilla/step:"
	// Label marks every promotion pull request.
	Label = "flotilla"
	// PausedLabel on a cluster's open promotion pull request pauses that
	// cluster's promotion: promote neither updates nor merges the pull
	// request until a person removes the label (or promote --resume).
	PausedLabel = "flotilla/paused"
	// RollbackHeadPrefix is the head branch prefix of rollback pull
	// requests (promote --rollback): RollbackHeadPrefix + cluster.
	RollbackHeadPrefix = "flotilla/rollback/"
	// RollbackLabel marks every rollback pull request.
	RollbackLabel = "flotilla/rollback"
)

// File names in a hydrated tree: <app>/ManifestFile, <app>/MetadataFile,
// <app>/ReadmeFile, and at the root MetadataFile, ReadmeFile and
// AttributesFile.
const (
	ManifestFile   = "manifest.yaml"
	MetadataFile   = "hydrator.metadata"
	ReadmeFile     = "README.md"
	AttributesFile = ".gitattributes"
)

// Layout is a fleet's branch names. The zero value is the default layout.
type Layout struct {
	// Live is the template of a cluster's live branch, what apply
	// syncs (default hydrated/{{cluster}}).
	Live string
	// Staging is the template of a cluster's proposal branch, what
	// render writes (default hydrated/{{cluster}}-next).
	Staging string
}

// Default is the layout of a fleet that sets no branch names.
func Default() Layout { return Layout{Live: DefaultLive, Staging: DefaultStaging} }

func (l Layout) live() string {
	if l.Live == "" {
		return DefaultLive
	}
	return l.Live
}

func (l Layout) staging() string {
	if l.Staging == "" {
		return DefaultStaging
	}
	return l.Staging
}

// LiveBranch is cluster's live branch.
func (l Layout) LiveBranch(cluster string) string {
	return strings.ReplaceAll(l.live(), ClusterVar, cluster)
}

// StagingBranch is cluster's proposal branch.
func (l Layout) StagingBranch(cluster string) string {
	return strings.ReplaceAll(l.staging(), ClusterVar, cluster)
}

// PromoteHead is the head branch of cluster's promotion pull request.
func (l Layout) PromoteHead(cluster string) string { return PromoteHeadPrefix + cluster }

// RollbackHead is the head branch of cluster's rollback pull request.
func (l Layout) RollbackHead(cluster string) string { return RollbackHeadPrefix + cluster }

// RollbackCluster is the cluster of a rollback pull request's head branch.
func (l Layout) RollbackCluster(head string) (string, bool) {
	c, ok := strings.CutPrefix(head, RollbackHeadPrefix)
	return c, ok && c != ""
}

// LiveCluster is the cluster whose live branch is branch, if branch has
// the live template's shape. A name can have both shapes (hydrated/a-next
// is a's proposal and the live branch of a cluster named a-next): callers
// check the cluster against the fleet (names.go refuses fleets where the
// two collide).
func (l Layout) LiveCluster(branch string) (string, bool) { return match(l.live(), branch) }

// StagingCluster is the cluster whose proposal branch is branch.
func (l Layout) StagingCluster(branch string) (string, bool) { return match(l.staging(), branch) }

// PromoteCluster is the cluster of a promotion pull request's head branch.
func (l Layout) PromoteCluster(head string) (string, bool) {
	c, ok := strings.CutPrefix(head, PromoteHeadPrefix)
	return c, ok && c != ""
}

// TrackPrefixes are the branch folders that hold every branch of the
// layout (the part of each template before its first "/" that precedes
// the cluster, and the promotion heads' folder), sorted and without
// duplicates: what a reader of the remote fetches. A template with the
// cluster in its first path element gives "" (every branch).
func (l Layout) TrackPrefixes() []string {
	var out []string
	for _, t := range []string{l.live(), l.staging()} {
		before, _, _ := strings.Cut(t, ClusterVar)
		dir := ""
		if i := strings.LastIndex(before, "/"); i >= 0 {
			dir = before[:i+1]
		}
		if dir == "" {
			return []string{""}
		}
		out = append(out, dir)
	}
	out = append(out, PromoteHeadPrefix)
	slices.Sort(out)
	return slices.Compact(out)
}

// VerifyContext is the commit status context verify posts for app.
func VerifyContext(app string) string { return VerifyContextPrefix + app }

// VerifyApp is the app of a verify status context.
func VerifyApp(context string) (string, bool) {
	a, ok := strings.CutPrefix(context, VerifyContextPrefix)
	return a, ok && a != ""
}

// StepLabel is the pull request label of a rollout step.
func StepLabel(step string) string { return StepLabelPrefix + step }

// AppFile is the path of an app's file in a hydrated tree.
func AppFile(app, name string) string { return path.Join(app, name) }

// match returns what stands for ClusterVar in s when s is template with
// every ClusterVar replaced by the same non-empty name.
func match(template, s string) (string, bool) {
	n := strings.Count(template, ClusterVar)
	before, _, ok := strings.Cut(template, ClusterVar)
	fixed := len(template) - n*len(ClusterVar)
	if !ok || len(s) <= fixed || (len(s)-fixed)%n != 0 {
		return "", false
	}
	size := (len(s) - fixed) / n
	if len(s) < len(before)+size {
		return "", false
	}
	c := s[len(before) : len(before)+size]
	if strings.ReplaceAll(template, ClusterVar, c) != s {
		return "", false
	}
	return c, true
}

// Short is a commit hash as people read it: its first 12 characters (all
// of a shorter string).
func Short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
