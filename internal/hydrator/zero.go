package hydrator

import (
	"errors"
	"fmt"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/fleet"
)

// errNoApplication refuses a render whose fleet generates no Application
// at all: publishing would empty every branch of the run, which is almost
// always a selector typo, not a wish.
var errNoApplication = errors.New("no Application generated")

// zeroCheck refuses a run when the whole fleet generates no Application
// while there are clusters to write: nothing is written then.
func zeroCheck(f *fleet.Fleet, generated []appset.Generated, clusters []fleet.Cluster) error {
	if len(generated) > 0 || len(clusters) == 0 {
		return nil
	}
	errs := []error{&fleet.FileError{File: f.ConfigFile, Class: fleet.ClassConfig,
		Msg: fmt.Sprintf("%v by the %d ApplicationSets: rendering would empty the hydrated branches of %d clusters, so nothing is written (fix the selectors below; to retire every app, delete the branches yourself)", errNoApplication, len(f.ApplicationSets), len(clusters))}}
	for _, w := range appset.ZeroWarnings(f, generated) {
		errs = append(errs, errors.New(w))
	}
	return errors.Join(errs...)
}

// emptyClusters warns of each cluster of the run that gets no
// Application (children of an app of apps included): its branch will be
// emptied.
func emptyClusters(f *fleet.Fleet, clusters []fleet.Cluster, jobs []renderJob) []string {
	var warnings []string
	l := f.Config.Layout()
	has := map[string]bool{}
	for _, j := range jobs {
		has[j.cluster] = true
	}
	for _, c := range clusters {
		if !has[c.Name] {
			warnings = append(warnings, fmt.Sprintf("cluster %s gets no Application: its branch %s will hold none", c.Name, l.StagingBranch(c.Name)))
		}
	}
	return warnings
}
