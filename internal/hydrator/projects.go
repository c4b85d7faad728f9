package hydrator

import (
	"errors"
	"fmt"

	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/project"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// checkProject enforces the resource rules of the Application's AppProject
// on what it rendered, where Argo CD's sync would fail: one error line per
// refused object, naming the app and where the project is defined.
func checkProject(f *fleet.Fleet, j renderJob, out *render.Output) error {
	p := f.Project(j.gen.App.Spec.Project)
	if p == nil || project.Permissive(p) {
		return nil
	}
	c, _ := f.Cluster(j.cluster)
	objs := out.Objects()
	err := project.CheckObjects(p, &j.gen.App, c, objs, render.Scopes(objs))
	if err == nil {
		return nil
	}
	where := "Argo CD's default project"
	if p.File != "" {
		where = fmt.Sprintf("AppProject %q at %s:%d", p.Metadata.Name, p.File, p.Line)
	}
	var errs []error
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		errs = append(errs, &fleet.FileError{File: j.gen.File, Class: fleet.ClassProject,
			Msg: fmt.Sprintf("application %s for cluster %s: %s refuses it (change the project or the manifests)", j.gen.App.Metadata.Name, j.cluster, where), Err: e})
	}
	return errors.Join(errs...)
}
