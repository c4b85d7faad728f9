// Package report renders results for people: unified diffs and the
// Markdown of the fleet diff. It is pure: no I/O.
package report

import "github.com/flotilla-dev/flotilla/internal/textdiff"

// UnifiedDiff is a unified diff of a and b (textdiff.Unified).
func UnifiedDiff(nameA, nameB, a, b string) string { return textdiff.Unified(nameA, nameB, a, b) }
